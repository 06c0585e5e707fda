"""Reading an experiment's results out of storage into plain rows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from unlearn_opt.analysis.selection import j_lambda, select
from unlearn_opt.metrics import METRIC_NAMES
from unlearn_opt.service.experiment import Experiment
from unlearn_opt.service.naming import ModelKey, StudyKey, model_label
from unlearn_opt.service.originals import key_of

RECORD_METRICS = ("param_count", "train_error", "test_error", "overparameterized")
Originals = dict[tuple[str, float, float], dict[str, Any]]  # (kind, width, sparsity) → record, at one depth


@dataclass
class StudyResult:
    key: StudyKey
    name: str
    study: optuna.Study
    trials: list[FrozenTrial]

    @property
    def complete(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state == TrialState.COMPLETE]

    def pareto(self) -> list[FrozenTrial]:
        return self.study.best_trials if self.complete else []


@dataclass
class ExperimentResults:
    experiment: Experiment
    studies: list[StudyResult]
    originals: Originals = field(default_factory=dict)  # replicate 0's, at the spec's first depth
    replicate_originals: dict[int, Originals] = field(default_factory=dict)  # every replicate's, ditto
    models: dict[ModelKey, dict[str, Any]] = field(default_factory=dict)  # every model, every depth

    def originals_of(self, replicate: int) -> Originals:
        return self.originals if replicate == 0 else self.replicate_originals.get(replicate, {})

    @property
    def reference_depth(self) -> int:
        """The depth whose originals ``originals`` holds (and the width figures and findings
        use): the spec's first."""
        return self.experiment.spec.depths[0]

    @property
    def axis(self) -> str:
        """The size axis the findings and the replicate means run along: depth when the spec has
        one width and several depths, width otherwise (at :attr:`reference_depth`)."""
        spec = self.experiment.spec
        return "depth" if len(spec.widths) == 1 and len(spec.depths) > 1 else "width"

    def on_axis(self, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows on the axis: along width those at the reference depth; along depth all of
        them (there is one width)."""
        if self.axis == "depth":
            return list(rows)
        return [r for r in rows if r.get("depth", 1) == self.reference_depth]

    def axis_originals(self) -> dict[int, Originals]:
        """Every replicate's dense and sparse originals and retrain references keyed by (kind,
        size on the axis, sparsity): :attr:`replicate_originals` along width, by depth along depth."""
        if self.axis == "width":
            return self.replicate_originals
        out: dict[int, Originals] = {r: {} for r in self.replicate_originals}
        for mk, record in sorted(self.models.items()):
            out.setdefault(mk.replicate, {})[(mk.kind, mk.depth, mk.sparsity)] = record
        return out

    def missing(self) -> list[str]:
        """What is not finished yet, one line each."""
        out = []
        n = self.experiment.spec.n_trials
        for s in self.studies:
            if len(s.complete) < n:
                out.append(f"{s.name}: {len(s.complete)}/{n} trials COMPLETE")
        for key in self.experiment.models_needed():
            if key._replace(width=float(key.width), sparsity=float(key.sparsity)) not in self.models:
                out.append(f"{model_label(key)}: not trained yet")
        return out


def read_results(storage: BaseStorage, exp: Experiment) -> ExperimentResults:
    studies = []
    for key, name in exp.studies.items():
        study = optuna.load_study(study_name=name, storage=storage)
        studies.append(StudyResult(key, name, study, study.get_trials(deepcopy=False)))
    per_replicate: dict[int, Originals] = {r: {} for r in range(exp.replicates)}
    models: dict[ModelKey, dict[str, Any]] = {}
    for t in optuna.load_study(study_name=exp.originals_study, storage=storage).get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE and "record" in t.user_attrs:
            rec = t.user_attrs["record"]
            mk = key_of(t)
            record = models.setdefault(mk, {**{k: rec[k] for k in RECORD_METRICS}, **rec["metrics"]})
            if mk.depth == exp.spec.depths[0]:
                per_replicate.setdefault(mk.replicate, {}).setdefault((mk.kind, mk.width, mk.sparsity), record)
    return ExperimentResults(exp, studies, per_replicate[0], per_replicate, models)


def _reference(res: ExperimentResults, kind: str, k: StudyKey) -> dict[str, Any]:
    sparsity = k.sparsity if kind == "original" else 0.0
    ref = res.models.get(ModelKey(kind, float(k.width), float(sparsity), k.replicate, k.depth), {})
    return {f"{kind}_{k}": ref.get(k) for k in (*RECORD_METRICS, *METRIC_NAMES[:-1])}


def trial_row(t: FrozenTrial) -> dict[str, Any]:
    row: dict[str, Any] = {"trial_number": t.number, "objective_1": t.values[0], "objective_2": t.values[1]}
    row.update({f"param_{k}": v for k, v in t.params.items()})
    row.update({f"param_{k}": v for k, v in t.user_attrs.get("fixed_params", {}).items()})
    row.update({k: t.user_attrs.get(k) for k in METRIC_NAMES})
    return row


def selection_rows(res: ExperimentResults) -> list[dict[str, Any]]:
    """One row per (study, λ): the selected trial, its hyperparameters and metrics, and at that
    width and depth the original's and the retrain reference's metrics (``original_param_count``:
    the model's size). No COMPLETE trial: empty fields."""
    rows = []
    for s in res.studies:
        k = s.key
        for lam in res.experiment.spec.lambdas:
            row: dict[str, Any] = {
                "study": s.name,
                "width": k.width,
                "depth": k.depth,
                "sparsity": k.sparsity,
                "method": k.method,
                "goal": k.goal,
                "lambda": lam,
                "n_complete": len(s.complete),  # the trials the selection chose from
                "replicate": k.replicate,
            }
            chosen = select(s.trials, goal=k.goal, lam=lam)
            if chosen is not None:
                row.update(trial_row(chosen))
                row["j_lambda"] = j_lambda(k.goal, lam, chosen)
            else:
                row["trial_number"] = None
            row.update(_reference(res, "original", k))
            row.update(_reference(res, "retrain", k))
            rows.append(row)
    return rows


def pareto_rows(res: ExperimentResults) -> list[dict[str, Any]]:
    """Every Pareto-optimal trial of every study (Optuna's ``best_trials``)."""
    rows = []
    for s in res.studies:
        for t in sorted(s.pareto(), key=lambda t: t.number):
            rows.append(
                {
                    "study": s.name,
                    "width": s.key.width,
                    "depth": s.key.depth,
                    "sparsity": s.key.sparsity,
                    "method": s.key.method,
                    "goal": s.key.goal,
                    "replicate": s.key.replicate,
                    **trial_row(t),
                }
            )
    return rows
