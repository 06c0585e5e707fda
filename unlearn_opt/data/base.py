"""A dataset held as tensors (on the trial's device)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class ImageData:
    """A dataset held as tensors: x (N, C, H, W) uint8 (images, raw 0..255) or float32 (already
    normalized), y int64. ``mean``/``std`` are per channel, applied after dividing by ``scale``."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    _stats: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, init=False, repr=False, compare=False)

    def to(self, device: torch.device | str) -> ImageData:
        """A new object with every tensor on ``device`` (asynchronous copies only towards CUDA)."""
        dev = torch.device(device)
        nb = dev.type == "cuda"  # a non-blocking copy *to* the host could be read before it lands
        return replace(
            self,
            x_train=self.x_train.to(dev, non_blocking=nb),
            y_train=self.y_train.to(dev, non_blocking=nb),
            x_test=self.x_test.to(dev, non_blocking=nb),
            y_test=self.y_test.to(dev, non_blocking=nb),
        )

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        """H (images are square)."""
        return int(self.x_train.shape[2])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def is_identity_normalized(self) -> bool:
        """True when ``normalize`` changes nothing but the dtype (float data, scale 1, mean 0, std 1)."""
        return self.scale == 1.0 and all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.std)

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """float32 ((x / scale) − mean) / std on x's device; float32 input with identity
        statistics is returned as is (no copy)."""
        if self.is_identity_normalized:
            return xb.float()
        if self._stats is None or self._stats[0].device != xb.device:
            shape = (1, len(self.mean), 1, 1)
            mean = torch.tensor(self.mean, dtype=torch.float32, device=xb.device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=xb.device).view(shape)
            self._stats = (mean * self.scale, std * self.scale)  # folds the division by scale in
        mean, std = self._stats
        return (xb.float() - mean) / std
