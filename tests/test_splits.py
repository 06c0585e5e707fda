"""Splits (docs/design.md §2): disjoint, right sizes, Ft's histogram = F's, the same in another process."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from unlearn_opt.data.splits import Splits, make_splits
from unlearn_opt.errors import UserError


def labels(n: int, k: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, k, size=n)


Y_TRAIN, Y_TEST = labels(3000, 10, 0), labels(1000, 10, 1)


def build(**kw) -> Splits:
    args = dict(y_train=Y_TRAIN, y_test=Y_TEST, num_classes=10, seed=3, forget_size=200)
    args.update(kw)
    return make_splits(**args)


def test_disjoint_and_sizes() -> None:
    s = build(val_fraction=0.1)
    train_sets = [set(s.val), set(s.forget), set(s.retain)]
    assert sum(len(a) for a in train_sets) == len(Y_TRAIN) == len(set().union(*train_sets))
    assert len(s.forget) == 200
    assert len(set(s.forget_test) | set(s.test)) == len(Y_TEST) == len(s.forget_test) + len(s.test)
    # V is a stratified 10% of each class
    for c in range(10):
        n_c = int((Y_TRAIN == c).sum())
        assert int((Y_TRAIN[s.val] == c).sum()) == round(0.1 * n_c)


def test_forget_test_histogram_equals_forget() -> None:
    s = build()
    assert np.array_equal(np.bincount(Y_TRAIN[s.forget], minlength=10), np.bincount(Y_TEST[s.forget_test], minlength=10))


def test_class_selection_and_corruption() -> None:
    s = build(selection="classes", classes=(2, 5), forget_size=50, corrupt_labels=True)
    assert set(Y_TRAIN[s.forget]) <= {2, 5}
    assert np.all(s.forget_labels != s.forget_true_labels)
    assert np.array_equal(s.forget_true_labels, Y_TRAIN[s.forget])
    assert set(Y_TEST[s.forget_test]) <= {2, 5}


def test_deterministic_and_seed_dependent() -> None:
    assert build().to_dict() == build().to_dict()
    assert build(seed=4).to_dict() != build().to_dict()
    assert Splits.from_dict(json.loads(json.dumps(build().to_dict()))).digest() == build().digest()


@pytest.mark.slow
def test_same_indices_in_another_process() -> None:
    code = (
        "import json, numpy as np\n"
        "from unlearn_opt.data.splits import make_splits\n"
        "r = lambda n, s: np.random.default_rng(s).integers(0, 10, size=n)\n"
        "s = make_splits(y_train=r(3000, 0), y_test=r(1000, 1), num_classes=10, seed=3, forget_size=200)\n"
        "print(s.digest())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == build().digest()


def test_forget_larger_than_pool_is_a_clear_error() -> None:
    with pytest.raises(UserError, match=r"^forget.size: 5000 is larger than the train pool \(2700 examples\)"):
        build(forget_size=5000)
    with pytest.raises(UserError, match="class 12 does not exist"):
        build(selection="classes", classes=(12,))
