"""Gradient ascent (GA), the sparsity paper's baseline: minimize −CE on each F batch, one SGD
step per F batch; an epoch is one pass over F (R is not read).

Reference: OPTML-Group/Unlearn-Sparse — ``unlearn/GA.py:GA`` (``loss = -criterion(output,
target)`` over ``data_loaders["forget"]``, model in train mode) run by
``unlearn/impl.py:_iterative_unlearn_impl``: ``torch.optim.SGD(lr, momentum=0.9,
weight_decay=5e-4)`` (``arg_parser.py`` defaults) and ``MultiStepLR`` ×0.1 at epochs 91 and 136
(``decreasing_lr``). Defaults: the README's GA command, ``--unlearn_lr 0.0001 --unlearn_epochs
5``; batch size 256 (``arg_parser.py`` ``--batch_size``). Tuned: lr, epochs.
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
    forget = inputs.forget_batches()
    model.train()
    opt = sgd_for(inputs, params)
    for epoch in range(int(params["epochs"])):
        set_lr(opt, multistep_lr(float(params["lr"]), epoch))
        for x, y in forget:
            with autocast(inputs.device):
                value = -F.cross_entropy(model(prepare_input(x)).float(), y)
            descend(opt, value)
    return model
