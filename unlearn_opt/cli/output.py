"""How the CLI prints: rich consoles that do not cut tables when the output is a file or a pipe
(a Slurm log, ``| less``), and library warnings kept out of normal output."""

from __future__ import annotations

import os
import warnings

from rich.console import Console

DEBUG_ENV = "UNLEARN_OPT_DEBUG"
FILE_WIDTH = 1000  # columns when the output is not a terminal: a table is printed whole


def make_console(*, stderr: bool = False) -> Console:
    """A console for stdout (or stderr). On a terminal it wraps at the terminal's width; written
    to a file or a pipe it never wraps (unless $COLUMNS asks for a width)."""
    console = Console(stderr=stderr)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = FILE_WIDTH
    return console


def debugging() -> bool:
    """``--debug`` was given (it sets $UNLEARN_OPT_DEBUG, so workers started by ``launch`` see it)."""
    return bool(os.environ.get(DEBUG_ENV))


def quiet_library_warnings() -> None:
    """Library warnings (torch's UserWarnings, Optuna's ExperimentalWarning, deprecations) are
    for developers: hidden unless debugging. Our own messages are lines and logs, not warnings."""
    if not debugging():
        warnings.simplefilter("ignore")


def show_library_warnings() -> None:
    warnings.resetwarnings()
    warnings.simplefilter("default")
