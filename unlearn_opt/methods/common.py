"""Pieces every gradient-based method shares: SGD settings and one optimizer step."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from unlearn_opt.engine.runtime import make_optimizer
from unlearn_opt.methods.base import Param, UnlearnInputs

# SGD momentum and weight decay: fixed at the reference values unless a spec gives a range.
SGD_PARAMS = (
    Param("momentum", 0.0, 0.99, 0.9, tuned=False, bound_low=0, bound_high=1),
    Param("weight_decay", 0.0, 1e-2, 5e-4, tuned=False, bound_low=0, bound_high=1),
)


def sgd_for(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> torch.optim.Optimizer:
    """SGD on the model being unlearned (lr, momentum, weight_decay from ``params``); pruned
    weights stay zero."""
    return make_optimizer(
        inputs.model,
        lr=float(params["lr"]),
        momentum=float(params["momentum"]),
        weight_decay=float(params["weight_decay"]),
        masks=inputs.masks,
    )


def descend(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    """One step minimizing ``loss``."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
