"""Model outputs on a split, in large evaluation batches."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from unlearn_opt.engine.runtime import autocast, eval_mode, prepare_input

DIVERGED_LOSS = 1e6  # the loss of an example whose logits are not finite (a diverged model)


def logits_of(model: nn.Module, batches: Iterable[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Concatenated float32 logits of ``model`` on normalized input ``batches`` (eval mode)."""
    outs = []
    with eval_mode(model), autocast(device):
        for x in batches:
            outs.append(model(prepare_input(x)).float())
    if not outs:
        return torch.empty(0, 0, device=device)
    return torch.cat(outs)


def error_rate(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """E = (number of examples whose arg-max prediction differs from the label) / n, divided as
    Python ints, so the float64 is the exact fraction's nearest (9/50 → 0.18, not float32's
    0.18000000715). An example whose logits are not finite (a diverged model) counts as
    misclassified."""
    if len(labels) == 0:
        return float("nan")
    wrong = (logits.argmax(dim=1) != labels) | ~torch.isfinite(logits).all(dim=1)
    return int(wrong.sum()) / len(labels)


def per_example_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each example, in float64 (float32 rounds the loss of confidently
    memorized examples to exactly 0, which would hide them from a loss-threshold attack)."""
    loss = torch.nn.functional.cross_entropy(logits.double(), labels, reduction="none")
    return torch.nan_to_num(loss, nan=DIVERGED_LOSS, posinf=DIVERGED_LOSS)


def label_confidence(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """softmax(logits)[y] of each example (0 where the logits are not finite)."""
    conf = torch.softmax(logits.double(), dim=1).gather(1, labels[:, None]).squeeze(1)
    return torch.nan_to_num(conf, nan=0.0)
