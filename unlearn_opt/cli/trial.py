"""``unlearn-opt trial``: one trial end to end, no database."""

from __future__ import annotations

import json
import math

import click
from rich.console import Console
from rich.table import Table

from unlearn_opt.cli.params import parse_params
from unlearn_opt.goals import get_goal
from unlearn_opt.spec import GOALS, METHODS, check_sparsity, check_width, load_spec


@click.command("trial")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--width", type=float, required=True, help="Width multiplier of the model.")
@click.option("--sparsity", type=float, default=0.0, show_default=True, help="Prune-then-unlearn sparsity.")
@click.option("--method", type=click.Choice(METHODS), required=True, help="Unlearning method.")
@click.option("--goal", type=click.Choice(GOALS), default="privacy", show_default=True)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A hyperparameter (repeatable); the rest take the method's defaults.",
)
@click.option("--device", default="auto", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--seed", type=int, default=None, help="Seed of the unlearning run (default: the spec's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def trial_command(
    spec_path: str,
    width: float,
    sparsity: float,
    method: str,
    goal: str,
    params: tuple[str, ...],
    device: str,
    seed: int | None,
    as_json: bool,
) -> None:
    """Train the original at WIDTH, unlearn with METHOD, print every metric."""
    from unlearn_opt.engine.runtime import resolve_device
    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.methods import complete_params

    spec = load_spec(spec_path)
    check_width(width, "--width")  # the spec's own limits
    check_sparsity(sparsity, "--sparsity")
    given = parse_params(params)
    full = complete_params(method, given, spec)  # validates names before any training
    dev = resolve_device(device)
    ws = Workspace(spec, device=dev, progress=not as_json)
    _, record = ws.original(width, sparsity)
    result = ws.run_trial(width=width, sparsity=sparsity, method=method, goal=goal, params=given, seed=seed)
    metrics = result.metrics
    out = {
        "spec": spec.name,
        "width": width,
        "sparsity": sparsity,
        "method": method,
        "goal": goal,
        "device": str(dev),
        "params": full,
        "objectives": dict(zip(get_goal(goal).metric_names, result.values)),
        "metrics": metrics,
        "original": record.to_dict(),
    }
    if as_json:
        click.echo(json.dumps(out, allow_nan=True))
        return
    console = Console()
    table = Table(title=f"{spec.name}: {method} at width {width:g} ({goal})")
    table.add_column("metric")
    table.add_column("unlearned", justify="right")
    table.add_column("original", justify="right")
    for name, value in metrics.items():
        orig = record.metrics.get(name)
        table.add_row(name, _fmt(value), "" if orig is None else _fmt(orig))
    console.print(table)
    console.print(
        f"original: {record.param_count:,} parameters, train error {record.train_error:.4f}, "
        f"test error {record.test_error:.4f}, " + ("overparameterized" if record.overparameterized else "underparameterized")
    )
    console.print("params: " + ", ".join(f"{k}={v:g}" for k, v in full.items()))


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"
