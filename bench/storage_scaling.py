"""Trials per second of a trivial objective through our worker code (ticket pop, sampling,
metrics as user attributes, tell, heartbeats) with 1, 2, 4, 8 worker processes, on PostgreSQL
($UNLEARN_OPT_TEST_POSTGRES) and on the embedded SQLite default. Prints
{"db_overhead_ms_per_trial": …, "speedup_4_workers": …, ...} (PostgreSQL figures when reachable)."""

from __future__ import annotations

import multiprocessing as mp
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import sqlalchemy

from bench.common import emit, parser
from unlearn_opt.data.splits import make_splits
from unlearn_opt.engine.workspace import TrialResult
from unlearn_opt.metrics import METRIC_NAMES
from unlearn_opt.service.experiment import create_experiment
from unlearn_opt.service.storage import ArtifactLocation, open_storage
from unlearn_opt.service.worker import Worker
from unlearn_opt.spec import spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)


class _TrivialWorkspace:
    """Stands in for the engine: a trial costs nothing, so what is timed is the storage path."""

    def run_trial(self, **_: Any) -> TrialResult:
        return TrialResult((0.1, 0.1), {k: 0.1 for k in METRIC_NAMES})

    def has_original(self, *_: Any) -> bool:
        return True


class TrivialWorker(Worker):
    """The real worker loop with the engine replaced (originals complete instantly)."""

    def workspace(self, replicate: int) -> Any:
        return _TrivialWorkspace()

    def _ensure_original(self, *_: Any, **__: Any) -> None:
        return None

    def _train_model(self, ticket: Any) -> bool:
        from unlearn_opt.service import optuna_adapter, tickets

        trial_id = optuna_adapter.trial_id(ticket)
        if not tickets.pop(self.originals, trial_id):
            return False
        trial = optuna_adapter.popped_trial(self.originals, trial_id)
        trial.set_user_attr("record", {})
        self.originals.tell(trial, 0.0)
        return True


def _run(url: str, artifacts: str, barrier: Any, ends: Any) -> None:
    worker = TrivialWorker(
        storage=open_storage(url), experiment="bench", artifacts=ArtifactLocation(artifacts), device="cpu", poll_seconds=0.05
    )
    barrier.wait()
    worker.run()
    ends.put(time.monotonic())  # the loop's end, not the interpreter's teardown (CLOCK_MONOTONIC is system-wide)


def _create(url: str, artifacts: str, n_trials: int, studies: int = 1) -> None:
    """An experiment of ``studies`` studies (one per width) with n_trials tickets each."""
    spec = spec_from_dict(
        {
            "name": "bench",
            "dataset": "synthetic",
            "architecture": "mlp",
            "widths": [float(i + 1) for i in range(studies)],
            "methods": ["finetune"],
            "goals": ["privacy"],
            "n_trials": n_trials,
            "synthetic": {"train_size": 200, "test_size": 100},
            "forget": {"size": 10},
            "sampler": {"name": "random"},
        }
    )
    splits = make_splits(y_train=np.arange(200) % 10, y_test=np.arange(100) % 10, num_classes=10, seed=0, forget_size=10)
    create_experiment(spec, storage=open_storage(url, create=True), splits=splits, artifacts=ArtifactLocation(artifacts))


def run_workers(url: str, artifacts: str, *, workers: int, n_trials: int, studies: int = 1) -> dict[str, Any]:
    """Create the experiment (n_trials in all, split over ``studies``), run ``workers`` worker
    processes until it is done; their exit codes and the seconds from the common start (after
    every worker has loaded the experiment) to the end of the last worker's loop."""
    _create(url, artifacts, n_trials // studies, studies)
    ctx = mp.get_context("spawn")
    barrier, ends = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_run, args=(url, artifacts, barrier, ends)) for _ in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    start = time.monotonic()
    for p in procs:
        p.join()
    finished = [ends.get(timeout=5) for p in procs if p.exitcode == 0]
    return {"exit_codes": [p.exitcode for p in procs], "seconds": max(finished, default=time.monotonic()) - start}


def throughput(url: str, workers: int, n_trials: int) -> float:
    """Trials per second with ``workers`` processes until the study has n_trials COMPLETE."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_workers(url, tmp, workers=workers, n_trials=n_trials)
    if any(result["exit_codes"]):
        raise RuntimeError(f"a worker failed: exit codes {result['exit_codes']}")
    return n_trials / result["seconds"]


def _postgres_db(admin: str) -> tuple[str, Any] | None:
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"uo_bench_{uuid.uuid4().hex[:8]}"
    try:
        with engine.connect() as c:
            c.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError:
        return None
    return sqlalchemy.engine.make_url(admin).set(database=name).render_as_string(hide_password=False), engine


def _drop(engine: Any, url: str) -> None:
    name = sqlalchemy.engine.make_url(url).database
    with engine.connect() as c:
        c.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    os.environ.setdefault("UNLEARN_OPT_HEARTBEAT_SECONDS", "5")
    counts = (1, 2) if args.quick else (1, 2, 4, 8)
    n_trials = 20 if args.quick else 200
    result: dict[str, Any] = {"benchmark": "storage_scaling", "trials": n_trials, "workers": list(counts)}
    for backend in ("sqlite", "postgres"):
        rates = {}
        for w in counts:
            if backend == "sqlite":
                with tempfile.TemporaryDirectory() as tmp:
                    rates[w] = throughput(f"sqlite:///{Path(tmp) / 'b.db'}", w, n_trials)
            else:
                made = _postgres_db(
                    os.environ.get("UNLEARN_OPT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
                )
                if made is None:
                    break
                url, engine = made
                try:
                    rates[w] = throughput(url, w, n_trials)
                finally:
                    _drop(engine, url)
        if not rates:
            continue
        result[f"{backend}_trials_per_second"] = {str(k): round(v, 1) for k, v in rates.items()}
        result[f"{backend}_ms_per_trial_1_worker"] = round(1000 / rates[1], 2)
        if 4 in rates:
            result[f"{backend}_speedup_4_workers"] = round(rates[4] / rates[1], 2)
    key = "postgres" if "postgres_ms_per_trial_1_worker" in result else "sqlite"
    result["db_overhead_ms_per_trial"] = result[f"{key}_ms_per_trial_1_worker"]
    result["speedup_4_workers"] = result.get(f"{key}_speedup_4_workers")
    emit(result)


if __name__ == "__main__":
    main()
