"""NegGrad+ : minimize α·CE(R batch) − (1−α)·CE(F batch), one SGD step per R batch.

Each epoch is one pass over R; the F batches of that epoch come from one fresh pass over F,
repeated in the same order when R has more batches (``itertools.cycle``), and F starts over at
the next epoch. α = 1 is finetuning on R (F still runs through the model in train mode and moves
its BatchNorm statistics); α = 0 is ascent on F but still one step per R batch (plain gradient
ascent is the ``gradient_ascent`` method).

Reference: meghdadk/SCRUB — ``thirdparty/repdistiller/helper/loops.py:train_negrad`` (``zip(
train_loader, cycle(delete_loader))``, R forward before F) called once per epoch by
``negative_grad`` in ``large_scale_ictest.ipynb``, the repository's CIFAR-scale NegGrad+ run:
``torch.optim.SGD(lr, weight_decay=0.0)`` (momentum 0), ``ng_lr`` 0.01, ``ng_epochs`` 10,
``ng_alpha`` 0.9999, retain batch ``ng_bs`` 128, forget batch ``forget_bs`` 32. Tuned: lr,
epochs, α. Difference: bf16 autocast on CUDA (see ``common``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.common import descend, sgd_for


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


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    retain, forget = inputs.retain_batches(), inputs.forget_batches()
    model.train()
    opt = sgd_for(inputs, params)
    alpha = float(params["alpha"])
    for _ in range(int(params["epochs"])):
        for (x_r, y_r), (x_f, y_f) in zip(retain, itertools.cycle(forget)):
            with autocast(inputs.device):
                value = loss(model, prepare_input(x_r), y_r, prepare_input(x_f), y_f, alpha=alpha)
            descend(opt, value)
    return model
