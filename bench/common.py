"""Shared helpers: timing, the JSON result line, the machine description."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
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
