"""Decoding image files into one uint8 tensor (PIL, as torchvision's folder datasets do), with
clear errors. torchvision.io's decoders are deprecated since torchvision 0.29 and read fewer
formats (no BMP/TIFF), so PIL is used; it releases the GIL while decoding, so threads help."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image
from torchvision.transforms.functional import pil_to_tensor

from unlearn_opt.errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def image_size(path: Path, *, dataset: str) -> tuple[int, int]:
    """(height, width) from the file's header."""
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except (OSError, ValueError, Image.DecompressionBombError):
        raise UserError(f"{dataset}: {path} is not a readable image") from None


def decode(path: Path, *, dataset: str, size: int | None) -> torch.Tensor:
    """(3, H, W) uint8 RGB (grayscale and palette converted); resized (bilinear, antialiased)
    to size×size unless already that size."""
    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            if size is not None and rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise UserError(f"{dataset}: {path} is not a readable image") from None
    return pil_to_tensor(rgb)


def decode_all(paths: Sequence[Path], *, dataset: str, size: int, threads: int = 8) -> torch.Tensor:
    """(N, 3, size, size) uint8, decoded in parallel threads straight into one tensor."""
    out = torch.empty((len(paths), 3, size, size), dtype=torch.uint8)

    def fill(i: int) -> None:
        out[i] = decode(paths[i], dataset=dataset, size=size)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        try:
            for _ in pool.map(fill, range(len(paths))):
                pass
        except UserError:
            pool.shutdown(cancel_futures=True)  # the first bad file is enough
            raise
    return out
