"""Creating and loading an experiment: its studies, its stored spec and split indices.

The study ``EXPERIMENT/_originals`` is the experiment's record (spec, hash, splits digest, the
splits artifact) and the queue of original models; it is created last, so its presence means the
experiment is complete in storage. With ``replicates = N`` it also holds replicates 1..N−1's splits
digests and artifacts (``replicate_splits``), and their models' tickets carry ``replicate``. Each
tuning study holds exactly ``n_trials`` tickets: enqueued trials with no fixed parameters, which
workers pop atomically and the sampler fills.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.artifacts import upload_artifact
from optuna.storages import BaseStorage
from optuna.trial import TrialState
from optuna_dashboard import save_note

from unlearn_opt.data.splits import Splits
from unlearn_opt.errors import UserError
from unlearn_opt.goals import get_goal
from unlearn_opt.service.naming import ModelKey, StudyKey, model_attrs, originals_study_name, study_keys
from unlearn_opt.service.storage import ArtifactLocation
from unlearn_opt.spec import Spec, spec_from_dict

ACTIVE = (TrialState.WAITING, TrialState.RUNNING)
ORIGINALS_METRIC = "test_error (recorded, not optimised)"  # the originals study's one "objective"
ORIGINALS_ABOUT = (
    "Not an optimisation. Each trial is one model trained once and shared by every study of the "
    "experiment: an original (trained on the whole training pool) or a retrain reference (trained "
    "on the retain set only), at one (width, sparsity) given by its user attributes kind, width and "
    "sparsity (and depth, when not 1). Its value is that model's test error, recorded so that the dashboard lists it; "
    "nothing is searched, so 'Best Trial' is only the model with the lowest test error and the "
    "history plot only the order of training. Every metric is in the user attribute record; the "
    "checkpoint is the trial's artifact."
)


@dataclass(frozen=True)
class Experiment:
    name: str
    spec: Spec
    spec_hash: str
    splits_digest: str  # replicate 0's
    studies: dict[StudyKey, str]
    replicate_digests: tuple[str, ...] = ()  # replicates 1..N-1's splits digests

    @property
    def originals_study(self) -> str:
        return originals_study_name(self.name)

    @property
    def replicates(self) -> int:
        return self.spec.replicates

    def splits_digest_of(self, replicate: int) -> str:
        return self.splits_digest if replicate == 0 else self.replicate_digests[replicate - 1]

    def models_needed(self) -> list[ModelKey]:
        """(kind, width, sparsity, replicate, depth) of every original and retrain reference."""
        out: list[ModelKey] = []
        spec = self.spec
        for r in range(self.replicates):
            out += [ModelKey("original", w, s, r, d) for w in spec.widths for d in spec.depths for s in sorted(spec.sparsities)]
            out += [ModelKey("retrain", w, 0.0, r, d) for w in spec.widths for d in spec.depths]
        return out


def experiment_from_spec(
    spec: Spec, *, splits_digest: str, replicate_digests: Sequence[str] = (), names: set[str] | None = None
) -> Experiment:
    """The experiment of ``spec``. ``names``: the storage's study names, when loading: a
    replicate-0 study stored by an earlier version under its 6-significant-digit name (absent
    under the exact one) keeps that name."""
    keys = study_keys(spec)
    studies = {k: k.name(sparse=spec.sparse, deep=spec.deep) for k in keys}
    if names is not None:
        legacy = {k: k.legacy_name(sparse=spec.sparse) for k in keys if k.replicate == 0 and not spec.deep}
        if len(set(legacy.values())) == len(legacy):  # never when two values share a legacy name
            for k, old in legacy.items():
                if studies[k] not in names and old in names:
                    studies[k] = old
    return Experiment(
        name=spec.name,
        spec=spec,
        spec_hash=spec.digest(),
        splits_digest=splits_digest,
        studies=studies,
        replicate_digests=tuple(replicate_digests),
    )


def study_names(storage: BaseStorage) -> set[str]:
    return {s.study_name for s in storage.get_all_studies()}


def experiment_names(storage: BaseStorage) -> list[str]:
    suffix = "/" + originals_study_name("")[1:]
    return sorted(n[: -len(suffix)] for n in study_names(storage) if n.endswith(suffix))


def load_experiment(storage: BaseStorage, name: str, *, complete: bool = True) -> Experiment:
    """The experiment stored under ``name``; a UserError naming the known ones otherwise, and
    (``complete``) one naming a study of it that is missing (deleted)."""
    try:
        study = optuna.load_study(study_name=originals_study_name(name), storage=storage)
    except KeyError:
        known = ", ".join(experiment_names(storage)) or "none"
        raise UserError(f"experiment {name!r} does not exist in this storage (known: {known})") from None
    attrs = study.user_attrs
    if "spec_hash" not in attrs:
        raise UserError(f"experiment {name!r} was not fully created; run `unlearn-opt create-study` again")
    spec = spec_from_dict(attrs["spec"], stored=True)
    replicate_digests = [r["digest"] for r in attrs.get("replicate_splits", [])]
    names = study_names(storage)
    exp = experiment_from_spec(spec, splits_digest=attrs["splits_digest"], replicate_digests=replicate_digests, names=names)
    missing = sorted(set(exp.studies.values()) - names) if complete else []
    if missing:
        raise UserError(
            f"experiment {name!r}: {len(missing)} of its studies are missing from the storage (deleted?), "
            f"e.g. {missing[0]!r}; run `unlearn-opt create-study SPEC` again to recreate them"
        )
    return exp


def ensure_tickets(study: optuna.Study, n_trials: int) -> int:
    """Enqueue tickets until COMPLETE + WAITING + RUNNING = n_trials; returns how many were added.
    (Two processes repairing at once may over-enqueue; workers drop surplus tickets on pop.)"""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, *ACTIVE))
    deficit = n_trials - len(trials)
    for _ in range(max(0, deficit)):
        study.enqueue_trial({}, user_attrs={"ticket": True})
    return max(0, deficit)


def _is_complete(storage: BaseStorage, name: str) -> bool:
    study_id = storage.get_study_id_from_name(originals_study_name(name))
    return "spec_hash" in storage.get_study_user_attrs(study_id)


def _versions(storage: BaseStorage, base: str) -> list[str]:
    """The experiments stored as ``base.vK``."""
    return [n for n in experiment_names(storage) if n.startswith(f"{base}.v") and n[len(base) + 2 :].isdigit()]


def _renamed(spec: Spec, name: str) -> Spec:
    raw = spec.to_dict()
    raw["name"] = name
    return spec_from_dict(raw, stored=True)  # NAME.vK of a checked NAME: may pass the length limit


def _new_version_name(storage: BaseStorage, base: str) -> str:
    taken = set(experiment_names(storage))
    k = 2
    while f"{base}.v{k}" in taken:
        k += 1
    return f"{base}.v{k}"


def create_experiment(
    spec: Spec,
    *,
    storage: BaseStorage,
    splits: Splits | Sequence[Splits],
    artifacts: ArtifactLocation,
    new_version: bool = False,
) -> tuple[Experiment, bool]:
    """Create every study of ``spec`` (idempotent). Returns (experiment, created?).

    ``splits``: one per replicate (:func:`~unlearn_opt.engine.workspace.replicate_splits`).
    A different spec under an existing name is refused unless ``new_version``, which stores it
    as ``NAME.vK`` (the first free K; the existing ``NAME.vK`` if it holds this spec). The caller
    holds the creation lock (``locks.creation_lock``): the check and the writes are one step for
    every other ``create-study``."""
    all_splits = [splits] if isinstance(splits, Splits) else list(splits)
    if len(all_splits) != spec.replicates:
        raise ValueError(f"{len(all_splits)} splits given for {spec.replicates} replicates")
    if spec.name in experiment_names(storage) and _is_complete(storage, spec.name):
        stored = load_experiment(storage, spec.name, complete=False)  # a deleted study is recreated
        if stored.spec_hash == spec.digest():
            _ensure_studies(stored, storage)
            return stored, False
        if not new_version:
            raise UserError(
                f"experiment {spec.name!r} already exists with a different spec (stored "
                f"{stored.spec_hash[:12]}, given {spec.digest()[:12]}); give the spec a new name "
                "or pass --new-version"
            )
        for version in _versions(storage, spec.name):  # this spec stored before as NAME.vK
            renamed = _renamed(spec, version)
            if _is_complete(storage, version) and load_experiment(storage, version).spec_hash == renamed.digest():
                return create_experiment(renamed, storage=storage, splits=splits, artifacts=artifacts)
        spec = _renamed(spec, _new_version_name(storage, spec.name))
    digests = [s.digest() for s in all_splits]
    experiment = experiment_from_spec(spec, splits_digest=digests[0], replicate_digests=digests[1:])
    _ensure_studies(experiment, storage)
    _create_originals(experiment, storage, all_splits, artifacts)
    return experiment, True


def _ensure_studies(exp: Experiment, storage: BaseStorage) -> None:
    spec_dict = exp.spec.to_dict()
    for key, name in exp.studies.items():
        goal = get_goal(key.goal)
        study = optuna.create_study(study_name=name, storage=storage, directions=goal.directions, load_if_exists=True)
        if not study.user_attrs.get("experiment"):
            study.set_metric_names(goal.metric_names)
            attrs: dict[str, Any] = {
                "experiment": exp.name,
                "width": key.width,
                "sparsity": key.sparsity,
                "method": key.method,
                "goal": key.goal,
                **({"replicate": key.replicate} if key.replicate else {}),
                **({"depth": key.depth} if key.depth != 1 else {}),
                "n_trials": exp.spec.n_trials,
                "spec_hash": exp.spec_hash,
                "splits_digest": exp.splits_digest,
                "spec": spec_dict,
            }
            for k, v in attrs.items():
                study.set_user_attr(k, v)
        ensure_tickets(study, exp.spec.n_trials)


def _create_originals(exp: Experiment, storage: BaseStorage, splits: Sequence[Splits], artifacts: ArtifactLocation) -> None:
    study = optuna.create_study(study_name=exp.originals_study, storage=storage, direction="minimize", load_if_exists=True)
    study.set_metric_names([ORIGINALS_METRIC])
    save_note(study, f"## {exp.originals_study}: the trained models\n\n{ORIGINALS_ABOUT}\n")
    store = artifacts.open()
    ids = []
    with tempfile.TemporaryDirectory() as tmp:
        for r, rs in enumerate(splits):
            path = Path(tmp) / (f"{exp.name}-splits.json" if r == 0 else f"{exp.name}-r{r}-splits.json")
            path.write_text(json.dumps(rs.to_dict()))
            ids.append(
                upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study, mimetype="application/json")
            )
    if not study.get_trials(deepcopy=False):
        for key in exp.models_needed():
            study.enqueue_trial({}, user_attrs=model_attrs(key))
    if len(splits) > 1:
        replicates = [{"digest": d, "artifact_id": i} for d, i in zip(exp.replicate_digests, ids[1:], strict=True)]
        study.set_user_attr("replicate_splits", replicates)
    splits_id = ids[0]
    # written last: from here on the experiment exists
    for k, v in {
        "kind": "originals",
        "about": ORIGINALS_ABOUT,
        "experiment": exp.name,
        "splits_artifact_id": splits_id,
        "artifacts": artifacts.spec,
        "splits_digest": exp.splits_digest,
        "spec_hash": exp.spec_hash,
        "spec": exp.spec.to_dict(),
    }.items():
        study.set_user_attr(k, v)
