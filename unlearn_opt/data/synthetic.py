"""Generated data for fast tests: class prototypes plus Gaussian noise."""

from __future__ import annotations

import math

import torch

from unlearn_opt.data.base import TensorData


def load_synthetic_data(
    *,
    num_classes: int = 10,
    train_size: int = 2000,
    test_size: int = 1000,
    channels: int = 1,
    image_size: int = 8,
    seed: int = 1234,
) -> TensorData:
    """x = prototype[y] + σ·noise with standard normal prototypes and noise (float32, deterministic).
    σ = 3·√(d / 64) for d = C·H·W values per image keeps the classes equally hard at every
    shape: learnable, not trivially (a linear model gets about 75 % of the default test split,
    a wide model memorizes its train split and generalizes imperfectly)."""
    g = torch.Generator().manual_seed(seed)
    shape = (channels, image_size, image_size)
    noise = 3.0 * math.sqrt(channels * image_size * image_size / 64)
    protos = torch.randn((num_classes, *shape), generator=g)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % num_classes
        y = y[torch.randperm(n, generator=g)]
        x = protos[y] + noise * torch.randn((n, *shape), generator=g)
        return x.float(), y.long()

    x_train, y_train = draw(train_size)
    x_test, y_test = draw(test_size)
    return TensorData(
        name="synthetic",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        num_classes=num_classes,
        mean=(0.0,) * channels,
        std=(1.0,) * channels,
        scale=1.0,
    )
