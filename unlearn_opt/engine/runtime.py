"""Device, precision and optimizer helpers shared by training, the methods and the metrics."""

from __future__ import annotations

import contextlib
import copy
import os
from collections.abc import Iterator, Mapping

import torch
from torch import nn

from unlearn_opt.errors import UserError


def resolve_device(name: str | None) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or None/``auto`` (CUDA when available); a clear error otherwise."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device: unknown device {name!r} (expected cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        seen = "" if cvd is None else f" with CUDA_VISIBLE_DEVICES={cvd!r}"
        if not torch.cuda.is_available():
            raise UserError(f"--device: {name} asked for but no CUDA GPU is visible{seen}")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"--device: {name} does not exist (visible GPUs: {torch.cuda.device_count()}{seen})")
    elif device.type != "cpu":
        raise UserError(f"--device: unsupported device {name!r} (expected cpu, cuda or cuda:N)")
    return device


def autocast(device: torch.device) -> contextlib.AbstractContextManager[None]:
    """bf16 autocast on CUDA, nothing on CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def prepare_model(model: nn.Module, device: torch.device) -> nn.Module:
    """Move to ``device``; channels_last memory format on CUDA for models with 2-D convolutions
    (an image layout: models of 1-D signals or flat inputs are left as they are)."""
    model = model.to(device)
    if device.type == "cuda" and any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model = model.to(memory_format=torch.channels_last)
    return model


def prepare_input(x: torch.Tensor) -> torch.Tensor:
    """channels_last for 4-D CUDA inputs, i.e. image batches (matches :func:`prepare_model`);
    anything else (1-D signals (N, C, L), flat inputs) is returned as is."""
    if x.is_cuda and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def clone_model(model: nn.Module) -> nn.Module:
    """A deep copy with its own parameters and buffers (same device). The copy of a compiled
    model (``Module.compile``) is compiled too: deepcopy drops ``torch.compile``'s wrapper, and
    the copy reuses the compiled graphs (same code, same shapes)."""
    twin = copy.deepcopy(model)
    if getattr(model, "_compiled_call_impl", None) is not None:
        twin.compile()
    return twin


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor] | None) -> None:
    """Zero the pruned weights: ``θ ← θ ⊙ m`` for every masked parameter."""
    if not masks:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


def make_optimizer(
    model: nn.Module,
    *,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    masks: Mapping[str, torch.Tensor] | None = None,
    optimizer: str = "sgd",
) -> torch.optim.Optimizer:
    """``optimizer`` ("sgd" with momentum, or "adam") over the model's parameters; with ``masks``,
    pruned weights are re-zeroed after every step, so they stay exactly zero whatever weight decay
    and momentum do."""
    if optimizer == "adam":
        opt: torch.optim.Optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    if masks:
        opt.register_step_post_hook(lambda *_: apply_masks(model, masks))
    return opt


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode (and no_grad) for the block, restoring the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)
