"""Everything unlearn-opt uses of Optuna beyond its public API, in one module.

The service keeps Optuna's RDB storage as the one source of truth, but a trial's hot path (pop a
ticket, write its attributes, end it) is written straight into Optuna's tables, a few statements
in one transaction each, and the popped trial is registered in Optuna's in-process storage cache
without a query (``service/tickets.py`` says why). Those are Optuna internals: the table models,
the cached storage's fields, ``Study._storage``/``_study_id``, ``FrozenTrial._trial_id``, the
``Trial(study, trial_id)`` constructor, the stale-trial query. They are used here and nowhere
else, behind typed functions, and ``tests/test_optuna_adapter.py`` fails loudly when one of them
changes (the schema revision, the columns written, the cache hooks).

Supported: Optuna 5.0.x (``pyproject.toml`` pins ``optuna>=5.0,<5.1``). :func:`check_optuna`
refuses another version and :func:`check_schema` a database whose schema revision is not the one
this version writes, each with one clear line, before anything is written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

import optuna
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages import _CachedStorage as CachedStorage
from optuna.storages._cached_storage import _StudyInfo
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from unlearn_opt.errors import UserError

SUPPORTED_OPTUNA = (5, 0)  # major, minor
SCHEMA_REVISION = "v3.2.0.a"  # the alembic head of Optuna 5.0's RDB schema (table alembic_version)
SCHEMA_VERSION = 12  # models.SCHEMA_VERSION (table version_info)

# Columns this module reads or writes directly, per table (checked against Optuna's models).
COLUMNS: dict[str, tuple[str, ...]] = {
    "trials": ("trial_id", "number", "study_id", "state", "datetime_start", "datetime_complete"),
    "trial_values": ("trial_id", "objective", "value", "value_type"),
    "trial_user_attributes": ("trial_id", "key", "value_json"),
    "trial_heartbeats": ("trial_id", "heartbeat"),
    "trial_system_attributes": ("trial_id", "key"),
}

_TRIALS = models.TrialModel.__table__
_VALUES = models.TrialValueModel.__table__
_USER_ATTRS = models.TrialUserAttributeModel.__table__
_HEARTBEATS = models.TrialHeartbeatModel.__table__
_SYSTEM_ATTRS = models.TrialSystemAttributeModel.__table__
ARTIFACT_LINK = "artifacts:"  # a trial's system attribute ``artifacts:ID`` lists artifact ID on it (upload_artifact)

Target = optuna.Study | BaseStorage


# ---------------------------------------------------------------------------- versions


def check_optuna(version: str | None = None) -> None:
    """A UserError unless the installed Optuna (or ``version``) is the supported minor release and
    its table models are the schema this module writes."""
    version = optuna.__version__ if version is None else version
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = -1, -1
    want = ".".join(map(str, SUPPORTED_OPTUNA))
    pin = f"pip install 'optuna>={want},<{SUPPORTED_OPTUNA[0]}.{SUPPORTED_OPTUNA[1] + 1}'"
    if (major, minor) != SUPPORTED_OPTUNA:
        raise UserError(
            f"optuna {version} is installed, but unlearn-opt writes Optuna's tables directly and works with "
            f"optuna {want}.x only ({pin})"
        )
    if models.SCHEMA_VERSION != SCHEMA_VERSION:
        raise UserError(
            f"optuna {version}: table schema version {models.SCHEMA_VERSION}, unlearn-opt knows {SCHEMA_VERSION} only ({pin})"
        )


def stored_schema(conn: sqlalchemy.Connection) -> str | None:
    """The schema revision recorded in a database (Optuna's ``alembic_version``); None for a
    database without Optuna's tables. Reads only."""
    tables = set(sqlalchemy.inspect(conn).get_table_names())
    if "alembic_version" not in tables:
        return None if "studies" not in tables else "(none: made before Optuna 1.3)"
    revision = conn.execute(sqlalchemy.text("SELECT version_num FROM alembic_version")).scalar()
    return str(revision) if revision is not None else None


class SchemaError(UserError):
    """The database holds Optuna tables of another schema revision (or half-made ones)."""


def check_schema(conn: sqlalchemy.Connection) -> bool:
    """A UserError if the database holds Optuna tables of another schema revision than the one
    this module writes (another Optuna made them). A database without them is fine. Returns True
    when the tables are there at this revision."""
    revision = stored_schema(conn)
    if revision is None:
        return False
    if revision != SCHEMA_REVISION:
        raise SchemaError(
            f"its Optuna tables are schema revision {revision}, but unlearn-opt works with revision "
            f"{SCHEMA_REVISION} (Optuna {'.'.join(map(str, SUPPORTED_OPTUNA))}) only; upgrade it with "
            "`optuna storage upgrade --storage URL` or use the Optuna that made it"
        )
    return True


# ---------------------------------------------------------------------------- studies and trials


def storage_of(study: optuna.Study) -> BaseStorage:
    """The storage a Study reads and writes through (Optuna's cache around an RDBStorage)."""
    return study._storage


def backend(target: Target) -> RDBStorage:
    """The RDBStorage behind a Study or a (cached) storage."""
    storage = storage_of(target) if isinstance(target, optuna.Study) else target
    if isinstance(storage, CachedStorage):
        storage = storage._backend
    if not isinstance(storage, RDBStorage):
        raise TypeError(f"needs an RDBStorage, not {type(storage).__name__}")
    return storage


def study_id(study: optuna.Study) -> int:
    return study._study_id


def trial_id(trial: FrozenTrial | optuna.Trial) -> int:
    return trial._trial_id


def popped_trial(study: optuna.Study, trial_id: int) -> optuna.Trial:
    """The ``optuna.Trial`` of a trial this process has popped (RUNNING), as ``ask()`` returns it:
    parameters are suggested through it and it is told to the study."""
    return optuna.Trial(study, trial_id)


def heartbeat_interval(target: Target) -> int | None:
    """Seconds between heartbeats, None when the storage has none."""
    return backend(target).get_heartbeat_interval()


def stale_trial_ids(study: optuna.Study) -> list[int]:
    """RUNNING trials of the study whose heartbeat is older than the grace period."""
    return backend(study)._get_stale_trial_ids(study_id(study))


def cache_popped(study: optuna.Study, trial_id: int, number: int) -> None:
    """Optuna's storage cache must know a trial before parameters are set on it (``ask()`` gets
    this by reading every unfinished trial of the study, all the WAITING tickets included, which
    costs milliseconds per hundred tickets). Here the popped trial is registered as an unfinished
    placeholder, without a query: the cache reads it from the database whenever it is asked for
    it, and replaces it when it next reads the study. As ``ask()`` does, the samplers' cached view
    of the study is dropped, so it is read afresh once per trial."""
    storage = storage_of(study)
    sid = study_id(study)
    if isinstance(storage, CachedStorage):
        placeholder = FrozenTrial(
            number=number,
            state=TrialState.RUNNING,
            value=None,
            values=None,
            datetime_start=None,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs={},
            system_attrs={},
            intermediate_values={},
            trial_id=trial_id,
        )
        with storage._lock:  # as the cache's own create_new_trial does
            if sid not in storage._studies:
                storage._studies[sid] = _StudyInfo()
            storage._add_trials_to_cache(sid, [placeholder])
            storage._studies[sid].unfinished_trial_ids.add(trial_id)
    study._thread_local.cached_all_trials = None


# ---------------------------------------------------------------------------- Optuna's tables


class TrialRow(NamedTuple):
    study_id: int
    trial_id: int
    number: int
    state: TrialState


def _now_utc() -> dt.datetime:
    """Optuna 5 stores trial datetimes as naive UTC (``TrialModel.datetime_start``'s setter)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@contextmanager
def transaction(target: Target) -> Iterator[sqlalchemy.Connection]:
    """One transaction on the database: committed at the end of the block, rolled back on error."""
    with backend(target).engine.begin() as conn:
        yield conn


def move_state(conn: sqlalchemy.Connection, trial_id: int, *, old: TrialState, new: TrialState) -> bool:
    """``UPDATE trials SET state = new WHERE trial_id = :id AND state = old`` (with the start or
    end time, as Optuna sets them): True if this call made the change (exactly one process can)."""
    values: dict[str, Any] = {"state": new}
    if new == TrialState.RUNNING:
        values["datetime_start"] = _now_utc()
    if new.is_finished():
        values["datetime_complete"] = _now_utc()
    stmt = sqlalchemy.update(_TRIALS).where(_TRIALS.c.trial_id == trial_id, _TRIALS.c.state == old).values(**values)
    return conn.execute(stmt).rowcount == 1


def trial_number(conn: sqlalchemy.Connection, trial_id: int) -> int:
    return int(conn.execute(sqlalchemy.select(_TRIALS.c.number).where(_TRIALS.c.trial_id == trial_id)).scalar_one())


def count_ahead(conn: sqlalchemy.Connection, study_id: int, number: int) -> int:
    """COMPLETE trials of the study, and its RUNNING or WAITING trials numbered below ``number``."""
    t = _TRIALS
    query = sqlalchemy.select(sqlalchemy.func.count()).where(
        t.c.study_id == study_id,
        sqlalchemy.or_(
            t.c.state == TrialState.COMPLETE,
            sqlalchemy.and_(t.c.state.in_([TrialState.RUNNING, TrialState.WAITING]), t.c.number < number),
        ),
    )
    return int(conn.execute(query).scalar_one())


def record_first_heartbeat(conn: sqlalchemy.Connection, trial_id: int) -> None:
    """The trial's heartbeat, stamped with the server's clock (the column's default, as
    ``RDBStorage.record_heartbeat`` does)."""
    conn.execute(sqlalchemy.delete(_HEARTBEATS).where(_HEARTBEATS.c.trial_id == trial_id))
    conn.execute(sqlalchemy.insert(_HEARTBEATS).values(trial_id=trial_id))


def lock_unfinished(conn: sqlalchemy.Connection, trial_id: int) -> None:
    """Lock the trial's row (PostgreSQL; SQLite has one writer anyway) for the rest of the
    transaction. Raises ``KeyError`` for an unknown trial, ``UpdateFinishedTrialError`` for a
    finished one."""
    row = conn.execute(
        sqlalchemy.select(_TRIALS.c.state, _TRIALS.c.number).where(_TRIALS.c.trial_id == trial_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise KeyError(f"no trial with trial_id {trial_id}")
    if row.state.is_finished():
        raise UpdateFinishedTrialError(f"Trial#{row.number} has already finished and can not be updated.")


def write_user_attrs(conn: sqlalchemy.Connection, trial_id: int, attrs: Mapping[str, Any]) -> None:
    """Every item as a user attribute of the trial (overwriting), JSON-encoded exactly as Optuna
    does, so Optuna reads them back unchanged: one DELETE and one multi-row INSERT."""
    if not attrs:
        return
    rows = [{"trial_id": trial_id, "key": key, "value_json": json.dumps(value)} for key, value in attrs.items()]
    conn.execute(sqlalchemy.delete(_USER_ATTRS).where(_USER_ATTRS.c.trial_id == trial_id, _USER_ATTRS.c.key.in_(list(attrs))))
    conn.execute(sqlalchemy.insert(_USER_ATTRS), rows)


def drop_artifact_links(conn: sqlalchemy.Connection, trial_id: int, *, keep: str) -> int:
    """Delete the trial's artifact links (system attributes ``artifacts:ID``) except the one of
    ``keep``: a retried trial inherits its failed try's links (Optuna's stale-trial retry copies
    the system attributes), which name uploads that never completed. Returns how many."""
    attrs = _SYSTEM_ATTRS.c
    stmt = sqlalchemy.delete(_SYSTEM_ATTRS).where(
        attrs.trial_id == trial_id, attrs.key.startswith(ARTIFACT_LINK, autoescape=True), attrs.key != ARTIFACT_LINK + keep
    )
    return int(conn.execute(stmt).rowcount)


def write_values(conn: sqlalchemy.Connection, trial_id: int, values: Sequence[float]) -> None:
    """The trial's objective values (±inf as Optuna stores them)."""
    rows = []
    for objective, value in enumerate(values):
        stored, kind = models.TrialValueModel.value_to_stored_repr(value)
        rows.append({"trial_id": trial_id, "objective": objective, "value": stored, "value_type": kind})
    conn.execute(sqlalchemy.delete(_VALUES).where(_VALUES.c.trial_id == trial_id))
    conn.execute(sqlalchemy.insert(_VALUES), rows)


def trial_rows(target: Target, study_ids: Sequence[int], states: Sequence[TrialState]) -> list[TrialRow]:
    """(study, trial id, number, state) of the studies' trials in ``states``, in one query and
    without their attributes."""
    query = sqlalchemy.select(_TRIALS.c.study_id, _TRIALS.c.trial_id, _TRIALS.c.number, _TRIALS.c.state).where(
        _TRIALS.c.study_id.in_(list(study_ids)), _TRIALS.c.state.in_(list(states))
    )
    with backend(target).engine.connect() as conn:
        return [TrialRow(*row) for row in conn.execute(query)]
