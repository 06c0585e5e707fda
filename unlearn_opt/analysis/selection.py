"""Validation-λ selection (docs/design.md §3): the selected trial of a study minimizes J_λ (defined
with each goal in ``unlearn_opt/goals.py``) over its COMPLETE trials; ties break to the lower
trial number.
"""

from __future__ import annotations

from collections.abc import Sequence

from optuna.trial import FrozenTrial, TrialState

from unlearn_opt.goals import get_goal


def j_lambda(goal: str, lam: float, trial: FrozenTrial) -> float:
    """J_λ of a COMPLETE trial from its objective values (``goals.Goal.j_lambda``)."""
    objective_1, val_error = trial.values
    return get_goal(goal).j_lambda(lam, objective_1, val_error)


def select(trials: Sequence[FrozenTrial], *, goal: str, lam: float) -> FrozenTrial | None:
    """The COMPLETE trial minimizing J_λ (ties: lower number); None if there is none."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not done:
        return None
    return min(done, key=lambda t: (j_lambda(goal, lam, t), t.number))
