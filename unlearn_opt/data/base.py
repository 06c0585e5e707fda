"""A dataset held as tensors (on the trial's device): images (N, C, H, W) or signals (N, C, L)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np
import torch

# Float data enters the digest rounded to this many decimals, so that two machines whose math
# libraries differ in the last bit still agree; integer data (uint8 images, labels) enters exactly.
DIGEST_DECIMALS = 4


@dataclass
class TensorData:
    """A dataset held as tensors: x (N, C, *spatial) — (N, C, H, W) images or (N, C, L) 1-D
    signals — uint8 (raw 0..255) or float32 (already normalized), y int64. ``mean``/``std`` are
    per channel, applied after dividing by ``scale``."""

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

    def __post_init__(self) -> None:
        if self.x_train.dim() < 3 or self.x_test.shape[1:] != self.x_train.shape[1:]:
            raise ValueError(
                f"{self.name}: x must be (N, C, *spatial) with the same example shape in both splits "
                f"(got train {tuple(self.x_train.shape)}, test {tuple(self.x_test.shape)})"
            )
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise ValueError(f"{self.name}: mean and std need one value per channel ({self.channels})")

    def to(self, device: torch.device | str) -> TensorData:
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
    def example_shape(self) -> tuple[int, ...]:
        """(C, *spatial) of one example: (C, H, W) or (C, L)."""
        return tuple(int(s) for s in self.x_train.shape[1:])

    @property
    def channels(self) -> int:
        return self.example_shape[0]

    @property
    def spatial_dims(self) -> int:
        """2 for images, 1 for signals."""
        return len(self.example_shape) - 1

    @property
    def is_image(self) -> bool:
        return self.spatial_dims == 2

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def is_identity_normalized(self) -> bool:
        """True when ``normalize`` changes nothing but the dtype (float data, scale 1, mean 0, std 1)."""
        return self.scale == 1.0 and all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.std)

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        """float32 ((x / scale) − mean) / std per channel on x's device; float32 input with
        identity statistics is returned as is (no copy)."""
        if self.is_identity_normalized:
            return xb.float()
        if self._stats is None or self._stats[0].device != xb.device:
            shape = (1, self.channels) + (1,) * self.spatial_dims
            mean = torch.tensor(self.mean, dtype=torch.float32, device=xb.device).view(shape)
            std = torch.tensor(self.std, dtype=torch.float32, device=xb.device).view(shape)
            self._stats = (mean * self.scale, std * self.scale)  # folds the division by scale in
        mean, std = self._stats
        return (xb.float() - mean) / std

    def digest(self) -> str:
        """SHA-256 of the content: name, classes, statistics, shapes, labels and examples (float
        values rounded to ``DIGEST_DECIMALS`` decimals, integers exact), both splits."""
        h = hashlib.sha256()
        header = {
            "name": self.name,
            "num_classes": self.num_classes,
            "mean": list(self.mean),
            "std": list(self.std),
            "scale": self.scale,
            "shapes": [list(t.shape) for t in (self.x_train, self.y_train, self.x_test, self.y_test)],
            "dtypes": [str(t.dtype) for t in (self.x_train, self.y_train, self.x_test, self.y_test)],
        }
        h.update(json.dumps(header, sort_keys=True).encode())
        for t in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(_canonical_bytes(t))
        return h.hexdigest()


def _canonical_bytes(t: torch.Tensor) -> bytes | memoryview:
    """Machine-independent bytes of a tensor: little-endian; floats rounded (−0 folded into +0)."""
    a = t.detach().cpu().contiguous().numpy()
    if np.issubdtype(a.dtype, np.floating):
        return (np.round(a.astype("<f8"), DIGEST_DECIMALS) + 0.0).tobytes()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).data.cast("B")
