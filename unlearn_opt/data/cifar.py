"""CIFAR-10 / CIFAR-100 in torchvision's on-disk format (the extracted python pickles).

torchvision's ``CIFAR10(download=False)`` checks the md5 of each file against the official
release, so the pickles are read here the way torchvision reads them (``pickle.load`` with
``encoding="latin1"``, keys ``data`` (N, 3072 uint8: the R plane, then G, then B, each 32×32
row-major) and ``labels`` / ``fine_labels``), which also accepts subsets written by tests.
The unpickler only resolves the numpy globals a CIFAR file needs, so a foreign pickle in the
data folder cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearn_opt.data.base import TensorData
from unlearn_opt.errors import UserError

CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)

# num_classes -> (folder, train files, test files, label key)
_LAYOUT = {
    10: ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    100: ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
_NUMPY_MODULES = {f"numpy{core}.{m}" for core in ("", ".core", "._core") for m in ("multiarray", "numeric")}
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")} | {
    (m, n) for m in _NUMPY_MODULES for n in ("_reconstruct", "_frombuffer", "scalar")
}

# what unpickling and reading a foreign or damaged file can raise (UnicodeDecodeError is a ValueError)
_MALFORMED = (
    pickle.UnpicklingError,
    EOFError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
    OverflowError,
    MemoryError,
    RecursionError,
)


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the globals that a pickled dict of numpy arrays refers to."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        return super().find_class(module, name)


def _folder(data_dir: str | Path, sub: str, name: str) -> Path:
    """``data_dir/sub`` or ``data_dir`` itself, whichever holds the test file."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise UserError(f"{name}: data_dir {root} does not exist (expected torchvision's {sub}/ folder in it)")
    test_file = _LAYOUT[10 if name == "cifar10" else 100][2][0]
    for candidate in (root / sub, root):
        if (candidate / test_file).exists():
            return candidate
    return root / sub if (root / sub).is_dir() else root


def _read(path: Path, key: str, name: str, expected: str) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise UserError(f"{name}: expected torchvision's {expected} in {path.parent}: {path.name} is missing")
    try:
        with path.open("rb") as f:
            entry = _CifarUnpickler(f, encoding="latin1").load()
        data = np.asarray(entry["data"], dtype=np.uint8)
        labels = np.asarray(entry[key], dtype=np.int64)
    except _MALFORMED:
        raise UserError(f"{name}: {path} is not a CIFAR pickle (expected a dict with 'data' and {key!r})") from None
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(data) != len(labels):
        raise UserError(f"{name}: {path} is not a CIFAR pickle (data must be N×3072 with N labels)")
    return data.reshape(-1, 3, 32, 32), labels


def load_cifar_data(data_dir: str | Path, *, num_classes: int) -> TensorData:
    """x uint8 (N, 3, 32, 32), scale 255, the standard CIFAR mean and std."""
    if num_classes not in _LAYOUT:
        raise ValueError(f"CIFAR has 10 or 100 classes, not {num_classes}")
    sub, train_files, test_files, key = _LAYOUT[num_classes]
    name = f"cifar{num_classes}"
    folder = _folder(data_dir, sub, name)
    files = train_files + test_files
    listing = f"{files[0]} … {files[-1]}" if len(files) > 2 else ", ".join(files)
    expected = f"CIFAR-{num_classes} python files ({sub}/{listing})"

    def load(files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [_read(folder / f, key, name, expected) for f in files]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        return torch.from_numpy(x), torch.from_numpy(y)

    x_train, y_train = load(train_files)
    x_test, y_test = load(test_files)
    for split, y in (("train", y_train), ("test", y_test)):
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
            raise UserError(f"{name}: labels of the {split} split in {folder} are outside 0..{num_classes - 1}")
    mean, std = (CIFAR_MEAN, CIFAR_STD) if num_classes == 10 else (CIFAR100_MEAN, CIFAR100_STD)
    return TensorData(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        mean=mean,
        std=std,
        scale=255.0,
    )
