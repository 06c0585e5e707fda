"""Losses shared by the methods."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL_T = KL(softmax(teacher/T) ‖ softmax(student/T)) · T², averaged over the batch
    (SCRUB's ``DistillKL``)."""
    log_p_student = F.log_softmax(student_logits.float() / temperature, dim=1)
    p_teacher = F.softmax(teacher_logits.float() / temperature, dim=1)
    kl = F.kl_div(log_p_student, p_teacher, reduction="sum") / student_logits.shape[0]
    return kl * temperature**2


def l1_norm(model: nn.Module) -> torch.Tensor:
    """‖θ‖₁ over every parameter of the model."""
    return torch.stack([p.abs().sum() for p in model.parameters()]).sum()
