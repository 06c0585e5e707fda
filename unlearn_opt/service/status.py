"""Progress of an experiment: per study COMPLETE / RUNNING / FAIL / remaining, the originals,
and an ETA from the completion times seen so far. A RUNNING trial whose heartbeat is older than
the grace period is counted as stale (its worker is gone): the next worker, or
``status --repair``, fails it and re-queues its parameters. With replicates, each replicate's totals and its models."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from rich.table import Table

from unlearn_opt.service import optuna_adapter as rdb
from unlearn_opt.service.experiment import Experiment
from unlearn_opt.service.naming import ModelKey
from unlearn_opt.service.originals import key_of


@dataclass(frozen=True)
class StudyProgress:
    name: str
    complete: int
    running: int
    waiting: int
    failed: int
    n_trials: int
    stale: int = 0  # RUNNING past the heartbeat grace period: its worker is gone

    @property
    def remaining(self) -> int:
        return max(0, self.n_trials - self.complete)


@dataclass(frozen=True)
class ModelProgress:
    kind: str
    width: float
    sparsity: float
    replicate: int
    depth: int
    state: str
    param_count: int | None = None
    train_error: float | None = None
    test_error: float | None = None
    overparameterized: bool | None = None
    stale: bool = False  # RUNNING past the heartbeat grace period: its worker is gone


@dataclass(frozen=True)
class Progress:
    experiment: str
    studies: list[StudyProgress]
    models: list[ModelProgress]
    eta_seconds: float | None
    replicates: int = 1
    study_replicates: tuple[int, ...] = ()  # the replicate of each entry of ``studies``
    deep: bool = False  # depths other than [1]: the models table shows each model's depth

    def replicate_totals(self) -> list[tuple[int, int, int]]:
        """(replicate, COMPLETE, total) of each replicate's studies."""
        out = []
        for r in range(self.replicates):
            of = self.study_replicates or (0,) * len(self.studies)
            mine = [s for s, sr in zip(self.studies, of, strict=True) if sr == r]
            out.append((r, sum(s.complete for s in mine), sum(s.n_trials for s in mine)))
        return out

    @property
    def complete(self) -> int:
        return sum(s.complete for s in self.studies)

    @property
    def total(self) -> int:
        return sum(s.n_trials for s in self.studies)

    @property
    def stale(self) -> int:
        return sum(s.stale for s in self.studies) + sum(m.stale for m in self.models)

    @property
    def done(self) -> bool:
        return self.complete >= self.total and all(m.state == "COMPLETE" for m in self.models)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "complete": self.complete,
            "total": self.total,
            "eta_seconds": self.eta_seconds,
            "stale": self.stale,
            "replicates": [{"replicate": r, "complete": c, "total": t} for r, c, t in self.replicate_totals()],
            "studies": [{**asdict(s), "remaining": s.remaining} for s in self.studies],
            "models": [asdict(m) for m in self.models],
        }


def _stale_ids(study: optuna.Study) -> set[int]:
    """Trial ids of the study's RUNNING trials whose heartbeat is older than the grace period."""
    return set(rdb.stale_trial_ids(study)) if rdb.heartbeat_interval(study) is not None else set()


def read_progress(storage: BaseStorage, exp: Experiment) -> Progress:
    studies = []
    finish_times: list[dt.datetime] = []
    for name in exp.studies.values():
        study = optuna.load_study(study_name=name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        count = {s: 0 for s in TrialState}
        for t in trials:
            count[t.state] += 1
            if t.state == TrialState.COMPLETE and t.datetime_complete is not None:
                finish_times.append(t.datetime_complete)
        studies.append(
            StudyProgress(
                name,
                count[TrialState.COMPLETE],
                count[TrialState.RUNNING],
                count[TrialState.WAITING],
                count[TrialState.FAIL],
                exp.spec.n_trials,
                len(_stale_ids(study)),
            )
        )
    models: dict[ModelKey, ModelProgress] = {}
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    stale = _stale_ids(originals)
    for t in originals.get_trials(deepcopy=False):
        if "kind" not in t.user_attrs:
            continue
        key = key_of(t)
        a = t.user_attrs
        mp = ModelProgress(
            *key,
            state=t.state.name,
            param_count=a.get("param_count"),
            train_error=a.get("train_error"),
            test_error=a.get("test_error"),
            overparameterized=a.get("overparameterized"),
            stale=rdb.trial_id(t) in stale,
        )
        rank = {"COMPLETE": 3, "RUNNING": 2, "WAITING": 1}.get(t.state.name, 0)
        prev = models.get(key)
        if prev is None or rank > {"COMPLETE": 3, "RUNNING": 2, "WAITING": 1}.get(prev.state, 0):
            models[key] = mp
    remaining = sum(s.remaining for s in studies)
    return Progress(
        exp.name,
        studies,
        sorted(models.values(), key=lambda m: (m.replicate, m.kind, m.width, m.depth, m.sparsity)),
        _eta(finish_times, remaining),
        replicates=exp.replicates,
        study_replicates=tuple(k.replicate for k in exp.studies),
        deep=exp.spec.deep,
    )


def _eta(finish_times: list[dt.datetime], remaining: int) -> float | None:
    """Remaining trials × the recent mean time between completions (all workers together)."""
    if remaining == 0:
        return 0.0
    if len(finish_times) < 2:
        return None
    recent = sorted(finish_times)[-50:]
    span = (recent[-1] - recent[0]).total_seconds()
    return remaining * span / (len(recent) - 1) if span > 0 else None


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def progress_tables(p: Progress) -> tuple[Table, Table]:
    title = f"{p.experiment}: {p.complete}/{p.total} trials, ETA {fmt_seconds(p.eta_seconds)}"
    if p.stale:
        title += f"; {p.stale} stale (RUNNING, no heartbeat: the worker is gone; `status --repair` re-queues)"
    if p.replicates > 1:
        title += "; per replicate " + ", ".join(f"r{r} {c}/{t}" for r, c, t in p.replicate_totals())
    studies = Table(title=title)
    for col in ("study", "COMPLETE", "RUNNING", "FAIL", "remaining"):
        studies.add_column(col, justify="left" if col == "study" else "right")
    for s in p.studies:
        running = f"{s.running} ({s.stale} stale)" if s.stale else str(s.running)
        studies.add_row(s.name, f"{s.complete}/{s.n_trials}", running, str(s.failed), str(s.remaining))
    models = Table(title="original models and retrain references")
    columns = (
        "model",
        "width",
        *(("depth",) if p.deep else ()),
        "sparsity",
        "state",
        "parameters",
        "train error",
        "test error",
        "regime",
    )
    for col in ("rep", *columns) if p.replicates > 1 else columns:
        models.add_column(col)
    for m in p.models:
        regime = "" if m.overparameterized is None else ("over" if m.overparameterized else "under")
        models.add_row(
            *((str(m.replicate),) if p.replicates > 1 else ()),
            m.kind,
            f"{m.width:g}",
            *((str(m.depth),) if p.deep else ()),
            f"{m.sparsity:g}",
            f"{m.state} (stale)" if m.stale else m.state,
            "" if m.param_count is None else f"{m.param_count:,}",
            "" if m.train_error is None else f"{m.train_error:.4f}",
            "" if m.test_error is None else f"{m.test_error:.4f}",
            regime,
        )
    return studies, models
