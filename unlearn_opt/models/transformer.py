"""A small pre-norm Transformer encoder over patches, width-scalable (a ViT for images, its 1-D
counterpart for signals).

Patches: a conv of kernel = stride = p over the example, p = max(1, ⌊size / 8⌋) per spatial axis
(8 patches along each axis: 8 tokens for a 40-sample signal, 8 × 8 for a 32 × 32 image, plus the
class token). Embedding d = 4 heads × scaled(16, w) (64 at w = 1), MLP hidden 4·d, ``layers``
encoder blocks x ← x + MHA(LN(x)), x ← x + MLP(LN(x)) (GELU, no dropout), a final LayerNorm and a
linear classifier on the class token. Learned positional embeddings and class token, initialised
N(0, 0.02²) as in ViT (Dosovitskiy et al., 2021).

Pruning (``methods.prune.prunable_weights``) touches the patch embedding and, in every block, the
attention's input and output projections and the two MLP weights: the Transformer's counterparts
of conv layers. Never biases, LayerNorms, the class token, positional embeddings or the classifier.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from unlearn_opt.errors import UserError
from unlearn_opt.models.common import scaled

HEADS = 4
HEAD_DIM = 16  # at width 1
MLP_RATIO = 4
PATCHES_PER_AXIS = 8
LAYERS = 4


def patch_size(size: int) -> int:
    """p = max(1, ⌊size / 8⌋): about 8 patches along an axis of ``size``."""
    return max(1, size // PATCHES_PER_AXIS)


class PatchTransformer(nn.Module):
    def __init__(self, *, width: float, num_classes: int, input_shape: Sequence[int], layers: int = LAYERS) -> None:
        super().__init__()
        channels, *spatial = (int(s) for s in input_shape)
        if len(spatial) not in (1, 2):
            raise UserError(f"architecture: transformer takes examples (C, L) or (C, H, W), not {tuple(input_shape)}")
        if layers < 1:
            raise UserError(f"architecture: transformer needs at least one layer (got {layers})")
        self.dim = d = HEADS * scaled(HEAD_DIM, width)
        self.embed: nn.Conv1d | nn.Conv2d
        if len(spatial) == 1:
            p = patch_size(spatial[0])
            tokens = spatial[0] // p
            self.embed = nn.Conv1d(channels, d, kernel_size=p, stride=p)
        else:
            ph, pw = patch_size(spatial[0]), patch_size(spatial[1])
            tokens = (spatial[0] // ph) * (spatial[1] // pw)
            self.embed = nn.Conv2d(channels, d, kernel_size=(ph, pw), stride=(ph, pw))
        self.cls = nn.Parameter(torch.empty(1, 1, d))
        self.pos = nn.Parameter(torch.empty(1, tokens + 1, d))
        nn.init.trunc_normal_(self.cls, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        block = nn.TransformerEncoderLayer(
            d_model=d,
            nhead=HEADS,
            dim_feedforward=MLP_RATIO * d,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.blocks = nn.TransformerEncoder(block, num_layers=layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).flatten(2).transpose(1, 2)  # (N, tokens, d)
        h = torch.cat([self.cls.expand(h.shape[0], -1, -1), h], dim=1) + self.pos
        h = self.blocks(h)
        return self.head(self.norm(h[:, 0]))
