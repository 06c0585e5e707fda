"""NegGrad / NegGrad+ : minimize α·CE_R − (1−α)·CE_F on paired batches (R batches, F cycled).

α = 0 is pure gradient ascent on F. Tuned: lr, epochs, α (epochs count passes over R).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import Batches, Method, Param, UnlearnInputs
from unlearn_opt.methods.common import SGD_PARAMS, descend, sgd_for

SPACE = (
    Param("lr", 1e-5, 1e-1, 1e-2, log=True, bound_low=0, bound_high=10),
    Param("epochs", 1, 10, 5, integer=True, bound_low=1, bound_high=1000),
    Param("alpha", 0.0, 1.0, 0.99, bound_low=0, bound_high=1),
    *SGD_PARAMS,
)


def loss(
    model: nn.Module,
    x_r: torch.Tensor,
    y_r: torch.Tensor,
    x_f: torch.Tensor,
    y_f: torch.Tensor,
    *,
    alpha: float,
) -> torch.Tensor:
    """α·CE(R batch) − (1−α)·CE(F batch)."""
    ce_r = F.cross_entropy(model(x_r).float(), y_r)
    ce_f = F.cross_entropy(model(x_f).float(), y_f)
    return alpha * ce_r - (1.0 - alpha) * ce_f


def _cycle(batches: Batches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """F batches forever, a fresh shuffle each pass."""
    return itertools.chain.from_iterable(iter(batches) for _ in itertools.count())


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    model.train()
    opt = sgd_for(inputs, params)
    alpha = float(params["alpha"])
    forget = _cycle(inputs.forget)
    for _ in range(int(params["epochs"])):
        for (x_r, y_r), (x_f, y_f) in zip(inputs.retain, forget):
            with autocast(inputs.device):
                value = loss(model, prepare_input(x_r), y_r, prepare_input(x_f), y_f, alpha=alpha)
            descend(opt, value)
    return model


METHOD = Method(
    name="neggrad",
    space=SPACE,
    unlearn=unlearn,
    uses_forget=True,
    summary="NegGrad+: α·CE_R − (1−α)·CE_F",
)
