"""Tiny ImageNet in its official layout: ``tiny-imagenet-200/`` with ``wnids.txt``,
``train/<wnid>/images/*.JPEG`` and ``val/images/*.JPEG`` + ``val/val_annotations.txt``
(filename, wnid, bbox; tab-separated). The official val set is the test split."""

from __future__ import annotations

from pathlib import Path

import torch

from unlearn_opt.data.base import TensorData
from unlearn_opt.data.images import decode_all, is_image
from unlearn_opt.errors import UserError

MEAN = (0.4802, 0.4481, 0.3975)
STD = (0.2302, 0.2265, 0.2262)
NAME = "tinyimagenet"


def _root(data_dir: str | Path) -> Path:
    root = Path(data_dir).expanduser()
    if (root / "tiny-imagenet-200").is_dir():
        root = root / "tiny-imagenet-200"
    if not root.is_dir():
        raise UserError(f"{NAME}: data_dir {root} does not exist (expected the tiny-imagenet-200/ layout)")
    for sub in ("train", "val"):
        if not (root / sub).is_dir():
            raise UserError(f"{NAME}: expected {root / sub}/ (the official tiny-imagenet-200 layout)")
    return root


def load_tinyimagenet_data(data_dir: str | Path) -> TensorData:
    """x uint8 (N, 3, 64, 64)."""
    root = _root(data_dir)
    wnids_file = root / "wnids.txt"
    if wnids_file.is_file():
        wnids = [w.strip() for w in wnids_file.read_text(errors="replace").split() if w.strip()]
    else:
        wnids = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    if not wnids:
        raise UserError(f"{NAME}: {root / 'train'} has no class folders")
    index = {w: i for i, w in enumerate(wnids)}
    train_paths, train_labels = [], []
    for w in wnids:
        folder = root / "train" / w / "images"
        files = sorted(p for p in folder.glob("*") if is_image(p)) if folder.is_dir() else []
        if not files:
            raise UserError(f"{NAME}: {folder} has no images")
        train_paths += files
        train_labels += [index[w]] * len(files)
    ann = root / "val" / "val_annotations.txt"
    if not ann.is_file():
        raise UserError(f"{NAME}: {ann} is missing (expected filename<TAB>wnid lines)")
    test_paths, test_labels = [], []
    for n, line in enumerate(ann.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2 or fields[1] not in index:
            raise UserError(f"{NAME}: {ann} line {n}: expected filename<TAB>wnid with a wnid of wnids.txt")
        path = root / "val" / "images" / fields[0]
        if not path.is_file():
            raise UserError(f"{NAME}: {path} (listed in {ann.name}) is missing")
        test_paths.append(path)
        test_labels.append(index[fields[1]])
    return TensorData(
        name=NAME,
        x_train=decode_all(train_paths, dataset=NAME, size=64),
        y_train=torch.tensor(train_labels, dtype=torch.int64),
        x_test=decode_all(test_paths, dataset=NAME, size=64),
        y_test=torch.tensor(test_labels, dtype=torch.int64),
        num_classes=len(wnids),
        mean=MEAN,
        std=STD,
        scale=255.0,
    )
