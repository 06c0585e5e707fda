"""Decision-region scores (docs/design.md §6), with δ an input-space radius (normalized input):

- C_prox(δ): fraction of points sampled uniformly in the δ-ball around each forget example where
  the unlearned model's prediction differs from the original's (change near unlearned data);
- S_far(δ): fraction of points sampled in δ-balls around test examples far from every forget
  example where the two predictions agree (similarity far away).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from unlearn_opt.engine.runtime import autocast, eval_mode, prepare_input


def sample_ball(centers: torch.Tensor, *, delta: float, samples: int, generator: torch.Generator) -> torch.Tensor:
    """``samples`` points uniform in the L2 ball of radius δ around each center:
    x + δ·r^(1/d)·u, u uniform on the sphere, r ~ U(0, 1). Shape (n·samples, *centers.shape[1:])."""
    n = centers.shape[0]
    d = centers[0].numel()
    shape = (n, samples, d)
    u = torch.randn(shape, generator=generator, device=centers.device)
    u = u / u.norm(dim=2, keepdim=True).clamp_min(1e-12)
    r = torch.rand((n, samples, 1), generator=generator, device=centers.device) ** (1.0 / d)
    points = centers.reshape(n, 1, d) + delta * r * u
    return points.reshape(n * samples, *centers.shape[1:])


def _predict(model: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    out = []
    with eval_mode(model), autocast(x.device):
        for i in range(0, len(x), batch_size):
            out.append(model(prepare_input(x[i : i + batch_size])).argmax(dim=1))
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=x.device)


def agreement(a: nn.Module, b: nn.Module, points: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Per point: 1 where the two models predict the same class, else 0."""
    return (_predict(a, points, batch_size) == _predict(b, points, batch_size)).float()


def far_examples(test_x: torch.Tensor, forget_x: torch.Tensor, count: int) -> torch.Tensor:
    """Indices (into ``test_x``) of the ``count`` test examples farthest from every forget example
    (largest L2 distance to their nearest forget example)."""
    dist = torch.cdist(test_x.flatten(1).float(), forget_x.flatten(1).float()).min(dim=1).values
    return dist.argsort(descending=True)[: min(count, len(test_x))]


@dataclass(frozen=True)
class RegionScores:
    c_prox: float
    s_far: float


def region_scores(
    *,
    original: nn.Module,
    unlearned: nn.Module,
    forget_x: torch.Tensor,
    test_x: torch.Tensor,
    delta: float,
    samples: int = 20,
    far_count: int | None = None,
    seed: int = 0,
    batch_size: int = 1024,
) -> RegionScores:
    """C_prox(δ) and S_far(δ); the far set is the ``far_count`` (default |F|) test examples
    farthest from F."""
    gen = torch.Generator(device=forget_x.device).manual_seed(seed)
    near = sample_ball(forget_x, delta=delta, samples=samples, generator=gen)
    far_idx = far_examples(test_x, forget_x, far_count or len(forget_x))
    far = sample_ball(test_x[far_idx], delta=delta, samples=samples, generator=gen)
    # counts / n as Python ints: the float64 of the exact fraction (not a float32 mean)
    same_near, same_far = agreement(original, unlearned, near, batch_size), agreement(original, unlearned, far, batch_size)
    c_prox = (len(same_near) - int(same_near.sum())) / len(same_near)
    s_far = int(same_far.sum()) / len(same_far)
    return RegionScores(c_prox=c_prox, s_far=s_far)
