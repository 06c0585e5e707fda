"""What every unlearning method declares: its search space and its ``unlearn`` function."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import nn


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


class Batches(Protocol):
    """An epoch iterator over one split: ``for x, y in batches`` (x normalized, on the device)."""

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def __len__(self) -> int: ...


@dataclass
class UnlearnInputs:
    """Everything a method may use. ``model`` is a copy of the original, modified and returned."""

    model: nn.Module
    original: nn.Module
    retain: Batches
    forget: Batches
    device: torch.device
    seed: int
    masks: Mapping[str, torch.Tensor] | None = None
    amp: bool = False
    retrain: Callable[[], nn.Module] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class UnlearnFn(Protocol):
    def __call__(self, inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module: ...


@dataclass(frozen=True)
class Method:
    name: str
    space: tuple[Param, ...]
    unlearn: UnlearnFn
    uses_forget: bool
    tuned: bool = True
    summary: str = ""

    def defaults(self) -> dict[str, float | int]:
        return {p.name: p.cast(p.default) for p in self.space}

    def param(self, name: str) -> Param:
        for p in self.space:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.space) or "none"
        from unlearn_opt.errors import UserError

        raise UserError(f"--param {name}: {self.name} has no such hyperparameter (it has: {known})")
