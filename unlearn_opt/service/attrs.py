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


def set_user_attrs(storage: object, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """``set_trial_user_attr(trial_id, key, value)`` for every item, in one transaction.
    Raises ``UpdateFinishedTrialError`` (nothing written) if the trial has finished."""
    if not attrs:
        return
    trials, table = TrialModel.__table__, TrialUserAttributeModel.__table__
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    with rdb_backend(storage).engine.begin() as conn:
        state = conn.execute(
            sqlalchemy.select(trials.c.state, trials.c.number).where(trials.c.trial_id == trial_id).with_for_update()
        ).one_or_none()
        if state is None:
            raise KeyError(f"no trial with trial_id {trial_id}")
        if state.state.is_finished():
            raise UpdateFinishedTrialError(f"Trial#{state.number} has already finished and can not be updated.")
        conn.execute(sqlalchemy.delete(table).where(table.c.trial_id == trial_id, table.c.key.in_(list(attrs))))
        conn.execute(sqlalchemy.insert(table), rows)
