"""Writing a trial's user attributes in one transaction (a trial records ~15 metrics).

Optuna's ``set_trial_user_attr`` is one transaction of three statements per attribute (find the
trial, look for the attribute, write it); fifteen metrics cost fifteen commits. Here the trial's
state is checked once (its row locked on PostgreSQL, so a concurrent FAIL waits) and every
attribute is written by one DELETE and one multi-row INSERT into Optuna's own table, with the
values JSON-encoded exactly as Optuna does, so Optuna reads them back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages._rdb.models import TrialModel, TrialUserAttributeModel


def rdb_backend(storage: object) -> RDBStorage:
    """The RDBStorage behind ``storage`` (Optuna wraps it in a cache inside a Study)."""
    backend = getattr(storage, "_backend", storage)
    if not isinstance(backend, RDBStorage):
        raise TypeError(f"needs an RDBStorage, not {type(backend).__name__}")
    return backend


def lock_unfinished(conn: sqlalchemy.Connection, trial_id: int) -> None:
    """Lock the trial's row (PostgreSQL; SQLite has one writer anyway) for the rest of the
    transaction. Raises ``KeyError`` for an unknown trial, ``UpdateFinishedTrialError`` for a
    finished one."""
    trials = TrialModel.__table__
    row = conn.execute(
        sqlalchemy.select(trials.c.state, trials.c.number).where(trials.c.trial_id == trial_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise KeyError(f"no trial with trial_id {trial_id}")
    if row.state.is_finished():
        raise UpdateFinishedTrialError(f"Trial#{row.number} has already finished and can not be updated.")


def write_attrs(conn: sqlalchemy.Connection, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """Every item as a user attribute of the trial (overwriting), inside the caller's transaction."""
    if not attrs:
        return
    table = TrialUserAttributeModel.__table__
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    conn.execute(sqlalchemy.delete(table).where(table.c.trial_id == trial_id, table.c.key.in_(list(attrs))))
    conn.execute(sqlalchemy.insert(table), rows)


def set_user_attrs(storage: object, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """``set_trial_user_attr(trial_id, key, value)`` for every item, in one transaction.
    Raises ``UpdateFinishedTrialError`` (nothing written) if the trial has finished."""
    if not attrs:
        return
    with rdb_backend(storage).engine.begin() as conn:
        lock_unfinished(conn, trial_id)
        write_attrs(conn, trial_id, attrs)
