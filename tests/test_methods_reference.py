"""Every method against an independent transcription of its reference code.

Each test runs the project's method and, written out here step by step with plain torch (no
project code), the loop of the reference implementation it follows, on the same small model with
BatchNorm and the same fixed batches. Batches come in *passes*: the k-th ``iter()`` of a split is
its k-th pass (a shuffled ``DataLoader`` with a known shuffle), so a method that walks its splits
in a different order than the reference does not match. Parameters and BatchNorm buffers
(running mean/var, batch count) must agree within 1e-6.

References (fetched from GitHub):
- SCRUB: meghdadk/SCRUB ``large_scale_unlearning.ipynb`` (the SCRUB epoch loop and
  ``args.sgda_*``), ``thirdparty/repdistiller/helper/loops.py:train_distill``,
  ``helper/util.py:adjust_learning_rate``, ``distiller_zoo/KD.py:DistillKL``.
- NegGrad+: meghdadk/SCRUB ``loops.py:train_negrad`` driven by ``negative_grad`` in
  ``large_scale_ictest.ipynb`` (``torch.optim.SGD(lr, weight_decay=0.0)``, ``ng_*``).
- GA, ℓ1-sparse, FT: OPTML-Group/Unlearn-Sparse ``unlearn/GA.py:GA``, ``unlearn/FT.py:FT_iter``
  (``with_l1``), run by ``unlearn/impl.py:_iterative_unlearn_impl`` (SGD momentum 0.9, wd 5e-4,
  ``MultiStepLR([91, 136], 0.1)`` stepped per epoch); defaults from its README and arg_parser.py.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from unlearn_opt.methods import complete_params, get_method
from unlearn_opt.methods.base import UnlearnInputs

Batch = tuple[torch.Tensor, torch.Tensor]
Pass = list[Batch]
TOL = 1e-6


class Net(nn.Module):
    """conv → BatchNorm → ReLU → linear, on 1×4×4 inputs, 3 classes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(64, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))


def original() -> nn.Module:
    """A model with non-trivial BatchNorm statistics, in eval mode (as an original is)."""
    torch.manual_seed(3)
    model = Net()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 4, 4) * 2 + 0.5)
    return model.eval()


def make_passes(n: int, sizes: tuple[int, ...], count: int, seed: int) -> list[Pass]:
    """``count`` passes over one split of ``n`` examples, each a fresh permutation cut into batches."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 4, 4, generator=g)
    y = torch.randint(0, 3, (n,), generator=g)
    out = []
    for _ in range(count):
        order = torch.randperm(n, generator=g)
        batches, start = [], 0
        for size in sizes:
            idx = order[start : start + size]
            batches.append((x[idx], y[idx]))
            start += size
        out.append(batches)
    return out


class Passes:
    """The k-th ``iter()`` yields pass k; asking for more passes than given is an error."""

    def __init__(self, passes: list[Pass]) -> None:
        self.passes = passes
        self.taken = 0

    def __iter__(self) -> Iterator[Batch]:
        if self.taken >= len(self.passes):
            raise AssertionError(
                f"the method started pass {self.taken + 1} of a split that the reference iterates {len(self.passes)} times"
            )
        self.taken += 1
        return iter(self.passes[self.taken - 1])

    def __len__(self) -> int:
        return len(self.passes[0])


def project(method: str, params: dict[str, float], retain: list[Pass] | None, forget: list[Pass] | None) -> nn.Module:
    """The project's method on a copy of the original, every other hyperparameter at its default."""
    teacher = original()
    inputs = UnlearnInputs(
        model=copy.deepcopy(teacher),
        original=teacher,
        device=torch.device("cpu"),
        retain=None if retain is None else Passes(retain),
        forget=None if forget is None else Passes(forget),
    )
    return get_method(method).unlearn(inputs, complete_params(method, params))


def assert_same(got: nn.Module, want: nn.Module) -> None:
    a, b = got.state_dict(), want.state_dict()
    assert a.keys() == b.keys() and any("running_var" in k for k in a)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=TOL, msg=lambda m, k=key: f"{k}: {m}")


R_SIZES, F_SIZES = (4, 4, 3), (3, 2)  # R has more batches than F: NegGrad+ cycles F


# ------------------------------------------------------------------------------------- SCRUB


def distill_kl_reference(y_s: torch.Tensor, y_t: torch.Tensor, T: float) -> torch.Tensor:
    """KD.py DistillKL.forward: kl_div(log_softmax(y_s/T), softmax(y_t/T), size_average=False)·T²/n."""
    p_s = F.log_softmax(y_s / T, dim=1)
    p_t = F.softmax(y_t / T, dim=1)
    return F.kl_div(p_s, p_t, reduction="sum") * (T**2) / y_s.shape[0]


def scrub_reference(retain: list[Pass], forget: list[Pass], *, epochs: int, lr: float) -> nn.Module:
    # large_scale_unlearning.ipynb, args cell: the CIFAR settings.
    gamma, alpha, msteps, kd_T = 0.99, 0.001, 2, 4.0
    lr_decay_epochs, lr_decay_rate, momentum, weight_decay = [3, 5, 9], 0.1, 0.9, 5e-4
    model_t = original()
    model_s = copy.deepcopy(model_t)
    optimizer = torch.optim.SGD(model_s.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    r_passes, f_passes = iter(retain), iter(forget)

    def train_distill(loader: Pass, split: str) -> None:  # loops.py train_distill, distill = "kd"
        model_s.train()
        model_t.eval()
        for inp, target in loader:
            logit_s = model_s(inp)
            with torch.no_grad():
                logit_t = model_t(inp)
            loss_cls = F.cross_entropy(logit_s, target)
            loss_div = distill_kl_reference(logit_s, logit_t, kd_T)
            loss = gamma * loss_cls + alpha * loss_div if split == "minimize" else -loss_div
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    for epoch in range(1, epochs + 1):
        steps = sum(epoch > d for d in lr_decay_epochs)  # util.py adjust_learning_rate
        if steps > 0:
            for group in optimizer.param_groups:
                group["lr"] = lr * lr_decay_rate**steps
        if epoch <= msteps:
            train_distill(next(f_passes), "maximize")
        train_distill(next(r_passes), "minimize")
    return model_s


@pytest.mark.parametrize("epochs", [5, 10])
def test_scrub_matches_reference_with_lr_decay(epochs: int) -> None:
    """Epochs 4–5 at lr·0.1, 6–9 at lr·0.01, 10 at lr·0.001; F is read in epochs 1 and 2 only."""
    retain = make_passes(11, R_SIZES, epochs, seed=1)
    forget = make_passes(5, F_SIZES, 2, seed=2)
    lr = 0.05  # large enough that the decayed and undecayed runs differ far above 1e-6
    got = project("scrub", {"epochs": epochs, "lr": lr}, retain, forget)
    assert_same(got, scrub_reference(retain, forget, epochs=epochs, lr=lr))


# ------------------------------------------------------------------------------------ NegGrad+


def neggrad_reference(retain: list[Pass], forget: list[Pass], *, epochs: int, lr: float, alpha: float) -> nn.Module:
    model = copy.deepcopy(original())
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=0.0)  # negative_grad
    for epoch in range(epochs):  # train_negrad(epoch, retain_loader, forget_loader, ...)
        model.train()
        for (inp, target), (del_input, del_target) in zip(retain[epoch], itertools.cycle(forget[epoch])):
            output = model(inp)
            del_output = model(del_input)
            r_loss = F.cross_entropy(output, target)
            del_loss = F.cross_entropy(del_output, del_target)
            loss = alpha * r_loss - (1 - alpha) * del_loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model


@pytest.mark.parametrize(
    "params",
    [{}, {"lr": 0.05, "alpha": 0.5, "epochs": 3}],
    ids=["defaults", "strong-forget-term"],
)
def test_neggrad_matches_reference_at_default_optimizer(params: dict[str, float]) -> None:
    """Momentum 0 and weight decay 0 by default; F restarts each epoch and cycles within it."""
    full = {"lr": 0.01, "alpha": 0.9999, "epochs": 10, **params}
    retain = make_passes(11, R_SIZES, int(full["epochs"]), seed=3)
    forget = make_passes(5, F_SIZES, int(full["epochs"]), seed=4)
    got = project("neggrad", params, retain, forget)
    assert_same(got, neggrad_reference(retain, forget, epochs=int(full["epochs"]), lr=full["lr"], alpha=full["alpha"]))


# ------------------------------------------------------------------- Unlearn-Sparse's methods


def sparse_repo_reference(passes: list[Pass], *, epochs: int, lr: float, step_loss: str, alpha: float = 0.0) -> nn.Module:
    """impl.py _iterative_unlearn_impl around GA / FT_iter: SGD(momentum 0.9, wd 5e-4),
    MultiStepLR([91, 136]) stepped after each epoch."""
    model = copy.deepcopy(original())
    optimizer = torch.optim.SGD(model.parameters(), lr, momentum=0.9, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[91, 136], gamma=0.1)
    for epoch in range(epochs):
        model.train()
        current_alpha = alpha * (1 - epoch / (epochs - 0))  # FT_iter, no_l1_epochs = 0
        for image, target in passes[epoch]:
            output_clean = model(image)
            if step_loss == "ga":  # GA.py
                loss = -F.cross_entropy(output_clean, target)
            else:  # FT.py FT_iter; l1_regularization = ‖cat(params)‖₁
                loss = F.cross_entropy(output_clean, target)
                if step_loss == "ft_l1":
                    loss = loss + current_alpha * torch.linalg.norm(torch.cat([p.view(-1) for p in model.parameters()]), ord=1)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
    return model


@pytest.mark.parametrize("params", [{}, {"lr": 0.05, "epochs": 4}], ids=["defaults", "larger-lr"])
def test_gradient_ascent_matches_reference(params: dict[str, float]) -> None:
    """−CE on F only, one step per F batch, epochs = passes over F; R is never read."""
    full = {"lr": 1e-4, "epochs": 5, **params}  # README: GA --unlearn_lr 0.0001 --unlearn_epochs 5
    forget = make_passes(5, F_SIZES, int(full["epochs"]), seed=5)
    got = project("gradient_ascent", params, None, forget)
    want = sparse_repo_reference(forget, epochs=int(full["epochs"]), lr=full["lr"], step_loss="ga")
    assert_same(got, want)


def test_l1_sparse_matches_reference_over_ten_epochs() -> None:
    retain = make_passes(11, R_SIZES, 10, seed=6)
    params = {"epochs": 10, "lr": 0.05, "alpha": 5e-3}
    got = project("l1_sparse", params, retain, None)
    assert_same(got, sparse_repo_reference(retain, epochs=10, lr=0.05, step_loss="ft_l1", alpha=5e-3))


def test_finetune_matches_reference_at_defaults() -> None:
    """README: FT --unlearn_lr 0.01 --unlearn_epochs 10 (momentum 0.9, wd 5e-4)."""
    retain = make_passes(11, R_SIZES, 10, seed=7)
    got = project("finetune", {}, retain, None)
    assert_same(got, sparse_repo_reference(retain, epochs=10, lr=0.01, step_loss="ft"))


# ------------------------------------------------------------------------------ the defaults


def test_declared_defaults_are_the_references() -> None:
    """The defaults of each method, with the reference they come from (see each method's file)."""
    want = {
        # SCRUB large_scale_unlearning.ipynb: args.sgda_*, msteps, alpha, gamma, kd_T; loaders 256 / 512
        "scrub": dict(
            lr=5e-4,
            epochs=3,
            max_steps=2,
            alpha=1e-3,
            gamma=0.99,
            temperature=4.0,
            momentum=0.9,
            weight_decay=5e-4,
            lr_decay_epoch_1=3,
            lr_decay_epoch_2=5,
            lr_decay_epoch_3=9,
            lr_decay_rate=0.1,
            batch_size=256,
            forget_batch_size=512,
        ),
        # SCRUB large_scale_ictest.ipynb: ng_lr, ng_epochs, ng_alpha, SGD(weight_decay=0), ng_bs, forget_bs
        "neggrad": dict(lr=0.01, epochs=10, alpha=0.9999, momentum=0.0, weight_decay=0.0, batch_size=128, forget_batch_size=32),
        # Unlearn-Sparse README GA command + arg_parser defaults
        "gradient_ascent": dict(lr=1e-4, epochs=5, momentum=0.9, weight_decay=5e-4, forget_batch_size=256),
        "l1_sparse": dict(lr=0.01, epochs=10, alpha=1e-4, momentum=0.9, weight_decay=5e-4, batch_size=256),
        "finetune": dict(lr=0.01, epochs=10, momentum=0.9, weight_decay=5e-4, batch_size=256),
        "retrain": {},
    }
    assert {name: get_method(name).defaults() for name in want} == want
    tuned = {name: {p.name for p in get_method(name).space if p.tuned} for name in want}
    assert tuned == {
        "scrub": {"lr", "epochs", "max_steps", "alpha", "gamma", "temperature"},
        "neggrad": {"lr", "epochs", "alpha"},
        "gradient_ascent": {"lr", "epochs"},
        "l1_sparse": {"lr", "epochs", "alpha"},
        "finetune": {"lr", "epochs"},
        "retrain": set(),
    }


# ------------------------------------------------------------------------ batches in the engine


@pytest.mark.slow
def test_workspace_gives_each_method_its_batch_sizes_capped_at_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.spec import spec_from_dict

    raw = {
        "name": "batches",
        "dataset": "synthetic",
        "architecture": "mlp",
        "widths": [0.25],
        "methods": ["scrub", "gradient_ascent", "finetune", "retrain"],
        "synthetic": {"train_size": 400, "test_size": 100, "channels": 1, "image_size": 8},
        "forget": {"size": 40},
        "original": {"epochs": 1},
    }
    ws = Workspace(spec_from_dict(raw), device=torch.device("cpu"))
    ws.original(0.25)
    n_r, n_f = len(ws.splits.retain), len(ws.splits.forget)
    assert n_f == 40 and 256 < n_r < 512
    built: list[tuple[str, int]] = []
    real = ws.batches

    def spy(which: str, *, batch_size: int, seed: int, augment: bool):
        built.append((which, batch_size))
        return real(which, batch_size=batch_size, seed=seed, augment=augment)

    monkeypatch.setattr(ws, "batches", spy)

    def run(method: str, params: dict) -> dict:
        built.clear()
        return ws.unlearn(width=0.25, sparsity=0.0, method=method, params=params)[2]

    full = run("scrub", {"epochs": 1})
    assert (full["batch_size"], full["forget_batch_size"]) == (256, 40)  # 512 capped at |F|
    assert built == [("retain", 256), ("forget", 40)]
    assert run("gradient_ascent", {"epochs": 1})["forget_batch_size"] == 40 and built == [("forget", 40)]
    assert run("finetune", {"epochs": 1, "batch_size": 1000})["batch_size"] == n_r and built == [("retain", n_r)]
    ws.retrain = lambda width, depth=1: (original(), None)
    run("retrain", {})
    assert built == []  # retrain reads no batches
