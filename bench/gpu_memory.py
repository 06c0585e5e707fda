"""Peak GPU memory of one ResNet-18 trial of each method at width 1, as a worker holds it: the
CIFAR-shaped dataset on the device (50 000 + 10 000 uint8 images, generated there), the original
(trained for one epoch first), the method's copies and optimizer state, the evaluation. Each
method runs one trial with its integer hyperparameters (epochs, steps) at the low end of their
range: the peak of an epoch does not grow with the number of epochs. The membership-inference
SVC (CPU work) is fitted on 1 000 confidences per side, and timed once at the default size.
Goal: every trial < 8 GiB, so that 8 workers share an 80 GB GPU. --quick runs tiny sizes anywhere
(no memory figures on the CPU)."""

from __future__ import annotations

import time
from typing import Any

import torch

from bench.common import (
    cifar_shaped,
    device_of,
    emitted,
    method_names,
    parser,
    peak_memory_gib,
    reset_peak_memory,
    short_params,
    stamp,
    sync,
)
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.spec import EvaluationSpec, spec_from_dict

MIA_EXAMPLES = 1_000
DEFAULT_MIA_EXAMPLES = EvaluationSpec().mia_max_examples


def run(
    result: dict[str, Any], *, device: str, width: float, examples: int, test_examples: int, methods: tuple[str, ...]
) -> None:
    """Fills ``result`` method by method."""
    dev = device_of(device)
    result.update(benchmark="gpu_memory", device=str(dev), width=width, examples=examples, methods={}, max_trial_peak_gib=None)
    data = cifar_shaped(examples, dev, n_test=test_examples)
    spec = spec_from_dict(
        {
            "name": "gpu-memory",
            "dataset": "synthetic",  # not loaded: the CIFAR-shaped data generated on the device is passed in
            "architecture": "resnet18",
            "widths": [width],
            "original": {"epochs": 1, "augment": True},
            "forget": {"size": min(200, test_examples // 8)},
            # the SVC of mia_efficacy is CPU work: fitted on 1 000 per side here, timed once below
            "evaluation": {"mia_max_examples": MIA_EXAMPLES},
        }
    )
    ws = Workspace(spec, device=dev, data=data)
    reset_peak_memory(dev)
    start = time.perf_counter()
    ws.original(width)
    sync(dev)
    result["original"] = {"seconds": round(time.perf_counter() - start, 2), "peak_gib": peak_memory_gib(dev)}
    stamp(f"original w={width:g}: {result['original']['seconds']} s, peak {result['original']['peak_gib']} GiB")
    reset_peak_memory(dev)
    result["resident_gib"] = round(torch.cuda.memory_allocated(dev) / 2**30, 3) if dev.type == "cuda" else None
    for method in methods:
        reset_peak_memory(dev)
        start = time.perf_counter()
        try:
            metrics = ws.run_trial(width=width, sparsity=0.0, method=method, goal="privacy", params=short_params(method)).metrics
        except Exception as exc:  # noqa: BLE001 - one method's failure is reported, the rest still run
            result["methods"][method] = {"error": f"{type(exc).__name__}: {exc}"}
            stamp(f"{method}: {result['methods'][method]['error']}")
            continue
        sync(dev)
        seconds = time.perf_counter() - start
        result["methods"][method] = {
            "seconds": round(seconds, 2),
            "unlearn_seconds": round(metrics["unlearn_seconds"], 2),
            "evaluate_seconds": round(seconds - metrics["unlearn_seconds"], 2),
            "peak_gib": peak_memory_gib(dev),
            "peak_reserved_gib": round(torch.cuda.max_memory_reserved(dev) / 2**30, 3) if dev.type == "cuda" else None,
            "params": short_params(method),
        }
        peaks = [m["peak_gib"] for m in result["methods"].values() if m.get("peak_gib") is not None]
        result["max_trial_peak_gib"] = max(peaks) if peaks else None
        stamp(f"{method}: {result['methods'][method]['seconds']} s, peak {result['methods'][method]['peak_gib']} GiB")
    result["mia_svc_seconds"] = svc_seconds(ws, width)
    stamp(f"membership-inference SVC at the default {DEFAULT_MIA_EXAMPLES} per side: {result['mia_svc_seconds']} s")


def svc_seconds(ws: Workspace, width: float) -> float:
    """Seconds of one mia_efficacy at the default size (CPU work in every trial's evaluation)."""
    from unlearn_opt.data.loader import iterate_eval
    from unlearn_opt.metrics.mia import mia_efficacy
    from unlearn_opt.metrics.predictions import label_confidence, logits_of

    model, _ = ws.original(width)
    s, d = ws.sets, ws.data

    def confidence(split: str, idx: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return label_confidence(logits_of(model, iterate_eval(d, split=split, indices=idx, batch_size=1024), ws.device), labels)

    retain = confidence("train", s.retain, s.retain_labels)
    test = confidence("test", s.test, s.test_labels)
    forget = confidence("train", s.forget, s.forget_true_labels)
    start = time.perf_counter()
    mia_efficacy(retain_conf=retain, test_conf=test, forget_conf=forget, max_examples=DEFAULT_MIA_EXAMPLES)
    return round(time.perf_counter() - start, 2)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--width", type=float, default=None, help="Default 1 (--quick 0.0625).")
    args = p.parse_args()
    with emitted({}) as result:
        run(
            result,
            device=args.device,
            width=args.width or (0.0625 if args.quick else 1.0),
            examples=256 if args.quick else 50_000,
            test_examples=128 if args.quick else 10_000,
            methods=method_names(),
        )


if __name__ == "__main__":
    main()
