"""Peak GPU memory of one ResNet-18 trial of each method at width 1, as a worker holds it: the
CIFAR-shaped dataset on the device (50 000 + 10 000 uint8 images, generated there), the original
(trained for one epoch first), the method's copies and optimizer state, the evaluation. Each
method runs one trial with its integer hyperparameters (epochs, steps) at the low end of their
range: the peak of an epoch does not grow with the number of epochs.
Goal: every trial < 8 GiB, so that 8 workers share an 80 GB GPU. --quick runs tiny sizes anywhere
(no memory figures on the CPU)."""

from __future__ import annotations

import time
from typing import Any

import torch

from bench.common import (
    cifar_shaped,
    device_of,
    emit,
    method_names,
    parser,
    peak_memory_gib,
    reset_peak_memory,
    short_params,
    stamp,
    sync,
)
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.spec import spec_from_dict


def run(*, device: str, width: float, examples: int, test_examples: int, methods: tuple[str, ...]) -> dict[str, Any]:
    dev = device_of(device)
    data = cifar_shaped(examples, dev, n_test=test_examples)
    spec = spec_from_dict(
        {
            "name": "gpu-memory",
            "dataset": "synthetic",  # not loaded: the CIFAR-shaped data generated on the device is passed in
            "architecture": "resnet18",
            "widths": [width],
            "original": {"epochs": 1, "augment": True},
            "forget": {"size": min(200, test_examples // 8)},
        }
    )
    ws = Workspace(spec, device=dev, data=data)
    reset_peak_memory(dev)
    start = time.perf_counter()
    ws.original(width)
    sync(dev)
    original = {"seconds": round(time.perf_counter() - start, 2), "peak_gib": peak_memory_gib(dev)}
    stamp(f"original w={width:g}: {original['seconds']} s, peak {original['peak_gib']} GiB")
    reset_peak_memory(dev)
    resident = round(torch.cuda.memory_allocated(dev) / 2**30, 3) if dev.type == "cuda" else None
    per_method: dict[str, dict[str, Any]] = {}
    for method in methods:
        reset_peak_memory(dev)
        start = time.perf_counter()
        try:
            ws.run_trial(width=width, sparsity=0.0, method=method, goal="privacy", params=short_params(method))
        except Exception as exc:  # noqa: BLE001 - one method's failure is reported, the rest still run
            per_method[method] = {"error": f"{type(exc).__name__}: {exc}"}
            stamp(f"{method}: {per_method[method]['error']}")
            continue
        sync(dev)
        per_method[method] = {
            "seconds": round(time.perf_counter() - start, 2),
            "peak_gib": peak_memory_gib(dev),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved(dev) / 2**30, 3) if dev.type == "cuda" else None,
            "params": short_params(method),
        }
        stamp(f"{method}: {per_method[method]['seconds']} s, peak {per_method[method]['peak_gib']} GiB")
    peaks = [m["peak_gib"] for m in per_method.values() if m.get("peak_gib") is not None]
    return {
        "benchmark": "gpu_memory",
        "device": str(dev),
        "width": width,
        "examples": examples,
        "resident_gib": resident,  # dataset + original, held between trials
        "original": original,
        "methods": per_method,
        "max_trial_peak_gib": max(peaks) if peaks else None,
    }


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--width", type=float, default=None, help="Default 1 (--quick 0.0625).")
    args = p.parse_args()
    emit(
        run(
            device=args.device,
            width=args.width or (0.0625 if args.quick else 1.0),
            examples=256 if args.quick else 50_000,
            test_examples=128 if args.quick else 10_000,
            methods=method_names(),
        )
    )


if __name__ == "__main__":
    main()
