"""Membership-inference metrics (DESIGN §6).

- ``mia_auc``: loss-threshold attack, AUC of members F vs non-members Ft with score −loss
  (0.5 = indistinguishable).
- ``mia_efficacy``: the sparsity paper's attack — an RBF SVC on the true-class confidence, fit on
  retain (member, 1) vs test (non-member, 0), then the fraction of F predicted non-member.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from sklearn.svm import SVC


def mia_auc(member_loss: torch.Tensor, nonmember_loss: torch.Tensor) -> float:
    """AUC of the score −loss for telling members (label 1) from non-members (label 0)."""
    m = member_loss.detach().double().cpu().numpy()
    n = nonmember_loss.detach().double().cpu().numpy()
    if len(m) == 0 or len(n) == 0:
        return float("nan")
    labels = np.concatenate([np.ones(len(m)), np.zeros(len(n))])
    return float(roc_auc_score(labels, -np.concatenate([m, n])))


def _subsample(values: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if len(values) <= limit:
        return values
    return values[rng.choice(len(values), size=limit, replace=False)]


def mia_efficacy(
    *,
    retain_conf: torch.Tensor,
    test_conf: torch.Tensor,
    forget_conf: torch.Tensor,
    max_examples: int = 10_000,
    seed: int = 0,
) -> float:
    """Fraction of F that an RBF SVC (C=3, gamma='auto', as in the sparsity paper's code),
    trained on ≤ ``max_examples`` retain (member) and ≤ ``max_examples`` test (non-member)
    true-class confidences, predicts as non-member. Higher = F looks less like training data."""
    rng = np.random.default_rng(seed)
    members = _subsample(retain_conf.detach().double().cpu().numpy(), max_examples, rng)
    nonmembers = _subsample(test_conf.detach().double().cpu().numpy(), max_examples, rng)
    target = forget_conf.detach().double().cpu().numpy()
    if len(target) == 0 or len(members) == 0 or len(nonmembers) == 0:
        return float("nan")
    x = np.concatenate([members, nonmembers])[:, None]
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, y)
    predicted_member = clf.predict(target[:, None])
    return float(1.0 - predicted_member.mean())
