"""scikit-learn's 8×8 digits (1797 images, values 0..16), with a fixed stratified 70/30 split."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from unlearn_opt.data.base import TensorData

SPLIT_SEED = 20_250_311


def load_digits_data() -> TensorData:
    """x float32 (N, 1, 8, 8), standardized with the train part's mean and std."""
    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    idx_train, idx_test = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=SPLIT_SEED)
    mean, std = float(x[idx_train].mean()), float(x[idx_train].std())
    x = (x - mean) / std
    return TensorData(
        name="digits",
        x_train=torch.from_numpy(x[np.sort(idx_train)]),
        y_train=torch.from_numpy(y[np.sort(idx_train)]),
        x_test=torch.from_numpy(x[np.sort(idx_test)]),
        y_test=torch.from_numpy(y[np.sort(idx_test)]),
        num_classes=10,
        mean=(0.0,),
        std=(1.0,),
        scale=1.0,
    )
