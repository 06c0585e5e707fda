"""Original models (and retrain references), trained exactly once across all workers.

They are the trials of ``EXPERIMENT/_originals``: one enqueued ticket per (kind, width, sparsity,
replicate, depth).
A worker pops a ticket, trains, uploads the checkpoint to the artifact store, and completes the
trial with the record, the artifact id and the checkpoint's SHA-256 as user attributes. Others
download the checkpoint and verify the checksum before using it.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.artifacts import download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial, TrialState

from unlearn_opt.engine.workspace import OriginalRecord, Workspace, state_from_bytes, state_to_bytes
from unlearn_opt.errors import UserError
from unlearn_opt.service import tickets
from unlearn_opt.service.naming import ModelKey, model_attrs, model_key, model_label
from unlearn_opt.service.optuna_adapter import trial_id as trial_id_of
from unlearn_opt.service.storage import ArtifactLocation, ArtifactStore

__all__ = ["ModelKey", "key_of", "model_label"]
READ_ATTEMPTS = 3  # reads of a checkpoint before the store is taken to refuse it (waits 1 s, 2 s)
CORRUPT_ATTR = "corrupt_artifacts"  # on the originals study: checkpoints that failed their checksum


class CheckpointError(RuntimeError):
    """A stored checkpoint is missing (``missing``), cannot be read from its store (``unreadable``:
    a permission or I/O error, which says nothing about the checkpoint), or does not match its
    recorded checksum."""

    def __init__(self, message: str, *, artifact_id: str | None = None, missing: bool = False, unreadable: bool = False) -> None:
        super().__init__(message)
        self.artifact_id = artifact_id
        self.missing = missing
        self.unreadable = unreadable


def open_store(study: optuna.Study, location: ArtifactLocation) -> ArtifactStore:
    """The artifact store of the experiment whose originals study is ``study``; a UserError, with
    nothing written (not even the folder), if ``location`` is not the store that create-study
    wrote into. The store's identity is the experiment's splits file: create-study uploads it
    there under a random id (a UUID) and records that id on the experiment (``splits_artifact_id``)."""
    attrs = study.user_attrs
    marker = attrs.get("splits_artifact_id")
    wrong = (
        f"artifacts: {location.spec} is not the artifact store of experiment {attrs.get('experiment', '?')!r} "
        f"(it lacks the experiment's splits file {marker}; create-study used {attrs.get('artifacts', '?')}): "
        "give that store with --artifacts or $UNLEARN_OPT_ARTIFACTS"
    )
    if marker and not location.spec.startswith("s3://") and not Path(location.spec).is_dir():
        raise UserError(wrong)
    store = location.open()
    if marker and not _holds(store, marker, location):
        raise UserError(wrong)
    return store


def _holds(store: ArtifactStore, artifact_id: str, location: ArtifactLocation) -> bool:
    try:
        store.open_reader(artifact_id).close()
    except ArtifactNotFound:
        return False
    except Exception as exc:  # noqa: BLE001 - a store that cannot be read is one clear line
        raise UserError(f"artifacts: cannot read {location.spec}: {type(exc).__name__}: {exc}") from None
    return True


def store_lost(study: optuna.Study, location: ArtifactLocation) -> UserError | None:
    """After a missing checkpoint: the error to stop with if the whole store is gone (unmounted,
    replaced), None if only that checkpoint is (then it is retrained)."""
    try:
        open_store(study, location)
    except UserError as exc:
        return exc
    return None


def retrain_corrupt(study: optuna.Study, trial: FrozenTrial, artifact_id: str | None) -> bool:
    """Mark the checkpoint corrupt and queue its model again (unless a ticket for it is already
    waiting or running); True if a ticket was queued."""
    if artifact_id:
        corrupt = list(study.user_attrs.get(CORRUPT_ATTR, []))
        if artifact_id not in corrupt:
            study.set_user_attr(CORRUPT_ATTR, [*corrupt, artifact_id])
    key = key_of(trial)
    active = study.get_trials(deepcopy=False, states=(TrialState.WAITING, TrialState.RUNNING))
    if any("kind" in t.user_attrs and key_of(t) == key for t in active):
        return False
    study.enqueue_trial({}, user_attrs={**model_attrs(key), "replaces": trial.number})
    return True


def key_of(trial: FrozenTrial) -> ModelKey:
    return model_key(trial.user_attrs)


@dataclass
class OriginalsView:
    """The originals study at one moment."""

    complete: dict[ModelKey, FrozenTrial]
    waiting: list[FrozenTrial]
    running: dict[ModelKey, FrozenTrial]

    @classmethod
    def read(cls, study: optuna.Study) -> OriginalsView:
        """The latest COMPLETE trial of each model whose checkpoint is not known to be corrupt."""
        complete: dict[ModelKey, FrozenTrial] = {}
        waiting: list[FrozenTrial] = []
        running: dict[ModelKey, FrozenTrial] = {}
        corrupt = set(study.user_attrs.get(CORRUPT_ATTR, []))
        for t in study.get_trials(deepcopy=False):
            if "kind" not in t.user_attrs:
                continue
            if t.state == TrialState.COMPLETE:
                if t.user_attrs.get("artifact_id") not in corrupt:
                    complete[key_of(t)] = t
            elif t.state == TrialState.WAITING:
                waiting.append(t)
            elif t.state == TrialState.RUNNING:
                running[key_of(t)] = t
        return cls(complete, waiting, running)

    def ready(self, kind: str, width: float, sparsity: float, replicate: int = 0, depth: int = 1) -> bool:
        return ModelKey(kind, float(width), float(sparsity), replicate, depth) in self.complete

    def claimable(self) -> list[FrozenTrial]:
        """Waiting tickets whose prerequisites are done (a sparse original needs its dense one),
        originals before retrain references, dense before sparse, replicate 0 first, narrow
        before wide, shallow before deep."""

        def prerequisites_done(key: ModelKey) -> bool:
            return key.sparsity == 0.0 or self.ready("original", key.width, 0.0, key.replicate, key.depth)

        def order(t: FrozenTrial) -> tuple[bool, float, int, float, int, int]:
            k = key_of(t)
            return (k.kind != "original", k.sparsity, k.replicate, k.width, k.depth, t.number)

        out = [t for t in self.waiting if key_of(t) not in self.complete and prerequisites_done(key_of(t))]
        return sorted(out, key=order)

    def all_done(self, needed: list[ModelKey]) -> bool:
        return all(k in self.complete for k in needed)


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def train_model(ws: Workspace, key: ModelKey) -> tuple[torch.nn.Module, OriginalRecord]:
    """Train the model of ``key`` in ``ws`` (it stays cached there)."""
    if key.kind == "retrain":
        return ws.retrain(key.width, depth=key.depth)
    return ws.original(key.width, key.sparsity, depth=key.depth)


def store_model(
    study: optuna.Study,
    trial: optuna.Trial,
    key: ModelKey,
    model: torch.nn.Module,
    record: OriginalRecord,
    store: ArtifactStore,
) -> None:
    """Upload ``model``'s checkpoint, read it back and compare its SHA-256 (any store: an upload
    cut short is never recorded), then complete ``trial`` with the record, the artifact id and the
    SHA-256; the finished trial lists that checkpoint only."""
    kind, width, sparsity, replicate, depth = key
    blob = state_to_bytes(model)
    with tempfile.TemporaryDirectory() as tmp:
        name = f"{kind}-w{width:g}" + (f"-d{depth}" if depth != 1 else "") + f"-s{sparsity:g}"
        path = Path(tmp) / (name + (f"-r{replicate}" if replicate else "") + ".pt")
        path.write_bytes(blob)
        artifact_id = upload_artifact(
            artifact_store=store, file_path=str(path), study_or_trial=trial, mimetype="application/octet-stream"
        )
    with store.open_reader(artifact_id) as stored:
        if sha256(stored.read()) != sha256(blob):
            raise CheckpointError(f"{model_label(key)}: checkpoint {artifact_id} was not stored whole")
    attrs = {
        "record": record.to_dict(),
        "artifact_id": artifact_id,
        "sha256": sha256(blob),
        "param_count": record.param_count,
        "train_error": record.train_error,
        "test_error": record.test_error,
        "overparameterized": record.overparameterized,
        "train_seconds": record.train_seconds,
    }
    tickets.complete(study, trial, [record.test_error], user_attrs=attrs, only_artifact=artifact_id)


def is_duplicate(study: optuna.Study, trial_id: int) -> bool:
    """True when the popped ticket ``trial_id`` is not needed: its model is already trained (with
    a checkpoint not known to be corrupt), or a lower-numbered ticket for the same model is
    waiting or running (two processes repairing the queue at once can leave two tickets)."""
    corrupt = set(study.user_attrs.get(CORRUPT_ATTR, []))
    trials = [t for t in study.get_trials(deepcopy=False) if "kind" in t.user_attrs]
    mine = next(t for t in trials if trial_id_of(t) == trial_id)
    key = key_of(mine)
    for t in trials:
        if trial_id_of(t) == trial_id or key_of(t) != key:
            continue
        if t.state == TrialState.COMPLETE and t.user_attrs.get("artifact_id") not in corrupt:
            return True
        if t.state in (TrialState.WAITING, TrialState.RUNNING) and t.number < mine.number:
            return True
    return False


def install(ws: Workspace, trial: FrozenTrial, store: ArtifactStore) -> None:
    """Download a completed original/retrain, verify its checksum, install it in ``ws`` (the
    workspace of the trial's replicate)."""
    key = key_of(trial)
    label = model_label(key)
    artifact_id = trial.user_attrs.get("artifact_id")
    if not artifact_id:
        raise CheckpointError(f"{label}: no checkpoint recorded")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "checkpoint.pt"
        for attempt in range(READ_ATTEMPTS):
            try:
                download_artifact(artifact_store=store, file_path=str(path), artifact_id=artifact_id)
                break
            except ArtifactNotFound:
                raise CheckpointError(
                    f"{label}: checkpoint {artifact_id} is missing from the artifact store",
                    artifact_id=artifact_id,
                    missing=True,
                ) from None
            except Exception as exc:  # noqa: BLE001 - any store failure becomes one clear error
                if attempt + 1 < READ_ATTEMPTS:  # a network blip on S3 or NFS: read again
                    time.sleep(2.0**attempt)
                    continue
                raise CheckpointError(
                    f"{label}: cannot read checkpoint {artifact_id} ({READ_ATTEMPTS} tries): {type(exc).__name__}: {exc}",
                    artifact_id=artifact_id,
                    unreadable=True,
                ) from None
        blob = path.read_bytes()
    if sha256(blob) != trial.user_attrs.get("sha256"):
        raise CheckpointError(
            f"{label}: checkpoint {artifact_id} does not match its recorded SHA-256 "
            "(truncated or altered in the artifact store); it is queued for retraining",
            artifact_id=artifact_id,
        )
    try:
        state = state_from_bytes(blob)
    except Exception as exc:  # noqa: BLE001 - weights_only=True refuses anything but tensors
        raise CheckpointError(f"{label}: unreadable checkpoint: {exc}", artifact_id=artifact_id) from None
    record = OriginalRecord.from_dict(trial.user_attrs["record"])
    if key.kind == "retrain":
        ws.put_retrain(key.width, state, record, depth=key.depth)
    else:
        ws.put_original(key.width, key.sparsity, state, record, depth=key.depth)
