"""Writing a trial's user attributes in one transaction (a trial records ~15 metrics)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.storages import RDBStorage


def set_user_attrs(storage: RDBStorage, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """``storage.set_trial_user_attr`` for every item, committed once. Uses RDBStorage's
    per-attribute writer inside one session when this Optuna version has it, else one
    transaction per attribute (same result, slower)."""
    writer = getattr(storage, "_set_trial_attr_without_commit", None)
    try:
        from optuna.storages._rdb import models
        from optuna.storages._rdb.storage import _create_scoped_session
    except ImportError:
        writer = None
    if writer is None:
        for key, value in attrs.items():
            storage.set_trial_user_attr(trial_id, key, value)
        return
    with _create_scoped_session(storage.scoped_session, True) as session:
        for key, value in attrs.items():
            writer(session, models.TrialUserAttributeModel, trial_id, key, value)
