"""The width-scalable Transformer: parameter counts by hand, patches of signals and images,
pruning over its encoder weights, and every method running on it unchanged."""

from __future__ import annotations

import pytest
import torch

from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.methods.prune import global_magnitude_prune, prunable_weights, sparsity_of
from unlearn_opt.methods.registry import TUNED_METHODS
from unlearn_opt.models import build_model, count_parameters
from unlearn_opt.spec import spec_from_dict


def block_params(d: int) -> int:
    """One pre-norm encoder block of width d: two LayerNorms, attention (in and out projections),
    an MLP of 4·d hidden units."""
    return 2 * (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)


def test_parameter_counts_by_hand() -> None:
    # w = 0.25 on 40-sample signals: d = 4 heads × 4 = 16, patches of 5 → 8 tokens + the class token
    d = 16
    signal = build_model("transformer", width=0.25, num_classes=10, input_shape=(1, 40))
    assert count_parameters(signal) == (1 * d * 5 + d) + d + 9 * d + 4 * block_params(d) + 2 * d + (d * 10 + 10) == 13_578
    # w = 1 on 3 × 32 × 32 images: d = 64, patches of 4 × 4 → 64 tokens + the class token
    d = 64
    image = build_model("transformer", width=1.0, num_classes=10, input_shape=(3, 32, 32))
    assert count_parameters(image) == (3 * d * 16 + d) + d + 65 * d + 4 * block_params(d) + 2 * d + (d * 10 + 10)


@pytest.mark.parametrize("shape", [(1, 40), (3, 32, 32), (1, 8, 8), (3, 64, 64)])
def test_signals_and_images_of_any_size(shape: tuple[int, ...]) -> None:
    model = build_model("transformer", width=0.5, num_classes=7, input_shape=shape).eval()
    x = torch.randn(5, *shape)
    out = model(x)
    assert out.shape == (5, 7)
    # each example is classified on its own (no mixing across the batch)
    assert torch.allclose(model(x[:2]), out[:2], atol=1e-5)


def test_pruning_touches_the_encoder_weights_only() -> None:
    model = build_model("transformer", width=0.5, num_classes=10, input_shape=(1, 40))
    names = [name for name, _, _ in prunable_weights(model)]
    block = "blocks.layers.0."
    assert names[0] == "embed.weight" and len(names) == 1 + 4 * 4
    assert names[1:5] == [
        f"{block}self_attn.in_proj_weight",
        f"{block}self_attn.out_proj.weight",
        f"{block}linear1.weight",
        f"{block}linear2.weight",
    ]
    head, pos = model.head.weight.clone(), model.pos.clone()
    masks = global_magnitude_prune(model, 0.5)
    assert sorted(masks) == sorted(names)
    assert sparsity_of(model) == pytest.approx(0.5, abs=1e-3)
    assert torch.equal(model.head.weight, head) and torch.equal(model.pos, pos)  # never pruned
    params = dict(model.named_parameters())
    assert all(torch.equal(params[n] == 0, masks[n] == 0) for n in names)


@pytest.mark.slow
def test_every_method_runs_on_it_and_pruning_holds() -> None:
    raw = {
        "name": "tf",
        "dataset": "mnist1d",
        "architecture": "transformer",
        "widths": [0.25],
        "forget": {"size": 30},
        "mnist1d": {"num_samples": 500, "seed": 7},
        "original": {"epochs": 2, "batch_size": 64, "optimizer": "adam", "lr": 0.001, "weight_decay": 0.0},
        "evaluation": {"mia_max_examples": 200},
    }
    ws = Workspace(spec_from_dict(raw), device=torch.device("cpu"))
    original, record = ws.original(0.25, 0.5)
    assert record.param_count == 13_578 and sparsity_of(original) == pytest.approx(0.5, abs=0.01)
    for method in TUNED_METHODS:
        result = ws.run_trial(width=0.25, sparsity=0.5, method=method, goal="privacy", params={"epochs": 1})
        assert all(v == v for v in result.values), method  # finite objectives, no NaN
        _, unlearned, _, _ = ws.unlearn(width=0.25, sparsity=0.5, method=method, params={"epochs": 1})
        assert sparsity_of(unlearned) >= sparsity_of(original) - 1e-9, method
