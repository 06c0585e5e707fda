"""The CUDA paths, run on a GPU with `pytest -m cuda` (skipped where there is no CUDA device): one
trial of every method with bf16 autocast and channels_last, eager and with `compile = true`; an
original's checkpoint moving between CUDA and CPU; the device loader's augmentation on the GPU
against the CPU's; the launcher's count of visible GPUs against CUDA_VISIBLE_DEVICES.

`UNLEARN_OPT_TEST_DEVICE=cpu` runs the same tests on the CPU (what `bench.gpu_check --quick
--device cpu` does in CI, so that they have no bugs when a GPU arrives): smaller sizes, and
`compile = true` through Dynamo and AOTAutograd only (the ``aot_eager`` backend), since Inductor's
C++ compilation of a ResNet takes minutes on a small CPU."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from torch import nn

from bench.common import short_params
from unlearn_opt.data.base import TensorData
from unlearn_opt.data.loader import DeviceBatches, iterate_eval
from unlearn_opt.engine.workspace import Workspace, state_from_bytes, state_to_bytes
from unlearn_opt.methods import METHOD_NAMES
from unlearn_opt.metrics.predictions import logits_of
from unlearn_opt.spec import Spec, spec_from_dict

DEVICE = torch.device(os.environ.get("UNLEARN_OPT_TEST_DEVICE", "cuda"))
ON_CUDA = DEVICE.type == "cuda"

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(ON_CUDA and not torch.cuda.is_available(), reason="no CUDA device"),
]

WIDTH = 0.25 if ON_CUDA else 0.125


def small_spec(*, compile: bool) -> Spec:
    """CIFAR-shaped synthetic data, ResNet-18 at a small width, one epoch for the original."""
    n_train, n_test, forget = (2048, 512, 128) if ON_CUDA else (320, 160, 32)
    return spec_from_dict(
        {
            "name": "cuda-check",
            "dataset": "synthetic",
            "architecture": "resnet18",
            "widths": [WIDTH],
            "synthetic": {"train_size": n_train, "test_size": n_test, "channels": 3, "image_size": 32},
            "forget": {"size": forget},
            "original": {"epochs": 1, "batch_size": 128, "augment": True},
            "unlearning": {"batch_size": 128, "forget_batch_size": 64},
            "evaluation": {"batch_size": 512},
            "runtime": {"compile": compile},
        }
    )


def first_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.fixture(scope="module")
def workspaces() -> Iterator[dict[bool, Workspace]]:
    """One workspace per compile setting, its original trained once and shared by the trials."""
    cache: dict[bool, Workspace] = {}
    yield cache
    cache.clear()


@pytest.fixture
def cpu_compile_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """On the CPU dry run, `Module.compile` goes through Dynamo and AOTAutograd without Inductor."""
    if ON_CUDA:
        return
    original = nn.Module.compile

    def compile_aot_eager(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **{**kwargs, "backend": "aot_eager"})

    monkeypatch.setattr(nn.Module, "compile", compile_aot_eager)


@pytest.mark.parametrize(
    ("method", "compile"),
    [pytest.param(m, False, id=f"{m}-eager") for m in METHOD_NAMES]
    + [pytest.param(m, True, id=f"{m}-compile") for m in METHOD_NAMES],
)
def test_one_trial_of_every_method(
    method: str,
    compile: bool,
    workspaces: dict[bool, Workspace],
    cpu_compile_backend: None,
    record_property: Any,
) -> None:
    import torch._dynamo.utils as dynamo_utils

    graphs_before = sum(dynamo_utils.counters["stats"].values())
    start = time.perf_counter()
    if compile not in workspaces:
        workspaces[compile] = Workspace(small_spec(compile=compile), device=DEVICE)
    ws = workspaces[compile]
    original, _ = ws.original(WIDTH)
    calls: list[tuple[torch.dtype, bool]] = []

    def note(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        calls.append((output.dtype, inputs[0].is_contiguous(memory_format=torch.channels_last)))

    # A hook on the original's first convolution travels into the copy each method unlearns
    # (eager only: a hook on a compiled module would be traced into its graph).
    handle = None if compile else first_conv(original).register_forward_hook(note)
    try:
        _, unlearned, params, seconds = ws.unlearn(width=WIDTH, sparsity=0.0, method=method, params=short_params(method))
    finally:
        if handle is not None:
            handle.remove()
    during_unlearning = list(calls)
    carried = bool(first_conv(unlearned)._forward_hooks)  # the unlearned model is the hooked copy
    calls.clear()
    if not compile:
        for hooks in (m._forward_hooks for m in unlearned.modules()):
            hooks.clear()
        first_conv(unlearned).register_forward_hook(note)
    metrics = ws.evaluate(unlearned)
    record_property("trial_seconds", round(time.perf_counter() - start, 2))
    record_property("unlearn_seconds", round(seconds, 3))
    record_property("dynamo_counters", sum(dynamo_utils.counters["stats"].values()) - graphs_before)

    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0.0 <= metrics["val_error"] <= 1.0 and 0.0 <= metrics["forget_error"] <= 1.0
    weights = first_conv(unlearned).weight
    assert weights.device.type == DEVICE.type and weights.dtype == torch.float32
    if ON_CUDA:
        assert weights.is_contiguous(memory_format=torch.channels_last)
    if compile:
        assert getattr(unlearned, "_compiled_call_impl", None) is not None, "compile = true left the model uncompiled"
        return
    # Evaluation, and every unlearning forward pass through the hooked copy, ran in bf16 on
    # channels_last inputs on CUDA (float32 on the CPU).
    assert calls, "evaluation never reached the model"
    assert not carried or during_unlearning, f"{method} never ran the copy of the original"
    for dtype, channels_last in calls + during_unlearning:
        assert dtype == (torch.bfloat16 if ON_CUDA else torch.float32)
        assert channels_last or not ON_CUDA


def test_checkpoint_trained_on_cuda_loads_on_cpu_and_cuda(record_property: Any) -> None:
    """What a worker stores (state_to_bytes) and another loads (state_from_bytes + put_original)."""
    spec = small_spec(compile=False)
    trained_ws = Workspace(spec, device=DEVICE)
    trained, record = trained_ws.original(WIDTH)
    blob = state_to_bytes(trained)
    on_device = Workspace(spec, device=DEVICE, data=trained_ws.data, splits=trained_ws.splits)
    on_cpu = Workspace(spec, device=torch.device("cpu"), splits=trained_ws.splits)
    loaded_device = on_device.put_original(WIDTH, 0.0, state_from_bytes(blob), record)
    loaded_cpu = on_cpu.put_original(WIDTH, 0.0, state_from_bytes(blob), record)
    for name, value in trained.state_dict().items():
        assert torch.equal(loaded_cpu.state_dict()[name], value.cpu()), name
        assert torch.equal(loaded_device.state_dict()[name], value), name

    def logits(model: nn.Module, ws: Workspace) -> torch.Tensor:
        batches = iterate_eval(ws.data, split="test", indices=ws.sets.test, batch_size=256)
        return logits_of(model, batches, ws.device).cpu()

    # The same device and precision (bf16 autocast on CUDA): the same predictions.
    a, b = logits(trained, trained_ws), logits(loaded_device, on_device)
    record_property("max_abs_logit_diff_reloaded", float((a - b).abs().max()))
    assert_same_predictions(a, b, tol=1e-2)
    # CPU against the device, both in float32 (no autocast, no TF32): the same predictions.
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.no_grad(), torch.autocast(DEVICE.type, enabled=False):
            exact = torch.cat(
                [
                    trained.eval()(x.contiguous(memory_format=torch.channels_last) if ON_CUDA else x).float().cpu()
                    for x in iterate_eval(trained_ws.data, split="test", indices=trained_ws.sets.test, batch_size=256)
                ]
            )
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32
    on_cpu_logits = logits(loaded_cpu, on_cpu)
    record_property("max_abs_logit_diff_cpu_vs_device", float((exact - on_cpu_logits).abs().max()))
    assert_same_predictions(exact, on_cpu_logits, tol=1e-3)


def assert_same_predictions(a: torch.Tensor, b: torch.Tensor, *, tol: float) -> None:
    """Logits equal within ``tol``, and the same arg-max prediction for every example except one
    whose two largest logits are themselves within that tolerance (a tie at this precision)."""
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    top = a.topk(2, dim=1).values
    tie = (top[:, 0] - top[:, 1]) <= 2 * tol * (1 + top[:, 0].abs())
    differ = a.argmax(1) != b.argmax(1)
    assert not (differ & ~tie).any(), f"{int((differ & ~tie).sum())} predictions differ beyond a tie"


def position_coded(n: int, size: int, device: torch.device) -> TensorData:
    """n copies of one image whose pixel (i, j) holds 1 + i·size + j: a crop's offset and a flip
    can be read back from the pixels (the zero padding holds 0). Identity normalization."""
    img = (1 + torch.arange(size * size, dtype=torch.float32)).view(1, 1, size, size)
    x = img.expand(n, 1, size, size).contiguous().to(device)
    y = torch.zeros(n, dtype=torch.int64, device=device)
    return TensorData("coded", x, y, x[:1], y[:1], 1, (0.0,), (1.0,), 1.0)


def decode(batch: torch.Tensor, size: int, padding: int) -> torch.Tensor:
    """(dy, dx, flipped) of each augmented image, checked: the image is exactly that crop."""
    c = size // 2
    centre, right = batch[:, 0, c, c].long() - 1, batch[:, 0, c, c + 1].long() - 1
    flipped = right < centre
    row, col = centre // size, centre % size
    dy = row - c + padding
    dx = col - torch.where(flipped, torch.full_like(col, size - 1 - c), torch.full_like(col, c)) + padding
    img = (1 + torch.arange(size * size, dtype=torch.float32, device=batch.device)).view(size, size)
    padded = torch.nn.functional.pad(img, (padding,) * 4)
    for i in range(0, len(batch), max(1, len(batch) // 64)):  # a sample, pixel by pixel
        crop = padded[dy[i] : dy[i] + size, dx[i] : dx[i] + size]
        assert torch.equal(batch[i, 0], crop.flip(1) if flipped[i] else crop), i
    return torch.stack([dy, dx, flipped.long()], dim=1).cpu()


def test_device_augmentation_matches_the_cpu_in_distribution(record_property: Any) -> None:
    """DeviceBatches with augment=True: crop offsets uniform over the (2p+1)² positions and flips
    with p = ½, on the device as on the CPU (chi-square tests on the 162 joint cells)."""
    from scipy.stats import chi2_contingency, chisquare

    n, size, padding = (40_000, 32, 4) if ON_CUDA else (8_000, 32, 4)
    cells = {}
    for dev in (torch.device("cpu"), DEVICE):
        data = position_coded(n, size, dev)
        batches = DeviceBatches(data, split="train", indices=torch.arange(n), batch_size=4096, augment=True, seed=7)
        seen = torch.cat([decode(x, size, padding) for x, _ in batches])
        assert len(seen) == n
        index = (seen[:, 0] * (2 * padding + 1) + seen[:, 1]) * 2 + seen[:, 2]
        counts = torch.bincount(index, minlength=2 * (2 * padding + 1) ** 2).numpy()
        assert chisquare(counts).pvalue > 1e-3, (dev, counts)  # uniform over crops × flips
        cells[dev.type] = counts
    if ON_CUDA:
        p = chi2_contingency([cells["cpu"], cells["cuda"]]).pvalue
        record_property("p_cpu_vs_cuda", float(p))
        assert p > 1e-3


@pytest.mark.skipif(not ON_CUDA, reason="needs a real GPU")
def test_visible_gpus_agree_with_the_cuda_runtime() -> None:
    """The launcher's count follows CUDA_VISIBLE_DEVICES: empty, an index, a UUID, unset."""
    uuid = f"GPU-{torch.cuda.get_device_properties(0).uuid}"
    code = "from unlearn_opt.service.launch import visible_gpus; print(','.join(visible_gpus().entries))"
    cases = {"": "", "0": "0", uuid: uuid, None: ",".join(str(i) for i in range(torch.cuda.device_count()))}
    for cvd, expected in cases.items():
        env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
        if cvd is not None:
            env["CUDA_VISIBLE_DEVICES"] = cvd
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == expected, (cvd, out.stdout)
