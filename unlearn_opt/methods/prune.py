"""Prune first, then unlearn: one-shot global magnitude pruning of the prunable weights.

Prunable weights (``prunable_weights``): every convolution's weight, as Unlearn-Sparse prunes
(OPTML-Group/Unlearn-Sparse, ``pruner.py:pruning_model``, conv layers only); in a Transformer
encoder block also the attention's input and output projections and the two MLP weights, its
counterparts of conv layers. Never biases, norms, embeddings of positions or classes, or the final
classifier."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import prune

# (qualified parameter name, module holding it, attribute name on that module)
Prunable = tuple[str, nn.Module, str]


def _qualified(module_name: str, attr: str) -> str:
    return f"{module_name}.{attr}" if module_name else attr


def prunable_weights(model: nn.Module) -> list[Prunable]:
    """The weights that pruning touches, in module order (see the module docstring)."""
    found: list[Prunable] = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            found.append((_qualified(name, "weight"), m, "weight"))
        elif isinstance(m, nn.TransformerEncoderLayer):
            attn = _qualified(name, "self_attn")
            found.append((_qualified(attn, "in_proj_weight"), m.self_attn, "in_proj_weight"))
            found.append((_qualified(attn, "out_proj.weight"), m.self_attn.out_proj, "weight"))
            found.append((_qualified(name, "linear1.weight"), m.linear1, "weight"))
            found.append((_qualified(name, "linear2.weight"), m.linear2, "weight"))
    return found


def global_magnitude_prune(model: nn.Module, sparsity: float) -> dict[str, torch.Tensor]:
    """Zero the fraction ``sparsity`` of prunable weights with the smallest |θ| across all of them
    (torch's ``global_unstructured`` with L1) and return the masks, keyed by parameter name."""
    weights = prunable_weights(model)
    if sparsity <= 0 or not weights:
        return {}
    prune.global_unstructured([(m, attr) for _, m, attr in weights], pruning_method=prune.L1Unstructured, amount=float(sparsity))
    masks: dict[str, torch.Tensor] = {}
    for name, m, attr in weights:
        masks[name] = dict(m.named_buffers())[f"{attr}_mask"].detach().clone()
        prune.remove(m, attr)
    return masks


def masks_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """Masks of a pruned model: 1 where a prunable weight is non-zero."""
    return {name: (getattr(m, attr) != 0).to(getattr(m, attr).dtype) for name, m, attr in prunable_weights(model)}


def sparsity_of(model: nn.Module) -> float:
    """Fraction of prunable weights that are exactly zero."""
    total = zeros = 0
    for _, m, attr in prunable_weights(model):
        weight = getattr(m, attr)
        total += weight.numel()
        zeros += int((weight == 0).sum())
    return zeros / total if total else 0.0
