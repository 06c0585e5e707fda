"""Width-scalable model families (docs/design.md §4)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from unlearn_opt.errors import UserError
from unlearn_opt.models.allcnn import AllCNN
from unlearn_opt.models.cnn1d import CNN1D
from unlearn_opt.models.common import count_parameters, scaled
from unlearn_opt.models.resnet import resnet18, resnet50
from unlearn_opt.models.small import MLP, SmallCNN
from unlearn_opt.models.transformer import LAYERS, PatchTransformer
from unlearn_opt.spec import ARCHITECTURE_SPATIAL_DIMS, ARCHITECTURES, DEPTH_ARCHITECTURES, EXAMPLE_KINDS, MAX_DEPTH


def build_model(architecture: str, *, width: float, num_classes: int, input_shape: Sequence[int], depth: int = 1) -> nn.Module:
    """A fresh model of ``architecture`` for examples of ``input_shape`` = (C, H, W) or (C, L),
    with every layer's channel count scaled by ``width`` and its layer (or block) count by
    ``depth``: the MLP has 2·d hidden layers, cnn1d 3·d conv layers, ResNet-18 (2, 2, 2, 2)·d
    and ResNet-50 (3, 4, 6, 3)·d blocks per stage, the transformer 4·d encoder blocks; the other
    families take depth 1 only. Depth 1 is each family's standard model (same parameter names)."""
    if width <= 0:
        raise UserError(f"width: must be > 0 (got {width!r})")
    if architecture not in ARCHITECTURES:
        raise UserError(f"architecture: unknown value {architecture!r} (expected one of: {', '.join(ARCHITECTURES)})")
    if not 1 <= depth <= MAX_DEPTH:
        raise UserError(f"depth: must be in [1, {MAX_DEPTH}] (got {depth!r})")
    if depth != 1 and architecture not in DEPTH_ARCHITECTURES:
        raise UserError(f"depth: architecture {architecture!r} has a fixed depth (got depth {depth})")
    shape = tuple(int(s) for s in input_shape)
    wants = ARCHITECTURE_SPATIAL_DIMS[architecture]
    if len(shape) < 2 or (wants is not None and len(shape) - 1 != wants):
        takes = EXAMPLE_KINDS[wants] if wants is not None else "examples (C, *spatial)"
        raise UserError(f"architecture: {architecture!r} takes {takes}, not examples of shape {shape}")
    channels = shape[0]
    if architecture == "resnet18":
        return resnet18(width=width, num_classes=num_classes, in_channels=channels, depth=depth)
    if architecture == "resnet50":
        return resnet50(width=width, num_classes=num_classes, in_channels=channels, depth=depth)
    if architecture == "allcnn":
        return AllCNN(width=width, num_classes=num_classes, in_channels=channels)
    if architecture == "cnn":
        return SmallCNN(width=width, num_classes=num_classes, in_channels=channels, image_hw=(shape[1], shape[2]))
    if architecture == "cnn1d":
        return CNN1D(width=width, num_classes=num_classes, in_channels=channels, length=shape[1], depth=depth)
    if architecture == "transformer":
        return PatchTransformer(width=width, num_classes=num_classes, input_shape=shape, layers=LAYERS * depth)
    return MLP(width=width, num_classes=num_classes, input_shape=shape, depth=depth)


__all__ = ["ARCHITECTURES", "build_model", "count_parameters", "scaled"]
