"""What a method's ``unlearn`` function receives (declarations are in ``registry``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn


class Batches(Protocol):
    """An epoch iterator over one split: ``for x, y in batches`` (x normalized, on the device).
    Each ``iter()`` is one pass (a fresh shuffle, like a ``DataLoader`` with ``shuffle=True``)."""

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]: ...

    def __len__(self) -> int: ...


@dataclass
class UnlearnInputs:
    """Everything a method may use. ``model`` is a copy of the original, modified and returned.
    ``retain`` / ``forget`` are the batches of the splits the method reads (built with its
    ``batch_size`` / ``forget_batch_size``); None for a split it does not read."""

    model: nn.Module
    original: nn.Module
    device: torch.device
    retain: Batches | None = None
    forget: Batches | None = None
    masks: Mapping[str, torch.Tensor] | None = None
    retrain: Callable[[], nn.Module] | None = None

    def retain_batches(self) -> Batches:
        if self.retain is None:
            raise RuntimeError("this method needs the retain batches")
        return self.retain

    def forget_batches(self) -> Batches:
        if self.forget is None:
            raise RuntimeError("this method needs the forget batches")
        return self.forget


class UnlearnFn(Protocol):
    def __call__(self, inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module: ...
