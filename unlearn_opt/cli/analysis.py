"""The analysis commands: report, decision-regions, dashboard."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.table import Table

from unlearn_opt.cli.output import make_console
from unlearn_opt.cli.service import _quiet_optuna, artifacts_option, device_option, json_option, storage_option


@click.command("report")
@click.argument("experiment")
@storage_option
@click.option("--out", default=None, type=click.Path(file_okay=False), help="Folder (default reports/EXPERIMENT).")
@click.option("--no-dashboard", is_flag=True, help="Do not save figures and notes on the studies.")
@click.option("--images", is_flag=True, help="Also write the main figures as PNG under OUT/figures (needs kaleido and Chromium).")
def report_command(experiment: str, storage: str | None, out: str | None, no_dashboard: bool, images: bool) -> None:
    """Write selection.csv, pareto.csv, regions.csv, findings.md and report.html; save figures
    for the dashboard."""
    from unlearn_opt.analysis.report import write_report

    _quiet_optuna()
    if not out and (experiment in ("", ".", "..") or "/" in experiment or "\\" in experiment):
        from unlearn_opt.errors import UserError

        raise UserError(f"report: {experiment!r} cannot name a folder under reports/ (give --out FOLDER)")
    folder = Path(out) if out else Path("reports") / experiment
    path = write_report(
        storage_url=storage, experiment=experiment, out_dir=folder, save_to_dashboard=not no_dashboard, images=images
    )
    click.echo(f"wrote {folder / 'selection.csv'}, {folder / 'pareto.csv'}, {folder / 'findings.md'} and {path}")


@click.command("decision-regions")
@click.argument("experiment")
@storage_option
@artifacts_option
@click.option("--lambda", "lambdas", type=click.FloatRange(0, 1), multiple=True, help="λ to analyse (default: the spec's).")
@click.option("--delta", type=click.FloatRange(min=0, min_open=True), default=None, help="Radius δ (default: the spec's).")
@device_option
@json_option
def decision_regions_command(
    experiment: str,
    storage: str | None,
    artifacts: str | None,
    lambdas: tuple[float, ...],
    delta: float | None,
    device: str,
    as_json: bool,
) -> None:
    """C_prox(δ) and S_far(δ) of the selected trials, stored on their studies."""
    from unlearn_opt.analysis.regions import compute_regions

    _quiet_optuna()
    rows = compute_regions(
        storage_url=storage, experiment=experiment, artifacts=artifacts, lambdas=list(lambdas) or None, delta=delta, device=device
    )
    if as_json:
        click.echo(json.dumps({"experiment": experiment, "regions": rows}))
        return
    table = Table(title=f"{experiment}: decision regions")
    for col in ("study", "λ", "trial", "δ", "C_prox", "S_far"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["study"], f"{r['lambda']:g}", str(r["trial_number"]), f"{r['delta']:g}", f"{r['c_prox']:.4f}", f"{r['s_far']:.4f}"
        )
    make_console().print(table)


@click.command("dashboard")
@storage_option
@artifacts_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (no authentication: keep it local).")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True, help="TCP port to listen on.")
def dashboard_command(storage: str | None, artifacts: str | None, host: str, port: int) -> None:
    """optuna-dashboard on the storage and the artifact store (checkpoints, figures)."""
    from unlearn_opt.service.commands import serve_dashboard

    _quiet_optuna()
    serve_dashboard(storage=storage, artifacts=artifacts, host=host, port=port, say=lambda text: click.echo(text, err=True))
