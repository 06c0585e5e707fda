"""Supervised training with the spec's ``[original]`` recipe (originals, pruned originals, retrain)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from torch import nn

from unlearn_opt.engine.runtime import autocast, make_optimizer, prepare_input
from unlearn_opt.methods.base import Batches
from unlearn_opt.spec import OriginalSpec


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base lr at ``step`` of ``total``: cosine ½(1 + cos(π·step/total)),
    step (×0.1 at 50% and 75%), or constant."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))
    if schedule == "step":
        return 0.1 ** ((step >= 0.5 * total) + (step >= 0.75 * total))
    return 1.0


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} epochs"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
        transient=True,
    )


def train(
    model: nn.Module,
    batches: Batches,
    *,
    recipe: OriginalSpec,
    device: torch.device,
    epochs: int | None = None,
    masks: Mapping[str, torch.Tensor] | None = None,
    description: str = "training",
    progress: bool = False,
) -> nn.Module:
    """Minimize CE over ``batches`` for ``epochs`` (default ``recipe.epochs``) with the recipe's
    optimizer and per-step lr schedule. Pruned weights (``masks``) stay zero."""
    epochs = recipe.epochs if epochs is None else epochs
    opt = make_optimizer(
        model,
        lr=recipe.lr,
        momentum=recipe.momentum,
        weight_decay=recipe.weight_decay,
        masks=masks,
        optimizer=recipe.optimizer,
    )
    total = max(1, epochs * len(batches))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(recipe.schedule, s, total))
    model.train()
    with _progress(progress) as bar:
        task = bar.add_task(description, total=epochs, loss="-")
        for _ in range(epochs):
            loss = torch.zeros((), device=device)
            for x, y in batches:
                with autocast(device):
                    loss = F.cross_entropy(model(prepare_input(x)).float(), y, label_smoothing=recipe.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if progress:  # one sync per epoch, only when a bar is shown
                bar.update(task, advance=1, loss=f"{float(loss.detach()):.3f}")
    return model
