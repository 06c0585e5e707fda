"""An image folder: ``train/<class>/*`` and ``test/<class>/*`` (Lacuna-10, or your own).

Classes are the sorted folder names of ``train/`` (torchvision's ``ImageFolder`` rule); ``test/``
may hold a subset of them. Every image is decoded as RGB and resized to the size of the first
train image (square images are expected; others are resized to that square).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.datasets.folder import find_classes

from unlearn_opt.data.base import ImageData
from unlearn_opt.data.images import decode, decode_all, is_image
from unlearn_opt.errors import UserError

NAME = "imagefolder"


def _files(folder: Path, classes: list[str], index: dict[str, int]) -> tuple[list[Path], list[int]]:
    paths, labels = [], []
    for c in classes:
        files = sorted(p for p in (folder / c).rglob("*") if p.is_file() and is_image(p))
        paths += files
        labels += [index[c]] * len(files)
    return paths, labels


def load_imagefolder_data(data_dir: str | Path) -> ImageData:
    """x uint8 (N, 3, S, S), per-channel mean/std of the train images."""
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
        raise UserError(f"{NAME}: {root / 'test' / unknown[0]} is a class that train/ does not have")
    train_paths, train_labels = _files(root / "train", classes, index)
    test_paths, test_labels = _files(root / "test", test_classes, index)
    if not train_paths:
        raise UserError(f"{NAME}: {root / 'train'} has no images")
    if not test_paths:
        raise UserError(f"{NAME}: {root / 'test'} has no images")
    size = int(decode(train_paths[0], dataset=NAME, size=None).shape[-1])
    x_train = decode_all(train_paths, dataset=NAME, size=size)
    stats = x_train.float().div(255).transpose(0, 1).flatten(1)
    return ImageData(
        name=NAME,
        x_train=x_train,
        y_train=torch.tensor(train_labels, dtype=torch.int64),
        x_test=decode_all(test_paths, dataset=NAME, size=size),
        y_test=torch.tensor(test_labels, dtype=torch.int64),
        num_classes=len(classes),
        mean=tuple(float(v) for v in stats.mean(1)),
        std=tuple(max(float(v), 1e-3) for v in stats.std(1)),
        scale=255.0,
    )
