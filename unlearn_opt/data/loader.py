"""Batches on the data's device, with CIFAR-style augmentation (images only) done there."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from unlearn_opt.data.base import TensorData

Indices = torch.Tensor | np.ndarray | Sequence[int]


def augment_batch(
    x: torch.Tensor, *, generator: torch.Generator | None = None, padding: int = 4, flip: bool = True
) -> torch.Tensor:
    """Random crop of the zero-padded image (each its own offset in [0, 2p]²) and random
    horizontal flip (p = ½), vectorized over the batch on x's device; same dtype and shape.
    Images (N, C, H, W) only: a crop or a mirror has no meaning for other data."""
    if x.dim() != 4:
        raise ValueError(f"augment_batch needs images (N, C, H, W), not a tensor of shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    dev = x.device
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding))
        dy = torch.randint(0, 2 * padding + 1, (n,), device=dev, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n,), device=dev, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=dev))[:, None, None, :]
        batch = torch.arange(n, device=dev)[:, None, None, None]
        chan = torch.arange(c, device=dev)[None, :, None, None]
        x = padded[batch, chan, rows, cols]
    if flip:
        mask = torch.rand(n, device=dev, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(3), x)
    return x


def _split_x(data: TensorData, split: str) -> torch.Tensor:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return data.x_train if split == "train" else data.x_test


def _as_index(indices: Indices, device: torch.device) -> torch.Tensor:
    """int64 index tensor on ``device``."""
    if isinstance(indices, torch.Tensor):
        return indices.to(device=device, dtype=torch.int64)
    return torch.as_tensor(np.asarray(indices, dtype=np.int64), device=device)


class DeviceBatches:
    """One split as an epoch iterable of (x, y) batches on the data's device: x normalized
    float32 (B, C, *spatial), augmented if asked (images only), y int64. Each iteration is one
    epoch with a fresh permutation from an internal generator seeded with ``seed`` (epochs
    differ; the sequence is fixed).
    ``labels`` (aligned with ``indices``) overrides the split's labels, e.g. corrupted ones."""

    def __init__(
        self,
        data: TensorData,
        *,
        split: str,
        indices: Indices,
        labels: torch.Tensor | None = None,
        batch_size: int,
        shuffle: bool = True,
        augment: bool = False,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, not {batch_size}")
        if augment and not data.is_image:
            raise ValueError(
                f"augment: crop/flip augmentation needs images, {data.name} holds examples of shape {data.example_shape}"
            )
        self.data = data
        self.x = _split_x(data, split)
        dev = data.device
        self.indices = _as_index(indices, dev)
        y = data.y_train if split == "train" else data.y_test
        self.labels = labels.to(device=dev, dtype=torch.int64) if labels is not None else y[self.indices]
        if len(self.labels) != len(self.indices):
            raise ValueError(f"labels ({len(self.labels)}) must align with indices ({len(self.indices)})")
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.augment = augment
        self.drop_last = drop_last
        self.generator = torch.Generator(device=dev).manual_seed(seed)

    @property
    def num_examples(self) -> int:
        return len(self.indices)

    def __len__(self) -> int:
        n, b = self.num_examples, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = self.num_examples
        dev = self.indices.device
        order = torch.randperm(n, device=dev, generator=self.generator) if self.shuffle else torch.arange(n, device=dev)
        for i in range(len(self)):
            pos = order[i * self.batch_size : (i + 1) * self.batch_size]
            xb = self.x.index_select(0, self.indices.index_select(0, pos))
            if self.augment:
                xb = augment_batch(xb, generator=self.generator)
            yield self.data.normalize(xb), self.labels.index_select(0, pos)


def iterate_eval(data: TensorData, *, split: str, indices: Indices, batch_size: int) -> Iterator[torch.Tensor]:
    """Normalized x batches of the split at ``indices``, in order, no augmentation."""
    x = _split_x(data, split)
    idx = _as_index(indices, data.device)
    for i in range(0, len(idx), batch_size):
        yield data.normalize(x.index_select(0, idx[i : i + batch_size]))
