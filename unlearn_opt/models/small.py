"""Small models for the 8×8 digits data: a CNN (32·w, 64·w channels, 128·w hidden) and an MLP."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.models.common import scaled


class SmallCNN(nn.Module):
    def __init__(self, *, width: float, num_classes: int, in_channels: int = 1, image_size: int = 8) -> None:
        super().__init__()
        c1, c2, hidden = scaled(32, width), scaled(64, width), scaled(128, width)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        side = max(1, image_size // 2)
        self.fc1 = nn.Linear(c2 * side * side, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self._side = side

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        out = F.adaptive_max_pool2d(out, self._side).flatten(1)
        return self.fc2(F.relu(self.fc1(out)))


class MLP(nn.Module):
    def __init__(self, *, width: float, num_classes: int, in_channels: int = 1, image_size: int = 8) -> None:
        super().__init__()
        hidden = scaled(256, width)
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
