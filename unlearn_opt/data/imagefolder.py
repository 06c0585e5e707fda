"""An image folder: ``train/<class>/*`` and ``test/<class>/*`` (Lacuna-10, or your own).

Classes are the sorted folder names of ``train/`` (torchvision's ``find_classes`` rule);
``test/`` may hold a subset of them. Images are found recursively under each class folder, in
sorted order. Every image is decoded as RGB and resized (bilinear, antialiased) to S×S, where S
is the shorter side of the first train image; non-square images are squashed, not cropped.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets.folder import find_classes

from unlearn_opt.data.base import TensorData
from unlearn_opt.data.images import decode_all, image_size, is_image
from unlearn_opt.errors import UserError

NAME = "imagefolder"


def _channel_stats(x: torch.Tensor, chunk: int = 1024) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images on the 0..1 scale (chunked: no float copy of x)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for part in x.split(chunk):
        f = part.double()
        total += f.sum((0, 2, 3))
        squares += f.square().sum((0, 2, 3))
    n = x.numel() / x.shape[1]
    mean = total / n / 255
    std = (squares / n / 255**2 - mean.square()).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(max(v, 1e-3) for v in std.tolist())


def _files(folder: Path, classes: list[str], index: dict[str, int]) -> tuple[list[Path], list[int]]:
    paths: list[Path] = []
    labels: list[int] = []
    for c in classes:
        files = sorted(p for p in (folder / c).rglob("*") if is_image(p))
        paths += files
        labels += [index[c]] * len(files)
    return paths, labels


def load_imagefolder_data(data_dir: str | Path) -> TensorData:
    """x uint8 (N, 3, S, S), mean/std per channel measured on the train images."""
    root = Path(data_dir).expanduser()
    for sub in ("train", "test"):
        if not (root / sub).is_dir():
            raise UserError(f"{NAME}: expected {root / sub}/ with one folder per class")
    try:
        classes, index = find_classes(str(root / "train"))
    except FileNotFoundError:
        raise UserError(f"{NAME}: {root / 'train'} has no class folders") from None
    test_classes = sorted(p.name for p in (root / "test").iterdir() if p.is_dir())
    unknown = [c for c in test_classes if c not in index]
    if unknown:
        raise UserError(f"{NAME}: {root / 'test' / unknown[0]} is a class that train/ does not have ({', '.join(classes)})")
    train_paths, train_labels = _files(root / "train", classes, index)
    test_paths, test_labels = _files(root / "test", test_classes, index)
    for sub, paths in (("train", train_paths), ("test", test_paths)):
        if not paths:
            raise UserError(f"{NAME}: {root / sub} has no images in its class folders")
    size = min(image_size(train_paths[0], dataset=NAME))
    x_train = decode_all(train_paths, dataset=NAME, size=size)
    mean, std = _channel_stats(x_train)
    return TensorData(
        name=NAME,
        x_train=x_train,
        y_train=torch.tensor(train_labels, dtype=torch.int64),
        x_test=decode_all(test_paths, dataset=NAME, size=size),
        y_test=torch.tensor(test_labels, dtype=torch.int64),
        num_classes=len(classes),
        mean=mean,
        std=std,
        scale=255.0,
    )
