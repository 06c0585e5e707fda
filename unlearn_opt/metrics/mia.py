"""Membership-inference metrics (docs/design.md §6).

- ``mia_auc``: loss-threshold attack, AUC of members F vs non-members Ft with score −loss
  (0.5 = indistinguishable).
- ``mia_efficacy``: the sparsity paper's attack — an RBF SVC on the confidence of the label each
  example was trained with, fit on a balanced shadow set of n retain (member, 1) and n test
  (non-member, 0) examples, n = min(|R|, |T|, 10 000); then the fraction of F predicted
  non-member.

Reference for ``mia_efficacy``: OPTML-Group/Unlearn-Sparse ``evaluation/SVC_MIA.py:SVC_MIA``
(``confidence`` entry: ``SVC(C=3, gamma="auto", kernel="rbf")`` on ``softmax[label]``;
``SVC_fit_predict``: ``1 − predict(target_test).mean()``) called by ``main_forget.py`` with
``shadow_train = Subset(retain, range(len(test)))``, ``shadow_test`` = the test set and
``target_test`` = F. Differences: the reference takes the first |T| retain examples (and fails
when |R| < |T|); here n of each side are drawn at random with a fixed seed, and n is also capped
at ``max_examples`` to bound the SVC's cost.
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


def shadow_sets(members: np.ndarray, nonmembers: np.ndarray, *, max_examples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The balanced shadow set: n = min(|members|, |nonmembers|, max_examples) drawn without
    replacement from each side, deterministically (``numpy.random.default_rng(seed)``)."""
    n = min(len(members), len(nonmembers), max_examples)
    rng = np.random.default_rng(seed)

    def draw(values: np.ndarray) -> np.ndarray:
        return values if len(values) == n else values[np.sort(rng.choice(len(values), size=n, replace=False))]

    return draw(members), draw(nonmembers)


def mia_efficacy(
    *,
    retain_conf: torch.Tensor,
    test_conf: torch.Tensor,
    forget_conf: torch.Tensor,
    max_examples: int = 10_000,
    seed: int = 0,
) -> float:
    """Fraction of F that an RBF SVC (C=3, gamma='auto'), fit on the confidences of the balanced
    shadow set (:func:`shadow_sets`: n retain examples as members, n test examples as
    non-members), predicts as non-member. Higher = F looks less like training data. Each
    confidence is softmax[y] for the label y the example was trained with."""
    members, nonmembers = shadow_sets(
        retain_conf.detach().double().cpu().numpy(),
        test_conf.detach().double().cpu().numpy(),
        max_examples=max_examples,
        seed=seed,
    )
    target = forget_conf.detach().double().cpu().numpy()
    if len(target) == 0 or len(members) == 0:
        return float("nan")
    x = np.concatenate([members, nonmembers])[:, None]
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x, y)
    predicted_member = clf.predict(target[:, None])
    return int((predicted_member == 0).sum()) / len(target)  # the exact fraction (not 1 − mean: 0.43000000000000005)
