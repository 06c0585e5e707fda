"""The engine a worker keeps between trials: the dataset on the device, the splits, and the
original models (trained once, cached in memory), with one function per trial."""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearn_opt.data import TensorData, load_dataset
from unlearn_opt.data.loader import DeviceBatches
from unlearn_opt.data.splits import Splits, make_splits
from unlearn_opt.engine.runtime import clone_model, prepare_model
from unlearn_opt.engine.training import train
from unlearn_opt.goals import get_goal
from unlearn_opt.methods import FORGET_BATCH, RETAIN_BATCH, complete_params, get_method
from unlearn_opt.methods.base import UnlearnInputs
from unlearn_opt.methods.prune import global_magnitude_prune, masks_of
from unlearn_opt.metrics import EvalSets, evaluate
from unlearn_opt.metrics.decision_regions import RegionScores, region_scores
from unlearn_opt.models import build_model, count_parameters
from unlearn_opt.spec import Spec

OVERPARAMETERIZED_TRAIN_ERROR = 0.005


@dataclass(frozen=True)
class OriginalRecord:
    """What is recorded about an original (or retrain) model."""

    width: float
    sparsity: float
    param_count: int
    train_error: float
    test_error: float
    overparameterized: bool
    train_seconds: float
    metrics: Mapping[str, float]
    depth: int = 1  # records of earlier versions have none: depth 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["metrics"] = dict(self.metrics)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OriginalRecord:
        return cls(**{**raw, "metrics": dict(raw["metrics"])})


@dataclass(frozen=True)
class TrialResult:
    """One trial's outcome: the goal's two objective values (the study's, in order) and every
    metric of docs/design.md §6 with ``unlearn_seconds``."""

    values: tuple[float, float]
    metrics: dict[str, float]


def spec_splits(spec: Spec, data: TensorData | None = None) -> Splits:
    """The experiment's splits (docs/design.md §2), made from the dataset's labels and the spec's seed:
    no model is built and nothing is moved to a device (``data``: the dataset, if loaded)."""
    if data is None:
        data = load_dataset(spec.dataset, data_dir=spec.data_dir, synthetic=spec.synthetic, mnist1d=spec.mnist1d)
    return make_splits(
        y_train=data.y_train.cpu().numpy(),
        y_test=data.y_test.cpu().numpy(),
        num_classes=data.num_classes,
        seed=spec.seed,
        val_fraction=spec.validation.fraction,
        forget_size=spec.forget.size,
        selection=spec.forget.selection,
        classes=spec.forget.classes,
        corrupt_labels=spec.forget.corrupt_labels,
        data_digest=data.digest(),
    )


def replicate_splits(spec: Spec, data: TensorData | None = None) -> list[Splits]:
    """Every replicate's splits (:meth:`Spec.for_replicate`), the dataset loaded once."""
    if data is None:
        data = load_dataset(spec.dataset, data_dir=spec.data_dir, synthetic=spec.synthetic, mnist1d=spec.mnist1d)
    return [spec_splits(spec.for_replicate(r), data) for r in range(spec.replicates)]


def state_to_bytes(model: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def state_from_bytes(blob: bytes) -> dict[str, torch.Tensor]:
    """A state dict from :func:`state_to_bytes` output (``weights_only=True``: tensors only)."""
    return torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)


class Workspace:
    """Dataset, splits and originals of one experiment on one device.

    ``data`` and ``splits`` may be passed in (a worker rebuilds the stored splits); otherwise they
    are loaded and made from the spec.
    """

    def __init__(
        self,
        spec: Spec,
        *,
        device: torch.device,
        data: TensorData | None = None,
        splits: Splits | None = None,
        progress: bool = False,
    ) -> None:
        self.spec = spec
        self.device = device
        self.progress = progress
        if spec.runtime.deterministic:  # reproducible kernels, at some cost in speed
            torch.use_deterministic_algorithms(True, warn_only=True)
            torch.backends.cudnn.benchmark = False
        elif device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        if data is None:
            data = load_dataset(spec.dataset, data_dir=spec.data_dir, synthetic=spec.synthetic, mnist1d=spec.mnist1d)
        self.data = data.to(device)
        self.splits = spec_splits(spec, data) if splits is None else splits
        self.sets = self._eval_sets(self.splits)
        self._originals: dict[tuple[float, float, int], tuple[nn.Module, OriginalRecord]] = {}  # (w, s, d)
        self._retrains: dict[tuple[float, int], tuple[nn.Module, OriginalRecord]] = {}  # (w, d)

    # ---------------------------------------------------------------- set-up

    def _eval_sets(self, s: Splits) -> EvalSets:
        dev = self.device

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.int64), device=dev)

        ytr, yte = self.data.y_train, self.data.y_test
        val, forget, retain, ft, test = t(s.val), t(s.forget), t(s.retain), t(s.forget_test), t(s.test)
        return EvalSets(
            val=val,
            val_labels=ytr[val],
            forget=forget,
            forget_labels=t(s.forget_labels),
            forget_true_labels=t(s.forget_true_labels),
            retain=retain,
            retain_labels=ytr[retain],
            forget_test=ft,
            forget_test_labels=yte[ft],
            test=test,
            test_labels=yte[test],
        )

    def new_model(self, width: float, *, seed: int | None = None, depth: int = 1) -> nn.Module:
        """A freshly initialized model of the spec's architecture (init seeded)."""
        torch.manual_seed(self.spec.seed if seed is None else seed)
        model = build_model(
            self.spec.architecture,
            width=width,
            depth=depth,
            num_classes=self.data.num_classes,
            input_shape=self.data.example_shape,
        )
        model = prepare_model(model, self.device)
        if self.spec.runtime.compile:  # in place: parameters and state_dict keys unchanged
            model.compile()
        return model

    def batches(self, which: str, *, batch_size: int, seed: int, augment: bool) -> DeviceBatches:
        """``pool`` (F with its trained labels ∪ R), ``retain`` or ``forget`` as shuffled batches."""
        s = self.sets
        if which == "pool":
            idx = torch.cat([s.forget, s.retain])
            labels = torch.cat([s.forget_labels, s.retain_labels])
        elif which == "retain":
            idx, labels = s.retain, s.retain_labels
        elif which == "forget":
            idx, labels = s.forget, s.forget_labels
        else:
            raise ValueError(which)
        return DeviceBatches(
            self.data,
            split="train",
            indices=idx,
            labels=labels,
            batch_size=batch_size,
            shuffle=True,
            augment=augment,
            seed=seed,
        )

    def evaluate(self, model: nn.Module) -> dict[str, float]:
        ev = self.spec.evaluation
        return evaluate(
            model,
            data=self.data,
            sets=self.sets,
            batch_size=ev.batch_size,
            mia_max_examples=ev.mia_max_examples,
            seed=self.spec.seed,
        )

    def _record(self, model: nn.Module, *, width: float, sparsity: float, seconds: float, depth: int = 1) -> OriginalRecord:
        metrics = self.evaluate(model)
        n_f, n_r = len(self.splits.forget), len(self.splits.retain)
        # the wrong counts are integers (error · n rounds back to them exactly), so the train
        # error is their exact fraction too
        wrong = round(metrics["forget_error"] * n_f) + round(metrics["retain_error"] * n_r)
        train_error = wrong / (n_f + n_r)
        return OriginalRecord(
            width=width,
            sparsity=sparsity,
            param_count=count_parameters(model),
            train_error=train_error,
            test_error=metrics["test_error"],
            overparameterized=train_error <= OVERPARAMETERIZED_TRAIN_ERROR,
            train_seconds=seconds,
            metrics=metrics,
            depth=depth,
        )

    # ---------------------------------------------------------------- originals

    def train_original(self, width: float, sparsity: float = 0.0, *, depth: int = 1) -> tuple[nn.Module, OriginalRecord]:
        """Train the original at (width, sparsity, depth): dense on the pool with the recipe; with
        sparsity s > 0 the dense original is pruned (global magnitude, conv weights) and
        fine-tuned on the pool with the masks held for ``prune_epochs``."""
        recipe = self.spec.original
        start = time.perf_counter()
        if sparsity > 0:
            dense, _ = self.original(width, 0.0, depth=depth)
            model = clone_model(dense)
            masks = global_magnitude_prune(model, sparsity)
            epochs = recipe.epochs if recipe.prune_epochs is None else recipe.prune_epochs
            desc = f"prune w={width:g} d={depth} s={sparsity:g}"
        else:
            model, masks, epochs = self.new_model(width, depth=depth), {}, recipe.epochs
            desc = f"original w={width:g} d={depth}"
        if epochs:
            batches = self.batches("pool", batch_size=recipe.batch_size, seed=self.spec.seed, augment=recipe.augment)
            train(
                model,
                batches,
                recipe=recipe,
                device=self.device,
                epochs=epochs,
                masks=masks,
                description=desc,
                progress=self.progress,
            )
        record = self._record(model, width=width, sparsity=sparsity, seconds=time.perf_counter() - start, depth=depth)
        return model, record

    def original(self, width: float, sparsity: float = 0.0, *, depth: int = 1) -> tuple[nn.Module, OriginalRecord]:
        """The cached original, trained here on first use."""
        key = (float(width), float(sparsity), int(depth))
        if key not in self._originals:
            self._originals[key] = self.train_original(width, sparsity, depth=depth)
        return self._originals[key]

    def has_original(self, width: float, sparsity: float = 0.0, *, depth: int = 1) -> bool:
        return (float(width), float(sparsity), int(depth)) in self._originals

    def put_original(
        self, width: float, sparsity: float, state: Mapping[str, torch.Tensor], record: OriginalRecord, *, depth: int = 1
    ) -> nn.Module:
        """Install an original trained elsewhere (a worker loads it from the artifact store)."""
        model = self.new_model(width, depth=depth)
        model.load_state_dict(state)
        self._originals[(float(width), float(sparsity), int(depth))] = (model, record)
        return model

    def train_retrain(self, width: float, *, depth: int = 1) -> tuple[nn.Module, OriginalRecord]:
        """Exact unlearning: a fresh model trained on R alone with the original recipe."""
        recipe = self.spec.original
        start = time.perf_counter()
        model = self.new_model(width, seed=self.spec.seed + 1, depth=depth)
        batches = self.batches("retain", batch_size=recipe.batch_size, seed=self.spec.seed + 1, augment=recipe.augment)
        desc = f"retrain w={width:g} d={depth}"
        train(model, batches, recipe=recipe, device=self.device, description=desc, progress=self.progress)
        return model, self._record(model, width=width, sparsity=0.0, seconds=time.perf_counter() - start, depth=depth)

    def retrain(self, width: float, *, depth: int = 1) -> tuple[nn.Module, OriginalRecord]:
        """The cached retrain reference of (``width``, ``depth``)."""
        key = (float(width), int(depth))
        if key not in self._retrains:
            self._retrains[key] = self.train_retrain(width, depth=depth)
        return self._retrains[key]

    def put_retrain(self, width: float, state: Mapping[str, torch.Tensor], record: OriginalRecord, *, depth: int = 1) -> None:
        model = self.new_model(width, seed=self.spec.seed + 1, depth=depth)
        model.load_state_dict(state)
        self._retrains[(float(width), int(depth))] = (model, record)

    # ---------------------------------------------------------------- trials

    def unlearn(
        self,
        *,
        width: float,
        sparsity: float,
        method: str,
        params: Mapping[str, Any],
        seed: int | None = None,
        depth: int = 1,
    ) -> tuple[nn.Module, nn.Module, dict[str, float | int], float]:
        """Run ``method`` on a copy of the original: (original, unlearned, full params, seconds).

        The method's ``batch_size`` / ``forget_batch_size`` are capped at |R| / |F| (the value in
        the returned params is the one used)."""
        m = get_method(method)
        full = complete_params(method, params, self.spec)
        original, _ = self.original(width, sparsity, depth=depth)
        seed = self.spec.seed if seed is None else seed
        masks = masks_of(original) if sparsity > 0 else None
        augment = self.spec.unlearning.augment
        split: dict[str, DeviceBatches] = {}
        for key, which, offset in ((RETAIN_BATCH, "retain", 0), (FORGET_BATCH, "forget", 1)):
            if m.has(key):
                full[key] = max(1, min(int(full[key]), len(getattr(self.sets, which))))
                split[which] = self.batches(which, batch_size=int(full[key]), seed=seed + offset, augment=augment)
        inputs = UnlearnInputs(
            model=clone_model(original),
            original=original,
            device=self.device,
            retain=split.get("retain"),
            forget=split.get("forget"),
            masks=masks,
            retrain=lambda: self.retrain(width, depth=depth)[0],
        )
        torch.manual_seed(seed)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        start = time.perf_counter()
        unlearned = m.unlearn(inputs, full)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return original, unlearned, full, time.perf_counter() - start

    def run_trial(
        self,
        *,
        width: float,
        sparsity: float,
        method: str,
        goal: str,
        params: Mapping[str, Any],
        seed: int | None = None,
        depth: int = 1,
    ) -> TrialResult:
        """Unlearn and evaluate: the goal's objective values and every metric of docs/design.md §6."""
        chosen = get_goal(goal)  # an unknown goal fails before any work
        _, unlearned, _, seconds = self.unlearn(
            width=width, sparsity=sparsity, method=method, params=params, seed=seed, depth=depth
        )
        metrics = self.evaluate(unlearned)
        metrics["unlearn_seconds"] = seconds
        return TrialResult(chosen.values(metrics), metrics)

    def regions(self, original: nn.Module, unlearned: nn.Module, *, delta: float | None = None, seed: int = 0) -> RegionScores:
        """C_prox(δ) and S_far(δ) of an unlearned model against its original."""
        ev = self.spec.evaluation
        d = self.data
        forget_x = d.normalize(d.x_train[self.sets.forget])
        test_x = d.normalize(d.x_test[self.sets.test])
        return region_scores(
            original=original,
            unlearned=unlearned,
            forget_x=forget_x,
            test_x=test_x,
            delta=ev.delta if delta is None else delta,
            samples=ev.region_samples,
            seed=seed,
            batch_size=ev.batch_size,
        )
