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

from rich.console import Console

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
    depth: int = 1,
) -> dict[str, Any]:
    """``unlearn-opt trial``, no database: train the original at (width, sparsity, depth), unlearn with
    ``method`` (hyperparameters not given take the spec's or the method's defaults), evaluate.
    Everything is checked before any training. Returns a JSON-able record of the run."""
    from unlearn_opt.engine.runtime import resolve_device
    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.goals import get_goal
    from unlearn_opt.methods import complete_params
    from unlearn_opt.spec import check_depth, check_sparsity, check_width, load_spec

    spec = load_spec(spec_path)
    check_width(width, "--width")  # the spec's own limits
    check_sparsity(sparsity, "--sparsity")
    check_depth(depth, spec.architecture, "--depth")
    full = complete_params(method, params, spec)  # unknown names are refused here
    dev = resolve_device(device)
    ws = Workspace(spec, device=dev, progress=progress)
    _, record = ws.original(width, sparsity, depth=depth)
    result = ws.run_trial(width=width, sparsity=sparsity, method=method, goal=goal, params=params, seed=seed, depth=depth)
    return {
        "spec": spec.name,
        "width": width,
        "depth": depth,
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
    labels only: no model, nothing on a device), create every study (idempotent), all of the
    writing under the database's creation lock."""
    from unlearn_opt.service.locks import after_creation, creation_lock
    from unlearn_opt.service.optuna_adapter import SchemaError
    from unlearn_opt.service.storage import check_reachable, open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.spec import load_spec

    spec = load_spec(spec_path)
    url = resolve_url(storage)
    try:
        check_reachable(url, create=True)
    except SchemaError:  # perhaps another create-study is making Optuna's tables right now: look again once it is done
        with after_creation(url):
            check_reachable(url, create=True)
    location = resolve_artifacts(artifacts, url)
    location.check()
    from unlearn_opt.engine.workspace import replicate_splits
    from unlearn_opt.service.experiment import create_experiment

    splits = replicate_splits(spec)
    with creation_lock(url):  # two create-study at once: one creates, the other finds it made
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
    console: Console | None = None,
) -> int:
    """One worker process per slot on this machine, restarted if it dies, with the progress
    display; the launcher fails and re-queues the trials of workers it knows are gone. Returns
    the exit code."""
    import optuna

    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.launch import Launcher, plan_slots
    from unlearn_opt.service.originals import open_store
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.service.tickets import release_workers

    url = resolve_url(storage)
    slots = plan_slots(gpus=gpus, workers_per_gpu=workers_per_gpu, cpu_workers=cpu_workers)
    rdb = open_storage(url)
    exp = load_experiment(rdb, experiment)
    studies = [optuna.load_study(study_name=n, storage=rdb) for n in (*exp.studies.values(), exp.originals_study)]
    location = resolve_artifacts(artifacts, url)
    open_store(studies[-1], location)  # the experiment's own store, or one line and exit 2 before any worker starts
    launcher = Launcher(
        experiment=exp.name,
        storage_url=url,
        artifacts=location.spec,
        slots=slots,
        read_progress=lambda: read_progress(rdb, exp),
        threads_per_worker=cpu_threads_per_worker(sum(s.device == "cpu" for s in slots)),
        release=lambda ids, error: release_workers(studies, ids, error),
        console=console or Console(stderr=True),
    )
    return launcher.run(live=live)


def status(experiment: str, *, storage: str | None, repair: bool = False) -> tuple[Progress, int]:
    """The experiment's progress; with ``repair``, its stale trials (RUNNING, no heartbeat within
    the grace period: their workers are gone) are first failed and re-queued, as a worker would.
    Returns (progress, trials re-queued)."""
    import optuna

    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage
    from unlearn_opt.service.tickets import fail_stale

    rdb = open_storage(storage)
    exp = load_experiment(rdb, experiment)
    repaired = 0
    if repair:
        for name in (*exp.studies.values(), exp.originals_study):
            repaired += fail_stale(optuna.load_study(study_name=name, storage=rdb))
    return read_progress(rdb, exp), repaired


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
    console: Console | None = None,
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
        console=console,
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
    """optuna-dashboard on the storage and the artifact store, until interrupted. The port is
    bound before anything is announced: a busy port is one line."""
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from optuna_dashboard import wsgi

    from unlearn_opt.errors import UserError
    from unlearn_opt.service.storage import mask_url, open_storage, resolve_artifacts, resolve_url

    url = resolve_url(storage)
    rdb = open_storage(url)
    store = resolve_artifacts(artifacts, url).open()
    try:
        server = make_server(host, port, wsgi(rdb, artifact_store=store), handler_class=WSGIRequestHandler)
    except OSError as exc:
        raise UserError(f"dashboard: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    if host not in ("127.0.0.1", "localhost", "::1"):
        say(f"warning: optuna-dashboard has no authentication and now listens on {host}")
    say(f"dashboard of {mask_url(url)} on http://{host}:{port}/")
    with server:
        server.serve_forever()


@dataclass(frozen=True)
class ExperimentSummary:
    """One line of ``unlearn-opt list``: an experiment's size and progress."""

    name: str
    created: bool  # False: create-study did not finish (no stored spec yet)
    studies: int
    complete: int  # COMPLETE trials over all its tuning studies
    total: int  # n_trials × studies
    models_done: int  # originals and retrain references trained
    models_total: int
    eta_seconds: float | None

    @property
    def done(self) -> bool:
        return self.created and self.complete >= self.total and self.models_done >= self.models_total

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.name,
            "created": self.created,
            "studies": self.studies,
            "complete": self.complete,
            "total": self.total,
            "models_done": self.models_done,
            "models_total": self.models_total,
            "eta_seconds": self.eta_seconds,
            "done": self.done,
        }


def _experiment_prefixes(storage: Any) -> dict[str, list[str]]:
    """Every experiment in the storage (its studies are named ``NAME/…``) and its study names."""
    from unlearn_opt.service.experiment import study_names

    out: dict[str, list[str]] = {}
    for study in sorted(study_names(storage)):
        name, sep, _ = study.partition("/")  # an experiment's name has no "/"
        if sep:
            out.setdefault(name, []).append(study)
    return out


def list_experiments(*, storage: str | None) -> list[ExperimentSummary]:
    """``unlearn-opt list``: the experiments in the storage, each with its progress."""
    from unlearn_opt.errors import UserError
    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage

    rdb = open_storage(storage)
    out = []
    for name, studies in _experiment_prefixes(rdb).items():
        try:
            exp = load_experiment(rdb, name)
        except UserError:  # create-study was interrupted: its studies exist, its record not
            out.append(ExperimentSummary(name, False, len(studies), 0, 0, 0, 0, None))
            continue
        p = read_progress(rdb, exp)
        models_done = sum(m.state == "COMPLETE" for m in p.models)
        out.append(
            ExperimentSummary(
                name, True, len(p.studies), p.complete, p.total, models_done, len(exp.models_needed()), p.eta_seconds
            )
        )
    return out


@dataclass(frozen=True)
class Deletion:
    """What ``unlearn-opt delete`` removes (or removed): the studies and their artifacts."""

    experiment: str
    studies: list[str]
    artifacts: list[str]  # artifact ids in the store
    store: str  # where the artifacts live


def plan_deletion(experiment: str, *, storage: str | None, artifacts: str | None) -> tuple[Any, Deletion]:
    """The studies of ``experiment`` (its tuning studies and ``_originals``) and every artifact
    uploaded to them or their trials; a UserError naming the known experiments if there are none.
    The artifact store is ``artifacts``, else the one recorded when the experiment was created."""
    import optuna
    from optuna.artifacts import get_all_artifact_meta

    from unlearn_opt.errors import UserError
    from unlearn_opt.service.naming import originals_study_name
    from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url

    url = resolve_url(storage)
    rdb = open_storage(url)
    found = _experiment_prefixes(rdb)
    if experiment not in found:
        raise UserError(f"experiment {experiment!r} does not exist in this storage (known: {', '.join(found) or 'none'})")
    names = found[experiment]
    ids: list[str] = []
    recorded: str | None = None
    for name in names:
        study = optuna.load_study(study_name=name, storage=rdb)
        if name == originals_study_name(experiment):
            recorded = study.user_attrs.get("artifacts")
        ids += [m.artifact_id for m in get_all_artifact_meta(study, storage=rdb)]
        for trial in study.get_trials(deepcopy=False):
            ids += [m.artifact_id for m in get_all_artifact_meta(trial, storage=rdb)]
    location = resolve_artifacts(artifacts or recorded, url)
    return rdb, Deletion(experiment, names, sorted(set(ids)), location.spec)


def delete_experiment(rdb: Any, plan: Deletion) -> None:
    """Remove the artifacts of ``plan`` (a missing one is skipped), then its studies: a run cut
    short leaves studies that a second ``delete`` removes."""
    from optuna.artifacts.exceptions import ArtifactNotFound

    from unlearn_opt.service.storage import ArtifactLocation

    store = ArtifactLocation(plan.store).open()
    for artifact_id in plan.artifacts:
        try:
            store.remove(artifact_id)
        except ArtifactNotFound:  # removed by an earlier delete that was cut short
            pass
    for name in plan.studies:
        rdb.delete_study(rdb.get_study_id_from_name(name))
