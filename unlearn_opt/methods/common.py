"""Pieces every gradient-based method shares: its SGD optimizer and one optimizer step.

Deliberate difference from every reference, for speed: on CUDA the forward passes run under
bf16 autocast (losses in float32); on CPU the arithmetic is the reference's float32.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from unlearn_opt.engine.runtime import make_optimizer
from unlearn_opt.methods.base import UnlearnInputs


def sgd_for(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> torch.optim.Optimizer:
    """``torch.optim.SGD`` on the model being unlearned (lr, momentum, weight_decay from
    ``params``); pruned weights stay zero."""
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


# OPTML-Group/Unlearn-Sparse unlearn/impl.py: MultiStepLR(milestones=decreasing_lr, gamma=0.1),
# stepped once per epoch; arg_parser.py's decreasing_lr default is "91,136".
SPARSE_MILESTONES = (91, 136)


def multistep_lr(lr: float, epoch: int, milestones: tuple[int, ...] = SPARSE_MILESTONES, gamma: float = 0.1) -> float:
    """lr·γ^#{m ∈ milestones : m ≤ epoch} for the 0-based ``epoch`` (torch's ``MultiStepLR``
    stepped once per epoch): the lr of the Unlearn-Sparse methods, constant for epochs < 91."""
    return lr * gamma ** sum(epoch >= m for m in milestones)


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for group in opt.param_groups:
        group["lr"] = lr
