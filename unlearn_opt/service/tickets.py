"""Popping enqueued trials ("tickets") atomically, with heartbeats while they run.

A ticket is a WAITING trial. Popping it is one conditional statement,
``UPDATE trials SET state = RUNNING WHERE trial_id = :id AND state = WAITING``, which changes one
row for exactly one process on PostgreSQL (row lock, the condition re-checked after a concurrent
commit) and on SQLite (one writer at a time). Optuna's own ``set_trial_state_values`` is not
enough on SQLite: its ``SELECT … FOR UPDATE`` is a no-op there and pysqlite runs the SELECT
outside the write transaction, so two processes could both see WAITING and both take the ticket
(measured: 17 double pops out of 300 tickets with 4 processes). A heartbeat is recorded before
the pop, so a process killed right after popping still leaves a stale trial that another worker
fails and retries.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.storages._rdb.models import TrialModel
from optuna.trial import TrialState

from unlearn_opt.service.attrs import rdb_backend

SAME_PARAMS_RETRIES = 2  # a failed trial is retried with its parameters this many times


def _move(storage: object, trial_id: int, *, old: TrialState, new: TrialState) -> bool:
    """``UPDATE trials SET state = new WHERE trial_id = :id AND state = old``: True if this
    process made the change (exactly one process can)."""
    t = TrialModel.__table__
    now = datetime.now()
    values: dict[str, object] = {"state": new}
    if new == TrialState.RUNNING:
        values["datetime_start"] = now
    if new.is_finished():
        values["datetime_complete"] = now
    stmt = sqlalchemy.update(t).where(t.c.trial_id == trial_id, t.c.state == old).values(**values)
    with rdb_backend(storage).engine.begin() as conn:
        return conn.execute(stmt).rowcount == 1


def pop(study: optuna.Study, trial_id: int) -> bool:
    """Try to move the ticket ``trial_id`` from WAITING to RUNNING; True if this process got it."""
    storage = study._storage
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id)
    if not _move(storage, trial_id, old=TrialState.WAITING, new=TrialState.RUNNING):
        return False
    _cache_trial(storage, study._study_id, trial_id)
    return True


def _cache_trial(storage: object, study_id: int, trial_id: int) -> None:
    """Optuna's storage cache must know a trial before parameters are set on it (``ask()`` gets
    this by reading every unfinished trial of the study, all the WAITING tickets included, which
    costs milliseconds per hundred tickets). Here only the popped trial is read and registered, as
    unfinished, so the cache re-reads it when it next reads the study."""
    add = getattr(storage, "_add_trials_to_cache", None)
    studies = getattr(storage, "_studies", None)
    lock = getattr(storage, "_lock", None)
    if add is None or studies is None or lock is None or study_id not in studies:  # another Optuna: the slow, public way
        storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))  # type: ignore[attr-defined]
        return
    frozen = rdb_backend(storage).get_trial(trial_id)
    with lock:
        add(study_id, [frozen])
        studies[study_id].unfinished_trial_ids.add(trial_id)


def finish(storage: object, trial_id: int, state: TrialState) -> bool:
    """Move a RUNNING trial to FAIL or PRUNED; False if it was no longer RUNNING (another worker
    failed it as stale meanwhile, and that worker queued its retry)."""
    if not state.is_finished() or state == TrialState.COMPLETE:
        raise ValueError(f"finish() is for FAIL or PRUNED, not {state.name}")
    return _move(storage, trial_id, old=TrialState.RUNNING, new=state)


def fail_and_requeue(
    study: optuna.Study, trial_id: int, error: str, *, params: dict[str, Any], count_retry: bool = True
) -> bool:
    """Mark a RUNNING trial FAIL with its ``error``, then queue its replacement: the same
    ``params`` while ``SAME_PARAMS_RETRIES`` last, then a fresh ticket. Returns False (and queues
    nothing) if the trial was no longer RUNNING: another worker failed it as stale first, and its
    heartbeat callback queued the retry. A process killed between the two steps leaves a lost
    ticket, which the next worker's repair re-queues (never a surplus one)."""
    storage = study._storage
    frozen = storage.get_trial(trial_id)
    if frozen.state != TrialState.RUNNING:
        return False
    try:
        storage.set_trial_user_attr(trial_id, "error", error[-2000:])
    except UpdateFinishedTrialError:
        return False
    if not finish(storage, trial_id, TrialState.FAIL):
        return False
    retries = int(frozen.user_attrs.get("retries", 0)) + (1 if count_retry else 0)
    attrs = {k: v for k, v in frozen.user_attrs.items() if k in ("kind", "width", "sparsity", "ticket")}
    if retries <= SAME_PARAMS_RETRIES:
        study.enqueue_trial(params, user_attrs={**attrs, "retries": retries, "retry_of": frozen.number})
    else:
        study.enqueue_trial({}, user_attrs={**attrs, "retry_of": frozen.number})
    return True


def release_workers(studies: Iterable[optuna.Study], worker_ids: Collection[str], error: str) -> int:
    """Fail and re-queue the RUNNING trials of workers known to be gone (a launcher's children
    that died or had to be killed), without waiting for their heartbeats to go stale."""
    released = 0
    for study in studies:
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if t.user_attrs.get("worker") in worker_ids:
                released += fail_and_requeue(study, t._trial_id, error, params=t.params, count_retry=False)
    return released


def fail_stale(study: optuna.Study) -> int:
    """``optuna.storages.fail_stale_trials`` with an atomic state change: each stale trial is
    failed, and its retry queued by the heartbeat callback, by exactly one process (Optuna's
    version can fail a trial twice on SQLite and queue two retries). Returns how many."""
    storage = study._storage
    if not (isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage)):
        return 0
    failed = [
        trial_id
        for trial_id in storage._get_stale_trial_ids(study._study_id)
        if _move(storage, trial_id, old=TrialState.RUNNING, new=TrialState.FAIL)
    ]
    callback = storage.get_heartbeat_stale_trial_callback()
    for trial_id in failed:
        if callback is not None:
            callback(study, copy.deepcopy(storage.get_trial(trial_id)))
    return len(failed)


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds in a daemon thread."""

    def __init__(self, storage: BaseHeartbeat, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{trial_id}")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception:  # noqa: BLE001 - a missed beat only risks a retry; the next one may work
                continue

    def __enter__(self) -> Heartbeat:
        self._thread.start()  # the first beat was recorded by pop()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    """Heartbeats for a trial that ``pop`` has just given this process."""
    storage = study._storage
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        interval = storage.get_heartbeat_interval()
        with Heartbeat(storage, trial_id, float(interval or 10)):
            yield
    else:
        yield
