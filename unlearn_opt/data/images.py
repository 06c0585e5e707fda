"""Decoding image files into one uint8 tensor (torchvision.io), with clear errors."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F
from torchvision.io import ImageReadMode, decode_image

from unlearn_opt.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def decode(path: Path, *, dataset: str, size: int | None) -> torch.Tensor:
    """(3, H, W) uint8 RGB (grayscale converted); resized (bilinear, antialiased) to size×size."""
    try:
        img = decode_image(str(path), mode=ImageReadMode.RGB)
    except (RuntimeError, ValueError, OSError):
        raise UserError(f"{dataset}: {path} is not a readable image") from None
    if size is not None and tuple(img.shape[1:]) != (size, size):
        img = F.interpolate(img[None].float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        img = img[0].round().clamp(0, 255).to(torch.uint8)
    return img


def decode_all(paths: Sequence[Path], *, dataset: str, size: int | None, threads: int = 8) -> torch.Tensor:
    """(N, 3, size, size) uint8, decoded in parallel threads."""
    if not paths:
        return torch.empty(0, 3, size or 1, size or 1, dtype=torch.uint8)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        images = list(pool.map(lambda p: decode(p, dataset=dataset, size=size), paths))
    return torch.stack(images)
