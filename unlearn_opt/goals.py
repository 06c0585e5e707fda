"""The goals of an unlearning study (docs/design.md §3), each defined once: its two objectives (metric
names and directions), the goal term g and the validation-λ score

    J_λ = λ · g + (1 − λ) · E_V,   g = privacy_gap (privacy) or 1 − E_F (bias_removal)

which the selected trial of a study minimizes (with E_T in place of E_V, the findings' test-error
trade-off). Objective 2 is always the validation error. A new goal is one more :class:`Goal` in
``GOALS``. No torch here: the spec, the service and the analysis import it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from unlearn_opt.errors import UserError

Direction = Literal["minimize", "maximize"]
VALIDATION = "val_error"


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: Direction


@dataclass(frozen=True)
class Goal:
    """``first``: objective 1; ``term``: g as a function of objective 1's value."""

    name: str
    first: Objective
    term: Callable[[float], float]

    @property
    def objectives(self) -> tuple[Objective, Objective]:
        return self.first, Objective(VALIDATION, "minimize")

    @property
    def metric_names(self) -> list[str]:
        return [o.metric for o in self.objectives]

    @property
    def directions(self) -> list[Direction]:
        return [o.direction for o in self.objectives]

    def values(self, metrics: Mapping[str, float]) -> tuple[float, float]:
        """The study's objective values of a trial's metrics."""
        first, second = self.metric_names
        return float(metrics[first]), float(metrics[second])

    def g(self, objective_1: float) -> float:
        return self.term(objective_1)

    def j_lambda(self, lam: float, objective_1: float, error: float) -> float:
        """J_λ = λ·g + (1 − λ)·error (the validation error E_V for selection)."""
        return lam * self.g(objective_1) + (1.0 - lam) * error

    def reference_point(self) -> list[float]:
        """For the hypervolume: just worse than the worst attainable point (errors lie in [0, 1])."""
        return [1.01 if o.direction == "minimize" else -0.01 for o in self.objectives]


GOALS: dict[str, Goal] = {
    g.name: g
    for g in (
        Goal("privacy", Objective("privacy_gap", "minimize"), term=lambda gap: gap),
        Goal("bias_removal", Objective("forget_error", "maximize"), term=lambda forget_error: 1.0 - forget_error),
    )
}
GOAL_NAMES: tuple[str, ...] = tuple(GOALS)


def get_goal(name: str) -> Goal:
    try:
        return GOALS[name]
    except KeyError:
        raise UserError(f"goal: unknown {name!r} (expected one of: {', '.join(GOALS)})") from None
