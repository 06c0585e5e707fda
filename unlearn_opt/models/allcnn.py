"""Width-scalable All-CNN-C (Springenberg et al.) with batch norm, as in SCRUB's code: 96·w, 192·w."""

from __future__ import annotations

import torch
from torch import nn

from unlearn_opt.models.common import scaled


def _conv(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


class AllCNN(nn.Module):
    def __init__(self, *, width: float, num_classes: int, in_channels: int = 3) -> None:
        super().__init__()
        c1, c2 = scaled(96, width), scaled(192, width)
        self.features = nn.Sequential(
            *_conv(in_channels, c1, 3),
            *_conv(c1, c1, 3),
            *_conv(c1, c1, 3, stride=2),
            nn.Dropout(0.0),
            *_conv(c1, c2, 3),
            *_conv(c2, c2, 3),
            *_conv(c2, c2, 3, stride=2),
            *_conv(c2, c2, 3),
            *_conv(c2, c2, 1),
        )
        self.classifier = nn.Conv2d(c2, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x)).mean(dim=(2, 3))
