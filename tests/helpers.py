"""Small shared test helpers."""

from __future__ import annotations

from collections.abc import Iterator

import torch


class ListBatches:
    """A fixed list of (x, y) batches, the same every epoch."""

    def __init__(self, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.items = batches

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)
