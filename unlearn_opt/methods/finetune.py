"""Fine-tuning baseline: minimize CE on R (catastrophic forgetting of F), one SGD step per R batch.

Reference: OPTML-Group/Unlearn-Sparse — ``unlearn/FT.py:FT`` → ``FT_iter`` (without ℓ1), run by
``unlearn/impl.py:_iterative_unlearn_impl``: SGD momentum 0.9, wd 5e-4 (``arg_parser.py``),
``MultiStepLR`` ×0.1 at epochs 91 and 136. Defaults: the README's FT command, ``--unlearn_lr
0.01 --unlearn_epochs 10``; batch size 256. (meghdadk/SCRUB's ``finetune`` also runs 10 epochs at
lr 0.01, but with momentum 0 and wd 0; this project follows the sparsity repository, whose
ℓ1-sparse method is this loop plus the penalty.) Tuned: lr, epochs.
Difference: bf16 autocast on CUDA (see ``common``).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.nn.functional as F
from torch import nn

from unlearn_opt.engine.runtime import autocast, prepare_input
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.common import descend, multistep_lr, set_lr, sgd_for


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    model = inputs.model
    retain = inputs.retain_batches()
    model.train()
    opt = sgd_for(inputs, params)
    for epoch in range(int(params["epochs"])):
        set_lr(opt, multistep_lr(float(params["lr"]), epoch))
        for x, y in retain:
            with autocast(inputs.device):
                value = F.cross_entropy(model(prepare_input(x)).float(), y)
            descend(opt, value)
    return model
