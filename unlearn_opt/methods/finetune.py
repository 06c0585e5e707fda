"""Fine-tuning baseline: minimize CE on R (catastrophic forgetting of F)."""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import Method, Param, UnlearnInputs
from unlearn_opt.methods.common import SGD_PARAMS, descend, sgd_for

SPACE = (
    Param("lr", 1e-4, 1e-1, 1e-2, log=True, bound_low=0, bound_high=10),
    Param("epochs", 1, 10, 5, integer=True, bound_low=1, bound_high=1000),
    *SGD_PARAMS,
)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    model.train()
    opt = sgd_for(inputs, params)
    for _ in range(int(params["epochs"])):
        for x, y in inputs.retain:
            with autocast(inputs.device):
                value = F.cross_entropy(model(prepare_input(x)).float(), y)
            descend(opt, value)
    return model


METHOD = Method(name="finetune", space=SPACE, unlearn=unlearn, uses_forget=False, summary="CE on R")
