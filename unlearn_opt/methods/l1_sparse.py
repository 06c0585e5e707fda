"""ℓ1-sparse unlearning (Jia et al., 2023), R only: minimize CE_R + α_t·‖θ‖₁ (every parameter)
with the linear decay α_t = α·(1 − t/E) over epochs t = 0…E−1; one SGD step per R batch.

Reference: OPTML-Group/Unlearn-Sparse — ``unlearn/FT_prune.py:FT_prune`` → ``unlearn/FT.py:FT_l1``
→ ``FT_iter(..., with_l1=True)`` (``current_alpha = args.alpha * (1 - epoch / (unlearn_epochs -
no_l1_epochs))`` with ``no_l1_epochs = 0``; ``l1_regularization`` = ‖θ‖₁ over
``model.parameters()``), run by ``unlearn/impl.py:_iterative_unlearn_impl``: SGD momentum 0.9,
wd 5e-4, ``MultiStepLR`` ×0.1 at epochs 91 and 136. Defaults: the README's ℓ1-sparse command,
``--unlearn_lr 0.01 --unlearn_epochs 10``; batch size 256 (``arg_parser.py``); α 1e-4 (the
README leaves α to the user; tuned on a log scale). With masks (prune first), the pruned weights
are re-zeroed after every step where the reference masks them through torch's pruning
re-parametrization: the same network function and updates of the kept weights.
Difference: bf16 autocast on CUDA (see ``common``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.common import descend, multistep_lr, set_lr, sgd_for
from unlearn_opt.methods.losses import l1_norm


def l1_coefficient(alpha: float, epoch: int, epochs: int) -> float:
    """α_t = α·(1 − t/E)."""
    return alpha * (1.0 - epoch / epochs)


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    retain = inputs.retain_batches()
    model.train()
    opt = sgd_for(inputs, params)
    epochs = int(params["epochs"])
    for epoch in range(epochs):
        set_lr(opt, multistep_lr(float(params["lr"]), epoch))
        coef = l1_coefficient(float(params["alpha"]), epoch, epochs)
        for x, y in retain:
            with autocast(inputs.device):
                value = F.cross_entropy(model(prepare_input(x)).float(), y) + coef * l1_norm(model)
            descend(opt, value)
    return model
