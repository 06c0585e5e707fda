"""The service commands: create-study, worker, launch, status, run."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

storage_option = click.option(
    "--storage",
    default=None,
    metavar="URL",
    help="Database URL (default: $UNLEARN_OPT_STORAGE, else sqlite under storage/).",
)
artifacts_option = click.option(
    "--artifacts",
    default=None,
    metavar="PATH|s3://BUCKET",
    help="Artifact store for checkpoints (default: $UNLEARN_OPT_ARTIFACTS, else storage/artifacts).",
)


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


MAX_STUDY_ROWS = 24  # more studies than this: one row per (sparsity, method, goal)


def create(spec_path: str, storage: str | None, artifacts: str | None, new_version: bool, console: Console) -> str:
    """Validate, make the splits, create the studies; returns the experiment name."""
    from unlearn_opt.service.storage import check_reachable, mask_url, open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.spec import load_spec

    _quiet_optuna()
    # Every check before the first write: a bad spec, storage, data folder or artifact store
    # leaves nothing behind. (torch is imported only once the cheap checks have passed.)
    spec = load_spec(spec_path)
    url = resolve_url(storage)
    check_reachable(url, create=True)
    location = resolve_artifacts(artifacts, url)
    location.check()
    import torch

    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.service.experiment import create_experiment

    splits = Workspace(spec, device=torch.device("cpu")).splits
    rdb = open_storage(url, create=True)
    exp, created = create_experiment(spec, storage=rdb, splits=splits, artifacts=location, new_version=new_version)
    table = Table(title=f"experiment {exp.name} ({'created' if created else 'already there, unchanged'}) in {mask_url(url)}")
    table.add_column("study", overflow="fold")  # a study name is never cut short
    for col in ("objectives", "trials"):
        table.add_column(col)
    from unlearn_opt.goals import get_goal
    from unlearn_opt.service.naming import fmt_number

    def objectives(goal: str) -> str:
        return ", ".join(f"{o.metric} ({o.direction[:3]})" for o in get_goal(goal).objectives)

    if len(exp.studies) <= MAX_STUDY_ROWS:
        for key, name in exp.studies.items():
            table.add_row(name, objectives(key.goal), str(exp.spec.n_trials))
    else:  # one row per (sparsity, method, goal): the widths in a column
        table.add_column("widths")
        groups: dict[tuple[float, str, str], list[float]] = {}
        for key in exp.studies:
            groups.setdefault((key.sparsity, key.method, key.goal), []).append(key.width)
        for (sparsity, method, goal), widths in groups.items():
            where = f"{exp.name}/w*" + (f"/s{fmt_number(sparsity)}" if exp.spec.sparse else "") + f"/{method}/{goal}"
            table.add_row(where, objectives(goal), f"{exp.spec.n_trials} each", " ".join(f"{w:g}" for w in sorted(widths)))
    console.print(table)
    console.print(
        f"{len(exp.studies)} studies, {len(exp.models_needed())} original/retrain models to train; spec {exp.spec_hash[:12]}"
    )
    return exp.name


@click.command("create-study")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@storage_option
@artifacts_option
@click.option("--new-version", is_flag=True, help="If the name exists with another spec, store this one as NAME.vK.")
def create_study_command(spec_path: str, storage: str | None, artifacts: str | None, new_version: bool) -> None:
    """Create one study per (width, sparsity, method, goal) of SPEC (idempotent)."""
    create(spec_path, storage, artifacts, new_version, Console())


@click.command("worker")
@click.argument("experiment")
@storage_option
@artifacts_option
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--max-trials", type=click.IntRange(min=1), default=None, help="Stop after this many trials.")
@click.option("--quiet", is_flag=True, help="Only warnings and errors.")
def worker_command(
    experiment: str, storage: str | None, artifacts: str | None, device: str, max_trials: int | None, quiet: bool
) -> None:
    """Run trials of EXPERIMENT until every study has its n_trials COMPLETE."""
    from unlearn_opt.engine.runtime import resolve_device
    from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url
    from unlearn_opt.service.worker import run_worker

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    _quiet_optuna()
    resolve_device(device)
    url = resolve_url(storage)
    rdb = open_storage(url)
    done = run_worker(
        storage=rdb, experiment=experiment, artifacts=resolve_artifacts(artifacts, url), device=device, max_trials=max_trials
    )
    if not quiet:
        click.echo(f"worker done: {done} trial(s) completed", err=True)


def _launch(
    experiment: str, url: str, artifacts: str | None, *, gpus: str | None, workers_per_gpu: int, cpu_workers: int, live: bool
) -> int:
    import optuna
    import torch

    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.launch import Launcher, plan_slots
    from unlearn_opt.service.status import read_progress
    from unlearn_opt.service.storage import open_storage, resolve_artifacts
    from unlearn_opt.service.tickets import release_workers

    _quiet_optuna()
    slots = plan_slots(
        gpus=gpus, workers_per_gpu=workers_per_gpu, cpu_workers=cpu_workers, visible_gpus=torch.cuda.device_count()
    )
    rdb = open_storage(url)
    exp = load_experiment(rdb, experiment)
    threads = max(1, (torch.get_num_threads() or 1) // max(1, sum(s.device == "cpu" for s in slots)))
    studies = [optuna.load_study(study_name=n, storage=rdb) for n in (*exp.studies.values(), exp.originals_study)]
    launcher = Launcher(
        experiment=exp.name,
        storage_url=url,
        artifacts=resolve_artifacts(artifacts, url).spec,
        slots=slots,
        read_progress=lambda: read_progress(rdb, exp),
        threads_per_worker=threads if cpu_workers else None,
        release=lambda ids, error: release_workers(studies, ids, error),
    )
    return launcher.run(live=live)


@click.command("launch")
@click.argument("experiment")
@click.option("--gpus", default=None, help="GPU indices, e.g. 0,1,2,3.")
@click.option("--workers-per-gpu", type=int, default=1, show_default=True)
@click.option("--cpu-workers", type=int, default=0, show_default=True)
@storage_option
@artifacts_option
@click.option("--no-live", is_flag=True, help="No live progress display.")
def launch_command(
    experiment: str,
    gpus: str | None,
    workers_per_gpu: int,
    cpu_workers: int,
    storage: str | None,
    artifacts: str | None,
    no_live: bool,
) -> None:
    """Start workers on this machine (pinned to GPUs), restart any that dies, show progress."""
    from unlearn_opt.service.storage import resolve_url

    code = _launch(
        experiment,
        resolve_url(storage),
        artifacts,
        gpus=gpus,
        workers_per_gpu=workers_per_gpu,
        cpu_workers=cpu_workers,
        live=not no_live,
    )
    if code:
        raise click.exceptions.Exit(code)


@click.command("status")
@click.argument("experiment")
@storage_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status_command(experiment: str, storage: str | None, as_json: bool) -> None:
    """Per study COMPLETE/RUNNING/FAIL/remaining, the originals, an ETA."""
    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.status import progress_tables, read_progress
    from unlearn_opt.service.storage import open_storage

    _quiet_optuna()
    rdb = open_storage(storage)
    progress = read_progress(rdb, load_experiment(rdb, experiment))
    if as_json:
        click.echo(json.dumps(progress.to_dict()))
        return
    console = Console()
    for table in progress_tables(progress):
        console.print(table)


@click.command("run")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Local workers.")
@click.option("--gpus", default=None, help="Run the workers on these GPUs instead of the CPU, e.g. 0.")
@storage_option
@artifacts_option
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Report folder (default reports/NAME).")
@click.option("--no-live", is_flag=True, help="No live progress display.")
@click.option("--regions", is_flag=True, help="Also compute the decision regions of the selected points before the report.")
@click.option("--images", is_flag=True, help="Also write the main figures as PNG (needs kaleido and Chromium).")
def run_command(
    spec_path: str,
    workers: int,
    gpus: str | None,
    storage: str | None,
    artifacts: str | None,
    out: str | None,
    no_live: bool,
    regions: bool,
    images: bool,
) -> None:
    """Create, work and report in one command (the embedded default storage)."""
    from unlearn_opt.service.storage import resolve_url

    console = Console(stderr=True)
    url = resolve_url(storage)
    name = create(spec_path, url, artifacts, False, console)
    code = _launch(
        name,
        url,
        artifacts,
        gpus=gpus,
        workers_per_gpu=workers if gpus else 1,
        cpu_workers=0 if gpus else workers,
        live=not no_live,
    )
    if code:
        raise click.exceptions.Exit(code)
    from unlearn_opt.analysis.report import write_report

    if regions:
        from unlearn_opt.analysis.regions import compute_regions

        console.print("decision regions of the selected points …")
        compute_regions(storage_url=url, experiment=name, artifacts=artifacts, device="cuda" if gpus else "cpu")
    folder = Path(out) if out else Path("reports") / name
    write_report(storage_url=url, experiment=name, out_dir=folder, artifacts=artifacts, images=images)
    console.print(f"report: {folder / 'report.html'}")
