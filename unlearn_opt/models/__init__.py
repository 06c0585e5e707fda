"""Width-scalable model families (DESIGN §4)."""

from __future__ import annotations

from torch import nn

from unlearn_opt.errors import UserError
from unlearn_opt.models.allcnn import AllCNN
from unlearn_opt.models.common import count_parameters, scaled
from unlearn_opt.models.resnet import resnet18, resnet50
from unlearn_opt.models.small import MLP, SmallCNN

ARCHITECTURES = ("resnet18", "resnet50", "allcnn", "cnn", "mlp")


def build_model(architecture: str, *, width: float, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """A fresh model of ``architecture`` with every layer's channel count scaled by ``width``."""
    if width <= 0:
        raise UserError(f"width: must be > 0 (got {width!r})")
    if architecture == "resnet18":
        return resnet18(width=width, num_classes=num_classes, in_channels=in_channels)
    if architecture == "resnet50":
        return resnet50(width=width, num_classes=num_classes, in_channels=in_channels)
    if architecture == "allcnn":
        return AllCNN(width=width, num_classes=num_classes, in_channels=in_channels)
    if architecture == "cnn":
        return SmallCNN(width=width, num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    if architecture == "mlp":
        return MLP(width=width, num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    raise UserError(f"architecture: unknown value {architecture!r} (expected one of: {', '.join(ARCHITECTURES)})")


__all__ = ["ARCHITECTURES", "build_model", "count_parameters", "scaled"]
