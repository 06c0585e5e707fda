"""The unlearning methods (DESIGN §5), one file each, and their search spaces."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unlearn_opt.errors import UserError
from unlearn_opt.methods import finetune, l1_sparse, neggrad, retrain, scrub
from unlearn_opt.methods.base import Method, Param, UnlearnInputs

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

    from unlearn_opt.spec import Spec

_METHODS: dict[str, Method] = {
    m.name: m for m in (scrub.METHOD, neggrad.METHOD, l1_sparse.METHOD, finetune.METHOD, retrain.METHOD)
}


def get_method(name: str) -> Method:
    try:
        return _METHODS[name]
    except KeyError:
        raise UserError(f"method: unknown {name!r} (expected one of: {', '.join(_METHODS)})") from None


def resolved_space(method: str, spec: Spec | None = None) -> tuple[dict[str, tuple[float, float, bool, bool]], dict[str, Any]]:
    """The method's search space after the spec's ``[search.METHOD]`` overrides.

    Returns ``(ranges, fixed)``: ``ranges[name] = (low, high, log, integer)`` for the sampled
    hyperparameters, ``fixed[name] = value`` for those held constant.
    """
    overrides = dict(spec.search.get(method, {})) if spec is not None else {}
    ranges: dict[str, tuple[float, float, bool, bool]] = {}
    fixed: dict[str, Any] = {}
    for p in get_method(method).space:
        o = overrides.get(p.name)
        low, high, log = (o.low, o.high, o.log) if o is not None else (p.low, p.high, p.log)
        if (o is None and not p.tuned) or low == high:
            fixed[p.name] = p.cast(p.default if o is None else low)
        else:
            ranges[p.name] = (low, high, log, p.integer)
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
    "Method",
    "Param",
    "UnlearnInputs",
    "complete_params",
    "distributions",
    "get_method",
    "resolved_space",
]
