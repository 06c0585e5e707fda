"""Small models: a CNN for small images such as the 8×8 digits (32·w, 64·w channels, 128·w
hidden) and an MLP on the flattened example of any shape (2·depth hidden layers of 256·w)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.models.common import scaled


class SmallCNN(nn.Module):
    """conv3×3 → ReLU → conv3×3 → ReLU → adaptive max-pool to (H/2, W/2) → fc → ReLU → fc."""

    def __init__(self, *, width: float, num_classes: int, in_channels: int = 1, image_hw: tuple[int, int] = (8, 8)) -> None:
        super().__init__()
        c1, c2, hidden = scaled(32, width), scaled(64, width), scaled(128, width)
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self._pooled = (max(1, image_hw[0] // 2), max(1, image_hw[1] // 2))
        self.fc1 = nn.Linear(c2 * self._pooled[0] * self._pooled[1], hidden)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        out = F.adaptive_max_pool2d(out, self._pooled).flatten(1)
        return self.fc2(F.relu(self.fc1(out)))


class MLP(nn.Module):
    """flatten → (fc → ReLU) × 2·depth → fc, on examples of shape ``input_shape``."""

    def __init__(self, *, width: float, num_classes: int, input_shape: tuple[int, ...], depth: int = 1) -> None:
        super().__init__()
        hidden = scaled(256, width)
        layers: list[nn.Module] = [nn.Flatten(), nn.Linear(math.prod(input_shape), hidden), nn.ReLU(inplace=True)]
        for _ in range(2 * depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
