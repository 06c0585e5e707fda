"""ResNet-18 training epochs on CIFAR-shaped data (50 000 × 3 × 32 × 32, generated on the device)
with the project's training loop (device-resident batches, on-device augmentation, bf16 autocast
and channels_last on CUDA), at several widths, eager and compiled: seconds per epoch, images/s,
achieved TFLOP/s (the model's FLOPs counted with FlopCounterMode, forward + backward), peak
memory, and the compile time.

One process per width. The compiled models are compiled by all of them at once (compiling is CPU
work), then each width's epochs are timed with the GPU to itself, one process after the other.
Goal: width 1 at ≤ 1.0 s per epoch on an H100-class GPU. --quick runs tiny sizes anywhere."""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.common import cifar_shaped, device_of, emit, parser, peak_memory_gib, reset_peak_memory, stamp, sync
from unlearn_opt.data import DeviceBatches
from unlearn_opt.engine.runtime import autocast, make_sgd, prepare_input, prepare_model
from unlearn_opt.engine.training import train
from unlearn_opt.models import build_model
from unlearn_opt.spec import OriginalSpec

PEAK_BF16_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "4090": 165.0}


def step_flops(model: torch.nn.Module, batch: int, device: torch.device) -> int:
    """FLOPs of one training step (forward + backward) at this batch size, as counted."""
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    with FlopCounterMode(display=False) as counter:
        with autocast(device):
            loss = F.cross_entropy(model(prepare_input(x)).float(), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def peak_tflops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def compile_steps(model: torch.nn.Module, batches: DeviceBatches, device: torch.device, steps: int = 2) -> float:
    """Seconds of the first ``steps`` training steps of a compiled model (the compilation)."""
    opt = make_sgd(model, lr=0.0)
    start = time.perf_counter()
    for i, (x, y) in enumerate(batches):
        with autocast(device):
            loss = F.cross_entropy(model(prepare_input(x)).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i + 1 >= steps:
            break
    sync(device)
    return time.perf_counter() - start


def time_epochs(model: torch.nn.Module, batches: DeviceBatches, device: torch.device, *, epochs: int) -> dict[str, Any]:
    """One warm-up epoch (cuDNN autotuning, the allocator), then ``epochs`` timed epochs."""
    recipe = OriginalSpec(epochs=1, batch_size=batches.batch_size, lr=0.05, augment=True)
    train(model, batches, recipe=recipe, device=device)
    reset_peak_memory(device)
    times = []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        train(model, batches, recipe=recipe, device=device)
        sync(device)
        times.append(time.perf_counter() - start)
    return {
        "epoch_seconds": round(min(times), 4),
        "epoch_seconds_all": [round(t, 4) for t in times],
        "peak_memory_gib": peak_memory_gib(device),
    }


def one_width(
    width: float, args: dict[str, Any], barrier: Any, turn: Any, out: Any
) -> None:  # pragma: no cover - runs in a spawned process
    """Everything for one width; compile first (in parallel with the other widths), then time
    with the GPU to itself (``turn``)."""
    device = device_of(args["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the project's workspace does
    result: dict[str, Any] = {"width": width}
    try:
        n, batch = args["examples"], args["batch_size"]
        data = cifar_shaped(n, device, n_test=1)
        batches = DeviceBatches(data, split="train", indices=torch.arange(n), batch_size=batch, augment=True, drop_last=True)
        torch.manual_seed(0)
        model = prepare_model(build_model("resnet18", width=width, num_classes=10, in_channels=3, image_size=32), device)
        result["parameters"] = sum(p.numel() for p in model.parameters())
        flops = step_flops(model, batch, device) * len(batches)
        result["flops_per_epoch"] = flops
        result["images_per_epoch"] = len(batches) * batch
        compiled = None
        if "compiled" in args["modes"]:
            torch.manual_seed(0)
            compiled = prepare_model(build_model("resnet18", width=width, num_classes=10, in_channels=3, image_size=32), device)
            compiled.compile(**({"backend": args["compile_backend"]} if args["compile_backend"] != "inductor" else {}))
            result["compile_seconds"] = round(compile_steps(compiled, batches, device), 2)
            stamp(f"width {width:g}: compiled in {result['compile_seconds']} s")
    except Exception as exc:  # noqa: BLE001 - reported in the result; the barrier must still be met
        result["error"] = f"{type(exc).__name__}: {exc}"
        model = compiled = None
    try:
        barrier.wait(timeout=args["barrier_seconds"])
    except Exception:  # noqa: BLE001 - another width failed to arrive: time ours anyway
        result["barrier"] = "broken"
    with turn:
        for mode, m in (("eager", model), ("compiled", compiled)):
            if m is None or mode not in args["modes"]:
                continue
            try:
                timed = time_epochs(m, batches, device, epochs=args["epochs"])
            except Exception as exc:  # noqa: BLE001
                result[mode] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            seconds = timed["epoch_seconds"]
            timed["images_per_second"] = round(result["images_per_epoch"] / seconds)
            timed["tflops"] = float(f"{result['flops_per_epoch'] / seconds / 1e12:.4g}")
            result[mode] = timed
            stamp(f"width {width:g} {mode}: {seconds:.3f} s/epoch, {timed['tflops']} TFLOP/s, {timed['peak_memory_gib']} GiB")
    out.put(result)


def run(
    *,
    device: str,
    widths: list[float],
    modes: list[str],
    examples: int,
    batch_size: int,
    epochs: int,
    compile_backend: str = "inductor",
    barrier_seconds: float = 600.0,
) -> dict[str, Any]:
    """Every width in its own process; returns the figures (see the module's docstring)."""
    ctx = mp.get_context("spawn")
    barrier, turn, out = ctx.Barrier(len(widths)), ctx.Lock(), ctx.Queue()
    args = {
        "device": device,
        "modes": modes,
        "examples": examples,
        "batch_size": batch_size,
        "epochs": epochs,
        "compile_backend": compile_backend,
        "barrier_seconds": barrier_seconds,
    }
    procs = [ctx.Process(target=one_width, args=(w, args, barrier, turn, out)) for w in widths]
    for p in procs:
        p.start()
    results: list[dict[str, Any]] = []
    while len(results) < len(procs):
        try:
            results.append(out.get(timeout=5))
        except queue.Empty:
            if not any(p.is_alive() for p in procs) and out.empty():
                break  # a width's process died without a result
    for p in procs:
        p.join(timeout=30)
    for w in sorted(set(widths) - {r["width"] for r in results}):
        results.append({"width": w, "error": "its process died without a result"})
    results.sort(key=lambda r: r["width"])
    dev = device_of(device)
    peak = peak_tflops(dev)
    for r in results:
        for mode in modes:
            if isinstance(r.get(mode), dict) and "tflops" in r[mode]:
                r[mode]["fraction_of_peak"] = round(r[mode]["tflops"] / peak, 3) if peak else None
    widest = results[-1] if results else {"width": None}
    best = min(
        (widest[m] for m in modes if isinstance(widest.get(m), dict) and "epoch_seconds" in widest[m]),
        key=lambda t: t["epoch_seconds"],
        default={},
    )
    return {
        "benchmark": "gpu_epoch",
        "device": str(dev),
        "examples": examples,
        "batch_size": batch_size,
        "peak_tflops_bf16": peak,
        "widths": results,
        # the widest width's best mode, for a one-line summary
        "width": widest["width"],
        "epoch_seconds": best.get("epoch_seconds"),
        "tflops": best.get("tflops"),
        "peak_memory_gib": best.get("peak_memory_gib"),
    }


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--widths", default=None, help="Comma-separated widths (default 0.25,0.5,1; --quick 0.0625,0.125).")
    p.add_argument("--modes", default="eager,compiled", help="eager, compiled or both.")
    p.add_argument("--batch-size", type=int, default=None, help="Default 512 (--quick 64).")
    p.add_argument("--epochs", type=int, default=None, help="Timed epochs after the warm-up (default 2, --quick 1).")
    p.add_argument("--compile-backend", default="inductor", help="torch.compile backend (aot_eager: no code generation).")
    args = p.parse_args()
    widths = [float(w) for w in (args.widths or ("0.0625,0.125" if args.quick else "0.25,0.5,1")).split(",")]
    result = run(
        device=args.device,
        widths=widths,
        modes=[m.strip() for m in args.modes.split(",")],
        examples=256 if args.quick else 50_000,
        batch_size=args.batch_size or (64 if args.quick else 512),
        epochs=args.epochs or (1 if args.quick else 2),
        compile_backend=args.compile_backend,
    )
    emit(result)


if __name__ == "__main__":
    main()
