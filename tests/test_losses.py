"""Each method's loss and update checked against its formula, computed by hand here."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from tests.helpers import ListBatches
from unlearn_opt.methods import complete_params, get_method, l1_sparse, neggrad, scrub
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.losses import distill_kl, l1_norm

torch.manual_seed(0)


def tiny() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def batch(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 2, 2, generator=g), torch.randint(0, 3, (n,), generator=g)


def kl_by_hand(s: torch.Tensor, t: torch.Tensor, temp: float) -> torch.Tensor:
    """KL(p_t ‖ p_s)·T², mean over the batch, written out: Σ_c p_t,c (log p_t,c − log p_s,c)."""
    p_t = torch.exp(t / temp) / torch.exp(t / temp).sum(1, keepdim=True)
    p_s = torch.exp(s / temp) / torch.exp(s / temp).sum(1, keepdim=True)
    return (p_t * (p_t.log() - p_s.log())).sum(1).mean() * temp**2


def ce_by_hand(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logp = logits - logits.exp().sum(1, keepdim=True).log()
    return -logp[torch.arange(len(y)), y].mean()


def test_distill_kl_direction_and_temperature() -> None:
    s = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]])
    t = torch.tensor([[0.0, 1.0, 0.0], [1.0, -2.0, 0.0]])
    for temp in (1.0, 4.0):
        assert distill_kl(s, t, temp) == pytest.approx(float(kl_by_hand(s, t, temp)), rel=1e-5)
    # KL is not symmetric: the teacher is the first argument of KL(p_t ‖ p_s).
    assert float(distill_kl(s, t, 4.0)) != pytest.approx(float(kl_by_hand(t, s, 4.0)), rel=1e-3)
    # T² scaling: with T = 4 the value is 16 × the KL of the softened distributions.
    soft = kl_by_hand(s, t, 4.0) / 16.0
    assert float(distill_kl(s, t, 4.0)) == pytest.approx(16.0 * float(soft), rel=1e-5)


def test_scrub_losses_match_formulas() -> None:
    student, teacher = tiny(), tiny()
    with torch.no_grad():
        for p in teacher.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(5)))
    x, y = batch(5, 2)
    s, t = student(x).detach(), teacher(x).detach()
    want_max = -float(kl_by_hand(s, t, 4.0))
    assert abs(want_max) > 1e-3
    assert float(scrub.max_loss(student, teacher, x, 4.0).detach()) == pytest.approx(want_max, rel=1e-5)
    got = scrub.min_loss(student, teacher, x, y, alpha=0.3, gamma=0.7, temperature=2.0)
    want = 0.7 * ce_by_hand(s, y) + 0.3 * kl_by_hand(s, t, 2.0)
    assert float(got.detach()) == pytest.approx(float(want), rel=1e-5)


def sgd_step(model: nn.Module, loss: torch.Tensor, lr: float) -> None:
    grads = torch.autograd.grad(loss, list(model.parameters()))
    with torch.no_grad():
        for p, g in zip(model.parameters(), grads):
            p.sub_(lr * g)


def run(method: str, model: nn.Module, original: nn.Module, retain, forget, **params) -> nn.Module:
    full = complete_params(method, {"momentum": 0.0, "weight_decay": 0.0, **params})
    inputs = UnlearnInputs(model=model, original=original, retain=retain, forget=forget, device=torch.device("cpu"))
    return get_method(method).unlearn(inputs, full)


def test_scrub_schedule_max_then_min_passes() -> None:
    """epochs = 2, max_steps = 1: epoch 1 = max step on F then min step on R; epoch 2 = min only."""
    teacher = tiny()
    with torch.no_grad():
        for p in teacher.parameters():
            p.mul_(-1.0)
    xf, _ = batch(4, 3)
    xr, yr = batch(6, 4)
    lr, a, g, temp = 0.1, 0.5, 0.9, 3.0
    got = run(
        "scrub",
        tiny(),
        teacher,
        ListBatches([(xr, yr)]),
        ListBatches([(xf, torch.zeros(4, dtype=torch.long))]),
        lr=lr,
        epochs=2,
        max_steps=1,
        alpha=a,
        gamma=g,
        temperature=temp,
    )
    want = tiny()
    t_f, t_r = teacher(xf).detach(), teacher(xr).detach()
    sgd_step(want, -kl_by_hand(want(xf), t_f, temp), lr)  # max pass: minimize −KL
    for _ in range(2):  # min pass of epochs 1 and 2
        s = want(xr)
        sgd_step(want, g * ce_by_hand(s, yr) + a * kl_by_hand(s, t_r, temp), lr)
    for p, q in zip(got.parameters(), want.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0])
def test_neggrad_plus_weighting(alpha: float) -> None:
    xr, yr = batch(6, 5)
    xf, yf = batch(3, 6)
    model = tiny()
    value = neggrad.loss(model, xr, yr, xf, yf, alpha=alpha)
    want = alpha * ce_by_hand(model(xr), yr) - (1 - alpha) * ce_by_hand(model(xf), yf)
    assert float(value.detach()) == pytest.approx(float(want.detach()), rel=1e-5, abs=1e-7)
    # one epoch over one R batch paired with one F batch = one SGD step on that loss
    got = run("neggrad", tiny(), tiny(), ListBatches([(xr, yr)]), ListBatches([(xf, yf)]), lr=0.05, epochs=1, alpha=alpha)
    ref = tiny()
    sgd_step(ref, alpha * ce_by_hand(ref(xr), yr) - (1 - alpha) * ce_by_hand(ref(xf), yf), 0.05)
    for p, q in zip(got.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_l1_coefficient_every_epoch() -> None:
    alpha, epochs = 1e-2, 4
    assert [l1_sparse.l1_coefficient(alpha, t, epochs) for t in range(epochs)] == pytest.approx([1e-2, 0.75e-2, 0.5e-2, 0.25e-2])
    xr, yr = batch(6, 7)
    got = run("l1_sparse", tiny(), tiny(), ListBatches([(xr, yr)]), ListBatches([]), lr=0.1, epochs=epochs, alpha=alpha)
    ref = tiny()
    for t in range(epochs):
        coef = alpha * (1 - t / epochs)
        l1 = sum(p.abs().sum() for p in ref.parameters())
        sgd_step(ref, ce_by_hand(ref(xr), yr) + coef * l1, 0.1)
    for p, q in zip(got.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_l1_norm_is_sum_of_absolute_values() -> None:
    model = tiny()
    assert float(l1_norm(model).detach()) == pytest.approx(sum(float(p.detach().abs().sum()) for p in model.parameters()))


def test_finetune_is_ce_on_retain() -> None:
    xr, yr = batch(6, 8)
    got = run("finetune", tiny(), tiny(), ListBatches([(xr, yr)]), ListBatches([]), lr=0.2, epochs=2)
    ref = tiny()
    for _ in range(2):
        sgd_step(ref, ce_by_hand(ref(xr), yr), 0.2)
    for p, q in zip(got.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_weight_decay_and_masks_keep_pruned_weights_zero() -> None:
    from unlearn_opt.methods.prune import global_magnitude_prune, sparsity_of

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 2), nn.Flatten(), nn.Linear(4, 3))
    original = copy.deepcopy(model)
    masks = global_magnitude_prune(model, 0.5)
    assert sparsity_of(model) == pytest.approx(0.5)
    # the smallest-magnitude half of the conv weights is the pruned one
    w = original[0].weight.detach().abs().flatten()
    kept = masks["0.weight"].flatten().bool()
    assert w[kept].min() >= w[~kept].max()
    x, y = batch(8, 9)
    full = complete_params("finetune", {"lr": 0.5, "epochs": 3, "weight_decay": 0.1})
    inputs = UnlearnInputs(
        model=model,
        original=original,
        retain=ListBatches([(x, y)]),
        device=torch.device("cpu"),
        masks=masks,
    )
    out = get_method("finetune").unlearn(inputs, full)
    assert torch.all(out[0].weight[masks["0.weight"] == 0] == 0)
    assert sparsity_of(out) == pytest.approx(0.5)
