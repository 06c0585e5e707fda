"""Datasets as device tensors, the splits and the device loader."""

from __future__ import annotations

from collections.abc import Mapping

from unlearn_opt.data.base import TensorData
from unlearn_opt.data.loader import DeviceBatches, augment_batch, iterate_eval
from unlearn_opt.errors import UserError

DATASETS = ("digits", "mnist1d", "cifar10", "cifar100", "tinyimagenet", "imagefolder", "synthetic")


def load_dataset(
    name: str,
    *,
    data_dir: str = "",
    synthetic: Mapping[str, int] | None = None,
    mnist1d: Mapping[str, int] | None = None,
) -> TensorData:
    """Load ``name`` on the CPU (move it with ``.to(device)``); nothing is cached. ``synthetic``
    and ``mnist1d`` are the generators' arguments (the spec's tables of those names)."""
    if name == "digits":
        from unlearn_opt.data.digits import load_digits_data

        return load_digits_data()
    if name == "mnist1d":
        from unlearn_opt.data.mnist1d import load_mnist1d_data

        return load_mnist1d_data(**dict(mnist1d or {}))
    if name == "synthetic":
        from unlearn_opt.data.synthetic import load_synthetic_data

        return load_synthetic_data(**dict(synthetic or {}))
    if name in DATASETS and not data_dir:
        raise UserError(f"{name}: data_dir is required (the folder holding the dataset's files)")
    if name in ("cifar10", "cifar100"):
        from unlearn_opt.data.cifar import load_cifar_data

        return load_cifar_data(data_dir, num_classes=10 if name == "cifar10" else 100)
    if name == "tinyimagenet":
        from unlearn_opt.data.tinyimagenet import load_tinyimagenet_data

        return load_tinyimagenet_data(data_dir)
    if name == "imagefolder":
        from unlearn_opt.data.imagefolder import load_imagefolder_data

        return load_imagefolder_data(data_dir)
    raise UserError(f"dataset: unknown {name!r} (expected one of: {', '.join(DATASETS)})")


__all__ = ["DATASETS", "DeviceBatches", "TensorData", "augment_batch", "iterate_eval", "load_dataset"]
