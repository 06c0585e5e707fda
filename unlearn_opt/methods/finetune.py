"""Fine-tuning baseline: minimize CE on R (catastrophic forgetting of F)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, make_sgd, prepare_input
from unlearn_opt.methods.base import Method, Param, UnlearnInputs

SPACE = (
    Param("lr", 1e-4, 1e-1, 1e-2, log=True, bound_low=0, bound_high=10),
    Param("epochs", 1, 10, 5, integer=True, bound_low=1, bound_high=1000),
    Param("momentum", 0.0, 0.99, 0.9, tuned=False, bound_low=0, bound_high=1),
    Param("weight_decay", 0.0, 1e-2, 5e-4, tuned=False, bound_low=0, bound_high=1),
)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    model.train()
    opt = make_sgd(
        model,
        lr=float(params["lr"]),
        momentum=float(params["momentum"]),
        weight_decay=float(params["weight_decay"]),
        masks=inputs.masks,
    )
    for _ in range(int(params["epochs"])):
        for x, y in inputs.retain:
            with autocast(inputs.device):
                value = F.cross_entropy(model(prepare_input(x)).float(), y)
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
    return model


METHOD = Method(name="finetune", space=SPACE, unlearn=unlearn, uses_forget=False, summary="CE on R")
