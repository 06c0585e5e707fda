"""The engine on real (small) data: scikit-learn's digits and the small CNN."""

from __future__ import annotations

import pytest
import torch

from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.methods.prune import sparsity_of
from unlearn_opt.spec import spec_from_dict

pytestmark = pytest.mark.slow

CPU = torch.device("cpu")


def digits_spec(**overrides) -> dict:
    raw = {
        "name": "digits-test",
        "dataset": "digits",
        "architecture": "cnn",
        "widths": [0.05, 2.0],
        "forget": {"size": 100},
        "original": {"epochs": 30, "batch_size": 64, "lr": 0.05},
        "unlearning": {"batch_size": 64, "forget_batch_size": 32},
        "evaluation": {"mia_max_examples": 2000},
    }
    raw.update(overrides)
    return raw


@pytest.fixture(scope="module")
def clean() -> Workspace:
    return Workspace(spec_from_dict(digits_spec()), device=CPU)


@pytest.fixture(scope="module")
def corrupted() -> Workspace:
    raw = digits_spec(forget={"size": 100, "corrupt_labels": True})
    raw["original"]["weight_decay"] = 0.0  # memorize F's wrong labels
    return Workspace(spec_from_dict(raw), device=CPU)


def test_wide_interpolates_narrow_does_not(clean: Workspace) -> None:
    _, wide = clean.original(2.0)
    _, narrow = clean.original(0.05)
    assert wide.overparameterized and wide.train_error <= 0.005
    assert not narrow.overparameterized and narrow.train_error > 0.005
    assert wide.param_count > 50 * narrow.param_count
    assert wide.test_error < 0.1


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("scrub", {"lr": 0.02, "epochs": 3, "max_steps": 2, "alpha": 0.5, "gamma": 1.0, "temperature": 4.0}),
        ("neggrad", {"lr": 0.1, "epochs": 2, "alpha": 0.98}),  # momentum 0 (the reference)
        ("gradient_ascent", {"lr": 1e-3, "epochs": 4}),
    ],
)
def test_methods_using_f_raise_the_forget_error_of_memorized_data(corrupted: Workspace, method: str, params: dict) -> None:
    _, rec = corrupted.original(2.0)
    assert rec.metrics["forget_error"] <= 0.05  # the wrong labels of F are memorized
    result = corrupted.run_trial(width=2.0, sparsity=0.0, method=method, goal="bias_removal", params=params)
    m = result.metrics
    assert m["forget_error"] >= rec.metrics["forget_error"] + 0.3, m
    assert m["retain_error"] <= rec.metrics["retain_error"] + 0.05, m
    assert result.values == (m["forget_error"], m["val_error"])  # bias removal: E_F (maximized), E_V


def test_retrain_forgets_like_unseen_data(clean: Workspace) -> None:
    m = clean.run_trial(width=2.0, sparsity=0.0, method="retrain", goal="privacy", params={}).metrics
    assert abs(m["forget_error"] - m["forget_test_error"]) <= 0.06
    assert m["privacy_gap"] == pytest.approx(abs(m["forget_error"] - m["forget_test_error"]))
    assert 0.35 <= m["mia_auc"] <= 0.65


@pytest.fixture(scope="module")
def noisy() -> Workspace:
    """Synthetic data hard enough (test error ~30%) that an interpolating MLP overfits."""
    raw = {
        "name": "noisy",
        "dataset": "synthetic",
        "architecture": "mlp",
        "widths": [2.0],  # interpolates as width 4 does (MIA AUC 0.82), at a quarter of its cost
        "synthetic": {"train_size": 600, "test_size": 600},
        "forget": {"size": 100},
        "original": {"epochs": 60, "batch_size": 64, "lr": 0.05, "weight_decay": 0.0},
    }
    return Workspace(spec_from_dict(raw), device=CPU)


def test_mia_auc_separates_seen_from_unseen(noisy: Workspace) -> None:
    _, rec = noisy.original(2.0)
    assert rec.overparameterized and rec.test_error > 0.15
    assert rec.metrics["mia_auc"] >= 0.75  # the overfit original saw F
    m = noisy.run_trial(width=2.0, sparsity=0.0, method="retrain", goal="privacy", params={}).metrics
    assert abs(m["mia_auc"] - 0.5) <= 0.1  # retrain never saw F
    assert m["privacy_gap"] <= 0.08 < rec.metrics["privacy_gap"]


def test_pruning_holds_through_unlearning(clean: Workspace) -> None:
    original, rec = clean.original(2.0, 0.5)
    assert sparsity_of(original) == pytest.approx(0.5, abs=0.01)
    assert rec.sparsity == 0.5
    for method in ("finetune", "l1_sparse", "scrub"):
        _, unlearned, _, _ = clean.unlearn(width=2.0, sparsity=0.5, method=method, params={"epochs": 2, "lr": 0.05})
        assert sparsity_of(unlearned) >= sparsity_of(original) - 1e-9
        for (name, p), (_, q) in zip(original.named_parameters(), unlearned.named_parameters()):
            if p.dim() == 4:
                assert torch.all(q[p == 0] == 0), (method, name)


def test_same_params_same_result(clean: Workspace) -> None:
    a = clean.run_trial(width=0.05, sparsity=0.0, method="l1_sparse", goal="privacy", params={"epochs": 2}).metrics
    b = clean.run_trial(width=0.05, sparsity=0.0, method="l1_sparse", goal="privacy", params={"epochs": 2}).metrics
    a.pop("unlearn_seconds"), b.pop("unlearn_seconds")
    assert a == b


def test_a_compiled_model_trains_and_unlearns_like_the_eager_one() -> None:
    """[runtime] compile changes how the model runs, not what it learns: the same original and
    the same trial as without it, up to the rounding of reordered kernels."""
    raw = {
        "name": "compiled",
        "dataset": "synthetic",
        "architecture": "mlp",
        "widths": [0.5],
        "synthetic": {"train_size": 300, "test_size": 200},
        "forget": {"size": 30},
        "original": {"epochs": 2, "batch_size": 64},
        "runtime": {"deterministic": True},
    }
    eager = Workspace(spec_from_dict(raw), device=CPU)
    compiled = Workspace(spec_from_dict({**raw, "runtime": {"compile": True, "deterministic": True}}), device=CPU)
    original, rec = compiled.original(0.5)
    assert original._compiled_call_impl is not None  # compiled in place
    _, eager_rec = eager.original(0.5)
    assert rec.param_count == eager_rec.param_count
    for name in ("train_error", "test_error"):
        assert getattr(rec, name) == pytest.approx(getattr(eager_rec, name), abs=0.02), name
    params = {"epochs": 1}
    m = compiled.run_trial(width=0.5, sparsity=0.0, method="finetune", goal="privacy", params=params).metrics
    e = eager.run_trial(width=0.5, sparsity=0.0, method="finetune", goal="privacy", params=params).metrics
    for name in ("retain_error", "forget_error", "forget_test_error", "val_error", "test_error"):
        assert m[name] == pytest.approx(e[name], abs=0.03), name
