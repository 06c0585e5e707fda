"""Width scaling: parameter counts and forward shapes of every family at several widths, on
images (C, H, W) and 1-D signals (C, L)."""

from __future__ import annotations

import pytest
import torch

from unlearn_opt.errors import UserError
from unlearn_opt.models import build_model, count_parameters

# (architecture, example shape)
FAMILIES = [
    ("resnet18", (3, 32, 32)),
    ("resnet50", (3, 32, 32)),
    ("allcnn", (3, 32, 32)),
    ("cnn", (1, 8, 8)),
    ("mlp", (1, 8, 8)),
    ("cnn1d", (1, 40)),
    ("mlp", (1, 40)),
    ("transformer", (1, 40)),
    ("transformer", (3, 32, 32)),
]


def test_resnet18_width_one_is_the_standard_cifar_model() -> None:
    # the CIFAR ResNet-18 with 10 classes has 11,173,962 parameters
    assert count_parameters(build_model("resnet18", width=1.0, num_classes=10, input_shape=(3, 32, 32))) == 11_173_962
    assert count_parameters(build_model("resnet50", width=1.0, num_classes=10, input_shape=(3, 32, 32))) == 23_520_842


def test_cnn1d_parameter_counts_by_hand() -> None:
    """c = round(25·w) channels; on 40 samples the lengths are 40 → 19 → 10 → 5
    (⌊(L + 2 − k) / 2⌋ + 1 with k = 5, 3, 3). Weights + biases:
    conv1 1·c·5 + c, conv2 and conv3 c·c·3 + c each, linear (c·5)·10 + 10."""
    # w = 1: c = 25 → 150 + 1900 + 1900 + 1260 = 5 210 (the reference ConvBase)
    assert 1 * 25 * 5 + 25 + 2 * (25 * 25 * 3 + 25) + 25 * 5 * 10 + 10 == 5_210
    assert count_parameters(build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 40))) == 5_210
    # w = 2: c = 50 → 300 + 7550 + 7550 + 2510 = 17 910
    assert count_parameters(build_model("cnn1d", width=2.0, num_classes=10, input_shape=(1, 40))) == 17_910
    # w = 0.25: c = 6 → 36 + 114 + 114 + 310 = 574
    assert count_parameters(build_model("cnn1d", width=0.25, num_classes=10, input_shape=(1, 40))) == 574
    # another length and channel count: 2 channels, 64 samples → 31 → 16 → 8; c = 25:
    # 2·25·5 + 25 = 275, 1900, 1900, 25·8·10 + 10 = 2010 → 6 085
    assert count_parameters(build_model("cnn1d", width=1.0, num_classes=10, input_shape=(2, 64))) == 6_085


def test_cnn1d_layers_follow_the_reference() -> None:
    m = build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 40))
    convs = [m.conv1, m.conv2, m.conv3]
    assert [c.kernel_size for c in convs] == [(5,), (3,), (3,)]
    assert [c.stride for c in convs] == [(2,)] * 3 and [c.padding for c in convs] == [(1,)] * 3
    assert [c.out_channels for c in convs] == [25] * 3 and m.linear.in_features == 125
    x = torch.randn(4, 1, 40)
    h = m.conv3(m.conv2(m.conv1(x).relu()).relu()).relu()
    assert torch.equal(m(x), m.linear(h.flatten(1)))


def test_mlp_flattens_any_shape() -> None:
    """in_features = the product of the example shape: 1·40, 3·5·7; 256·w hidden units."""
    m = build_model("mlp", width=0.5, num_classes=10, input_shape=(1, 40))
    first = m.net[1]
    assert (first.in_features, first.out_features) == (40, 128)
    assert count_parameters(m) == (40 * 128 + 128) + (128 * 128 + 128) + (128 * 10 + 10)
    x = torch.randn(6, 1, 40)
    assert torch.equal(m(x), m(x.reshape(6, 40)))  # the same function of the flattened signal
    rect = build_model("mlp", width=1.0, num_classes=4, input_shape=(3, 5, 7))
    assert rect.net[1].in_features == 105 and rect(torch.randn(2, 3, 5, 7)).shape == (2, 4)


def test_models_refuse_examples_of_the_wrong_kind() -> None:
    with pytest.raises(UserError, match=r"'resnet18' takes images \(C, H, W\), not examples of shape \(1, 40\)"):
        build_model("resnet18", width=1.0, num_classes=10, input_shape=(1, 40))
    with pytest.raises(UserError, match=r"'cnn1d' takes 1-D signals \(C, L\)"):
        build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 8, 8))
    with pytest.raises(UserError, match="at least 3 samples"):
        build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 2))
    with pytest.raises(UserError, match="unknown value 'vit'"):
        build_model("vit", width=1.0, num_classes=10, input_shape=(3, 32, 32))


@pytest.mark.parametrize(("arch", "shape"), FAMILIES)
def test_every_family_scales_and_runs(arch: str, shape: tuple[int, ...]) -> None:
    counts = []
    for width in (0.05, 0.25, 1.0, 2.0):
        model = build_model(arch, width=width, num_classes=7, input_shape=shape)
        out = model.eval()(torch.randn(3, *shape))
        assert out.shape == (3, 7)
        counts.append(count_parameters(model))
    assert counts == sorted(counts) and len(set(counts)) == 4
    # conv/linear weights grow ~quadratically with width: ×2 width → more than ×3 parameters
    assert counts[3] > 3 * counts[2]


def test_resnet18_stage_widths_follow_width() -> None:
    m = build_model("resnet18", width=0.5, num_classes=10, input_shape=(3, 32, 32))
    assert m.conv1.out_channels == 32
    assert [
        m.layer1[0].conv1.out_channels,
        m.layer2[0].conv1.out_channels,
        m.layer3[0].conv1.out_channels,
        m.layer4[0].conv1.out_channels,
    ] == [32, 64, 128, 256]


@pytest.mark.parametrize(("arch", "shape"), FAMILIES)
def test_extreme_widths(arch: str, shape: tuple[int, ...]) -> None:
    for width in (0.01, 8.0 if arch in ("cnn", "mlp", "allcnn", "cnn1d") else 3.0):
        model = build_model(arch, width=width, num_classes=10, input_shape=shape)
        assert model.eval()(torch.randn(2, *shape)).shape == (2, 10)


def test_tinyimagenet_sized_input() -> None:
    m = build_model("resnet18", width=0.125, num_classes=200, input_shape=(3, 64, 64))
    assert m.eval()(torch.randn(2, 3, 64, 64)).shape == (2, 200)


def test_small_cnn_on_non_square_images() -> None:
    m = build_model("cnn", width=1.0, num_classes=10, input_shape=(1, 8, 12))
    assert m.fc1.in_features == 64 * 4 * 6 and m(torch.randn(2, 1, 8, 12)).shape == (2, 10)
