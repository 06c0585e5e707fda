"""A full service trial (worker, storage, metrics as attributes) against the same unlearning
and evaluation in a bare torch loop, quickstart size, CPU. Both run the same fixed
hyperparameters on the same original; the original's training is not timed.
The two alternate trial by trial; prints {"ratio": median service seconds per trial / median
bare seconds per trial, ...} (goal ≤ 1.15)."""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna

from bench.common import device_of, emit, parser
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.service.experiment import create_experiment
from unlearn_opt.service.storage import ArtifactLocation, open_storage
from unlearn_opt.service.worker import Worker
from unlearn_opt.spec import spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)

PARAMS = {"lr": 0.01, "epochs": 2, "max_steps": 1, "alpha": 0.01, "gamma": 0.99, "temperature": 4.0}


def spec(n_trials: int, epochs: int) -> dict:
    return {
        "name": "overhead",
        "dataset": "digits",
        "architecture": "cnn",
        "widths": [1.0],
        "methods": ["scrub"],
        "goals": ["privacy"],
        "n_trials": n_trials,
        "forget": {"size": 100},
        "original": {"epochs": epochs, "batch_size": 64},
        "unlearning": {"batch_size": 64, "forget_batch_size": 32},
        "search": {"scrub": dict(PARAMS)},  # every hyperparameter fixed: both sides run the same work
        "sampler": {"name": "random"},
    }


def bare_trial(ws: Workspace) -> float:
    """The engine's unlearning + evaluation of one trial, no storage: seconds."""
    start = time.perf_counter()
    ws.original(1.0)
    _, unlearned, _, seconds = ws.unlearn(width=1.0, sparsity=0.0, method="scrub", params=PARAMS)
    metrics = ws.evaluate(unlearned)
    metrics["unlearn_seconds"] = seconds
    return time.perf_counter() - start


def service_trial(worker: Worker) -> float:
    """One trial through the worker (ticket, sampling, unlearning, evaluation, attributes): seconds."""
    start, done = time.perf_counter(), worker.trials_done
    while worker.trials_done == done:
        worker.step()
    return time.perf_counter() - start


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    device = device_of(args.device)
    os.environ.setdefault("UNLEARN_OPT_HEARTBEAT_SECONDS", "20")
    n = 4 if args.quick else 20
    raw = spec(n, 2 if args.quick else 20)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'o.db'}"
        artifacts = ArtifactLocation(str(Path(tmp) / "artifacts"))
        s = spec_from_dict(raw)
        ws = Workspace(s, device=device)
        create_experiment(s, storage=open_storage(url, create=True), splits=ws.splits, artifacts=artifacts)
        worker = Worker(
            storage=open_storage(url), experiment="overhead", artifacts=artifacts, device=str(device), poll_seconds=0.01
        )
        while not worker.ws.has_original(1.0):  # the original is trained (not timed)
            worker.step()
        # alternate the two, trial by trial, and compare medians: a machine whose load changes
        # during the run slows both sides alike
        service_times, bare_times = [], []
        for _ in range(n):
            service_times.append(service_trial(worker))
            bare_times.append(bare_trial(worker.ws))  # same data and original in memory
        service, bare = statistics.median(service_times), statistics.median(bare_times)
    emit(
        {
            "benchmark": "trial_overhead",
            "trials": n,
            "device": str(device),
            "service_median_seconds_per_trial": round(service, 4),
            "bare_median_seconds_per_trial": round(bare, 4),
            "overhead_ms_per_trial": round(1000 * (service - bare), 1),
            "ratio": round(service / bare, 3),
        }
    )


if __name__ == "__main__":
    main()
