"""Batches on the data's device, with CIFAR-style augmentation done there."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_opt.data.base import ImageData


def augment_batch(
    x: torch.Tensor, *, generator: torch.Generator | None = None, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random crop of the zero-padded image (each its own offset in [0, 2p]²) and random
    horizontal flip (p = ½), vectorized over the batch on x's device."""
    n, _, h, w = x.shape
    dev = x.device
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (n,), device=dev, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n,), device=dev, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        x = padded[batch, chan, rows, cols]
    if flip:
        mask = torch.rand(n, device=dev, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _as_index(indices: torch.Tensor | np.ndarray | Sequence[int], device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64), device=device)


class DeviceBatches:
    """One split as an epoch iterable of (x, y) batches on the data's device: x normalized
    float32 (augmented if asked), y int64. Each iteration is one epoch with a fresh permutation
    from an internal generator seeded with ``seed``."""

    def __init__(
        self,
        data: ImageData,
        *,
        split: str,
        indices: torch.Tensor | np.ndarray | Sequence[int],
        labels: torch.Tensor | None = None,
        batch_size: int,
        shuffle: bool = True,
        augment: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', not {split!r}")
        self.data = data
        self.x = data.x_train if split == "train" else data.x_test
        dev = data.device
        self.indices = indices.to(dev) if isinstance(indices, torch.Tensor) else _as_index(indices, dev)
        y = data.y_train if split == "train" else data.y_test
        self.labels = labels.to(dev) if labels is not None else y[self.indices]
        if len(self.labels) != len(self.indices):
            raise ValueError("labels must align with indices")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.generator = torch.Generator(device=dev).manual_seed(seed)

    @property
    def num_examples(self) -> int:
        return int(len(self.indices))

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_examples
        dev = self.indices.device
        order = torch.randperm(n, device=dev, generator=self.generator) if self.shuffle else torch.arange(n, device=dev)
        for i in range(len(self)):
            pos = order[i * self.batch_size : (i + 1) * self.batch_size]
            xb = self.x.index_select(0, self.indices[pos])
            if self.augment:
                xb = augment_batch(xb, generator=self.generator)
            yield self.data.normalize(xb), self.labels[pos]


def iterate_eval(
    data: ImageData, *, split: str, indices: torch.Tensor | np.ndarray | Sequence[int], batch_size: int
) -> Iterator[torch.Tensor]:
    """Normalized x batches of the split at ``indices``, in order, no augmentation."""
    x = data.x_train if split == "train" else data.x_test
    idx = indices.to(data.device) if isinstance(indices, torch.Tensor) else _as_index(indices, data.device)
    for i in range(0, len(idx), batch_size):
        yield data.normalize(x.index_select(0, idx[i : i + batch_size]))
