"""Popping enqueued trials ("tickets") atomically, with heartbeats while they run.

A ticket is a WAITING trial. Popping it is one conditional statement,
``UPDATE trials SET state = RUNNING WHERE trial_id = :id AND state = WAITING``, which changes one
row for exactly one process on PostgreSQL (row lock, the condition re-checked after a concurrent
commit) and on SQLite (one writer at a time). Optuna's own ``set_trial_state_values`` is not
enough on SQLite: its ``SELECT … FOR UPDATE`` is a no-op there and pysqlite runs the SELECT
outside the write transaction, so two processes could both see WAITING and both take the ticket
(measured: 17 double pops out of 300 tickets with 4 processes). The pop's transaction also
records the trial's first heartbeat (so a process killed right after popping leaves a stale trial
that another worker fails and retries) and the caller's user attributes.

A trial's end is one transaction too (``complete``): its metrics, its values and the state.
Through Optuna's API a trial costs about 45 statements and 13 transactions on a server
database (each ``get_trial`` is six queries, and ``tell`` reads the trial twice); this module's
way costs about 24 and 6 (``bench/storage_scaling.py``). The statements themselves are in
``optuna_adapter``, the one module that touches Optuna's tables and internals.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.trial import FrozenTrial, TrialState

from unlearn_opt.service import optuna_adapter as rdb

SAME_PARAMS_RETRIES = 2  # a failed trial is retried with its parameters this many times


def pop(study: optuna.Study, trial_id: int, *, user_attrs: Mapping[str, Any] | None = None, n_trials: int | None = None) -> bool:
    """Try to move the ticket ``trial_id`` from WAITING to RUNNING; True if this process got it.
    In the same transaction: the trial's first heartbeat and ``user_attrs``. With ``n_trials``,
    a ticket that is one too many (COMPLETE trials and the active tickets numbered below it
    already make ``n_trials``: left over by two processes repairing at once) is closed instead,
    as PRUNED with ``surplus = True``, and False is returned."""
    beats = rdb.heartbeat_interval(study) is not None
    with rdb.transaction(study) as conn:  # (no RETURNING: SQLite has it only from 3.35)
        if not rdb.move_state(conn, trial_id, old=TrialState.WAITING, new=TrialState.RUNNING):
            return False
        number = rdb.trial_number(conn, trial_id)
        if n_trials is not None and rdb.count_ahead(conn, rdb.study_id(study), number) >= n_trials:
            _close_surplus(conn, trial_id)
            return False
        if beats:
            rdb.record_first_heartbeat(conn, trial_id)
        rdb.write_user_attrs(conn, trial_id, user_attrs or {})
    rdb.cache_popped(study, trial_id, number)
    return True


def _close_surplus(conn: sqlalchemy.Connection, trial_id: int) -> bool:
    """RUNNING → PRUNED with ``surplus = True``, in the caller's transaction; False (nothing
    written) if the trial was no longer RUNNING."""
    if not rdb.move_state(conn, trial_id, old=TrialState.RUNNING, new=TrialState.PRUNED):
        return False
    rdb.write_user_attrs(conn, trial_id, {"surplus": True})
    return True


def close_surplus(storage: optuna.Study | BaseStorage, trial_id: int) -> bool:
    """Close a popped ticket that turned out not to be needed: PRUNED with ``surplus = True``
    (PRUNED trials do not count), in one transaction."""
    with rdb.transaction(storage) as conn:
        return _close_surplus(conn, trial_id)


def complete(
    study: optuna.Study,
    trial: optuna.Trial,
    values: Sequence[float],
    *,
    user_attrs: Mapping[str, Any],
    only_artifact: str | None = None,
) -> None:
    """``study.tell(trial, values)`` with ``user_attrs`` written first, in one transaction: the
    sampler's ``after_trial`` hook, then the attributes, the values and COMPLETE. With
    ``only_artifact``, the trial's links to any other artifact (inherited from a failed try) are
    dropped in the same transaction, so the finished trial lists that artifact only. Raises
    ``UpdateFinishedTrialError`` (nothing written) if the trial is no longer RUNNING (another
    worker failed it as stale), ``ValueError`` for values Optuna would refuse."""
    floats = [float(v) for v in values]
    if len(floats) != len(study.directions) or any(math.isnan(v) for v in floats):
        raise ValueError(f"trial {trial.number}: cannot complete with values {floats} ({len(study.directions)} objectives)")
    tid = rdb.trial_id(trial)
    frozen = FrozenTrial(
        number=trial.number,
        state=TrialState.RUNNING,
        value=None,
        values=None,
        datetime_start=trial.datetime_start,
        datetime_complete=None,
        params=trial.params,
        distributions=trial.distributions,
        user_attrs={**trial.user_attrs, **user_attrs},
        system_attrs={},
        intermediate_values={},
        trial_id=tid,
    )
    study.sampler.after_trial(study, frozen, TrialState.COMPLETE, floats)
    with rdb.transaction(study) as conn:
        rdb.lock_unfinished(conn, tid)
        rdb.write_user_attrs(conn, tid, user_attrs)
        if only_artifact is not None:
            rdb.drop_artifact_links(conn, tid, keep=only_artifact)
        rdb.write_values(conn, tid, floats)
        if not rdb.move_state(conn, tid, old=TrialState.RUNNING, new=TrialState.COMPLETE):  # WAITING: never popped here
            raise UpdateFinishedTrialError(f"Trial#{trial.number} is not RUNNING and can not be completed.")


def finish(storage: optuna.Study | BaseStorage, trial_id: int, state: TrialState) -> bool:
    """Move a RUNNING trial to FAIL or PRUNED; False if it was no longer RUNNING (another worker
    failed it as stale meanwhile, and that worker queued its retry)."""
    if not state.is_finished() or state == TrialState.COMPLETE:
        raise ValueError(f"finish() is for FAIL or PRUNED, not {state.name}")
    with rdb.transaction(storage) as conn:
        return rdb.move_state(conn, trial_id, old=TrialState.RUNNING, new=state)


def fail_and_requeue(study: optuna.Study, trial_id: int, error: str, *, params: dict[str, Any], count_retry: bool = True) -> bool:
    """Mark a RUNNING trial FAIL with its ``error``, then queue its replacement: the same
    ``params`` while ``SAME_PARAMS_RETRIES`` last, then a fresh ticket. Returns False (and queues
    nothing) if the trial was no longer RUNNING: another worker failed it as stale first, and its
    heartbeat callback queued the retry. A process killed between the two steps leaves a lost
    ticket, which the next worker's repair re-queues (never a surplus one)."""
    storage = rdb.storage_of(study)
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
                released += fail_and_requeue(study, rdb.trial_id(t), error, params=t.params, count_retry=False)
    return released


def fail_stale(study: optuna.Study) -> int:
    """``optuna.storages.fail_stale_trials`` with an atomic state change: each stale trial is
    failed, and its retry queued by the heartbeat callback, by exactly one process (Optuna's
    version can fail a trial twice on SQLite and queue two retries). Returns how many."""
    if rdb.heartbeat_interval(study) is None:
        return 0
    failed = [trial_id for trial_id in rdb.stale_trial_ids(study) if _fail_stale_one(study, trial_id)]
    callback = rdb.backend(study).get_heartbeat_stale_trial_callback()
    for trial_id in failed:
        if callback is not None:
            frozen = copy.deepcopy(rdb.storage_of(study).get_trial(trial_id))
            frozen.user_attrs = {k: v for k, v in frozen.user_attrs.items() if k != "error"}  # not the retry's
            callback(study, frozen)
    return len(failed)


STALE_ERROR = "stale: no heartbeat within the grace period (its worker is gone)"


def _fail_stale_one(study: optuna.Study, trial_id: int) -> bool:
    """RUNNING → FAIL with ``error`` saying why, in one transaction, so that a stale trial says why
    it failed even when its retry is not queued (past the retries, or the process died between)."""
    with rdb.transaction(study) as conn:
        if not rdb.move_state(conn, trial_id, old=TrialState.RUNNING, new=TrialState.FAIL):
            return False
        rdb.write_user_attrs(conn, trial_id, {"error": STALE_ERROR})
        return True


class Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds in a daemon thread."""

    def __init__(self, storage: RDBStorage, trial_id: int, interval: float) -> None:
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
    interval = rdb.heartbeat_interval(study)
    if interval is None:
        yield
        return
    with Heartbeat(rdb.backend(study), trial_id, float(interval or 10)):
        yield
