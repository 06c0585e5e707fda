"""Popping enqueued trials ("tickets") atomically, with heartbeats while they run.

A ticket is a WAITING trial. ``set_trial_state_values(id, RUNNING)`` succeeds for exactly one
process (row lock on PostgreSQL, the write lock on SQLite), so each ticket runs once. A heartbeat
is recorded before the pop, so a process killed right after popping still leaves a stale trial
that another worker fails and retries.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages._heartbeat import BaseHeartbeat, is_heartbeat_enabled
from optuna.trial import TrialState


def pop(study: optuna.Study, trial_id: int) -> bool:
    """Try to move the ticket ``trial_id`` from WAITING to RUNNING; True if this process got it."""
    storage = study._storage  # Optuna wraps the RDBStorage in a cache that forwards heartbeats
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        storage.record_heartbeat(trial_id)
    try:
        if not storage.set_trial_state_values(trial_id, state=TrialState.RUNNING):
            return False
    except UpdateFinishedTrialError:
        return False
    # Optuna's storage cache must know the trial before parameters are set on it (ask() gets
    # this by reading the WAITING trials; here the board found the ticket).
    storage.get_all_trials(study._study_id, deepcopy=False, states=(TrialState.RUNNING,))
    return True


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
        self.storage.record_heartbeat(self.trial_id)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@contextmanager
def heartbeat(study: optuna.Study, trial_id: int) -> Iterator[None]:
    storage = study._storage
    if isinstance(storage, BaseHeartbeat) and is_heartbeat_enabled(storage):
        interval = storage.get_heartbeat_interval()
        with Heartbeat(storage, trial_id, float(interval or 10)):
            yield
    else:
        yield
