"""The contract with Optuna's internals (``unlearn_opt/service/optuna_adapter.py``): every private
name, table column and cache hook the adapter relies on is checked here, so that an Optuna
release that changes one fails these tests loudly instead of breaking workers mid-experiment.
Also: what the adapter writes reads back through Optuna as Optuna's own writers store it, another
Optuna or schema revision is refused with one line before anything is written, and no other
module uses Optuna's private names."""

from __future__ import annotations

import datetime as dt
import inspect
import re
import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.storages import _CachedStorage as CachedStorage
from optuna.storages._cached_storage import _StudyInfo
from optuna.storages._rdb import models
from optuna.trial import FrozenTrial, TrialState

from tests.service_helpers import ROOT, cli_env, run_cli, sqlite_url, write_spec
from unlearn_opt.errors import UserError
from unlearn_opt.service import optuna_adapter as rdb
from unlearn_opt.service import tickets
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'storage' / 'db.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def _study(url: str, n: int) -> optuna.Study:
    study = optuna.create_study(study_name="s", storage=open_storage(url, create=True), directions=["minimize"] * 2)
    for _ in range(n):
        study.enqueue_trial({}, user_attrs={"ticket": True})
    return study


# ---------------------------------------------------------------------------- what the adapter relies on


def test_the_installed_optuna_is_the_supported_one(tmp_path: Path) -> None:
    rdb.check_optuna()
    assert tuple(int(p) for p in optuna.__version__.split(".")[:2]) == rdb.SUPPORTED_OPTUNA
    assert models.SCHEMA_VERSION == rdb.SCHEMA_VERSION
    storage = RDBStorage(f"sqlite:///{tmp_path / 'x.db'}")
    assert storage.get_head_version() == storage.get_current_version() == rdb.SCHEMA_REVISION


def test_artifact_links_are_optunas() -> None:
    """``upload_artifact`` links an artifact to a trial as the system attribute ``artifacts:ID``."""
    from optuna.artifacts import _upload

    assert rdb.ARTIFACT_LINK == _upload.ARTIFACTS_ATTR_PREFIX


def test_the_columns_we_write_are_optunas() -> None:
    tables = models.BaseModel.metadata.tables
    for table, columns in rdb.COLUMNS.items():
        assert table in tables, f"Optuna has no table {table!r} any more"
        missing = set(columns) - set(tables[table].columns.keys())
        assert not missing, f"Optuna's table {table!r} lost the columns {missing}"
    trials = tables["trials"].c
    assert isinstance(trials.state.type, sqlalchemy.Enum) and trials.state.type.enum_class is TrialState
    assert isinstance(trials.datetime_start.type, sqlalchemy.DateTime) and not trials.datetime_start.type.timezone
    assert isinstance(tables["trial_values"].c.value_type.type, sqlalchemy.Enum)
    assert tables["trial_heartbeats"].c.heartbeat.default is not None  # the first beat takes the column's default
    assert models.TrialValueModel.value_to_stored_repr(float("inf"))[0] is None
    # Optuna 5 stores trial datetimes as naive UTC and reads them back as naive local time
    row = models.TrialModel()
    row.datetime_start = dt.datetime(2024, 1, 1, 12, 0)
    assert row._datetime_start_utc == dt.datetime(2024, 1, 1, 12, 0).astimezone(dt.timezone.utc).replace(tzinfo=None)


def test_the_cache_hooks_and_private_names_exist(url: str) -> None:
    study = _study(url, 1)
    storage = study._storage
    assert isinstance(storage, CachedStorage) and isinstance(storage._backend, RDBStorage)
    assert isinstance(storage._studies, dict) and hasattr(storage._lock, "__enter__")
    assert list(inspect.signature(storage._add_trials_to_cache).parameters) == ["study_id", "trials"]
    assert isinstance(_StudyInfo().unfinished_trial_ids, set)
    assert isinstance(study._study_id, int)
    assert hasattr(study._thread_local, "cached_all_trials")
    assert list(inspect.signature(optuna.Trial.__init__).parameters) == ["self", "study", "trial_id"]
    assert isinstance(study.get_trials()[0]._trial_id, int)
    assert list(inspect.signature(RDBStorage._get_stale_trial_ids).parameters) == ["self", "study_id"]
    assert isinstance(storage._studies[study._study_id], _StudyInfo)  # read once: the study is in the cache


# ---------------------------------------------------------------------------- what it writes reads back


def test_user_attrs_read_back_as_optuna_writes_them(url: str) -> None:
    """One transaction for all attributes; Optuna reads back exactly what its own per-attribute
    writer would have stored (overwriting included); a finished trial is refused, nothing written."""
    study = _study(url, 2)
    first, second = (rdb.trial_id(t) for t in study.get_trials())
    assert tickets.pop(study, first)
    attrs = {"a": 0.125, "b": [1, 2], "c": {"d": "x"}, "ticket": "overwritten", "nan": float("nan")}

    def write(trial_id: int, attrs: dict) -> None:
        with rdb.transaction(study) as conn:
            rdb.lock_unfinished(conn, trial_id)
            rdb.write_user_attrs(conn, trial_id, attrs)

    write(first, attrs)
    storage = rdb.storage_of(study)
    for key, value in attrs.items():
        storage.set_trial_user_attr(second, key, value)
    got, want = storage.get_trial(first).user_attrs, storage.get_trial(second).user_attrs
    assert got.keys() == want.keys() == {"a", "b", "c", "ticket", "nan"}
    assert {k: v for k, v in got.items() if k != "nan"} == {"a": 0.125, "b": [1, 2], "c": {"d": "x"}, "ticket": "overwritten"}
    assert got["nan"] != got["nan"] and want["nan"] != want["nan"]  # NaN, as Optuna stores it
    assert tickets.finish(study, first, TrialState.FAIL)
    with pytest.raises(UpdateFinishedTrialError):
        write(first, {"late": 1})
    assert "late" not in storage.get_trial(first).user_attrs
    with pytest.raises(KeyError):
        write(10_000, {"x": 1})


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_datetimes_read_back_as_local_time_in_any_time_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, zone: str) -> None:
    """The start and end times written by a pop and a complete read back through Optuna as the
    local time they were written at, as Optuna's own writers store them (naive UTC)."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        study = _study(f"sqlite:///{tmp_path / 'db.sqlite'}", 2)
        first, second = (rdb.trial_id(t) for t in study.get_trials())
        before = dt.datetime.now() - dt.timedelta(seconds=1)
        assert tickets.pop(study, first)
        tickets.complete(study, rdb.popped_trial(study, first), [0.1, 0.2], user_attrs={})
        trial = optuna.load_study(study_name="s", storage=rdb.storage_of(study)).get_trials()[0]
        after = dt.datetime.now() + dt.timedelta(seconds=1)
        assert trial.datetime_start is not None and trial.datetime_complete is not None
        assert before <= trial.datetime_start <= trial.datetime_complete <= after
        rdb.storage_of(study).set_trial_state_values(second, TrialState.RUNNING)  # Optuna's own writer, for comparison
        own = rdb.storage_of(study).get_trial(second)
        assert own.datetime_start is not None and before <= own.datetime_start <= after
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_popped_placeholder_is_replaced_by_the_stored_trial(url: str) -> None:
    study = _study(url, 2)
    study.get_trials()  # the cache has seen the study
    first = rdb.trial_id(study.get_trials()[0])
    assert tickets.pop(study, first, user_attrs={"worker": "w"})
    trial = rdb.popped_trial(study, first)
    assert trial.user_attrs == {"ticket": True, "worker": "w"}  # read from the database, not the placeholder
    assert first in rdb.storage_of(study)._studies[rdb.study_id(study)].unfinished_trial_ids
    # a study the cache has not seen at all: the popped trial still takes parameters and is told
    other = optuna.load_study(study_name="s", storage=open_storage(url))
    rdb.storage_of(other)._studies.clear()
    second = rdb.trial_id(study.get_trials()[1])
    assert tickets.pop(other, second)
    trial = rdb.popped_trial(other, second)
    other.tell(trial, [trial.suggest_float("x", 0.0, 1.0), 0.0])
    assert other.get_trials()[1].state == TrialState.COMPLETE and "x" in other.get_trials()[1].params


# ---------------------------------------------------------------------------- refusing another Optuna


@pytest.mark.parametrize("version", ["5.1.0", "4.9.2", "6.0.0.dev", "unknown"])
def test_another_optuna_version_is_one_line(version: str) -> None:
    with pytest.raises(UserError) as err:
        rdb.check_optuna(version)
    assert f"optuna {version} is installed" in str(err.value) and "optuna>=5.0,<5.1" in str(err.value)
    assert "\n" not in str(err.value)


def _rewrite_revision(url: str, revision: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sqlalchemy.text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def _study_names(url: str) -> list[str]:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        names = list(conn.execute(sqlalchemy.text("SELECT study_name FROM studies")).scalars())
    engine.dispose()
    return names


@pytest.mark.slow
def test_a_database_of_another_schema_revision_is_refused_before_writing(tmp_path: Path) -> None:
    write_spec(tmp_path, name="tiny")
    env = cli_env()
    url = sqlite_url(tmp_path)
    optuna.create_study(study_name="other", storage=open_storage(url, create=True))
    _rewrite_revision(url, "v9.9.9.z")
    with pytest.raises(UserError, match="schema revision v9.9.9.z"):
        open_storage(url)
    for args in (("create-study", "tiny.toml"), ("worker", "tiny", "--device", "cpu")):
        out = run_cli(*args, cwd=tmp_path, env=env)
        assert out.returncode == 2, out.stderr
        (line,) = out.stderr.strip().splitlines()
        assert line.startswith("error: storage sqlite:///") and "schema revision v9.9.9.z" in line
    assert _study_names(url) == ["other"]  # nothing written


def test_create_study_and_worker_refuse_another_optuna_before_touching_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from unlearn_opt.cli import main

    write_spec(tmp_path, name="tiny")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(optuna, "__version__", "5.1.0")
    for args in (["create-study", "tiny.toml"], ["worker", "tiny", "--device", "cpu"]):
        with pytest.raises(SystemExit) as ended:
            main(args)
        assert ended.value.code == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: optuna 5.1.0 is installed")
    assert not (tmp_path / "storage").exists()  # no database file, no artifact folder


# ---------------------------------------------------------------------------- one module


PRIVATE = re.compile(
    r"\._(storage|study_id|trial_id|thread_local|studies|lock|backend|add_trials_to_cache|get_stale_trial_ids)\b"
    r"|optuna[\w.]*\._\w|optuna\.Trial\(|_CachedStorage|_StudyInfo|BaseHeartbeat|is_heartbeat_enabled"
)


def test_no_other_module_uses_optunas_private_names() -> None:
    allowed = {ROOT / "unlearn_opt" / "service" / "optuna_adapter.py", Path(__file__).resolve()}
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for folder in ("unlearn_opt", "bench", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.resolve() not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if PRIVATE.search(line)
    ]
    assert not offenders, "Optuna internals outside optuna_adapter.py:\n" + "\n".join(offenders)


def test_frozen_trial_ids_are_what_the_adapter_reads() -> None:
    trial = FrozenTrial(
        number=0,
        state=TrialState.COMPLETE,
        value=0.5,
        values=None,
        datetime_start=None,
        datetime_complete=None,
        params={},
        distributions={},
        user_attrs={},
        system_attrs={},
        intermediate_values={},
        trial_id=17,
    )
    assert rdb.trial_id(trial) == 17
