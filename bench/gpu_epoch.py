"""ResNet-18 (width 1.0) epoch time on CIFAR-shaped data with our training loop (device data,
on-device augmentation, bf16 autocast and channels_last on CUDA): achieved TFLOP/s against the
GPU's peak, peak memory, and unlearning trials per hour at width 0.25 with 1, 2 and 4 worker
processes sharing the GPU. Meant for a lent GPU; --quick runs a tiny version anywhere."""

from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.common import device_of, emit, parser, sync
from unlearn_opt.data import DeviceBatches, TensorData
from unlearn_opt.data.cifar import CIFAR_MEAN, CIFAR_STD
from unlearn_opt.engine.runtime import prepare_input, prepare_model
from unlearn_opt.engine.training import train
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.models import build_model
from unlearn_opt.spec import OriginalSpec, spec_from_dict

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def cifar_shaped(n: int, device: torch.device) -> TensorData:
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return TensorData("cifar-shaped", x, y, x[: n // 5], y[: n // 5], 10, CIFAR_MEAN, CIFAR_STD, 255.0).to(device)


def step_flops(model: torch.nn.Module, batch: int, device: torch.device) -> int:
    """FLOPs of one training step (forward + backward) at this batch size."""
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(prepare_input(x)), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def _trials_worker(seconds: float, quick: bool, queue: Any) -> None:
    device = device_of("auto")
    raw = {
        "name": "gpu",
        "dataset": "synthetic",
        "architecture": "resnet18",
        "widths": [0.25],
        "synthetic": {
            "train_size": 2_000 if quick else 50_000,
            "test_size": 500 if quick else 10_000,
            "channels": 3,
            "image_size": 32,
        },
        "original": {"epochs": 1, "batch_size": 256},
        "unlearning": {"batch_size": 256, "forget_batch_size": 64},
        "evaluation": {"batch_size": 2048},
    }
    ws = Workspace(spec_from_dict(raw), device=device)
    ws.original(0.25)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        ws.run_trial(width=0.25, sparsity=0.0, method="scrub", goal="privacy", params={"epochs": 1})
        count += 1
    queue.put(count / (time.perf_counter() - start) * 3600)


def trials_per_hour(workers: int, seconds: float, quick: bool) -> float:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_trials_worker, args=(seconds, quick, queue)) for _ in range(workers)]
    for p in procs:
        p.start()
    total = sum(queue.get() for _ in procs)
    for p in procs:
        p.join()
    return total


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    device = device_of(args.device)
    n, width, batch = (1_024, 0.125, 128) if args.quick else (50_000, 1.0, 512)
    data = cifar_shaped(n, device)
    model = prepare_model(build_model("resnet18", width=width, num_classes=10, input_shape=(3, 32, 32)), device)
    flops = step_flops(model, batch, device) * (n // batch)
    recipe = OriginalSpec(epochs=1, batch_size=batch, lr=0.1, augment=True)
    batches = DeviceBatches(data, split="train", indices=torch.arange(n), batch_size=batch, augment=True, drop_last=True)
    train(model, batches, recipe=recipe, device=device)  # warm-up (cuDNN autotuning, allocator)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    start = time.perf_counter()
    train(model, batches, recipe=recipe, device=device)
    sync(device)
    epoch = time.perf_counter() - start
    achieved = flops / epoch / 1e12
    peak = peak_tflops(device)
    result: dict[str, Any] = {
        "benchmark": "gpu_epoch",
        "device": str(device),
        "width": width,
        "examples": n,
        "batch_size": batch,
        "epoch_seconds": round(epoch, 3),
        "tflops": round(achieved, 2),
        "peak_tflops_bf16": peak,
        "fraction_of_peak": round(achieved / peak, 3) if peak else None,
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
    }
    seconds = 5.0 if args.quick else 60.0
    counts = (1,) if args.quick else (1, 2, 4)
    result["trials_per_hour_width_0.25"] = {str(k): round(trials_per_hour(k, seconds, args.quick)) for k in counts}
    emit(result)


if __name__ == "__main__":
    main()
