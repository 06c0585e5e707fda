"""Validation-λ selection (DESIGN §3): the selected trial of a study minimizes

    J_λ = λ · g + (1 − λ) · E_V,   g = privacy_gap (privacy) or 1 − E_F (bias_removal)

over its COMPLETE trials; ties break to the lower trial number.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState


def goal_term(goal: str, objective_1: float) -> float:
    """g of DESIGN §3 from the study's first objective value."""
    if goal == "privacy":
        return objective_1
    if goal == "bias_removal":
        return 1.0 - objective_1
    raise ValueError(f"unknown goal {goal!r}")


def j_lambda(goal: str, lam: float, objective_1: float, val_error: float) -> float:
    """J_λ = λ·g + (1 − λ)·E_V."""
    return lam * goal_term(goal, objective_1) + (1.0 - lam) * val_error


def select(trials: Sequence[FrozenTrial], *, goal: str, lam: float) -> FrozenTrial | None:
    """The COMPLETE trial minimizing J_λ (ties: lower number); None if there is none."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not done:
        return None
    return min(done, key=lambda t: (j_lambda(goal, lam, t.values[0], t.values[1]), t.number))
