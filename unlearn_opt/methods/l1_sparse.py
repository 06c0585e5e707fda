"""ℓ1-sparse unlearning (Jia et al., 2023), R only: minimize CE_R + α_t·‖θ‖₁ with the linear
decay α_t = α·(1 − t/E) over epochs t = 0…E−1. Reference: SGD lr 0.01, momentum 0.9, wd 5e-4,
10 epochs, α ≈ 1e-4 (log scale)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import Method, Param, UnlearnInputs
from unlearn_opt.methods.common import SGD_PARAMS, descend, sgd_for
from unlearn_opt.methods.losses import l1_norm

SPACE = (
    Param("lr", 1e-4, 1e-1, 1e-2, log=True, bound_low=0, bound_high=10),
    Param("epochs", 1, 10, 10, integer=True, bound_low=1, bound_high=1000),
    Param("alpha", 1e-6, 1e-3, 1e-4, log=True, bound_low=0, bound_high=1),
    *SGD_PARAMS,
)


def l1_coefficient(alpha: float, epoch: int, epochs: int) -> float:
    """α_t = α·(1 − t/E)."""
    return alpha * (1.0 - epoch / epochs)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    model.train()
    opt = sgd_for(inputs, params)
    epochs = int(params["epochs"])
    for epoch in range(epochs):
        coef = l1_coefficient(float(params["alpha"]), epoch, epochs)
        for x, y in inputs.retain:
            with autocast(inputs.device):
                value = F.cross_entropy(model(prepare_input(x)).float(), y) + coef * l1_norm(model)
            descend(opt, value)
    return model


METHOD = Method(
    name="l1_sparse",
    space=SPACE,
    unlearn=unlearn,
    uses_forget=False,
    summary="CE on R + decaying ℓ1 penalty",
)
