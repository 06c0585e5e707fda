"""What each service command does, in order; the CLI parses its options, calls one of these and
prints the result.

Every check comes before the first write: a bad spec, storage URL, Optuna version, data folder or
artifact store leaves nothing behind. torch is imported only once the cheap checks have passed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn_opt.service.experiment import Experiment
from unlearn_opt.service.status import Progress


def one_trial(
    spec_path: str | Path,
    *,
    width: float,
    sparsity: float,
    method: str,
    goal: str,
    params: Mapping[str, float],
    device: str = "auto",
    seed: int | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """``unlearn-opt trial``, no database: train the original at (width, sparsity), unlearn with
    ``method`` (hyperparameters not given take the spec's or the method's defaults), evaluate.
    Everything is checked before any training. Returns a JSON-able record of the run."""
    from unlearn_opt.engine.runtime import resolve_device
    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.goals import get_goal
    from unlearn_opt.methods import complete_params
    from unlearn_opt.spec import check_sparsity, check_width, load_spec

    spec = load_spec(spec_path)
    check_width(width, "--width")  # the spec's own limits
    check_sparsity(sparsity, "--sparsity")
    full = complete_params(method, params, spec)  # unknown names are refused here
    dev = resolve_device(device)
    ws = Workspace(spec, device=dev, progress=progress)
    _, record = ws.original(width, sparsity)
    result = ws.run_trial(width=width, sparsity=sparsity, method=method, goal=goal, params=params, seed=seed)
    return {
        "spec": spec.name,
        "width": width,
        "sparsity": sparsity,
        "method": method,
        "goal": goal,
        "device": str(dev),
        "params": full,
        "objectives": dict(zip(get_goal(goal).metric_names, result.values)),
        "metrics": result.metrics,
        "original": record.to_dict(),
    }


@dataclass(frozen=True)
class Created:
    experiment: Experiment
    created: bool  # False: it was already there, unchanged
    url: str


def create_study(spec_path: str | Path, *, storage: str | None, artifacts: str | None, new_version: bool = False) -> Created:
    """Validate the spec, the storage and the artifact store, make the splits (the dataset's
    labels only: no model, nothing on a device), create every study (idempotent)."""
    from unlearn_opt.service.storage import check_reachable, open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.spec import load_spec

    spec = load_spec(spec_path)
    url = resolve_url(storage)
    check_reachable(url, create=True)
    location = resolve_artifacts(artifacts, url)
    location.check()
    from unlearn_opt.engine.workspace import replicate_splits
    from unlearn_opt.service.experiment import create_experiment

    splits = replicate_splits(spec)
    rdb = open_storage(url, create=True)
    exp, created = create_experiment(spec, storage=rdb, splits=splits, artifacts=location, new_version=new_version)
    return Created(exp, created, url)


def work(
    experiment: str,
    *,
    storage: str | None,
    artifacts: str | None,
    device: str = "auto",
    max_trials: int | None = None,
    announce: Callable[[str], None] | None = None,
) -> int:
    """Run trials of ``experiment`` in this process until it is done (or ``max_trials``); returns
    the trials completed. The device is checked before the storage is opened; ``announce`` gets
    the worker's start line (its device)."""
    from unlearn_opt.engine.runtime import resolve_device
    from unlearn_opt.service.outage import retrying
    from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.service.worker import Worker

    resolve_device(device)
    url = resolve_url(storage)
    rdb = open_storage(url)
    location = resolve_artifacts(artifacts, url)
    worker = retrying(
        lambda: Worker(storage=rdb, experiment=experiment, artifacts=location, device=device, max_trials=max_trials)
    )
    if announce is not None:
        announce(worker.describe())
    return worker.run()


def cpu_threads_per_worker(cpu_workers: int) -> int | None:
    """Each CPU worker's share of this machine's threads (None without CPU workers)."""
    if not cpu_workers:
        return None
    import torch

    return max(1, (torch.get_num_threads() or 1) // cpu_workers)


def launch(
    experiment: str,
    *,
    storage: str | None,
    artifacts: str | None,
    gpus: str | None,
    workers_per_gpu: int,
    cpu_workers: int,
    live: bool,
) -> int:
    """One worker process per slot on this machine, restarted if it dies, with the progress
    display; the launcher fails and re-queues the trials of workers it knows are gone. Returns
    the exit code."""
    import optuna

    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.launch import Launcher, plan_slots
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.service.tickets import release_workers

    url = resolve_url(storage)
    slots = plan_slots(gpus=gpus, workers_per_gpu=workers_per_gpu, cpu_workers=cpu_workers)
    rdb = open_storage(url)
    exp = load_experiment(rdb, experiment)
    studies = [optuna.load_study(study_name=n, storage=rdb) for n in (*exp.studies.values(), exp.originals_study)]
    launcher = Launcher(
        experiment=exp.name,
        storage_url=url,
        artifacts=resolve_artifacts(artifacts, url).spec,
        slots=slots,
        read_progress=lambda: read_progress(rdb, exp),
        threads_per_worker=cpu_threads_per_worker(sum(s.device == "cpu" for s in slots)),
        release=lambda ids, error: release_workers(studies, ids, error),
    )
    return launcher.run(live=live)


def status(experiment: str, *, storage: str | None) -> Progress:
    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage

    rdb = open_storage(storage)
    return read_progress(rdb, load_experiment(rdb, experiment))


@dataclass(frozen=True)
class RunResult:
    experiment: str
    code: int  # the launcher's exit code; no report unless 0
    report: Path | None


def run(
    spec_path: str | Path,
    *,
    workers: int,
    gpus: str | None,
    storage: str | None,
    artifacts: str | None,
    out: str | Path | None,
    live: bool,
    regions: bool,
    images: bool,
    on_created: Callable[[Created], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> RunResult:
    """Create, work (``workers`` local processes, on ``gpus`` if given) and report in one go; the
    report goes to ``out`` (default ``reports/NAME``)."""
    from unlearn_opt.service.storage import resolve_url

    url = resolve_url(storage)
    made = create_study(spec_path, storage=url, artifacts=artifacts)
    if on_created is not None:
        on_created(made)
    name = made.experiment.name
    code = launch(
        name,
        storage=url,
        artifacts=artifacts,
        gpus=gpus,
        workers_per_gpu=workers if gpus else 1,
        cpu_workers=0 if gpus else workers,
        live=live,
    )
    if code:
        return RunResult(name, code, None)
    from unlearn_opt.analysis.report import write_report

    if regions:
        from unlearn_opt.analysis.regions import compute_regions

        if say is not None:
            say("decision regions of the selected points …")
        compute_regions(storage_url=url, experiment=name, artifacts=artifacts, device="cuda" if gpus else "cpu")
    folder = Path(out) if out else Path("reports") / name
    return RunResult(name, 0, write_report(storage_url=url, experiment=name, out_dir=folder, images=images))


def serve_dashboard(*, storage: str | None, artifacts: str | None, host: str, port: int, say: Callable[[str], None]) -> None:
    """optuna-dashboard on the storage and the artifact store, until interrupted."""
    from optuna_dashboard import run_server

    from unlearn_opt.service.storage import mask_url, open_storage, resolve_artifacts, resolve_url

    url = resolve_url(storage)
    rdb = open_storage(url)
    store = resolve_artifacts(artifacts, url).open()
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: optuna-dashboard has no authentication and now listens on {host}")
    say(f"dashboard of {mask_url(url)} on http://{host}:{port}/")
    run_server(rdb, host=host, port=port, artifact_store=store)
