"""``unlearn-opt trial``: one trial end to end, no database."""

from __future__ import annotations

import json
import math

import click
from rich.table import Table

from unlearn_opt.cli.output import make_console
from unlearn_opt.cli.params import parse_params
from unlearn_opt.cli.service import device_option
from unlearn_opt.spec import GOALS, METHODS


@click.command("trial")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False))
@click.option("--width", type=float, required=True, help="Width multiplier of the model.")
@click.option("--depth", type=int, default=1, show_default=True, help="Depth multiplier of the model (layers or blocks).")
@click.option("--sparsity", type=float, default=0.0, show_default=True, help="Prune-then-unlearn sparsity.")
@click.option("--method", type=click.Choice(METHODS), required=True, help="Unlearning method.")
@click.option(
    "--goal", type=click.Choice(GOALS), default="privacy", show_default=True, help="Unlearning goal (sets the two objectives)."
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A hyperparameter (repeatable); the rest take the method's defaults.",
)
@device_option
@click.option("--seed", type=int, default=None, help="Seed of the unlearning run (default: the spec's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def trial_command(
    spec_path: str,
    width: float,
    depth: int,
    sparsity: float,
    method: str,
    goal: str,
    params: tuple[str, ...],
    device: str,
    seed: int | None,
    as_json: bool,
) -> None:
    """Train the original at WIDTH, unlearn with METHOD, print every metric."""
    from unlearn_opt.service.commands import one_trial

    out = one_trial(
        spec_path,
        width=width,
        depth=depth,
        sparsity=sparsity,
        method=method,
        goal=goal,
        params=parse_params(params),
        device=device,
        seed=seed,
        progress=not as_json,
    )
    if as_json:
        click.echo(json.dumps(out, allow_nan=True))
        return
    record = out["original"]
    console = make_console()
    table = Table(title=f"{out['spec']}: {method} at width {width:g} ({goal})")
    table.add_column("metric")
    table.add_column("unlearned", justify="right")
    table.add_column("original", justify="right")
    for name, value in out["metrics"].items():
        orig = record["metrics"].get(name)
        table.add_row(name, _fmt(value), "" if orig is None else _fmt(orig))
    console.print(table)
    console.print(
        f"original: {record['param_count']:,} parameters, train error {record['train_error']:.4f}, "
        f"test error {record['test_error']:.4f}, "
        + ("overparameterized" if record["overparameterized"] else "underparameterized")
    )
    console.print("params: " + ", ".join(f"{k}={v:g}" for k, v in out["params"].items()))


def _fmt(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4f}"
