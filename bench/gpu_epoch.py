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

from bench.common import cifar_shaped, device_of, emitted, parser, peak_memory_gib, reset_peak_memory, stamp, sync
from unlearn_opt.data import DeviceBatches
from unlearn_opt.engine.runtime import autocast, make_optimizer, prepare_input, prepare_model
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
    opt = make_optimizer(model, lr=0.0)
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


def one_width(width: float, args: dict[str, Any], gate: Any, turn: Any, out: Any) -> None:  # pragma: no cover - a spawned process
    """Everything for one width, in step with the other widths' processes (``gate``): set up;
    time eager epochs with the GPU to itself (``turn``); compile, all widths at once; time the
    compiled epochs, one width after the other. Each figure goes to ``out`` as soon as it exists."""
    device = device_of(args["device"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as the project's workspace does
    models: dict[str, torch.nn.Module | None] = {"eager": None, "compiled": None}
    batches = None
    info: dict[str, Any] = {}

    def fail(phase: str, exc: BaseException) -> None:
        out.put(("error", width, {phase: f"{type(exc).__name__}: {exc}"}))
        stamp(f"width {width:g} {phase}: {type(exc).__name__}: {exc}")

    def wait() -> None:
        try:
            gate.wait(timeout=args["barrier_seconds"])
        except Exception:  # noqa: BLE001 - another width did not arrive: go on alone
            pass

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return prepare_model(build_model("resnet18", width=width, num_classes=10, input_shape=(3, 32, 32)), device)

    try:
        n, batch = args["examples"], args["batch_size"]
        data = cifar_shaped(n, device, n_test=1)
        batches = DeviceBatches(data, split="train", indices=torch.arange(n), batch_size=batch, augment=True, drop_last=True)
        eager = models["eager"] = build()
        info = {
            "parameters": sum(p.numel() for p in eager.parameters()),
            "flops_per_epoch": step_flops(eager, batch, device) * len(batches),
            "images_per_epoch": len(batches) * batch,
            "peak_tflops_bf16": peak_tflops(device),
        }
        out.put(("info", width, info))
    except Exception as exc:  # noqa: BLE001
        fail("setup", exc)
    wait()  # every width set up

    def timed(mode: str) -> None:
        model = models[mode]
        if model is None or batches is None or mode not in args["modes"]:
            return
        with turn:
            try:
                figures = time_epochs(model, batches, device, epochs=args["epochs"])
            except Exception as exc:  # noqa: BLE001
                fail(mode, exc)
                return
        seconds = figures["epoch_seconds"]
        figures["images_per_second"] = round(info["images_per_epoch"] / seconds)
        figures["tflops"] = float(f"{info['flops_per_epoch'] / seconds / 1e12:.4g}")
        peak = info["peak_tflops_bf16"]
        figures["fraction_of_peak"] = round(figures["tflops"] / peak, 3) if peak else None
        out.put((mode, width, figures))
        stamp(f"width {width:g} {mode}: {seconds:.3f} s/epoch, {figures['tflops']} TFLOP/s, {figures['peak_memory_gib']} GiB")

    timed("eager")
    wait()  # every eager figure taken: compiling now disturbs no timing
    if "compiled" in args["modes"] and batches is not None:
        try:
            compiled = models["compiled"] = build()
            backend = args["compile_backend"]
            compiled.compile(**({"backend": backend} if backend != "inductor" else {}))
            seconds = round(compile_steps(compiled, batches, device), 2)
            out.put(("info", width, {"compile_seconds": seconds}))
            stamp(f"width {width:g}: compiled in {seconds} s")
        except Exception as exc:  # noqa: BLE001
            models["compiled"] = None
            fail("compile", exc)
    wait()  # every width compiled
    timed("compiled")
    out.put(("done", width, None))


def summarize(result: dict[str, Any], by_width: dict[float, dict[str, Any]], modes: list[str]) -> None:
    """The per-width entries as a list, and the widest width's best mode as the summary."""
    result["peak_tflops_bf16"] = next((e["peak_tflops_bf16"] for e in by_width.values() if "peak_tflops_bf16" in e), None)
    result["widths"] = [by_width[w] for w in sorted(by_width)]
    widest = by_width[max(by_width)]
    best: dict[str, Any] = min(
        (widest[m] for m in modes if isinstance(widest.get(m), dict)), key=lambda f: f["epoch_seconds"], default={}
    )
    result.update(
        width=widest["width"],
        epoch_seconds=best.get("epoch_seconds"),
        tflops=best.get("tflops"),
        peak_memory_gib=best.get("peak_memory_gib"),
    )


def run(
    result: dict[str, Any],
    *,
    device: str,
    widths: list[float],
    modes: list[str],
    examples: int,
    batch_size: int,
    epochs: int,
    compile_backend: str = "inductor",
    barrier_seconds: float = 600.0,
) -> None:
    """Every width in its own process; fills ``result`` as the figures arrive."""
    dev = device_of(device)
    result.update(benchmark="gpu_epoch", device=str(dev), examples=examples, batch_size=batch_size)
    by_width: dict[float, dict[str, Any]] = {w: {"width": w} for w in widths}
    summarize(result, by_width, modes)
    ctx = mp.get_context("spawn")
    gate, turn, out = ctx.Barrier(len(widths)), ctx.Lock(), ctx.Queue()
    args = {
        "device": device,
        "modes": modes,
        "examples": examples,
        "batch_size": batch_size,
        "epochs": epochs,
        "compile_backend": compile_backend,
        "barrier_seconds": barrier_seconds,
    }
    # not daemons: a daemon may not start processes, and Inductor's compile workers are processes
    procs = [ctx.Process(target=one_width, args=(w, args, gate, turn, out)) for w in widths]
    for p in procs:
        p.start()
    try:
        collect(out, procs, by_width, result, modes)
    finally:
        for p in procs:  # stopped early (SIGTERM): the widths' processes go too
            if p.is_alive():
                p.terminate()
            p.join(timeout=30)


def collect(out: Any, procs: list[Any], by_width: dict[float, dict[str, Any]], result: dict[str, Any], modes: list[str]) -> None:
    """The widths' figures as they arrive, until every width is done (or its process is gone)."""
    widths = list(by_width)
    done: set[float] = set()
    while len(done) < len(widths):
        try:
            kind, width, payload = out.get(timeout=5)
        except queue.Empty:
            if not any(p.is_alive() for p in procs):
                break  # a width's process died without saying so
            continue
        entry = by_width[width]
        if kind == "done":
            done.add(width)
        elif kind == "info":
            entry.update(payload)
        elif kind == "error":
            entry.setdefault("errors", {}).update(payload)
        else:
            entry[kind] = payload
        summarize(result, by_width, modes)
    for w in set(widths) - done:
        by_width[w].setdefault("errors", {})["process"] = "ended without finishing"
    summarize(result, by_width, modes)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--widths", default=None, help="Comma-separated widths (default 0.25,0.5,1; --quick 0.0625,0.125).")
    p.add_argument("--modes", default="eager,compiled", help="eager, compiled or both.")
    p.add_argument("--batch-size", type=int, default=None, help="Default 512 (--quick 64).")
    p.add_argument("--epochs", type=int, default=None, help="Timed epochs after the warm-up (default 2, --quick 1).")
    p.add_argument(
        "--compile-backend",
        default=None,
        help="torch.compile backend: inductor (default), or aot_eager (no code generation; the default of --quick on the CPU, "
        "where Inductor's C++ build takes minutes).",
    )
    args = p.parse_args()
    widths = [float(w) for w in (args.widths or ("0.0625,0.125" if args.quick else "0.25,0.5,1")).split(",")]
    with emitted({}) as result:
        run(
            result,
            device=args.device,
            widths=widths,
            modes=[m.strip() for m in args.modes.split(",")],
            examples=256 if args.quick else 50_000,
            batch_size=args.batch_size or (64 if args.quick else 512),
            epochs=args.epochs or (1 if args.quick else 2),
            compile_backend=args.compile_backend
            or ("aot_eager" if args.quick and device_of(args.device).type == "cpu" else "inductor"),
        )


if __name__ == "__main__":
    main()
