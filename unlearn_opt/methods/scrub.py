"""SCRUB (Kurmanji et al., 2023): teacher = original, student = copy.

Per epoch e = 1…E: if e ≤ max_steps, a max pass over F minimizing −KL_T(teacher ‖ student);
then a min pass over R minimizing γ·CE + α·KL_T, with
KL_T = KL(softmax(teacher/T) ‖ softmax(student/T))·T².
Reference defaults (CIFAR): SGD lr 5e-4, momentum 0.9, wd 5e-4, epochs 3, max_steps 2,
α 0.001, γ 0.99, T 4.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import Method, Param, UnlearnInputs
from unlearn_opt.methods.common import SGD_PARAMS, descend, sgd_for
from unlearn_opt.methods.losses import distill_kl

SPACE = (
    Param("lr", 1e-5, 1e-1, 5e-4, log=True, bound_low=0, bound_high=10),
    Param("epochs", 1, 10, 3, integer=True, bound_low=1, bound_high=1000),
    Param("max_steps", 1, 5, 2, integer=True, bound_low=0, bound_high=1000),
    Param("alpha", 1e-4, 1.0, 1e-3, log=True, bound_low=0, bound_high=1e3),
    Param("gamma", 0.1, 1.0, 0.99, bound_low=0, bound_high=1e3),
    Param("temperature", 1.0, 8.0, 4.0, bound_low=1e-3, bound_high=100),
    *SGD_PARAMS,
)


def max_loss(student: nn.Module, teacher: nn.Module, x: torch.Tensor, temperature: float) -> torch.Tensor:
    """The max pass's loss on a forget batch: −KL_T."""
    with torch.no_grad():
        t_logits = teacher(x)
    return -distill_kl(student(x), t_logits, temperature)


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
    with torch.no_grad():
        t_logits = teacher(x)
    s_logits = student(x)
    return gamma * F.cross_entropy(s_logits.float(), y) + alpha * distill_kl(s_logits, t_logits, temperature)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    student, teacher = inputs.model, inputs.original
    teacher.eval()
    student.train()
    opt = sgd_for(inputs, params)
    temperature = float(params["temperature"])
    for epoch in range(1, int(params["epochs"]) + 1):
        if epoch <= int(params["max_steps"]):
            for x, _ in inputs.forget:
                x = prepare_input(x)
                with autocast(inputs.device):
                    loss = max_loss(student, teacher, x, temperature)
                descend(opt, loss)
        for x, y in inputs.retain:
            x = prepare_input(x)
            with autocast(inputs.device):
                loss = min_loss(
                    student,
                    teacher,
                    x,
                    y,
                    alpha=float(params["alpha"]),
                    gamma=float(params["gamma"]),
                    temperature=temperature,
                )
            descend(opt, loss)
    return student


METHOD = Method(
    name="scrub",
    space=SPACE,
    unlearn=unlearn,
    uses_forget=True,
    summary="teacher–student: max KL on F, min CE + KL on R",
)
