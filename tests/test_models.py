"""Width scaling: parameter counts and forward shapes of every family at several widths."""

from __future__ import annotations

import pytest
import torch

from unlearn_opt.models import build_model, count_parameters

FAMILIES = [("resnet18", 3, 32), ("resnet50", 3, 32), ("allcnn", 3, 32), ("cnn", 1, 8), ("mlp", 1, 8)]


def test_resnet18_width_one_is_the_standard_cifar_model() -> None:
    # the CIFAR ResNet-18 with 10 classes has 11,173,962 parameters
    assert count_parameters(build_model("resnet18", width=1.0, num_classes=10, in_channels=3, image_size=32)) == 11_173_962
    assert count_parameters(build_model("resnet50", width=1.0, num_classes=10, in_channels=3, image_size=32)) == 23_520_842


@pytest.mark.parametrize(("arch", "channels", "size"), FAMILIES)
def test_every_family_scales_and_runs(arch: str, channels: int, size: int) -> None:
    counts = []
    for width in (0.05, 0.25, 1.0, 2.0):
        model = build_model(arch, width=width, num_classes=7, in_channels=channels, image_size=size)
        out = model.eval()(torch.randn(3, channels, size, size))
        assert out.shape == (3, 7)
        counts.append(count_parameters(model))
    assert counts == sorted(counts) and len(set(counts)) == 4
    # conv/linear weights grow ~quadratically with width: ×2 width → more than ×3 parameters
    assert counts[3] > 3 * counts[2]


def test_resnet18_stage_widths_follow_width() -> None:
    m = build_model("resnet18", width=0.5, num_classes=10, in_channels=3, image_size=32)
    assert m.conv1.out_channels == 32
    assert [
        m.layer1[0].conv1.out_channels,
        m.layer2[0].conv1.out_channels,
        m.layer3[0].conv1.out_channels,
        m.layer4[0].conv1.out_channels,
    ] == [32, 64, 128, 256]


@pytest.mark.parametrize(("arch", "channels", "size"), FAMILIES)
def test_extreme_widths(arch: str, channels: int, size: int) -> None:
    for width in (0.01, 8.0 if arch in ("cnn", "mlp", "allcnn") else 3.0):
        model = build_model(arch, width=width, num_classes=10, in_channels=channels, image_size=size)
        assert model.eval()(torch.randn(2, channels, size, size)).shape == (2, 10)


def test_tinyimagenet_sized_input() -> None:
    m = build_model("resnet18", width=0.125, num_classes=200, in_channels=3, image_size=64)
    assert m.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 200)
