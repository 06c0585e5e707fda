"""A dataset held as tensors (on the trial's device)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import torch


@dataclass
class ImageData:
    """x (N, C, H, W): uint8 raw images (0..255) or float32 already normalized; y int64."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    _stats: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False, compare=False)

    def to(self, device: torch.device | str) -> ImageData:
        """A copy with every tensor on ``device``."""
        dev = torch.device(device)
        return replace(
            self,
            x_train=self.x_train.to(dev, non_blocking=True),
            y_train=self.y_train.to(dev, non_blocking=True),
            x_test=self.x_test.to(dev, non_blocking=True),
            y_test=self.y_test.to(dev, non_blocking=True),
            _stats=None,
        )

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[2])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """float32 ((x / scale) − mean) / std on x's device."""
        if self._stats is None or self._stats[0].device != xb.device:
            shape = (1, len(self.mean), 1, 1)
            self._stats = (
                torch.tensor(self.mean, dtype=torch.float32, device=xb.device).view(shape),
                torch.tensor(self.std, dtype=torch.float32, device=xb.device).view(shape),
            )
        mean, std = self._stats
        return (xb.float() / self.scale - mean) / std
