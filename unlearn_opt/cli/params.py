"""Parsing helpers for CLI options."""

from __future__ import annotations

from typing import Any

from unlearn_opt.errors import UserError


def parse_params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``("lr=0.01", "epochs=3")`` → ``{"lr": 0.01, "epochs": 3.0}``; a bad pair is a UserError."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UserError(f"--param {pair!r}: expected NAME=VALUE")
        try:
            out[name] = float(value)
        except ValueError:
            raise UserError(f"--param {name}: {value!r} is not a number") from None
    return out
