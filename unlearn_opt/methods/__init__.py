"""The unlearning methods (docs/design.md §5): declarations in :mod:`~unlearn_opt.methods.registry`
(no torch), one implementation file each, and their search spaces after a spec's overrides.

Importing this package does not import torch; a method's implementation is imported when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unlearn_opt.methods.registry import (
    FORGET_BATCH,
    METHOD_NAMES,
    RETAIN_BATCH,
    TUNED_METHODS,
    Method,
    Param,
    get_method,
)

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from unlearn_opt.spec import Spec


def _spec_default(p: Param, spec: Spec | None) -> float | None:
    """The ``[unlearning] batch_size / forget_batch_size`` value a spec sets for every method's
    batch-size parameter of that name (None when unset)."""
    if spec is None or p.name not in (RETAIN_BATCH, FORGET_BATCH):
        return None
    value = getattr(spec.unlearning, p.name)
    return None if value is None else float(value)


def resolved_space(method: str, spec: Spec | None = None) -> tuple[dict[str, tuple[float, float, bool, bool]], dict[str, Any]]:
    """The method's search space after the spec's overrides.

    Returns ``(ranges, fixed)``: ``ranges[name] = (low, high, log, integer)`` for the sampled
    hyperparameters, ``fixed[name] = value`` for those held constant. Precedence per parameter:
    ``[search.METHOD]`` (a range or a value), then, for ``batch_size`` / ``forget_batch_size``,
    ``[unlearning]``'s key of the same name when set, then the method's declared default.
    """
    overrides = dict(spec.search.get(method, {})) if spec is not None else {}
    ranges: dict[str, tuple[float, float, bool, bool]] = {}
    fixed: dict[str, Any] = {}
    for p in get_method(method).space:
        o = overrides.get(p.name)
        if o is None:
            shared = _spec_default(p, spec)
            if shared is not None:
                fixed[p.name] = p.cast(shared)
            elif not p.tuned:
                fixed[p.name] = p.cast(p.default)
            else:
                ranges[p.name] = (p.low, p.high, p.log, p.integer)
        elif o.low == o.high:
            fixed[p.name] = p.cast(o.low)
        else:
            ranges[p.name] = (o.low, o.high, o.log, p.integer)
    return ranges, fixed


def distributions(method: str, spec: Spec | None = None) -> dict[str, BaseDistribution]:
    """Optuna distributions of the sampled hyperparameters."""
    from optuna.distributions import FloatDistribution, IntDistribution

    ranges, _ = resolved_space(method, spec)
    out: dict[str, BaseDistribution] = {}
    for name, (low, high, log, integer) in ranges.items():
        if integer:
            out[name] = IntDistribution(int(low), int(high), log=log)
        else:
            out[name] = FloatDistribution(low, high, log=log)
    return out


def complete_params(method: str, given: Mapping[str, Any], spec: Spec | None = None) -> dict[str, float | int]:
    """Every hyperparameter of ``method``: ``given`` first, then the spec's fixed values, then the
    method's defaults. An unknown name is a :class:`UserError`."""
    m = get_method(method)
    _, fixed = resolved_space(method, spec)
    out: dict[str, float | int] = {}
    for p in m.space:
        out[p.name] = p.cast(fixed.get(p.name, p.default))
    for name, value in given.items():
        out[name] = m.param(name).cast(float(value))
    return out


__all__ = [
    "FORGET_BATCH",
    "METHOD_NAMES",
    "RETAIN_BATCH",
    "TUNED_METHODS",
    "Method",
    "Param",
    "complete_params",
    "distributions",
    "get_method",
    "resolved_space",
]
