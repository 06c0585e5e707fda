"""Errors that reach the user as one line and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input (a spec, an argument, a storage URL, a data folder): one clear line, exit 2."""

    exit_code = 2
