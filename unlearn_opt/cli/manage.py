"""``unlearn-opt list`` and ``unlearn-opt delete``: the experiments of a storage."""

from __future__ import annotations

import json

import click
from rich.table import Table

from unlearn_opt.cli.output import make_console
from unlearn_opt.cli.service import _quiet_optuna, artifacts_option, json_option, storage_option


@click.command("list")
@storage_option
@json_option
def list_command(storage: str | None, as_json: bool) -> None:
    """The experiments in the storage, with their progress."""
    from unlearn_opt.service.commands import list_experiments
    from unlearn_opt.service.status import fmt_seconds
    from unlearn_opt.service.storage import mask_url, resolve_url

    _quiet_optuna()
    found = list_experiments(storage=storage)
    if as_json:
        click.echo(json.dumps({"storage": mask_url(resolve_url(storage)), "experiments": [e.to_dict() for e in found]}))
        return
    console = make_console()
    if not found:
        console.print(f"no experiments in {mask_url(resolve_url(storage))}", highlight=False)
        return
    table = Table(title=f"experiments in {mask_url(resolve_url(storage))}")
    for col in ("experiment", "studies", "trials", "originals", "state", "ETA"):
        table.add_column(col, justify="left" if col in ("experiment", "state") else "right")
    for e in found:
        if not e.created:
            state = "not fully created"
        else:
            state = "done" if e.done else ("in progress" if e.complete or e.models_done else "not started")
        table.add_row(
            e.name,
            str(e.studies),
            f"{e.complete}/{e.total}",
            f"{e.models_done}/{e.models_total}",
            state,
            "" if e.done or not e.created else fmt_seconds(e.eta_seconds),
        )
    console.print(table)


@click.command("delete")
@click.argument("experiment")
@storage_option
@artifacts_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete_command(experiment: str, storage: str | None, artifacts: str | None, yes: bool) -> None:
    """Delete EXPERIMENT: its studies (trials, metrics, figures, notes) and its checkpoints in the
    artifact store (by default the store it was created with). Asks first, unless --yes."""
    from unlearn_opt.service.commands import delete_experiment, plan_deletion
    from unlearn_opt.service.storage import mask_url, resolve_url

    _quiet_optuna()
    rdb, plan = plan_deletion(experiment, storage=storage, artifacts=artifacts)
    what = (
        f"experiment {experiment} in {mask_url(resolve_url(storage))}: {len(plan.studies)} studies "
        f"and {len(plan.artifacts)} artifacts in {plan.store}"
    )
    if not yes and not click.confirm(f"delete {what}?", err=True):
        click.echo("nothing deleted", err=True)
        raise click.exceptions.Exit(1)
    delete_experiment(rdb, plan)
    click.echo(f"deleted {what}", err=True)
