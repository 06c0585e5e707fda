"""CIFAR-10 / CIFAR-100 in torchvision's on-disk format (the extracted python pickles).

torchvision's ``CIFAR10(download=False)`` checks the md5 of each file against the official
release, so the pickles are read here the way torchvision reads them (``pickle.load`` with
``encoding="latin1"``, keys ``data`` (N, 3072 uint8, R then G then B planes) and ``labels`` /
``fine_labels``), which also accepts subsets written by tests.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from unlearn_opt.data.base import ImageData
from unlearn_opt.errors import UserError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

_LAYOUT = {
    10: ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    100: ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}


def _folder(data_dir: str | Path, sub: str, name: str) -> Path:
    root = Path(data_dir).expanduser()
    for candidate in (root / sub, root):
        if candidate.is_dir() and (candidate / ("test_batch" if name == "cifar10" else "test")).exists():
            return candidate
    if not root.is_dir():
        raise UserError(f"{name}: data_dir {root} does not exist (expected torchvision's {sub}/ folder in it)")
    return root / sub if (root / sub).is_dir() else root


def _read(path: Path, key: str, name: str, expected: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise UserError(f"{name}: expected torchvision's {expected} in {path.parent}: {path.name} is missing")
    try:
        with path.open("rb") as f:
            entry = pickle.load(f, encoding="latin1")
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry[key], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError, ImportError, IndexError):
        raise UserError(f"{name}: {path} is not a CIFAR pickle (expected a dict with 'data' and {key!r})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise UserError(f"{name}: {path} is not a CIFAR pickle (data must be N×3072 with N labels)")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar_data(data_dir: str | Path, *, num_classes: int) -> ImageData:
    """x uint8 (N, 3, 32, 32), scale 255, the standard CIFAR mean and std."""
    sub, train_files, test_files, key = _LAYOUT[num_classes]
    name = f"cifar{num_classes}"
    folder = _folder(data_dir, sub, name)
    expected = f"CIFAR-{num_classes} python files ({sub}/{', '.join(train_files + test_files)})"

    def load(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [_read(folder / f, key, name, expected) for f in files]
        return torch.from_numpy(np.concatenate([p[0] for p in parts])), torch.from_numpy(np.concatenate([p[1] for p in parts]))

    x_train, y_train = load(train_files)
    x_test, y_test = load(test_files)
    for split, y in (("train", y_train), ("test", y_test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise UserError(f"{name}: labels of the {split} split in {folder} are outside 0..{num_classes - 1}")
    mean, std = (CIFAR_MEAN, CIFAR_STD) if num_classes == 10 else (CIFAR100_MEAN, CIFAR100_STD)
    return ImageData(name=name, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                     num_classes=num_classes, mean=mean, std=std, scale=255.0)  # fmt: skip
