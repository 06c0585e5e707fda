"""The ``unlearn-opt`` command line (click). Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import os
import sys
import traceback
import warnings

import click

from unlearn_opt.cli.analysis import dashboard_command, decision_regions_command, report_command
from unlearn_opt.cli.service import (
    create_study_command,
    launch_command,
    run_command,
    status_command,
    worker_command,
)
from unlearn_opt.cli.trial import trial_command
from unlearn_opt.errors import UserError


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="unlearn-opt")
def cli() -> None:
    """Hyperparameter-optimization studies of machine unlearning across network widths.

    Typical use: `unlearn-opt run studies/quickstart.toml` (create, work, report on the embedded
    default storage), or `create-study`, then many `worker`s on PostgreSQL, then `report`.
    """


for command in (
    trial_command,
    create_study_command,
    worker_command,
    launch_command,
    status_command,
    run_command,
    report_command,
    decision_regions_command,
    dashboard_command,
):
    cli.add_command(command)


def _storage_problem(exc: BaseException) -> str | None:
    """One line for a database fault met in the middle of a command: an SQLite file found
    damaged or read-only, a study deleted from the storage while a command used it."""
    from unlearn_opt.service.outage import sqlite_problem

    problem = sqlite_problem(exc)
    if problem is None and isinstance(exc, KeyError) and exc.args == ("Record does not exist.",):
        problem = "a study or trial of the experiment was deleted from the storage (run `unlearn-opt create-study SPEC` again)"
    return problem


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line and exit code 2."""
    warnings.filterwarnings("ignore", message=r".*is experimental.*")
    warnings.filterwarnings("ignore", message=r".*experimental feature.*")
    try:
        code = cli.main(args=argv, prog_name="unlearn-opt", standalone_mode=False)
        if isinstance(code, int) and code:  # a command ended with click.exceptions.Exit(code)
            sys.exit(code)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - exit 1 with one line; the traceback on request
        problem = _storage_problem(exc)
        if problem is not None:  # not a bug and not an outage: what is wrong with the database
            click.echo(f"error: storage: {problem}", err=True)
            sys.exit(2)
        if os.environ.get("UNLEARN_OPT_DEBUG"):
            traceback.print_exc()
        click.echo(f"error: {type(exc).__name__}: {exc} (set UNLEARN_OPT_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
