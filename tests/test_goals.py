"""The goals (docs/design.md §3) on cases small enough to check by hand."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unlearn_opt.errors import UserError
from unlearn_opt.goals import GOAL_NAMES, get_goal

METRICS = {"privacy_gap": 0.1, "forget_error": 0.3, "forget_test_error": 0.2, "val_error": 0.25, "test_error": 0.5}


def test_privacy_minimizes_the_gap_and_the_validation_error() -> None:
    goal = get_goal("privacy")
    assert goal.metric_names == ["privacy_gap", "val_error"] and goal.directions == ["minimize", "minimize"]
    assert goal.values(METRICS) == (0.1, 0.25)
    # J_0.4 = 0.4 · 0.1 + 0.6 · 0.25 = 0.19
    assert goal.j_lambda(0.4, 0.1, 0.25) == pytest.approx(0.19)
    assert goal.reference_point() == [1.01, 1.01]


def test_bias_removal_maximizes_the_forget_error() -> None:
    goal = get_goal("bias_removal")
    assert goal.metric_names == ["forget_error", "val_error"] and goal.directions == ["maximize", "minimize"]
    assert goal.values(METRICS) == (0.3, 0.25)
    # g = 1 − E_F = 0.7; J_0.6 = 0.6 · 0.7 + 0.4 · 0.25 = 0.52
    assert goal.g(0.3) == pytest.approx(0.7)
    assert goal.j_lambda(0.6, 0.3, 0.25) == pytest.approx(0.52)
    # a higher forget error always lowers J (for λ > 0)
    assert goal.j_lambda(0.2, 0.9, 0.25) < goal.j_lambda(0.2, 0.3, 0.25)
    assert goal.reference_point() == [-0.01, 1.01]


def test_every_goal_is_known_and_an_unknown_one_is_one_line() -> None:
    assert GOAL_NAMES == ("privacy", "bias_removal")
    with pytest.raises(UserError, match="goal: unknown 'speed' \\(expected one of: privacy, bias_removal\\)"):
        get_goal("speed")


@pytest.mark.slow
def test_goals_import_without_torch() -> None:
    code = "import sys, unlearn_opt.goals; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
