"""Shared helpers: timing, the JSON result line, the machine description, CIFAR-shaped data
generated on the device, short hyperparameters for one quick trial of any method."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="Tiny sizes: checks the benchmark runs, figures are not meaningful.")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto.")
    return p


def device_of(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_of(fn: Callable[[], Any], *, repeats: int, device: torch.device) -> float:
    """Fastest wall time of ``repeats`` runs (after one warm-up run)."""
    fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"{platform.processor() or platform.machine()} CPU × {os.cpu_count()} (torch threads {torch.get_num_threads()})"


def emit(result: dict[str, Any]) -> None:
    """The benchmark's figures: one JSON object, the last line printed."""
    print(json.dumps({**result, "machine": machine()}, sort_keys=True))


@contextlib.contextmanager
def emitted(result: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The block fills ``result`` as it measures; it is emitted at the end, also when the block
    is stopped (SIGTERM, e.g. a time limit) or fails, with ``cut_off`` saying why: a benchmark
    cut short still reports what it measured."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield result
    except BaseException as exc:
        result["cut_off"] = "stopped (SIGTERM)" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
        emit(result)
        raise
    emit(result)


def stamp(text: str) -> None:
    """A progress line with the wall-clock time (a run cut off still tells what finished)."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def cifar_shaped(n: int, device: torch.device, *, n_test: int | None = None, seed: int = 0) -> Any:
    """``n`` random 3×32×32 uint8 images with random labels of 10 classes (and ``n_test`` test
    images, default n/5), generated on ``device``; CIFAR-10's normalization."""
    from unlearn_opt.data import TensorData
    from unlearn_opt.data.cifar import CIFAR_MEAN, CIFAR_STD

    g = torch.Generator(device=device).manual_seed(seed)
    n_test = n // 5 if n_test is None else n_test

    def draw(k: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 256, (k, 3, 32, 32), dtype=torch.uint8, device=device, generator=g)
        return x, torch.randint(0, 10, (k,), device=device, generator=g)

    (x, y), (xt, yt) = draw(n), draw(n_test)
    return TensorData("cifar-shaped", x, y, xt, yt, 10, CIFAR_MEAN, CIFAR_STD, 255.0)


def short_params(method: str) -> dict[str, float | int]:
    """A method's tuned integer hyperparameters (epochs, steps) at the low end of their search
    range, so that one trial is short; the others keep their defaults. The batch sizes are fixed
    parameters (the spec's or the method's default), not set here: at the low end of their bounds
    (1) a trial would take a step per example and measure neither a real trial's time nor its memory."""
    from unlearn_opt.methods import get_method

    return {p.name: p.cast(p.low) for p in get_method(method).space if p.integer and p.tuned}


def method_names() -> tuple[str, ...]:
    """Every method of the project's registry."""
    from unlearn_opt.methods import METHOD_NAMES

    return tuple(METHOD_NAMES)


def peak_memory_gib(device: torch.device) -> float | None:
    """The most memory the process's tensors took on ``device`` since the last reset (CUDA only)."""
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 3)


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
