"""The experiment's splits (docs/design.md §2), deterministic from the seed and serializable as indices.

From the train split: V (stratified hold-out), pool = train − V, F ⊂ pool, R = pool − F.
From the test split: Ft (same class histogram as F), T = test − Ft.

The digest covers the indices, F's labels and, when given, the dataset's own digest
(:meth:`TensorData.digest`), so two machines agree on it exactly when they hold the same data
and draw the same splits from it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearn_opt.errors import UserError

SPLIT_NAMES = ("val", "forget", "retain", "forget_test", "test")


@dataclass(frozen=True)
class Splits:
    """Index arrays into the dataset's train split (val, forget, retain) and test split
    (forget_test, test). ``forget_labels`` are F's labels as the original model sees them
    (corrupted with ``corrupt_labels``); ``forget_true_labels`` the dataset's own.
    ``data_digest`` identifies the data the indices point into ("" when unknown)."""

    val: np.ndarray
    forget: np.ndarray
    retain: np.ndarray
    forget_test: np.ndarray
    test: np.ndarray
    forget_labels: np.ndarray
    forget_true_labels: np.ndarray
    corrupted: bool = False
    data_digest: str = ""

    @property
    def pool(self) -> np.ndarray:
        """F ∪ R, in index order."""
        return np.sort(np.concatenate([self.forget, self.retain]))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k).tolist() for k in SPLIT_NAMES}
        out["forget_labels"] = self.forget_labels.tolist()
        out["forget_true_labels"] = self.forget_true_labels.tolist()
        out["corrupted"] = self.corrupted
        if self.data_digest:  # absent when unknown: digests of splits without one are unchanged
            out["data_digest"] = self.data_digest
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Splits:
        arrays = {k: np.asarray(raw[k], dtype=np.int64) for k in (*SPLIT_NAMES, "forget_labels", "forget_true_labels")}
        return cls(**arrays, corrupted=bool(raw["corrupted"]), data_digest=str(raw.get("data_digest", "")))

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def sizes(self) -> dict[str, int]:
        return {k: int(len(getattr(self, k))) for k in SPLIT_NAMES}


def make_splits(
    *,
    y_train: np.ndarray,
    y_test: np.ndarray,
    num_classes: int,
    seed: int,
    val_fraction: float = 0.1,
    forget_size: int = 200,
    selection: str = "random",
    classes: tuple[int, ...] = (),
    corrupt_labels: bool = False,
    data_digest: str = "",
) -> Splits:
    """Build the splits with a NumPy generator seeded by ``seed`` (the same on every machine);
    ``data_digest`` (the dataset's) is kept with them."""
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20_250_311]))

    val_parts = []
    for c in range(num_classes):
        members = np.flatnonzero(y_train == c)
        n_val = int(round(val_fraction * len(members)))
        if len(members) > 1:
            n_val = min(max(n_val, 1), len(members) - 1)
        val_parts.append(rng.choice(members, size=n_val, replace=False) if n_val else members[:0])
    val = np.sort(np.concatenate(val_parts)).astype(np.int64)
    pool = np.setdiff1d(np.arange(len(y_train)), val)

    if selection == "classes":
        bad = [c for c in classes if c >= num_classes]
        if bad:
            raise UserError(f"forget.classes: class {bad[0]} does not exist (the dataset has {num_classes})")
        candidates = pool[np.isin(y_train[pool], np.asarray(classes))]
        where = f"the pool examples of classes {list(classes)}"
    else:
        candidates = pool
        where = "the train pool"
    if forget_size > len(candidates):
        raise UserError(f"forget.size: {forget_size} is larger than {where} ({len(candidates)} examples)")
    forget = np.sort(rng.choice(candidates, size=forget_size, replace=False)).astype(np.int64)
    retain = np.setdiff1d(pool, forget).astype(np.int64)

    true_labels = y_train[forget]
    if corrupt_labels:
        if num_classes < 2:
            raise UserError("forget.corrupt_labels: needs at least 2 classes")
        shift = rng.integers(1, num_classes, size=forget_size)
        forget_labels = (true_labels + shift) % num_classes
    else:
        forget_labels = true_labels.copy()

    ft_parts = []
    hist = np.bincount(true_labels, minlength=num_classes)
    for c in np.flatnonzero(hist).tolist():
        members = np.flatnonzero(y_test == c)
        if hist[c] > len(members):
            raise UserError(
                f"forget.size: F has {hist[c]} examples of class {c} but the test split only "
                f"{len(members)}, so no forget-test set with F's class histogram exists"
            )
        ft_parts.append(rng.choice(members, size=int(hist[c]), replace=False))
    forget_test = np.sort(np.concatenate(ft_parts)).astype(np.int64)
    test = np.setdiff1d(np.arange(len(y_test)), forget_test).astype(np.int64)
    return Splits(
        val=val,
        forget=forget,
        retain=retain,
        forget_test=forget_test,
        test=test,
        forget_labels=forget_labels.astype(np.int64),
        forget_true_labels=true_labels.astype(np.int64),
        corrupted=corrupt_labels,
        data_digest=data_digest,
    )
