"""The ``unlearn-opt`` command line (click). Bad input: one line on stderr, exit 2."""

from __future__ import annotations

import os
import sys
import traceback

import click

from unlearn_opt.cli.analysis import dashboard_command, decision_regions_command, report_command
from unlearn_opt.cli.manage import delete_command, list_command
from unlearn_opt.cli.output import DEBUG_ENV, debugging, quiet_library_warnings, show_library_warnings
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
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the traceback of an error and library warnings (also in launched workers; same as {DEBUG_ENV}=1).",
)
def cli(debug: bool) -> None:
    """Hyperparameter-optimization studies of machine unlearning across network widths.

    Typical use: `unlearn-opt run studies/quickstart.toml` (create, work and report; the storage
    is --storage or $UNLEARN_OPT_STORAGE, else an SQLite file under storage/), or `create-study`,
    then many `worker`s on PostgreSQL, then `report`. `unlearn-opt list` shows the experiments of
    a storage.
    """
    if debug:
        os.environ[DEBUG_ENV] = "1"  # inherited by the workers `launch` and `run` start
        show_library_warnings()


for command in (
    trial_command,
    create_study_command,
    list_command,
    delete_command,
    worker_command,
    launch_command,
    status_command,
    run_command,
    report_command,
    decision_regions_command,
    dashboard_command,
):
    cli.add_command(command)


def debug_first(argv: list[str]) -> list[str]:
    """``--debug`` may come after the command too (``unlearn-opt status X --debug``): it is moved
    before it, where the group takes it. Nothing after ``--`` is touched."""
    end = argv.index("--") if "--" in argv else len(argv)
    if "--debug" not in argv[:end]:
        return argv
    return ["--debug", *(a for a in argv[:end] if a != "--debug"), *argv[end:]]


def _storage_problem(exc: BaseException) -> str | None:
    """One line for a database fault met in the middle of a command: an SQLite file found
    damaged or read-only, a study deleted from the storage while a command used it."""
    from unlearn_opt.service.outage import sqlite_problem

    problem = sqlite_problem(exc)
    if problem is None and isinstance(exc, KeyError) and exc.args == ("Record does not exist.",):
        problem = "a study or trial of the experiment was deleted from the storage (run `unlearn-opt create-study SPEC` again)"
    return problem


def main(argv: list[str] | None = None) -> None:
    """Console entry point: user errors become one line and exit code 2; any other error one line
    and exit code 1 (with --debug or $UNLEARN_OPT_DEBUG, its traceback first)."""
    quiet_library_warnings()
    try:
        args = debug_first(sys.argv[1:] if argv is None else list(argv))
        code = cli.main(args=args, prog_name="unlearn-opt", standalone_mode=False)
        if isinstance(code, int) and code:  # a command ended with click.exceptions.Exit(code)
            sys.exit(code)
    except UserError as exc:
        if debugging():
            traceback.print_exc()
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
        if debugging():
            traceback.print_exc()
            click.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        else:
            click.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
