"""Study names and the attributes that describe them (docs/design.md §8).

Study name: ``EXPERIMENT/wWIDTH/METHOD/GOAL``, with ``/dDEPTH`` after the width when the
experiment asks for depths other than [1], ``/sSPARSITY`` before the method when it asks for
sparsities other than 0, and ``/rR`` after the experiment for replicate R ≥ 1 (replicate 0 keeps
the name it had before replicates existed). The originals (and each (width, depth)'s retrain
reference), of every replicate, are trials of the study ``EXPERIMENT/_originals``.

Numbers are written exactly (:func:`fmt_number`), so distinct widths or sparsities always get
distinct names and :func:`parse_study_name` gives back the very floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from unlearn_opt.methods.registry import get_method
from unlearn_opt.spec import Spec

ORIGINALS_SUFFIX = "_originals"


def fmt_number(value: float) -> str:
    """The shortest text that reads back as exactly ``value``: ``f"{value:g}"`` where that
    round-trips (``0.25``, ``1``, ``2``: the names of earlier versions), else ``repr(value)``
    (``0.5000001``). Injective: ``float(fmt_number(v)) == v`` for every finite v."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def legacy_fmt_number(value: float) -> str:
    """How names wrote numbers before they were exact (6 significant digits)."""
    return f"{value:g}"


@dataclass(frozen=True, order=True)
class StudyKey:
    experiment: str
    width: float
    sparsity: float
    method: str
    goal: str
    replicate: int = 0
    depth: int = 1

    def name(self, *, sparse: bool, deep: bool = False) -> str:
        return self._name(sparse=sparse, deep=deep, fmt=fmt_number)

    def legacy_name(self, *, sparse: bool) -> str:
        """The name earlier versions gave this (replicate-0, depth-1) study."""
        return self._name(sparse=sparse, deep=False, fmt=legacy_fmt_number)

    def _name(self, *, sparse: bool, deep: bool, fmt: Callable[[float], str]) -> str:
        parts = [self.experiment]
        if self.replicate:
            parts.append(f"r{self.replicate}")
        parts.append(f"w{fmt(self.width)}")
        if deep:
            parts.append(f"d{fmt(self.depth)}")
        if sparse:
            parts.append(f"s{fmt(self.sparsity)}")
        parts += [self.method, self.goal]
        return "/".join(parts)


_NAME = re.compile(
    r"^(?P<exp>[^/]+)(?:/r(?P<rep>[1-9][0-9]*))?/w(?P<w>[^/]+)(?:/d(?P<d>[1-9][0-9]*))?(?:/s(?P<s>[^/]+))?"
    r"/(?P<m>[^/]+)/(?P<g>[^/]+)$"
)


def parse_study_name(name: str) -> StudyKey:
    """The :class:`StudyKey` of a tuning study's name (inverse of :meth:`StudyKey.name`; a
    name without ``/dDEPTH`` has depth 1, one without ``/sSPARSITY`` sparsity 0). ValueError if
    ``name`` is not one."""
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"not a study name: {name!r}")
    try:
        width = float(m["w"])
        sparsity = float(m["s"]) if m["s"] is not None else 0.0
    except ValueError:
        raise ValueError(f"not a study name: {name!r}") from None
    return StudyKey(m["exp"], width, sparsity, m["m"], m["g"], int(m["rep"] or 0), int(m["d"] or 1))


def study_keys(spec: Spec) -> list[StudyKey]:
    """Every (replicate, width, depth, sparsity, method, goal) study of the experiment, replicate
    0 first, then in spec order. A method declared not tuned (``retrain``: a reference trained once
    per (width, depth)) gets no study."""
    return [
        StudyKey(spec.name, w, s, m, g, r, d)
        for r in range(spec.replicates)
        for w in spec.widths
        for d in spec.depths
        for s in spec.sparsities
        for m in spec.methods
        if get_method(m).tuned
        for g in spec.goals
    ]


class ModelKey(NamedTuple):
    """An original or retrain reference: (kind, width, sparsity, replicate, depth)."""

    kind: str
    width: float
    sparsity: float
    replicate: int = 0
    depth: int = 1


def model_key(attrs: Mapping[str, Any]) -> ModelKey:
    """The key of an originals-study ticket from its user attributes (no ``replicate``: 0, no
    ``depth``: 1, as every ticket written before replicates or depths existed)."""
    return ModelKey(
        str(attrs["kind"]),
        float(attrs["width"]),
        float(attrs["sparsity"]),
        int(attrs.get("replicate", 0)),
        int(attrs.get("depth", 1)),
    )


def model_attrs(key: ModelKey) -> dict[str, Any]:
    """The user attributes of an originals-study ticket for ``key`` (inverse of :func:`model_key`;
    ``replicate`` written only when not 0 and ``depth`` only when not 1, so the other tickets are
    those of earlier versions)."""
    attrs: dict[str, Any] = {"kind": key.kind, "width": key.width, "sparsity": key.sparsity}
    if key.replicate:
        attrs["replicate"] = key.replicate
    if key.depth != 1:
        attrs["depth"] = key.depth
    return attrs


def model_label(key: ModelKey) -> str:
    """``original w=1 d=2 s=0.5 r=2`` (depth shown when not 1, sparsity and replicate when not 0)."""
    return (
        f"{key.kind} w={fmt_number(key.width)}"
        + (f" d={key.depth}" if key.depth != 1 else "")
        + (f" s={fmt_number(key.sparsity)}" if key.sparsity else "")
        + (f" r={key.replicate}" if key.replicate else "")
    )


def originals_study_name(experiment: str) -> str:
    return f"{experiment}/{ORIGINALS_SUFFIX}"
