"""MNIST-1D and 1-D signals: the generator, the dataset digest, signals in the loader, the
``[mnist1d]`` table, refusals of what makes no sense for signals, and a trial end to end."""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_opt.analysis.regions import plane_grid
from unlearn_opt.data import DeviceBatches, TensorData, augment_batch, iterate_eval, load_dataset
from unlearn_opt.data.splits import Splits, make_splits
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.errors import UserError
from unlearn_opt.methods.prune import global_magnitude_prune, sparsity_of
from unlearn_opt.metrics.decision_regions import region_scores
from unlearn_opt.models import build_model, count_parameters
from unlearn_opt.spec import spec_from_dict

ROOT = Path(__file__).resolve().parent.parent
SMALL = {"num_samples": 500, "seed": 7}  # 400 train / 100 test, generated in ~0.3 s


@pytest.fixture(scope="module")
def standard() -> TensorData:
    return load_dataset("mnist1d")


# ------------------------------------------------------------------ the generator


def test_standard_dataset_is_4000_by_1000_signals_of_40(standard: TensorData) -> None:
    d = standard
    assert d.x_train.shape == (4000, 1, 40) and d.x_test.shape == (1000, 1, 40)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.example_shape == (1, 40) and d.spatial_dims == 1 and not d.is_image and d.channels == 1
    assert d.num_classes == 10 and d.is_identity_normalized
    counts = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10)
    assert counts.tolist() == [500] * 10  # num_samples // 10 per class, then shuffled and split 80/20
    x = torch.cat([d.x_train, d.x_test])
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2  # the generator standardizes


def test_generation_keeps_the_global_random_state() -> None:
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    load_dataset("mnist1d", mnist1d=SMALL)  # seeds both generators internally
    assert np.random.rand() == expected_np and random.random() == expected_py


@pytest.mark.slow
def test_same_arguments_same_digest_in_another_process(standard: TensorData) -> None:
    code = (
        "import sys, json\n"
        "from unlearn_opt.data import load_dataset\n"
        "print(json.dumps([load_dataset('mnist1d').digest(), load_dataset('mnist1d', mnist1d=json.loads(sys.argv[1])).digest()]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(SMALL)], capture_output=True, text=True, cwd=ROOT, timeout=300, check=True
    )
    there = json.loads(out.stdout)
    assert there == [standard.digest(), load_dataset("mnist1d", mnist1d=SMALL).digest()]


def test_arguments_change_the_data() -> None:
    a = load_dataset("mnist1d", mnist1d=SMALL)
    b = load_dataset("mnist1d", mnist1d=SMALL)
    assert torch.equal(a.x_train, b.x_train) and torch.equal(a.y_test, b.y_test) and a.digest() == b.digest()
    assert a.x_train.shape == (400, 1, 40) and a.x_test.shape == (100, 1, 40)
    other_seed = load_dataset("mnist1d", mnist1d={**SMALL, "seed": 8})
    assert other_seed.x_train.shape == a.x_train.shape and not torch.equal(other_seed.x_train, a.x_train)
    more = load_dataset("mnist1d", mnist1d={**SMALL, "num_samples": 600})
    assert more.x_train.shape == (480, 1, 40) and more.x_test.shape == (120, 1, 40)
    assert len({a.digest(), other_seed.digest(), more.digest()}) == 3


# ------------------------------------------------------------------ the dataset digest


def signals(n: int = 30, *, channels: int = 2, length: int = 9) -> TensorData:
    """Signal i holds the value i in channel 0 and −i in channel 1, at every sample; label i % 3."""
    x = torch.arange(n, dtype=torch.float32)[:, None, None].expand(n, channels, length).clone()
    x[:, 1] *= -1
    y = torch.arange(n) % 3
    return TensorData("sig", x, y, x[:6].clone(), y[:6].clone(), 3, (1.0, -2.0), (2.0, 4.0), 1.0)


def test_digest_sees_content_not_rounding_noise() -> None:
    d = signals()
    same = dataclasses.replace(d, x_train=d.x_train + 1e-12)  # last-bit differences between machines
    assert same.digest() == d.digest()
    x = d.x_train.clone()
    x[4, 1, 3] += 1e-3
    assert dataclasses.replace(d, x_train=x).digest() != d.digest()
    y = d.y_test.clone()
    y[0] = 2
    assert dataclasses.replace(d, y_test=y).digest() != d.digest()
    assert dataclasses.replace(d, name="other").digest() != d.digest()
    as_image = dataclasses.replace(d, x_train=d.x_train.reshape(30, 2, 3, 3), x_test=d.x_test.reshape(6, 2, 3, 3))
    assert as_image.is_image and as_image.digest() != d.digest()  # the same values in another shape
    images = torch.randint(0, 256, (5, 3, 4, 4), dtype=torch.uint8)
    u8 = TensorData(
        "u8",
        images,
        torch.zeros(5, dtype=torch.int64),
        images,
        torch.zeros(5, dtype=torch.int64),
        2,
        (0.5,) * 3,
        (0.2,) * 3,
        255.0,
    )
    flipped = images.clone()
    flipped[2, 1, 0, 0] ^= 1  # one bit of one pixel
    assert dataclasses.replace(u8, x_test=flipped).digest() != u8.digest()


def test_splits_digest_carries_the_data_digest() -> None:
    y_train, y_test = np.arange(300) % 10, np.arange(100) % 10
    kw = {"y_train": y_train, "y_test": y_test, "num_classes": 10, "seed": 1, "forget_size": 20}
    plain = make_splits(**kw)
    assert "data_digest" not in plain.to_dict()  # splits made without data keep their former digest
    a, b = make_splits(**kw, data_digest="a" * 64), make_splits(**kw, data_digest="b" * 64)
    assert len({plain.digest(), a.digest(), b.digest()}) == 3
    back = Splits.from_dict(json.loads(json.dumps(a.to_dict())))
    assert back.data_digest == a.data_digest and back.digest() == a.digest()


def mnist1d_spec(**extra: object) -> dict:
    return {
        "name": "m1d",
        "dataset": "mnist1d",
        "architecture": "cnn1d",
        "widths": [1.0],
        "forget": {"size": 30},
        "mnist1d": dict(SMALL),
        **extra,
    }


def test_workspaces_agree_on_same_arguments_and_not_on_others() -> None:
    """What a worker checks against the stored digest: same spec → same splits digest; the
    same split seed on data generated with another seed → a different one."""
    spec = spec_from_dict(mnist1d_spec())
    cpu = torch.device("cpu")
    first = Workspace(spec, device=cpu).splits
    assert first.data_digest == load_dataset("mnist1d", mnist1d=SMALL).digest()
    assert Workspace(spec, device=cpu).splits.digest() == first.digest()
    other = spec_from_dict(mnist1d_spec(mnist1d={**SMALL, "seed": 8}))
    assert Workspace(other, device=cpu).splits.digest() != first.digest()


# ------------------------------------------------------------------ signals in the loader


def index_of(xb: torch.Tensor, data: TensorData) -> list[int]:
    """Back from normalized signals to the index written into them (channel 0, any sample)."""
    return (xb[:, 0, 4] * data.std[0] + data.mean[0]).round().long().tolist()


def test_normalize_per_channel_on_signals() -> None:
    d = signals()
    xb = d.x_train[[3, 7]]
    out = d.normalize(xb)
    assert out.shape == (2, 2, 9)
    assert torch.allclose(out[:, 0], (xb[:, 0] - 1.0) / 2.0) and torch.allclose(out[:, 1], (xb[:, 1] + 2.0) / 4.0)


def test_device_batches_and_eval_iterate_signals() -> None:
    d = signals()
    idx = torch.arange(0, 30, 3)
    batches = DeviceBatches(d, split="train", indices=idx, batch_size=4, seed=2)
    got = list(batches)
    assert [tuple(x.shape) for x, _ in got] == [(4, 2, 9), (4, 2, 9), (2, 2, 9)]
    seen = [i for x, _ in got for i in index_of(x, d)]
    assert sorted(seen) == idx.tolist() and seen != idx.tolist()  # each once, shuffled
    for x, y in got:
        assert y.tolist() == [i % 3 for i in index_of(x, d)]
        assert torch.allclose(x, d.normalize(d.x_train[index_of(x, d)]))
    evals = list(iterate_eval(d, split="test", indices=[5, 0, 2], batch_size=2))
    assert [tuple(b.shape) for b in evals] == [(2, 2, 9), (1, 2, 9)]
    assert index_of(torch.cat(evals), d) == [5, 0, 2]


def test_image_augmentation_is_refused_for_signals() -> None:
    d = signals()
    with pytest.raises(ValueError, match="needs images"):
        DeviceBatches(d, split="train", indices=[0, 1], batch_size=2, augment=True)
    with pytest.raises(ValueError, match=r"needs images \(N, C, H, W\)"):
        augment_batch(d.x_train)


def test_workspace_batches_models_and_regions_on_signals() -> None:
    ws = Workspace(spec_from_dict(mnist1d_spec(widths=[0.5])), device=torch.device("cpu"))
    x, y = next(iter(ws.batches("pool", batch_size=16, seed=0, augment=False)))
    assert x.shape == (16, 1, 40) and y.shape == (16,)
    model = ws.new_model(0.5)
    assert count_parameters(model) == 1_570  # c = 12: 72 + 444 + 444 + 610
    original, other = model, ws.new_model(0.5, seed=99)
    plane = plane_grid(ws, {"original": original, "unlearned": other}, steps=5)
    assert np.asarray(plane["original"]).shape == (5, 5) and len(plane["coords"]) == 5
    same = ws.regions(original, original, delta=0.5)
    assert (same.c_prox, same.s_far) == (0.0, 1.0)  # identical models: no change near, all agree far
    d = ws.data
    scores = region_scores(
        original=original,
        unlearned=other,
        forget_x=d.normalize(d.x_train[ws.sets.forget]),
        test_x=d.normalize(d.x_test[ws.sets.test]),
        delta=0.5,
        samples=4,
    )
    assert 0.0 <= scores.c_prox <= 1.0 and 0.0 <= scores.s_far <= 1.0


def test_prune_reaches_the_conv1d_layers() -> None:
    model = build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 40))
    masks = global_magnitude_prune(model, 0.5)
    assert sorted(masks) == ["conv1.weight", "conv2.weight", "conv3.weight"]
    assert sparsity_of(model) == pytest.approx(0.5, abs=1e-3)
    assert float((model.linear.weight == 0).float().mean()) == 0.0  # the linear layer is not pruned


# ------------------------------------------------------------------ the spec


def test_mnist1d_table_round_trips_and_leaves_other_digests_alone() -> None:
    spec = spec_from_dict(mnist1d_spec())
    assert dict(spec.mnist1d) == SMALL
    again = spec_from_dict(spec.to_dict())
    assert again == spec and again.digest() == spec.digest()
    assert spec_from_dict(mnist1d_spec(mnist1d={**SMALL, "seed": 8})).digest() != spec.digest()
    defaults = spec_from_dict({k: v for k, v in mnist1d_spec().items() if k != "mnist1d"})
    assert dict(defaults.mnist1d) == {} and "mnist1d" not in defaults.to_dict()


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"mnist1d": {"num_samples": 5005}}, "mnist1d.num_samples: must be a multiple of 10"),
        ({"mnist1d": {"num_samples": 50}}, "mnist1d.num_samples: must be in [100, 200000] (got 50)"),
        ({"mnist1d": {"num_samples": 10**7}}, "mnist1d.num_samples: must be in [100, 200000]"),
        ({"mnist1d": {"seed": -1}}, "mnist1d.seed: must be in [0, 4294967295]"),
        ({"mnist1d": {"seed": 2**32}}, "mnist1d.seed: must be in [0, 4294967295]"),
        ({"mnist1d": {"seed": 1.5}}, "mnist1d.seed: must be an integer"),
        ({"mnist1d": {"length": 40}}, "mnist1d.length: unknown key"),
        (
            {"architecture": "resnet18"},
            "architecture: 'resnet18' takes images (C, H, W) but dataset 'mnist1d' holds 1-D signals (C, L) (use one of: cnn1d, mlp, transformer)",
        ),
        ({"architecture": "cnn"}, "architecture: 'cnn' takes images (C, H, W) but dataset 'mnist1d' holds 1-D signals"),
        (
            {"original": {"augment": True}},
            "original.augment: crop/flip augmentation needs images, but dataset 'mnist1d' holds 1-D signals (C, L)",
        ),
        ({"unlearning": {"augment": True}}, "unlearning.augment: crop/flip augmentation needs images"),
    ],
)
def test_spec_refuses_what_makes_no_sense_for_signals(patch: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        spec_from_dict({**mnist1d_spec(), **patch})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_spec_refuses_signal_settings_on_images() -> None:
    base = {"name": "d", "dataset": "digits", "architecture": "cnn", "widths": [1.0]}
    with pytest.raises(UserError, match=r"^mnist1d: is only used with dataset = \"mnist1d\"$"):
        spec_from_dict({**base, "mnist1d": {"seed": 1}})
    with pytest.raises(UserError, match=r"^architecture: 'cnn1d' takes 1-D signals \(C, L\) but dataset 'digits' holds images"):
        spec_from_dict({**base, "architecture": "cnn1d"})
    assert spec_from_dict({**base, "architecture": "mlp"}).architecture == "mlp"  # mlp takes any shape


# ------------------------------------------------------------------ through the CLI

TINY = """
name = "mnist1d-tiny"
dataset = "mnist1d"
architecture = "cnn1d"
widths = [1.0]
methods = ["finetune"]
goals = ["privacy"]
seed = 0

[mnist1d]
num_samples = 1000
seed = 3

[forget]
size = 40

[original]
epochs = 30
batch_size = 50
optimizer = "adam"
lr = 0.01
weight_decay = 0.0
schedule = "constant"
"""


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unlearn_opt", *args], capture_output=True, text=True, cwd=ROOT, timeout=600)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('architecture = "cnn1d"', 'architecture = "resnet18"', "architecture: 'resnet18' takes images (C, H, W)"),
        (
            'schedule = "constant"',
            'schedule = "constant"\naugment = true',
            "original.augment: crop/flip augmentation needs images",
        ),
        ('dataset = "mnist1d"', 'dataset = "digits"', 'mnist1d: is only used with dataset = "mnist1d"'),
        ("num_samples = 1000", "num_samples = 1000000", "mnist1d.num_samples: must be in [100, 200000]"),
    ],
)
def test_cli_refuses_in_one_line_with_exit_2(tmp_path: Path, old: str, new: str, message: str) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(TINY.replace(old, new))
    out = cli("trial", str(spec), "--width", "1", "--method", "finetune", "--device", "cpu", "--json")
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().startswith(f"error: spec {spec}: {message}")
    assert len(out.stderr.strip().splitlines()) == 1 and out.stdout == ""


def test_cli_refuses_cnn1d_on_images(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text('name = "x"\ndataset = "digits"\narchitecture = "cnn1d"\nwidths = [1]\n')
    out = cli("trial", str(spec), "--width", "1", "--method", "finetune", "--json")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == (
        f"error: spec {spec}: architecture: 'cnn1d' takes 1-D signals (C, L) but dataset 'digits' holds "
        "images (C, H, W) (use one of: resnet18, resnet50, allcnn, cnn, mlp, transformer)"
    )


@pytest.mark.slow
def test_trial_end_to_end_on_mnist1d(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    out = cli("trial", str(spec), "--width", "1", "--method", "finetune", "--param", "epochs=2", "--device", "cpu", "--json")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    original, m = result["original"], result["metrics"]
    assert original["param_count"] == 5_210  # the reference CNN at w = 1
    # chance is 0.9; the reference CNN learns MNIST-1D's train split well within 30 epochs
    assert original["train_error"] < 0.25 and original["test_error"] < 0.6
    assert original["test_error"] > original["train_error"]  # 720 signals: it generalizes imperfectly
    for name in ("retain_error", "forget_error", "forget_test_error", "val_error", "test_error"):
        assert 0.0 <= m[name] < 0.8
    assert m["privacy_gap"] == pytest.approx(abs(m["forget_error"] - m["forget_test_error"]))
    assert 0.0 <= m["mia_auc"] <= 1.0 and 0.0 <= m["mia_efficacy"] <= 1.0 and m["unlearn_seconds"] > 0
