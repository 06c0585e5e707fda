"""The service commands: create-study, worker, launch, status, run."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.table import Table

from unlearn_opt.cli.output import make_console

if TYPE_CHECKING:
    from unlearn_opt.service.commands import Created

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
json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
device_option = click.option(
    "--device",
    default="auto",
    show_default=True,
    help="Where the models run: cpu, cuda, cuda:N, or auto (the first GPU if there is one, else cpu).",
)


def _quiet_optuna() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)


MAX_STUDY_ROWS = 24  # more studies than this: one row per (sparsity, method, goal)


def studies_table(made: Created) -> Table:
    """The created experiment's studies, their objectives and trial counts."""
    from unlearn_opt.goals import get_goal
    from unlearn_opt.service.naming import fmt_number
    from unlearn_opt.service.storage import mask_url

    exp = made.experiment
    state = "created" if made.created else "already there, unchanged"
    table = Table(title=f"experiment {exp.name} ({state}) in {mask_url(made.url)}")
    table.add_column("study", overflow="fold")  # a study name is never cut short
    for col in ("objectives", "trials"):
        table.add_column(col)

    def objectives(goal: str) -> str:
        return ", ".join(f"{o.metric} ({o.direction[:3]})" for o in get_goal(goal).objectives)

    if len(exp.studies) <= MAX_STUDY_ROWS:
        for key, name in exp.studies.items():
            table.add_row(name, objectives(key.goal), str(exp.spec.n_trials))
    else:  # one row per (sparsity, method, goal): the widths in a column
        table.add_column("widths")
        deep = exp.spec.deep
        if deep:
            table.add_column("depths")
        groups: dict[tuple[float, str, str], set[float]] = {}
        for key in exp.studies:
            groups.setdefault((key.sparsity, key.method, key.goal), set()).add(key.width)
        replicas = "(/rR)" if exp.replicates > 1 else ""  # replicate 0 has no /r0
        depths = (" ".join(str(d) for d in exp.spec.depths),) if deep else ()
        for (sparsity, method, goal), widths in groups.items():
            where = (
                f"{exp.name}{replicas}/w*"
                + ("/d*" if deep else "")
                + (f"/s{fmt_number(sparsity)}" if exp.spec.sparse else "")
                + f"/{method}/{goal}"
            )
            table.add_row(
                where, objectives(goal), f"{exp.spec.n_trials} each", " ".join(f"{w:g}" for w in sorted(widths)), *depths
            )
    return table


def created_dict(made: Created) -> dict[str, object]:
    """The created experiment as JSON: its studies and what is left to train."""
    from unlearn_opt.goals import get_goal
    from unlearn_opt.service.storage import mask_url

    exp = made.experiment
    return {
        "experiment": exp.name,
        "created": made.created,
        "storage": mask_url(made.url),
        "spec_hash": exp.spec_hash,
        "n_trials": exp.spec.n_trials,
        "models": len(exp.models_needed()),
        "studies": [
            {"study": name, "objectives": get_goal(key.goal).metric_names, "trials": exp.spec.n_trials}
            for key, name in exp.studies.items()
        ],
    }


def print_created(made: Created, console: Console) -> None:
    exp = made.experiment
    console.print(studies_table(made))
    console.print(
        f"{len(exp.studies)} studies"
        + (f" ({exp.replicates} replicates, R = 1..{exp.replicates - 1} under /rR)" if exp.replicates > 1 else "")
        + f", {len(exp.models_needed())} original/retrain models to train; spec {exp.spec_hash[:12]}"
    )


@click.command("create-study")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@storage_option
@artifacts_option
@click.option("--new-version", is_flag=True, help="If the name exists with another spec, store this one as NAME.vK.")
@json_option
def create_study_command(spec_path: str, storage: str | None, artifacts: str | None, new_version: bool, as_json: bool) -> None:
    """Create one study per (width, depth, sparsity, method, goal) of SPEC (idempotent)."""
    from unlearn_opt.service.commands import create_study

    _quiet_optuna()
    made = create_study(spec_path, storage=storage, artifacts=artifacts, new_version=new_version)
    if as_json:
        click.echo(json.dumps(created_dict(made)))
        return
    print_created(made, make_console())


@click.command("worker")
@click.argument("experiment")
@storage_option
@artifacts_option
@device_option
@click.option("--max-trials", type=click.IntRange(min=1), default=None, help="Stop after this many trials.")
@click.option("--quiet", is_flag=True, help="Only the start line, warnings and errors.")
def worker_command(
    experiment: str, storage: str | None, artifacts: str | None, device: str, max_trials: int | None, quiet: bool
) -> None:
    """Run trials of EXPERIMENT until every study has its n_trials COMPLETE."""
    from unlearn_opt.service.commands import work

    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    _quiet_optuna()
    done = work(
        experiment,
        storage=storage,
        artifacts=artifacts,
        device=device,
        max_trials=max_trials,
        announce=lambda line: click.echo(line, err=True),  # also under --quiet: which GPU is in every log
    )
    if not quiet:
        click.echo(f"worker done: {done} trial(s) completed", err=True)


@click.command("launch")
@click.argument("experiment")
@click.option("--gpus", default=None, help="GPUs by index among the visible ones (CUDA_VISIBLE_DEVICES), e.g. 0,1; or all.")
@click.option(
    "--workers-per-gpu",
    type=int,
    default=1,
    show_default=True,
    help="Worker processes on each GPU of --gpus (small widths leave a GPU idle with one).",
)
@click.option(
    "--cpu-workers",
    type=int,
    default=0,
    show_default=True,
    help="Worker processes on the CPU (they share this machine's cores), besides any GPU workers.",
)
@storage_option
@artifacts_option
@click.option("--no-live", is_flag=True, help="No live progress display.")
@click.option("--json", "as_json", is_flag=True, help="No live display; at the end print the progress as one JSON object.")
def launch_command(
    experiment: str,
    gpus: str | None,
    workers_per_gpu: int,
    cpu_workers: int,
    storage: str | None,
    artifacts: str | None,
    no_live: bool,
    as_json: bool,
) -> None:
    """Start workers on this machine (pinned to GPUs), restart any that dies, show progress."""
    from unlearn_opt.service.commands import launch, status

    _quiet_optuna()
    code = launch(
        experiment,
        storage=storage,
        artifacts=artifacts,
        gpus=gpus,
        workers_per_gpu=workers_per_gpu,
        cpu_workers=cpu_workers,
        live=not (no_live or as_json),
        console=make_console(stderr=True),
    )
    if as_json:
        click.echo(json.dumps({"exit_code": code, **status(experiment, storage=storage)[0].to_dict()}))
    if code:
        raise click.exceptions.Exit(code)


@click.command("status")
@click.argument("experiment")
@storage_option
@json_option
@click.option("--repair", is_flag=True, help="Fail and re-queue stale trials (their workers are gone), as a worker would.")
def status_command(experiment: str, storage: str | None, as_json: bool, repair: bool) -> None:
    """Per study COMPLETE/RUNNING (stale)/FAIL/remaining, the originals, an ETA."""
    from unlearn_opt.service.commands import status
    from unlearn_opt.service.status import progress_tables

    _quiet_optuna()
    progress, repaired = status(experiment, storage=storage, repair=repair)
    if repair:
        click.echo(f"re-queued {repaired} stale trial(s)", err=True)
    if as_json:
        click.echo(json.dumps(progress.to_dict()))
        return
    console = make_console()
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
@click.option(
    "--json", "as_json", is_flag=True, help="No tables or live display; at the end print the outcome as one JSON object."
)
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
    as_json: bool,
) -> None:
    """Create, work and report in one command, on --storage (default: $UNLEARN_OPT_STORAGE, else
    an SQLite file under storage/)."""
    from unlearn_opt.service.commands import run, status

    _quiet_optuna()
    console = make_console(stderr=True)
    result = run(
        spec_path,
        workers=workers,
        gpus=gpus,
        storage=storage,
        artifacts=artifacts,
        out=out,
        live=not (no_live or as_json),
        regions=regions,
        images=images,
        on_created=None if as_json else (lambda made: print_created(made, console)),
        say=None if as_json else console.print,
        console=console,
    )
    if as_json:
        progress = status(result.experiment, storage=storage)[0].to_dict()
        report = None if result.report is None else str(result.report)
        click.echo(json.dumps({"exit_code": result.code, "report": report, **progress}))
    if result.code:
        raise click.exceptions.Exit(result.code)
    if not as_json:
        console.print(f"report: {result.report}")
