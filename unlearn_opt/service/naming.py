"""Study names and the attributes that describe them (docs/design.md §8).

Study name: ``EXPERIMENT/wWIDTH/METHOD/GOAL``, with ``/sSPARSITY`` before the method when the
experiment asks for sparsities other than 0. The originals (and each width's retrain reference)
are trials of the study ``EXPERIMENT/_originals``.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_opt.methods.registry import get_method
from unlearn_opt.spec import Spec

ORIGINALS_SUFFIX = "_originals"


def fmt_number(value: float) -> str:
    """``0.25`` → ``0.25``, ``1.0`` → ``1``, ``2.0`` → ``2``."""
    return f"{value:g}"


@dataclass(frozen=True, order=True)
class StudyKey:
    experiment: str
    width: float
    sparsity: float
    method: str
    goal: str

    def name(self, *, sparse: bool) -> str:
        parts = [self.experiment, f"w{fmt_number(self.width)}"]
        if sparse:
            parts.append(f"s{fmt_number(self.sparsity)}")
        parts += [self.method, self.goal]
        return "/".join(parts)


def study_keys(spec: Spec) -> list[StudyKey]:
    """Every (width, sparsity, method, goal) study of the experiment, in spec order. A method
    declared not tuned (``retrain``: a reference trained once per width) gets no study."""
    return [
        StudyKey(spec.name, w, s, m, g)
        for w in spec.widths
        for s in spec.sparsities
        for m in spec.methods
        if get_method(m).tuned
        for g in spec.goals
    ]


def originals_study_name(experiment: str) -> str:
    return f"{experiment}/{ORIGINALS_SUFFIX}"
