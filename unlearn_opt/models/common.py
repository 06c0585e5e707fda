"""Width scaling shared by every model family."""

from __future__ import annotations

from torch import nn


def scaled(channels: int, width: float) -> int:
    """Channels of a layer at ``width``: ``max(1, round(channels · width))``."""
    return max(1, int(round(channels * width)))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
