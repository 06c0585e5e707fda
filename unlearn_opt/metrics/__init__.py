"""The metrics recorded on every trial (docs/design.md §6)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unlearn_opt.data.base import TensorData
from unlearn_opt.data.loader import iterate_eval
from unlearn_opt.metrics.decision_regions import RegionScores, region_scores
from unlearn_opt.metrics.mia import mia_auc, mia_efficacy
from unlearn_opt.metrics.predictions import (
    error_rate,
    label_confidence,
    logits_of,
    per_example_loss,
)

METRIC_NAMES = (
    "retain_error",
    "forget_error",
    "forget_test_error",
    "val_error",
    "test_error",
    "privacy_gap",
    "forget_error_true",
    "mia_auc",
    "mia_efficacy",
    "unlearn_seconds",
)


@dataclass(frozen=True)
class EvalSets:
    """Index and label tensors of the splits, on the data's device."""

    val: torch.Tensor
    val_labels: torch.Tensor
    forget: torch.Tensor
    forget_labels: torch.Tensor
    forget_true_labels: torch.Tensor
    retain: torch.Tensor
    retain_labels: torch.Tensor
    forget_test: torch.Tensor
    forget_test_labels: torch.Tensor
    test: torch.Tensor
    test_labels: torch.Tensor


def evaluate(
    model: nn.Module,
    *,
    data: TensorData,
    sets: EvalSets,
    batch_size: int = 1024,
    mia_max_examples: int = 10_000,
    seed: int = 0,
) -> dict[str, float]:
    """Every error of docs/design.md §3 and the membership metrics of §6 (not ``unlearn_seconds``).

    privacy_gap = |E_F − E_Ft|; E_F, mia_auc and mia_efficacy use F's labels as trained
    (corrupted or not), forget_error_true the true labels.
    """
    device = data.device

    def logits(split: str, idx: torch.Tensor) -> torch.Tensor:
        return logits_of(model, iterate_eval(data, split=split, indices=idx, batch_size=batch_size), device)

    lv = logits("train", sets.val)
    lf = logits("train", sets.forget)
    lr = logits("train", sets.retain)
    lft = logits("test", sets.forget_test)
    lt = logits("test", sets.test)
    forget_error = error_rate(lf, sets.forget_labels)
    forget_test_error = error_rate(lft, sets.forget_test_labels)
    return {
        "retain_error": error_rate(lr, sets.retain_labels),
        "forget_error": forget_error,
        "forget_test_error": forget_test_error,
        "val_error": error_rate(lv, sets.val_labels),
        "test_error": error_rate(lt, sets.test_labels),
        "privacy_gap": abs(forget_error - forget_test_error),
        "forget_error_true": error_rate(lf, sets.forget_true_labels),
        "mia_auc": mia_auc(per_example_loss(lf, sets.forget_labels), per_example_loss(lft, sets.forget_test_labels)),
        "mia_efficacy": mia_efficacy(
            retain_conf=label_confidence(lr, sets.retain_labels),
            test_conf=label_confidence(lt, sets.test_labels),
            forget_conf=label_confidence(lf, sets.forget_labels),
            max_examples=mia_max_examples,
            seed=seed,
        ),
    }


__all__ = [
    "METRIC_NAMES",
    "EvalSets",
    "RegionScores",
    "evaluate",
    "mia_auc",
    "mia_efficacy",
    "region_scores",
]
