"""Experiment specs (docs/design.md §7): a TOML file loaded and validated into typed objects.

Every problem is a :class:`~unlearn_opt.errors.UserError` whose message is one line naming the
field (``forget.size``, ``widths[2]``, ...) and what is wrong with it.

Methods and their hyperparameters are declared in :mod:`unlearn_opt.methods.registry` (loading a
spec does not import torch). ``[search.METHOD]`` overrides one of METHOD's hyperparameters with a
range ``{ low, high, log }`` or a fixed value, for a method listed in ``methods`` only. Batch
sizes are per-method parameters (``batch_size`` for R, ``forget_batch_size`` for F) with the
reference's defaults, capped at the split's size; ``[unlearning] batch_size`` /
``forget_batch_size``, when set, give every method one value (see :class:`UnlearningSpec`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from unlearn_opt.errors import UserError
from unlearn_opt.goals import GOAL_NAMES
from unlearn_opt.methods.registry import METHOD_NAMES, Param, get_method

DATASETS = ("digits", "mnist1d", "cifar10", "cifar100", "tinyimagenet", "imagefolder", "synthetic")
ON_DISK_DATASETS = ("cifar10", "cifar100", "tinyimagenet", "imagefolder")
ARCHITECTURES = ("resnet18", "resnet50", "allcnn", "cnn", "cnn1d", "mlp", "transformer")
# Spatial dimensions of the examples: 2 = images (C, H, W), 1 = signals (C, L); None = any shape.
DATASET_SPATIAL_DIMS: dict[str, int] = {d: 1 if d == "mnist1d" else 2 for d in DATASETS}
ARCHITECTURE_SPATIAL_DIMS: dict[str, int | None] = {
    a: {"cnn1d": 1, "mlp": None, "transformer": None}.get(a, 2) for a in ARCHITECTURES
}
EXAMPLE_KINDS = {1: "1-D signals (C, L)", 2: "images (C, H, W)"}
METHODS = METHOD_NAMES  # declared in unlearn_opt.methods.registry
GOALS = GOAL_NAMES
SAMPLERS = ("tpe", "nsga2", "gp", "random")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "step", "constant")
SELECTIONS = ("random", "classes")


@dataclass(frozen=True)
class ForgetSpec:
    size: int = 200
    selection: str = "random"
    classes: tuple[int, ...] = ()
    corrupt_labels: bool = False


@dataclass(frozen=True)
class ValidationSpec:
    fraction: float = 0.1


@dataclass(frozen=True)
class OriginalSpec:
    """Recipe of the original models (and of retrain)."""

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    augment: bool = False
    label_smoothing: float = 0.0
    prune_epochs: int | None = None  # fine-tuning epochs after pruning; None = epochs


@dataclass(frozen=True)
class UnlearningSpec:
    """Settings shared by every unlearning method.

    Batch sizes are per method: each method declares ``batch_size`` (R) and/or
    ``forget_batch_size`` (F) as fixed parameters defaulting to its reference's values, capped at
    the split's size when it runs. The value a method uses is, first found: its ``[search.METHOD]``
    entry, then ``batch_size`` / ``forget_batch_size`` here (one value for every method that has
    that parameter; unset by default, kept so that older specs keep their behaviour), then the
    method's default.
    """

    batch_size: int | None = None
    forget_batch_size: int | None = None
    augment: bool = False


@dataclass(frozen=True)
class EvaluationSpec:
    batch_size: int = 1024
    mia_max_examples: int = 10_000
    delta: float = 1.0  # decision-region radius (input space, normalized)
    region_samples: int = 20


@dataclass(frozen=True)
class SamplerSpec:
    name: str = "tpe"
    seed: int = 0


@dataclass(frozen=True)
class RuntimeSpec:
    """``compile``: ``torch.compile`` every model (worth it on GPUs for long runs; the first
    trial of each shape pays the compilation). ``deterministic``: deterministic kernels."""

    compile: bool = False
    deterministic: bool = False


@dataclass(frozen=True)
class ParamOverride:
    """An override of one search-space parameter: a range, or a fixed value (low == high)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class Spec:
    name: str
    dataset: str
    architecture: str
    widths: tuple[float, ...]
    data_dir: str = ""
    depths: tuple[int, ...] = (1,)
    sparsities: tuple[float, ...] = (0.0,)
    methods: tuple[str, ...] = ("scrub", "neggrad", "l1_sparse")
    goals: tuple[str, ...] = GOALS
    lambdas: tuple[float, ...] = (0.2, 0.4, 0.6)
    n_trials: int = 20
    seed: int = 0
    forget: ForgetSpec = field(default_factory=ForgetSpec)
    validation: ValidationSpec = field(default_factory=ValidationSpec)
    original: OriginalSpec = field(default_factory=OriginalSpec)
    unlearning: UnlearningSpec = field(default_factory=UnlearningSpec)
    evaluation: EvaluationSpec = field(default_factory=EvaluationSpec)
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    runtime: RuntimeSpec = field(default_factory=RuntimeSpec)
    search: Mapping[str, Mapping[str, ParamOverride]] = field(default_factory=dict)
    synthetic: Mapping[str, int] = field(default_factory=dict)
    mnist1d: Mapping[str, int] = field(default_factory=dict)
    replicates: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A plain, JSON-serializable dict that :func:`spec_from_dict` turns back into this spec."""
        raw = dataclasses.asdict(self)
        raw["search"] = {m: {p: dataclasses.asdict(o) for p, o in ps.items()} for m, ps in self.search.items()}
        raw["synthetic"] = dict(self.synthetic)
        raw["mnist1d"] = dict(self.mnist1d)
        if not raw["mnist1d"]:  # absent when unused, so the digests of other specs are unchanged
            del raw["mnist1d"]
        if raw["replicates"] == 1:  # absent by default, so the digests of earlier specs are unchanged
            del raw["replicates"]
        if tuple(raw["depths"]) == (1,):  # likewise
            del raw["depths"]
        raw["original"] = {k: v for k, v in raw["original"].items() if v is not None}
        raw["unlearning"] = {k: v for k, v in raw["unlearning"].items() if v is not None}
        return json.loads(json.dumps(raw))

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the spec (keys sorted)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def sparse(self) -> bool:
        return any(s != 0.0 for s in self.sparsities)

    @property
    def deep(self) -> bool:
        """Depths other than the families' standard one: study names carry ``/dDEPTH``."""
        return self.depths != (1,)

    def for_replicate(self, replicate: int) -> Spec:
        """The spec replicate ``replicate`` runs: this one with ``seed`` replaced by
        :func:`replicate_seed` (so other splits F, V, Ft and another initialization); replicate 0
        is this very spec."""
        if not 0 <= replicate < self.replicates:
            raise ValueError(f"replicate {replicate} not in [0, {self.replicates})")
        return self if replicate == 0 else dataclasses.replace(self, seed=replicate_seed(self.seed, replicate))


MAX_REPLICATES = 10
MAX_DEPTH = 16
# Families with a depth axis (``depths``): depth d multiplies their layer or block counts.
DEPTH_ARCHITECTURES = ("mlp", "cnn1d", "resnet18", "resnet50", "transformer")


def replicate_seed(seed: int, replicate: int) -> int:
    """Seed of replicate r: ``seed`` itself for r = 0, else the first 31 bits of
    SHA-256("unlearn-opt replicate SEED R") (no overlap with seed + 1, seed + 2, ... used within
    a replicate, the same on every machine)."""
    if replicate == 0:
        return seed
    digest = hashlib.sha256(f"unlearn-opt replicate {seed} {replicate}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31


# --------------------------------------------------------------------------------------------
# validation helpers


def _fail(where: str, problem: str) -> UserError:
    return UserError(f"{where}: {problem}")


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(where, f"must be an integer (got {_type_name(value)} {value!r})")
    return value


def _as_float(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(where, f"must be a number (got {_type_name(value)} {value!r})")
    if not math.isfinite(value):
        raise _fail(where, f"must be a finite number (got {value!r})")
    return float(value)


def _as_bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"must be true or false (got {_type_name(value)} {value!r})")
    return value


def _as_str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, f"must be a string (got {_type_name(value)} {value!r})")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    text = _as_str(value, where)
    if text not in choices:
        raise _fail(where, f"unknown value {text!r} (expected one of: {', '.join(choices)})")
    return text


def _as_list(value: Any, where: str, item: Callable[[Any, str], Any]) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise _fail(where, f"must be a list (got {_type_name(value)} {value!r})")
    return tuple(item(v, f"{where}[{i}]") for i, v in enumerate(value))


def _nonempty_unique(values: tuple[Any, ...], where: str) -> tuple[Any, ...]:
    if not values:
        raise _fail(where, "must not be empty")
    seen: set[Any] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise _fail(f"{where}[{i}]", f"duplicate value {v!r}")
        seen.add(v)
    return values


def _check_keys(table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    for key in table:
        if key not in allowed:
            prefix = f"{where}." if where else ""
            raise _fail(
                f"{prefix}{key}",
                f"unknown key (expected one of: {', '.join(sorted(allowed))})",
            )


def _table(raw: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise _fail(key, f"must be a table [{key}] (got {_type_name(value)})")
    return value


def _positive(value: float, where: str) -> float:
    if value <= 0:
        raise _fail(where, f"must be > 0 (got {value!r})")
    return value


def _build(cls: type, table: Mapping[str, Any], where: str, fields: dict[str, Callable]) -> Any:
    _check_keys(table, where, set(fields))
    kwargs = {k: fields[k](v, f"{where}.{k}") for k, v in table.items()}
    return cls(**kwargs)


def _forget(table: Mapping[str, Any]) -> ForgetSpec:
    spec = _build(
        ForgetSpec,
        table,
        "forget",
        {
            "size": _int_in(1, MAX_EXAMPLES),
            "selection": lambda v, w: _choice(v, w, SELECTIONS),
            "classes": lambda v, w: _bounded_list(v, w, _int_in(0, SYNTHETIC_LIMITS["num_classes"][1] - 1)),
            "corrupt_labels": _as_bool,
        },
    )
    if spec.selection == "classes" and not spec.classes:
        raise _fail("forget.classes", 'must name at least one class with selection = "classes"')
    if spec.selection == "random" and spec.classes:
        raise _fail("forget.classes", 'is only used with selection = "classes"')
    return spec


def _bounded_list(value: Any, where: str, item: Callable[[Any, str], Any]) -> tuple[Any, ...]:
    if isinstance(value, list) and len(value) > MAX_LIST:
        raise _fail(where, f"at most {MAX_LIST} entries (got {len(value)})")
    return _as_list(value, where, item)


def _nonneg_int(v: Any, w: str) -> int:
    value = _as_int(v, w)
    if value < 0:
        raise _fail(w, f"must be >= 0 (got {value})")
    return value


def _unit_open(v: Any, w: str) -> float:
    value = _as_float(v, w)
    if not 0.0 < value < 1.0:
        raise _fail(w, f"must be in (0, 1) (got {value!r})")
    return value


def _unit_closed(v: Any, w: str) -> float:
    value = _as_float(v, w)
    if not 0.0 <= value <= 1.0:
        raise _fail(w, f"must be in [0, 1] (got {value!r})")
    return value


def _pos_int(v: Any, w: str) -> int:
    return int(_positive(_as_int(v, w), w))


def _int_in(low: int, high: int) -> Callable[[Any, str], int]:
    """An integer in [low, high]: every size in a spec has a sane upper bound, so a typo (1e9
    trials, a million-pixel synthetic image) is refused here rather than running out of memory or
    time later."""

    def check(v: Any, w: str) -> int:
        value = _as_int(v, w)
        if value < low and low in (0, 1):  # the wording of the checks before the upper bounds
            raise _fail(w, f"must be {'> 0' if low == 1 else '>= 0'} (got {value})")
        if not low <= value <= high:
            raise _fail(w, f"must be in [{low}, {high}] (got {value})")
        return value

    return check


MAX_TRIALS = 100_000  # per study
MAX_STUDY_TRIALS = 1_000_000  # n_trials × studies
MAX_EPOCHS = 10_000
MAX_BATCH = 1 << 20
MAX_EXAMPLES = 10_000_000
MAX_SEED = 2**32 - 1  # numpy's seed range
MAX_LIST = 256  # widths, sparsities, lambdas, forget classes
SYNTHETIC_LIMITS = {
    "num_classes": (1, 10_000),
    "train_size": (1, 1_000_000),
    "test_size": (1, 1_000_000),
    "channels": (1, 64),
    "image_size": (1, 1024),
}
SYNTHETIC_DEFAULTS = {"num_classes": 10, "train_size": 2000, "test_size": 1000, "channels": 1, "image_size": 8}
MAX_SYNTHETIC_VALUES = 1_000_000_000  # (train + test) × channels × image_size², 4 GB of float32
epochs_int = _int_in(1, MAX_EPOCHS)
batch_int = _int_in(1, MAX_BATCH)
seed_int = _int_in(0, MAX_SEED)


def _pos_float(v: Any, w: str) -> float:
    return _positive(_as_float(v, w), w)


def _nonneg_float(v: Any, w: str) -> float:
    value = _as_float(v, w)
    if value < 0:
        raise _fail(w, f"must be >= 0 (got {value!r})")
    return value


def _original(table: Mapping[str, Any]) -> OriginalSpec:
    return _build(
        OriginalSpec,
        table,
        "original",
        {
            "epochs": epochs_int,
            "batch_size": batch_int,
            "optimizer": lambda v, w: _choice(v, w, OPTIMIZERS),
            "lr": _pos_float,
            "momentum": lambda v, w: _unit_closed(v, w),
            "weight_decay": _nonneg_float,
            "schedule": lambda v, w: _choice(v, w, SCHEDULES),
            "augment": _as_bool,
            "label_smoothing": lambda v, w: _unit_closed(v, w),
            "prune_epochs": _int_in(0, MAX_EPOCHS),
        },
    )


def _sparsity(v: Any, w: str) -> float:
    value = _as_float(v, w)
    if not 0.0 <= value < 1.0:
        raise _fail(w, f"must be in [0, 1) (got {value!r})")
    return value


def _width(v: Any, w: str) -> float:
    value = _as_float(v, w)
    if value <= 0:
        raise _fail(w, f"width must be > 0 (got {value!r})")
    if value > 64:
        raise _fail(w, f"width must be <= 64 (got {value!r})")
    return value


def check_width(value: float, where: str) -> float:
    """A width the spec accepts, else a UserError naming ``where`` (e.g. ``--width``)."""
    return _width(value, where)


def check_depth(value: int, architecture: str, where: str) -> int:
    """A depth the spec accepts for ``architecture``, else a UserError naming ``where``."""
    depth = _int_in(1, MAX_DEPTH)(value, where)
    if depth != 1 and architecture not in DEPTH_ARCHITECTURES:
        raise _fail(
            where, f"architecture {architecture!r} has a fixed depth (depth is supported by: {', '.join(DEPTH_ARCHITECTURES)})"
        )
    return depth


def check_sparsity(value: float, where: str) -> float:
    """A sparsity the spec accepts, else a UserError naming ``where``."""
    return _sparsity(value, where)


def _search(table: Mapping[str, Any], methods: tuple[str, ...]) -> dict[str, dict[str, ParamOverride]]:
    """``[search.METHOD]`` tables: METHOD must be one the spec runs, each key one of its
    hyperparameters (declared in :mod:`unlearn_opt.methods.registry`, no torch needed)."""
    out: dict[str, dict[str, ParamOverride]] = {}
    for method, params in table.items():
        where = f"search.{method}"
        if method not in METHODS:
            raise _fail(where, f"unknown method (expected one of: {', '.join(METHODS)})")
        if method not in methods:
            raise _fail(where, f"{method} is not in methods ({', '.join(methods)}): add it there or remove this table")
        if not isinstance(params, dict):
            raise _fail(where, f"must be a table (got {_type_name(params)})")
        space = {p.name: p for p in get_method(method).space}
        out[method] = {}
        for name, value in params.items():
            pw = f"{where}.{name}"
            if name not in space:
                known = ", ".join(space) or "none"
                raise _fail(pw, f"{method} has no such hyperparameter (it has: {known})")
            out[method][name] = _override(value, pw, space[name])
    return out


def _stored_search(table: Mapping[str, Any], methods: tuple[str, ...]) -> dict[str, Any]:
    return {m: params for m, params in table.items() if m in methods}


def _override(value: Any, where: str, param: Param) -> ParamOverride:
    if isinstance(value, dict):
        _check_keys(value, where, {"low", "high", "log"})
        if "low" not in value or "high" not in value:
            raise _fail(where, "a range needs both low and high")
        low = _as_float(value["low"], f"{where}.low")
        high = _as_float(value["high"], f"{where}.high")
        log = _as_bool(value.get("log", False), f"{where}.log")
    else:
        low = high = _as_float(value, where)
        log = False
    if low > high:
        raise _fail(where, f"low must be <= high (got {low!r} > {high!r})")
    if log and low <= 0:
        raise _fail(where, f"a log range needs low > 0 (got {low!r})")
    if param.integer and (low != int(low) or high != int(high)):
        raise _fail(where, "is an integer hyperparameter: low and high must be integers")
    if low < param.bound_low or high > param.bound_high:
        raise _fail(
            where,
            f"must lie within [{param.bound_low:g}, {param.bound_high:g}] (got [{low:g}, {high:g}])",
        )
    return ParamOverride(low=low, high=high, log=log)


_TOP_KEYS = {
    "name",
    "dataset",
    "data_dir",
    "architecture",
    "widths",
    "depths",
    "sparsities",
    "methods",
    "goals",
    "lambdas",
    "n_trials",
    "seed",
    "forget",
    "validation",
    "original",
    "unlearning",
    "evaluation",
    "sampler",
    "runtime",
    "search",
    "synthetic",
    "mnist1d",
    "replicates",
}


MAX_NAME = 80  # "NAME.vK" and the study names built on it stay far below file-name limits (255)
_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def check_name(text: str, where: str = "name") -> str:
    """An experiment name fit for every place a name goes: study names, file and folder names
    (reports/NAME, NAME-splits.json) and command lines (``worker NAME``): 1 to 80 ASCII letters,
    digits, '-', '_' or '.', starting with a letter or digit, without '..'."""
    if not text or len(text) > MAX_NAME or not set(text) <= _NAME_CHARS or not text[0].isalnum() or ".." in text:
        raise _fail(
            where,
            f"must be 1 to {MAX_NAME} ASCII letters, digits, '-', '_' or '.', starting with a letter or digit, "
            f"without '..' (got {text[:100]!r}{'…' if len(text) > 100 else ''})",
        )
    return text


def _name(v: Any, w: str, *, stored: bool = False) -> str:
    text = _as_str(v, w)
    if stored:  # an experiment already in storage, named under the earlier rule: still loads
        if not text or not all(c.isalnum() or c in "-_." for c in text):
            raise _fail(w, f"must be a non-empty name of letters, digits, '-', '_' or '.' (got {text!r})")
        return text
    return check_name(text, w)


def spec_from_dict(raw: Mapping[str, Any], *, base_dir: Path | None = None, stored: bool = False) -> Spec:
    """Validate a parsed TOML document (or :meth:`Spec.to_dict` output) into a :class:`Spec`.

    ``stored=True`` for a spec read back from storage: a ``[search.METHOD]`` table of a method the
    spec does not run (accepted by earlier versions, it never had an effect) is dropped instead of
    refused, so that older experiments still load."""
    if not isinstance(raw, Mapping):
        raise UserError("spec: must be a TOML table")
    _check_keys(raw, "", _TOP_KEYS)
    for required in ("name", "dataset", "architecture", "widths"):
        if required not in raw:
            raise _fail(required, "is required")
    dataset = _choice(raw["dataset"], "dataset", DATASETS)
    data_dir = _as_str(raw.get("data_dir", ""), "data_dir")
    if dataset in ON_DISK_DATASETS:
        if not data_dir:
            raise _fail("data_dir", f"is required for dataset {dataset!r}")
        if base_dir is not None and not Path(data_dir).expanduser().is_absolute():
            data_dir = str((base_dir / data_dir).resolve())
    methods = _nonempty_unique(
        _as_list(raw.get("methods", list(Spec.methods)), "methods", lambda v, w: _choice(v, w, METHODS)),
        "methods",
    )
    evaluation = _build(
        EvaluationSpec,
        _table(raw, "evaluation"),
        "evaluation",
        {
            "batch_size": batch_int,
            "mia_max_examples": _int_in(1, MAX_EXAMPLES),
            "delta": _pos_float,
            "region_samples": _int_in(1, 10_000),
        },
    )
    spec = Spec(
        name=_name(raw["name"], "name", stored=stored),
        dataset=dataset,
        data_dir=data_dir,
        architecture=_choice(raw["architecture"], "architecture", ARCHITECTURES),
        widths=_nonempty_unique(_bounded_list(raw["widths"], "widths", _width), "widths"),
        depths=_nonempty_unique(_bounded_list(raw.get("depths", [1]), "depths", _int_in(1, MAX_DEPTH)), "depths"),
        sparsities=_nonempty_unique(_bounded_list(raw.get("sparsities", [0.0]), "sparsities", _sparsity), "sparsities"),
        methods=methods,
        goals=_nonempty_unique(
            _as_list(raw.get("goals", list(GOALS)), "goals", lambda v, w: _choice(v, w, GOALS)),
            "goals",
        ),
        lambdas=_nonempty_unique(_bounded_list(raw.get("lambdas", [0.2, 0.4, 0.6]), "lambdas", _unit_closed), "lambdas"),
        n_trials=_int_in(1, MAX_TRIALS)(raw.get("n_trials", 20), "n_trials"),
        seed=seed_int(raw.get("seed", 0), "seed"),
        forget=_forget(_table(raw, "forget")),
        validation=_build(ValidationSpec, _table(raw, "validation"), "validation", {"fraction": _unit_open}),
        original=_original(_table(raw, "original")),
        unlearning=_build(
            UnlearningSpec,
            _table(raw, "unlearning"),
            "unlearning",
            {"batch_size": batch_int, "forget_batch_size": batch_int, "augment": _as_bool},
        ),
        evaluation=evaluation,
        sampler=_build(
            SamplerSpec,
            _table(raw, "sampler"),
            "sampler",
            {"name": lambda v, w: _choice(v, w, SAMPLERS), "seed": seed_int},
        ),
        runtime=_build(
            RuntimeSpec,
            _table(raw, "runtime"),
            "runtime",
            {"compile": _as_bool, "deterministic": _as_bool},
        ),
        search=_search(_stored_search(_table(raw, "search"), methods) if stored else _table(raw, "search"), methods),
        synthetic=_synthetic(_table(raw, "synthetic"), dataset),
        mnist1d=_mnist1d(_table(raw, "mnist1d"), dataset),
        replicates=_replicates(raw.get("replicates", 1)),
    )
    _check_examples_fit(spec)
    _check_depths(spec)
    _check_total_trials(spec)
    return spec


def _check_depths(spec: Spec) -> None:
    """Depths other than 1 only for a family with a depth axis."""
    if spec.deep and spec.architecture not in DEPTH_ARCHITECTURES:
        raise _fail(
            "depths",
            f"architecture {spec.architecture!r} has a fixed depth, so depths must be [1] "
            f"(depth is supported by: {', '.join(DEPTH_ARCHITECTURES)})",
        )


def _check_total_trials(spec: Spec) -> None:
    """n_trials × studies (widths × depths × sparsities × methods × goals) within MAX_STUDY_TRIALS:
    create-study enqueues every trial up front."""
    studies = len(spec.widths) * len(spec.depths) * len(spec.sparsities) * len(spec.methods) * len(spec.goals)
    if spec.n_trials * studies > MAX_STUDY_TRIALS:
        raise _fail(
            "n_trials",
            f"{spec.n_trials} trials × {studies} studies = {spec.n_trials * studies} trials, more than {MAX_STUDY_TRIALS} in one experiment",
        )


def _check_examples_fit(spec: Spec) -> None:
    """Refuse what makes no sense for the dataset's examples: an image model on signals (or the
    reverse), crop/flip augmentation of anything but images."""
    dims = DATASET_SPATIAL_DIMS[spec.dataset]
    holds = f"dataset {spec.dataset!r} holds {EXAMPLE_KINDS[dims]}"
    wants = ARCHITECTURE_SPATIAL_DIMS[spec.architecture]
    if wants is not None and wants != dims:
        fitting = [a for a, d in ARCHITECTURE_SPATIAL_DIMS.items() if d in (None, dims)]
        raise _fail(
            "architecture",
            f"{spec.architecture!r} takes {EXAMPLE_KINDS[wants]} but {holds} (use one of: {', '.join(fitting)})",
        )
    if dims != 2:
        for where, on in (("original.augment", spec.original.augment), ("unlearning.augment", spec.unlearning.augment)):
            if on:
                raise _fail(where, f"crop/flip augmentation needs images, but {holds}")


def _replicates(v: Any) -> int:
    number = _as_int(v, "replicates")
    if not 1 <= number <= MAX_REPLICATES:
        raise _fail("replicates", f"must be in [1, {MAX_REPLICATES}] (got {number})")
    return number


_SYNTHETIC_KEYS = ("num_classes", "train_size", "test_size", "channels", "image_size")


def _synthetic(table: Mapping[str, Any], dataset: str) -> dict[str, int]:
    if table and dataset != "synthetic":
        raise _fail("synthetic", 'is only used with dataset = "synthetic"')
    _check_keys(table, "synthetic", set(_SYNTHETIC_KEYS))
    out = {k: _int_in(*SYNTHETIC_LIMITS[k])(v, f"synthetic.{k}") for k, v in table.items()}
    sizes = {**SYNTHETIC_DEFAULTS, **out}
    values = (sizes["train_size"] + sizes["test_size"]) * sizes["channels"] * sizes["image_size"] ** 2
    if values > MAX_SYNTHETIC_VALUES:
        raise _fail(
            "synthetic",
            f"(train_size + test_size) × channels × image_size² = {values} values, more than {MAX_SYNTHETIC_VALUES}",
        )
    return out


MNIST1D_LIMITS = {"num_samples": (100, 200_000), "seed": (0, 2**32 - 1)}


def _mnist1d(table: Mapping[str, Any], dataset: str) -> dict[str, int]:
    """The generator's arguments: ``num_samples`` (a multiple of 10: that many // 10 per class,
    80 % train) and ``seed``; absent keys take the package's defaults (5 000, 42)."""
    if table and dataset != "mnist1d":
        raise _fail("mnist1d", 'is only used with dataset = "mnist1d"')
    _check_keys(table, "mnist1d", set(MNIST1D_LIMITS))
    out = {}
    for key, value in table.items():
        where = f"mnist1d.{key}"
        low, high = MNIST1D_LIMITS[key]
        number = _as_int(value, where)
        if not low <= number <= high:
            raise _fail(where, f"must be in [{low}, {high}] (got {number})")
        if key == "num_samples" and number % 10:
            raise _fail(where, f"must be a multiple of 10, one tenth per class (got {number})")
        out[key] = number
    return out


def load_spec(path: str | Path) -> Spec:
    """Read and validate a spec file; relative ``data_dir`` is resolved against the file's folder."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"spec {path}: no such file")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"spec {path}: malformed TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"spec {path}: not a UTF-8 text file") from None
    try:
        return spec_from_dict(raw, base_dir=p.parent)
    except UserError as exc:
        raise UserError(f"spec {path}: {exc}") from None
