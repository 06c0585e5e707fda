"""What each unlearning method declares, importable without torch.

A method is declared here (its name, its hyperparameters with search range, bounds and default,
whether it reads F, whether it gets studies) and implemented in one file of this package whose
``unlearn(inputs, params)`` is imported on first use. Adding a method = one implementation file
plus one :class:`Method` entry in :data:`DECLARATIONS`.

Defaults are the reference implementations' values; each implementation file names the reference
(repository, file, function). Batch sizes are declared fixed (not tuned) parameters of the methods
that read the split: ``batch_size`` (R) and ``forget_batch_size`` (F); the engine caps them at the
split's size.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unlearn_opt.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from torch import nn

    from unlearn_opt.methods.base import UnlearnFn, UnlearnInputs

RETAIN_BATCH = "batch_size"
FORGET_BATCH = "forget_batch_size"


@dataclass(frozen=True)
class Param:
    """One hyperparameter of a method.

    ``low``/``high``/``log`` is the default search range; ``bound_low``/``bound_high`` the range a
    spec's ``[search.METHOD]`` override may use. ``tuned=False`` parameters keep ``default``
    unless a spec override gives them a range.
    """

    name: str
    low: float
    high: float
    default: float
    log: bool = False
    integer: bool = False
    tuned: bool = True
    bound_low: float = -math.inf
    bound_high: float = math.inf
    help: str = ""

    def cast(self, value: float) -> float | int:
        return int(round(value)) if self.integer else float(value)


@dataclass(frozen=True)
class Method:
    """A method's declaration. ``module`` is the dotted path of the file holding
    ``unlearn(inputs, params) -> model``; ``tuned=False`` methods get no studies (retrain)."""

    name: str
    space: tuple[Param, ...]
    module: str
    uses_forget: bool
    tuned: bool = True
    summary: str = ""

    def unlearn(self, inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
        """Run the implementation (imported here, so declarations never import torch)."""
        fn: UnlearnFn = importlib.import_module(self.module).unlearn
        return fn(inputs, params)

    def defaults(self) -> dict[str, float | int]:
        return {p.name: p.cast(p.default) for p in self.space}

    def has(self, name: str) -> bool:
        return any(p.name == name for p in self.space)

    def param(self, name: str) -> Param:
        for p in self.space:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.space) or "none"
        raise UserError(f"--param {name}: {self.name} has no such hyperparameter (it has: {known})")


def _lr(low: float, high: float, default: float) -> Param:
    return Param("lr", low, high, default, log=True, bound_low=0, bound_high=10)


def _epochs(default: int, high: int = 10) -> Param:
    return Param("epochs", 1, high, default, integer=True, bound_low=1, bound_high=1000)


def _sgd(momentum: float, weight_decay: float) -> tuple[Param, ...]:
    """SGD momentum and weight decay, fixed at the reference's values unless a spec gives a range."""
    return (
        Param("momentum", 0.0, 0.99, momentum, tuned=False, bound_low=0, bound_high=1),
        Param("weight_decay", 0.0, 1e-2, weight_decay, tuned=False, bound_low=0, bound_high=1),
    )


def _batch(name: str, default: int) -> Param:
    return Param(name, 1, 4096, default, integer=True, tuned=False, bound_low=1, bound_high=1_000_000)


DECLARATIONS: tuple[Method, ...] = (
    # meghdadk/SCRUB large_scale_unlearning.ipynb (CIFAR-scale SCRUB): args.sgda_* and loaders.
    Method(
        name="scrub",
        module="unlearn_opt.methods.scrub",
        uses_forget=True,
        summary="teacher–student: max KL on F, min CE + KL on R, lr decayed at epochs 3, 5, 9",
        space=(
            _lr(1e-5, 1e-1, 5e-4),
            _epochs(3),
            Param("max_steps", 1, 5, 2, integer=True, bound_low=0, bound_high=1000),
            Param("alpha", 1e-4, 1.0, 1e-3, log=True, bound_low=0, bound_high=1e3),
            Param("gamma", 0.1, 1.0, 0.99, bound_low=0, bound_high=1e3),
            Param("temperature", 1.0, 8.0, 4.0, bound_low=1e-3, bound_high=100),
            *_sgd(0.9, 5e-4),
            Param("lr_decay_epoch_1", 1, 20, 3, integer=True, tuned=False, bound_low=0, bound_high=1000),
            Param("lr_decay_epoch_2", 1, 20, 5, integer=True, tuned=False, bound_low=0, bound_high=1000),
            Param("lr_decay_epoch_3", 1, 20, 9, integer=True, tuned=False, bound_low=0, bound_high=1000),
            Param("lr_decay_rate", 0.01, 1.0, 0.1, tuned=False, bound_low=0, bound_high=1),
            _batch(RETAIN_BATCH, 256),
            _batch(FORGET_BATCH, 512),
        ),
    ),
    # meghdadk/SCRUB large_scale_ictest.ipynb (CIFAR-scale NegGrad+): args.ng_*, forget_bs.
    Method(
        name="neggrad",
        module="unlearn_opt.methods.neggrad",
        uses_forget=True,
        summary="NegGrad+: α·CE_R − (1−α)·CE_F, one step per R batch",
        space=(
            _lr(1e-5, 1e-1, 1e-2),
            _epochs(10),
            Param("alpha", 0.0, 1.0, 0.9999, bound_low=0, bound_high=1),
            *_sgd(0.0, 0.0),
            _batch(RETAIN_BATCH, 128),
            _batch(FORGET_BATCH, 32),
        ),
    ),
    # OPTML-Group/Unlearn-Sparse README (GA: --unlearn_lr 0.0001 --unlearn_epochs 5), arg_parser.py.
    Method(
        name="gradient_ascent",
        module="unlearn_opt.methods.gradient_ascent",
        uses_forget=True,
        summary="GA: −CE on F, one step per F batch",
        space=(
            _lr(1e-6, 1e-2, 1e-4),
            _epochs(5),
            *_sgd(0.9, 5e-4),
            _batch(FORGET_BATCH, 256),
        ),
    ),
    # OPTML-Group/Unlearn-Sparse README (ℓ1-sparse: FT_prune --unlearn_lr 0.01 --unlearn_epochs 10).
    Method(
        name="l1_sparse",
        module="unlearn_opt.methods.l1_sparse",
        uses_forget=False,
        summary="CE on R + linearly decaying ℓ1 penalty",
        space=(
            _lr(1e-4, 1e-1, 1e-2),
            _epochs(10),
            Param("alpha", 1e-6, 1e-3, 1e-4, log=True, bound_low=0, bound_high=1),
            *_sgd(0.9, 5e-4),
            _batch(RETAIN_BATCH, 256),
        ),
    ),
    # OPTML-Group/Unlearn-Sparse README (FT: --unlearn_lr 0.01 --unlearn_epochs 10), arg_parser.py.
    Method(
        name="finetune",
        module="unlearn_opt.methods.finetune",
        uses_forget=False,
        summary="CE on R",
        space=(
            _lr(1e-4, 1e-1, 1e-2),
            _epochs(10),
            *_sgd(0.9, 5e-4),
            _batch(RETAIN_BATCH, 256),
        ),
    ),
    Method(
        name="retrain",
        module="unlearn_opt.methods.retrain",
        uses_forget=False,
        tuned=False,
        summary="from scratch on R with the original recipe (exact unlearning)",
        space=(),
    ),
)

METHODS: dict[str, Method] = {m.name: m for m in DECLARATIONS}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
TUNED_METHODS: tuple[str, ...] = tuple(m.name for m in DECLARATIONS if m.tuned)


def get_method(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"method: unknown {name!r} (expected one of: {', '.join(METHODS)})") from None
