"""Metrics checked against their formulas on cases small enough to verify by hand."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_opt.metrics.decision_regions import far_examples, region_scores, sample_ball
from unlearn_opt.metrics.mia import mia_auc, mia_efficacy
from unlearn_opt.metrics.predictions import error_rate, label_confidence


def test_error_rate_by_hand() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 1.0], [0.0, 5.0]])
    assert error_rate(logits, torch.tensor([0, 1, 1, 0])) == 0.5


def test_error_rate_is_the_exact_fraction_in_float64() -> None:
    """9 wrong of 50 is stored as 0.18 (float32's mean gave 0.18000000715255737)."""
    labels = torch.zeros(50, dtype=torch.long)
    logits = torch.zeros(50, 2)
    logits[:9, 1] = 1.0
    assert error_rate(logits, labels) == 0.18
    assert repr(error_rate(logits, labels)) == "0.18"
    for n, wrong in ((300, 7), (1797, 1000), (97, 13)):
        lab, lg = torch.zeros(n, dtype=torch.long), torch.zeros(n, 2)
        lg[:wrong, 1] = 1.0
        assert error_rate(lg, lab) == wrong / n


def test_mia_auc_by_hand() -> None:
    # members' losses all below non-members' → AUC 1; interleaved: count the ordered pairs
    assert mia_auc(torch.tensor([0.1, 0.2]), torch.tensor([0.5, 0.9])) == 1.0
    assert mia_auc(torch.tensor([0.5, 0.9]), torch.tensor([0.1, 0.2])) == 0.0
    # pairs (m, n): (0.1,0.3) win, (0.1,0.6) win, (0.5,0.3) lose, (0.5,0.6) win → 3/4
    assert mia_auc(torch.tensor([0.1, 0.5]), torch.tensor([0.3, 0.6])) == 0.75


def test_label_confidence() -> None:
    logits = torch.tensor([[0.0, 0.0], [torch.log(torch.tensor(3.0)), 0.0]])
    assert label_confidence(logits, torch.tensor([1, 0])).tolist() == pytest.approx([0.5, 0.75])


def test_mia_efficacy_separable_confidences() -> None:
    g = torch.Generator().manual_seed(0)
    members = 0.95 + 0.05 * torch.rand(300, generator=g)  # retain: confident
    nonmembers = 0.3 * torch.rand(300, generator=g)  # test: unsure
    looks_member = 0.97 * torch.ones(40)
    looks_nonmember = 0.1 * torch.ones(40)
    assert mia_efficacy(retain_conf=members, test_conf=nonmembers, forget_conf=looks_member) == 0.0
    assert mia_efficacy(retain_conf=members, test_conf=nonmembers, forget_conf=looks_nonmember) == 1.0
    mixed = torch.cat([looks_member[:10], looks_nonmember[:30]])
    assert mia_efficacy(retain_conf=members, test_conf=nonmembers, forget_conf=mixed) == pytest.approx(0.75)
    odd = torch.cat([0.97 * torch.ones(43), 0.1 * torch.ones(57)])  # 57 of 100 non-member: 0.57, not 1 − 0.43
    assert mia_efficacy(retain_conf=members, test_conf=nonmembers, forget_conf=odd) == 0.57
    # at most max_examples of each class are used (subsampling keeps it working)
    assert mia_efficacy(retain_conf=members, test_conf=nonmembers, forget_conf=looks_nonmember, max_examples=50) == 1.0


def test_sample_ball_radius() -> None:
    centers = torch.zeros(3, 1, 4, 4)
    pts = sample_ball(centers, delta=2.0, samples=500, generator=torch.Generator().manual_seed(0))
    norms = pts.flatten(1).norm(dim=1)
    assert pts.shape == (1500, 1, 4, 4)
    assert float(norms.max()) <= 2.0 + 1e-5
    # uniform in a 16-dim ball: P(r < δ/2) = 2^-16, so nearly all points lie in the outer half
    assert float((norms > 1.0).float().mean()) > 0.99


def test_far_examples_picks_the_farthest() -> None:
    forget = torch.zeros(2, 1, 1, 2)
    test = torch.tensor([[[[0.1, 0.0]]], [[[5.0, 5.0]]], [[[1.0, 0.0]]], [[[-9.0, 0.0]]]])
    assert far_examples(test, forget, 2).tolist() == [3, 1]


class Flip(nn.Module):
    """Predicts class 1 inside a ball of radius r around c, else class 0."""

    def __init__(self, c: torch.Tensor, r: float) -> None:
        super().__init__()
        self.c, self.r = c, r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inside = ((x.flatten(1) - self.c.flatten()).norm(dim=1) < self.r).float()
        return torch.stack([1 - inside, inside], dim=1)


def test_region_scores_unchanged_and_local_change() -> None:
    g = torch.Generator().manual_seed(0)
    forget = torch.randn(5, 1, 2, 2, generator=g)
    test = torch.randn(50, 1, 2, 2, generator=g) * 10
    base = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    same = region_scores(original=base, unlearned=copy.deepcopy(base), forget_x=forget, test_x=test, delta=0.5)
    assert same.c_prox == 0.0 and same.s_far == 1.0
    # a model that changes its prediction only near forget[0] (radius 1 around it)
    zero = Flip(torch.full((4,), 1e6), 1.0)  # never inside: always class 0
    local = Flip(forget[0], 1.0)
    scores = region_scores(original=zero, unlearned=local, forget_x=forget[:1], test_x=test, delta=0.5, samples=50)
    assert scores.c_prox == 1.0 and scores.s_far == 1.0
    # 5 forget examples × 7 samples: a share of 35 probe points, stored as the exact fraction
    part = region_scores(original=zero, unlearned=local, forget_x=forget, test_x=test, delta=0.5, samples=7)
    assert 0 < part.c_prox < 1 and part.c_prox == round(part.c_prox * 35) / 35


def test_a_diverged_model_is_measured_not_crashed() -> None:
    from unlearn_opt.metrics.predictions import DIVERGED_LOSS, per_example_loss

    logits = torch.tensor([[float("nan"), 0.0], [2.0, 0.0], [float("inf"), 1.0]])
    labels = torch.tensor([0, 0, 0])
    assert error_rate(logits, labels) == pytest.approx(2 / 3)  # non-finite rows are wrong
    assert per_example_loss(logits, labels)[0] == DIVERGED_LOSS
    assert label_confidence(logits, labels)[0] == 0.0
    conf = label_confidence(logits, labels)
    efficacy = mia_efficacy(retain_conf=torch.rand(50), test_conf=torch.rand(50), forget_conf=conf)
    assert any(efficacy == pytest.approx(v) for v in (0.0, 1 / 3, 2 / 3, 1.0))


def test_mia_shadow_set_is_balanced_and_deterministic() -> None:
    from unlearn_opt.metrics.mia import shadow_sets

    members, nonmembers = np.arange(1000.0), -np.arange(1.0, 301.0)
    m, n = shadow_sets(members, nonmembers, max_examples=10_000, seed=0)
    assert len(m) == len(n) == 300  # n = min(|R|, |T|, 10 000)
    assert set(m) <= set(members) and len(set(m)) == 300 and sorted(n) == sorted(nonmembers)
    again = shadow_sets(members, nonmembers, max_examples=10_000, seed=0)
    assert np.array_equal(again[0], m) and np.array_equal(again[1], n)
    assert not np.array_equal(shadow_sets(members, nonmembers, max_examples=10_000, seed=1)[0], m)
    m, n = shadow_sets(members, nonmembers, max_examples=50, seed=0)
    assert len(m) == len(n) == 50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mia_efficacy_fits_a_balanced_shadow_set(seed: int) -> None:
    """R: 900 confidences 0.95 and 100 at 0.5; T: 10 at 0.5. Balanced (10 of R, about one of them
    at 0.5, against T's 10), confidence 0.5 is a non-member's: F at 0.5 scores 1. Fit on all of R
    against T, 100 members at 0.5 outvote 10 non-members and F would score 0."""
    retain = torch.cat([torch.full((900,), 0.95), torch.full((100,), 0.5)])
    test = torch.full((10,), 0.5)
    forget = torch.full((20,), 0.5)
    assert mia_efficacy(retain_conf=retain, test_conf=test, forget_conf=forget, seed=seed) == 1.0
    assert mia_efficacy(retain_conf=retain, test_conf=test, forget_conf=torch.full((20,), 0.95), seed=seed) == 0.0


def test_mia_efficacy_scores_forget_with_the_labels_it_was_trained_on() -> None:
    """Bias removal with corrupted labels: the original fits F's corrupted labels as confidently as
    R's, so the attack must call F members (efficacy 0). With F's true labels its confidence is
    ≈ 0 and the untouched original would score 1."""
    from unlearn_opt.data.base import TensorData
    from unlearn_opt.metrics import EvalSets, evaluate

    def logits(labels: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:  # "images" holding the logits
        out = torch.zeros(len(labels), 1, 1, 3)
        out[torch.arange(len(labels)), 0, 0, labels] = margin
        return out

    g = torch.Generator().manual_seed(0)
    y_r = torch.randint(0, 3, (60,), generator=g)
    y_f_true = torch.randint(0, 3, (10,), generator=g)
    y_f = (y_f_true + 1) % 3  # the corrupted labels the original was trained on
    y_t = torch.randint(0, 3, (60,), generator=g)
    x_train = torch.cat([logits(y_r, torch.full((60,), 8.0)), logits(y_f, torch.full((10,), 8.0))])
    x_test = logits(y_t, torch.linspace(-1.0, 1.5, 60))  # unsure on test data
    data = TensorData(
        name="logits",
        x_train=x_train,
        y_train=torch.cat([y_r, y_f_true]),
        x_test=x_test,
        y_test=y_t,
        num_classes=3,
        mean=(0.0,),
        std=(1.0,),
        scale=1.0,
    )
    r, f, t = torch.arange(60), torch.arange(60, 70), torch.arange(60)
    sets = EvalSets(
        val=r[:10],
        val_labels=y_r[:10],
        forget=f,
        forget_labels=y_f,
        forget_true_labels=y_f_true,
        retain=r,
        retain_labels=y_r,
        forget_test=t[:10],
        forget_test_labels=y_t[:10],
        test=t,
        test_labels=y_t,
    )
    metrics = evaluate(nn.Flatten(), data=data, sets=sets)
    assert metrics["forget_error"] == 0.0 and metrics["forget_error_true"] == 1.0
    assert metrics["mia_efficacy"] == 0.0
    conf_r = label_confidence(x_train[:60].flatten(1), y_r)
    conf_t = label_confidence(x_test.flatten(1), y_t)
    conf_f_true = label_confidence(x_train[60:].flatten(1), y_f_true)
    assert mia_efficacy(retain_conf=conf_r, test_conf=conf_t, forget_conf=conf_f_true) == 1.0
