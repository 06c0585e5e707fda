"""MNIST-1D (Greydanus & Kobak, "Scaling down deep learning with MNIST-1D"), generated offline.

``mnist1d.data.make_dataset(args)`` builds the signals procedurally from ten fixed templates
(padding, dilation, scaling, translation, correlated and i.i.d. noise, shear, resampling to 40
samples), shuffles them and splits 80/20; the package's defaults (5 000 samples, seed 42) give
the standard 4 000 train / 1 000 test signals. ``get_dataset`` would download a pickle instead,
so it is never used. The generator seeds NumPy's and Python's global random state; both are
restored afterwards so that generating the data leaves no trace on the caller.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from unlearn_opt.data.base import TensorData

NAME = "mnist1d"
NUM_CLASSES = 10
DEFAULT_NUM_SAMPLES = 5000  # the package's default: 4 000 train / 1 000 test
DEFAULT_SEED = 42  # the package's default


@contextmanager
def _global_random_state_kept() -> Iterator[None]:
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def load_mnist1d_data(*, num_samples: int = DEFAULT_NUM_SAMPLES, seed: int = DEFAULT_SEED) -> TensorData:
    """x float32 (N, 1, 40), standardized by the generator over the whole set (mean 0, std 1),
    so the statistics here are the identity; ``num_samples // 10`` signals per class."""
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib: only when used

    args = get_dataset_args()
    args.num_samples = num_samples
    args.seed = seed
    with _global_random_state_kept():
        raw = make_dataset(args)
    return TensorData(
        name=NAME,
        x_train=torch.from_numpy(np.asarray(raw["x"], dtype=np.float32)[:, None, :]),
        y_train=torch.from_numpy(np.asarray(raw["y"], dtype=np.int64)),
        x_test=torch.from_numpy(np.asarray(raw["x_test"], dtype=np.float32)[:, None, :]),
        y_test=torch.from_numpy(np.asarray(raw["y_test"], dtype=np.int64)),
        num_classes=NUM_CLASSES,
        mean=(0.0,),
        std=(1.0,),
        scale=1.0,
    )
