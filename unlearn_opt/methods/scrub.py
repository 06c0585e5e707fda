"""SCRUB (Kurmanji et al., 2023): teacher = original (eval mode), student = copy (train mode).

Per epoch e = 1…E: lr_e = lr·rate^k, k = #{d ∈ decay epochs : e > d}; if e ≤ max_steps, a max
pass over F minimizing −KL_T; then a min pass over R minimizing γ·CE + α·KL_T, with
KL_T = KL(softmax(teacher/T) ‖ softmax(student/T))·T² (batch mean). One SGD step per batch.

Reference: meghdadk/SCRUB — the SCRUB loop of ``large_scale_unlearning.ipynb`` (``for epoch in
range(1, args.sgda_epochs + 1)``), ``thirdparty/repdistiller/helper/loops.py:train_distill``
(splits "maximize" / "minimize"), ``helper/util.py:adjust_learning_rate`` (the lr decay) and
``distiller_zoo/KD.py:DistillKL``. Defaults are that notebook's CIFAR values: SGD lr 5e-4,
momentum 0.9, wd 5e-4, epochs 3, max_steps (``msteps``) 2, α 0.001, γ 0.99, T 4,
``lr_decay_epochs = [3, 5, 9]``, ``lr_decay_rate = 0.1``, forget batch 512, retain batch 256.
The decay epochs are three parameters (``lr_decay_epoch_1..3``) so that a spec can override
each one; β·loss_kd of the reference is 0 with ``distill = 'kd'`` and is left out.
Difference: bf16 autocast on CUDA (see ``common``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.common import descend, sgd_for
from unlearn_opt.methods.losses import distill_kl


def lr_at(epoch: int, params: Mapping[str, float | int]) -> float:
    """lr·rate^k with k = the number of decay epochs that ``epoch`` (1-based) exceeds."""
    decays = (params["lr_decay_epoch_1"], params["lr_decay_epoch_2"], params["lr_decay_epoch_3"])
    steps = sum(epoch > int(d) for d in decays)
    return float(params["lr"]) * float(params["lr_decay_rate"]) ** steps


def max_loss(student: nn.Module, teacher: nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """The max pass's loss on a forget batch: −KL_T."""
    s_logits = student(x)
    with torch.no_grad():
        t_logits = teacher(x)
    return -distill_kl(s_logits, t_logits, temperature)


def min_loss(
    student: nn.Module,
    teacher: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    alpha: float,
    gamma: float,
    temperature: float,
) -> torch.Tensor:
    """The min pass's loss on a retain batch: γ·CE + α·KL_T."""
    s_logits = student(x)
    with torch.no_grad():
        t_logits = teacher(x)
    return gamma * F.cross_entropy(s_logits.float(), y) + alpha * distill_kl(s_logits, t_logits, temperature)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    student, teacher = inputs.model, inputs.original
    retain, forget = inputs.retain_batches(), inputs.forget_batches()
    teacher.eval()
    student.train()
    opt = sgd_for(inputs, params)
    temperature = float(params["temperature"])
    alpha, gamma = float(params["alpha"]), float(params["gamma"])
    for epoch in range(1, int(params["epochs"]) + 1):
        for group in opt.param_groups:
            group["lr"] = lr_at(epoch, params)
        if epoch <= int(params["max_steps"]):
            for x, _ in forget:
                x = prepare_input(x)
                with autocast(inputs.device):
                    loss = max_loss(student, teacher, x, temperature)
                descend(opt, loss)
        for x, y in retain:
            x = prepare_input(x)
            with autocast(inputs.device):
                loss = min_loss(student, teacher, x, y, alpha=alpha, gamma=gamma, temperature=temperature)
            descend(opt, loss)
    return student
