"""Prune first, then unlearn: one-shot global magnitude pruning of the conv weights."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune


def conv_weights(model: nn.Module) -> list[tuple[str, nn.Conv1d | nn.Conv2d]]:
    """(qualified name, module) of every convolution (Conv1d of signal models, Conv2d)."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]


def global_magnitude_prune(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Zero the fraction ``sparsity`` of conv weights with the smallest |θ| across all conv layers
    (torch's ``global_unstructured`` with L1) and return the masks, keyed by parameter name."""
    convs = conv_weights(model)
    if sparsity <= 0 or not convs:
        return {}
    prune.global_unstructured([(m, "weight") for _, m in convs], pruning_method=prune.L1Unstructured, amount=float(sparsity))
    masks: dict[str, torch.Tensor] = {}
    for name, m in convs:
        masks[f"{name}.weight" if name else "weight"] = dict(m.named_buffers())["weight_mask"].detach().clone()
        prune.remove(m, "weight")
    return masks


def sparsity_of(model: nn.Module) -> float:
    """Fraction of conv weights that are exactly zero."""
    total = zeros = 0
    for _, m in conv_weights(model):
        total += m.weight.numel()
        zeros += int((m.weight == 0).sum())
    return zeros / total if total else 0.0
