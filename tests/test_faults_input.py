"""Faults of input and of the database's state: every credential form masked, an SQLite file
read-only or damaged, unbounded sizes, names unfit for files or command lines, a deleted study, a
non-numeric port, a busy dashboard port, a dead worker's trial left RUNNING. Each is one line and
exit 2 (or, for the last, shown as stale and repaired); nothing is retried as an outage."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from tests.service_helpers import write_spec
from unlearn_opt.cli import main
from unlearn_opt.errors import UserError
from unlearn_opt.service import optuna_adapter
from unlearn_opt.service.outage import is_transient, sqlite_problem
from unlearn_opt.service.storage import _dropped, mask_url, open_storage, resolve_url
from unlearn_opt.spec import MAX_NAME, spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)


def cli(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``unlearn-opt ARGS`` in this process: (exit code, stdout, stderr)."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(code: int, err: str) -> str:
    assert code == 2, err
    line = err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line, err
    return line


# --------------------------------------------------------------------------- one experiment, copied


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file holding the experiment ``tiny`` (checkpointed: one file, no -wal)."""
    from unlearn_opt.service.commands import create_study

    folder = tmp_path_factory.mktemp("stored")
    db = folder / "db" / "x.db"
    create_study(write_spec(folder, n_trials=2), storage=f"sqlite:///{db}", artifacts=str(folder / "art"))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


@pytest.fixture
def db(stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``stored``; heartbeats every second, stale after 2."""
    monkeypatch.setenv("UNLEARN_OPT_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("UNLEARN_OPT_GRACE_SECONDS", "2")
    (tmp_path / "db").mkdir()
    copy = tmp_path / "db" / "x.db"
    shutil.copy(stored, copy)
    return copy


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (file or folder) read-only, also for root (chattr +i) where chmod would not do."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
        pytest.skip("root without chattr +i: cannot make a file read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


# --------------------------------------------------------------------------- 6. credentials


SECRET_URLS = [
    "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/x",  # userinfo
    "postgresql+psycopg://postgres@127.0.0.1:1/x?password=s3cret",  # libpq query parameter
    "postgresql+psycopg://postgres@127.0.0.1:1/x?sslmode=disable&PASSWORD=s3cret",
    "postgresql+psycopg://postgres@127.0.0.1:1/x?sslpassword=s3cret",
    "postgresql+psycopg://postgres:ab@s3cret@127.0.0.1:1/x",  # an unencoded @ in the password
    "postgresql+psycopg://postgres:s3cret@127.0.0.1:port/x",  # unparsable (non-numeric port)
    "host=127.0.0.1 password=s3cret",  # not a URL at all
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_mask_url_hides_every_credential_form(url: str) -> None:
    masked = mask_url(url)
    assert "s3cret" not in masked and "ab@" not in masked, masked


@pytest.mark.parametrize("url", SECRET_URLS[:5])
def test_error_lines_never_show_a_password(url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """create-study and status on an unreachable server: one masked line; the server's reason is
    masked too (a host ``s3cret@127.0.0.1`` is quoted by the resolver)."""
    write_spec(tmp_path)
    for args in (("create-study", str(tmp_path / "tiny.toml")), ("status", "tiny")):
        code, out, err = cli(*args, "--storage", url, capsys=capsys)
        line = one_line(code, err)
        assert "s3cret" not in out + err and "127.0.0.1" in line, line


@pytest.mark.postgres
def test_create_study_output_masks_a_query_password(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The server trusts the connection, so the ``password=`` parameter is accepted and unused:
    create-study prints the storage it wrote to, masked."""
    write_spec(tmp_path, n_trials=1)
    url = f"{postgres_url}?password=s3cret"
    code, out, err = cli(
        "create-study", str(tmp_path / "tiny.toml"), "--storage", url, "--artifacts", str(tmp_path / "a"), capsys=capsys
    )
    assert code == 0, err
    assert "s3cret" not in out + err and "password=***" in out.replace("\n", "")


@pytest.mark.postgres
def test_an_unencoded_at_sign_in_the_password_is_read_as_libpq_reads_it(
    tmp_path: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``user:ab@s3cret@host``: the password is "ab@s3cret" (everything before the last ``@`` is
    userinfo), not the host "s3cret@host" that SQLAlchemy alone would resolve. The test server
    trusts the connection, so the password is sent and unused and create-study succeeds."""
    parsed = make_url(postgres_url)
    url = parsed.set(password="ab@s3cret").render_as_string(hide_password=False).replace("%40", "@")
    assert "ab@s3cret@" in url
    assert make_url(resolve_url(url)).host == parsed.host and make_url(resolve_url(url)).password == "ab@s3cret"
    write_spec(tmp_path, n_trials=1)
    code, out, err = cli(
        "create-study", str(tmp_path / "tiny.toml"), "--storage", url, "--artifacts", str(tmp_path / "a"), capsys=capsys
    )
    assert code == 0, err
    assert "s3cret" not in out + err


# --------------------------------------------------------------------------- 7. SQLite read-only or damaged


def test_a_read_only_sqlite_file_is_one_line_not_an_outage(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on a read-only file used to wait it out as an outage (10 minutes, then exit 1,
    then launch restarted it five times)."""
    monkeypatch.setenv("UNLEARN_OPT_DB_OUTAGE_SECONDS", "3")  # the old code gives up after 3 s, exit 1
    with read_only(db):
        started = time.monotonic()
        code, _, err = cli("worker", "tiny", "--device", "cpu", "--storage", f"sqlite:///{db}", capsys=capsys)
        assert "read-only" in one_line(code, err) and time.monotonic() - started < 3


def test_a_healthy_database_in_a_read_only_folder_is_not_called_corrupt(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (db.parent / "x.db-wal").unlink(missing_ok=True)
    with read_only(db.parent):
        code, _, err = cli("status", "tiny", "--storage", f"sqlite:///{db}", capsys=capsys)
    line = one_line(code, err)
    assert "not an SQLite database" not in line and f"folder {db.parent} is read-only" in line, line


def test_a_damaged_page_is_one_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A b-tree page overwritten (the study attributes'): status used to exit 1 with Optuna's
    StorageInternalError "… exceeding max length"."""
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'study_user_attributes'").fetchone()[0]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * size + 8)
        f.write(b"\xff" * 200)
    code, _, err = cli("status", "tiny", "--storage", f"sqlite:///{db}", capsys=capsys)
    assert "the database file is damaged; restore it from a backup" in one_line(code, err)


def test_sqlite_faults_are_not_transient(tmp_path: Path) -> None:
    """The real exceptions: a write to a read-only connection, a file that is not a database."""
    path = tmp_path / "x.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.close()
    engine = sqlalchemy.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    with pytest.raises(sqlalchemy.exc.OperationalError) as info, engine.begin() as conn:
        conn.execute(sqlalchemy.text("INSERT INTO t VALUES (1)"))
    engine.dispose()
    assert "read-only" in (sqlite_problem(info.value) or "") and not is_transient(info.value)
    path.write_bytes(b"x" * 4096)
    with pytest.raises(sqlite3.DatabaseError) as bad:
        sqlite3.connect(path).execute("SELECT * FROM t")
    assert "not an SQLite database" in (sqlite_problem(bad.value) or "") and not is_transient(bad.value)
    locked = sqlalchemy.exc.OperationalError("UPDATE", {}, sqlite3.OperationalError("database is locked"))
    assert sqlite_problem(locked) is None and is_transient(locked)  # still waited out


# --------------------------------------------------------------------------- 8. sizes


BASE = {"name": "t", "dataset": "synthetic", "architecture": "mlp", "widths": [1.0]}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"n_trials": 10**9}, "n_trials"),
        ({"n_trials": 100_000, "widths": [0.25, 0.5, 1.0], "methods": ["scrub", "neggrad"]}, "n_trials"),  # × 12 studies
        ({"synthetic": {"train_size": 10**9}}, "synthetic.train_size"),
        ({"synthetic": {"image_size": 10**6}}, "synthetic.image_size"),
        ({"synthetic": {"num_classes": 10**7}}, "synthetic.num_classes"),
        ({"synthetic": {"train_size": 900_000, "channels": 3, "image_size": 64}}, "synthetic"),  # the product
        ({"evaluation": {"region_samples": 10**9}}, "evaluation.region_samples"),
        ({"evaluation": {"mia_max_examples": 10**12}}, "evaluation.mia_max_examples"),
        ({"evaluation": {"batch_size": 10**12}}, "evaluation.batch_size"),
        ({"original": {"epochs": 10**7}}, "original.epochs"),
        ({"original": {"prune_epochs": 10**7}}, "original.prune_epochs"),
        ({"unlearning": {"forget_batch_size": 10**12}}, "unlearning.forget_batch_size"),
        ({"forget": {"size": 10**12}}, "forget.size"),
        ({"seed": 2**70}, "seed"),
        ({"sampler": {"seed": 2**40}}, "sampler.seed"),
        ({"widths": [1.0 + i / 1000 for i in range(1000)]}, "widths"),
    ],
)
def test_every_size_has_an_upper_bound(patch: dict, field: str) -> None:
    with pytest.raises(UserError) as info:
        spec_from_dict({**BASE, **patch})
    message = str(info.value)
    assert message.startswith(f"{field}:") and ("must be in [" in message or "more than" in message or "at most" in message)
    assert "\n" not in message


def test_the_bounds_keep_the_shipped_sizes() -> None:
    spec_from_dict(
        {**BASE, "n_trials": 2000, "synthetic": {"train_size": 50_000, "test_size": 10_000, "channels": 3, "image_size": 32}}
    )


# --------------------------------------------------------------------------- 9. names


@pytest.mark.parametrize(
    "name",
    ["x" * (MAX_NAME + 1), "x" * 300, "..", "a..b", "-x", "--help", ".hidden", "_x", "a/b", "wörk", "a b", ""],
)
def test_names_unfit_for_files_or_command_lines_are_refused(name: str) -> None:
    with pytest.raises(UserError) as info:
        spec_from_dict({**BASE, "name": name})
    assert str(info.value).startswith("name: must be 1 to 80 ASCII letters")


def test_fit_names_pass_and_stored_names_still_load() -> None:
    for name in ("a", "x" * MAX_NAME, "cifar10-resnet18.v2", "A_b-3.c"):
        assert spec_from_dict({**BASE, "name": name}).name == name
    assert spec_from_dict({**BASE, "name": "wörk"}, stored=True).name == "wörk"  # made under the earlier rule


# --------------------------------------------------------------------------- 10. honest errors


def test_a_deleted_study_is_one_line(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{db}"
    optuna.delete_study(study_name="tiny/w1/scrub/privacy", storage=url)
    for args in (("status", "tiny"), ("worker", "tiny", "--device", "cpu")):
        code, _, err = cli(*args, "--storage", url, capsys=capsys)
        assert "missing from the storage (deleted?), e.g. 'tiny/w1/scrub/privacy'" in one_line(code, err)


def test_a_non_numeric_port_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli("status", "tiny", "--storage", "postgresql://postgres:s3cret@localhost:54x2/db", capsys=capsys)
    line = one_line(code, err)
    assert "the port must be a number" in line and "s3cret" not in line


def test_dashboard_on_a_busy_port_is_one_line_and_announces_nothing(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = cli("dashboard", "--port", str(port), "--storage", f"sqlite:///{db}", capsys=capsys)
    line = one_line(code, err)
    assert f"dashboard: cannot listen on 127.0.0.1:{port}" in line and "Listening" not in out + err


# --------------------------------------------------------------------------- 11. stale trials


def test_status_shows_a_dead_workers_trial_as_stale_and_repair_requeues_it(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A ticket popped and beating, then silent (its worker killed): after the grace period status
    says stale; ``status --repair`` fails it and queues its parameters again, as a worker would."""
    url = f"sqlite:///{db}"
    storage = open_storage(url)
    study = optuna.load_study(study_name="tiny/w1/scrub/privacy", storage=storage)
    trial = study.ask()  # pops a ticket: RUNNING
    trial.suggest_int("epochs", 1, 2)
    optuna_adapter.backend(study).record_heartbeat(optuna_adapter.trial_id(trial))
    time.sleep(3.2)  # > the grace period (2 s) + 1 s: SQLite stamps heartbeats to the second
    code, out, _ = cli("status", "tiny", "--json", "--storage", url, capsys=capsys)
    assert code == 0
    progress = json.loads(out)
    assert progress["stale"] == 1
    assert [s["stale"] for s in progress["studies"] if s["name"] == "tiny/w1/scrub/privacy"] == [1]
    code, out, err = cli("status", "tiny", "--storage", url, capsys=capsys)
    assert code == 0 and "1 stale" in out and "status --repair" in out.replace("\n", " ")
    code, out, err = cli("status", "tiny", "--repair", "--json", "--storage", url, capsys=capsys)
    assert code == 0 and "re-queued 1 stale trial(s)" in err and json.loads(out)["stale"] == 0
    trials = optuna.load_study(study_name="tiny/w1/scrub/privacy", storage=url).get_trials(deepcopy=False)
    assert trials[trial.number].state == TrialState.FAIL and trials[trial.number].user_attrs["error"].startswith("stale")
    retried = [t for t in trials if t.state == TrialState.WAITING and t.system_attrs.get("failed_trial") == trial.number]
    assert len(retried) == 1 and retried[0].params == {"epochs": trial.params["epochs"]}
    assert "error" not in retried[0].user_attrs
    assert not [t for t in trials if t.state == TrialState.RUNNING]


# --------------------------------------------------------------------------- connections killed by the server


def _terminated(url: str) -> sqlalchemy.exc.OperationalError:
    """The real error of a query on a connection the server has terminated (pg_terminate_backend)."""
    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    admin = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect() as conn:
            pid = conn.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar_one()
            with admin.connect() as other:
                other.execute(sqlalchemy.text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            time.sleep(0.2)
            with pytest.raises(sqlalchemy.exc.OperationalError) as info:
                conn.execute(sqlalchemy.text("SELECT 1"))
    finally:
        engine.dispose()
        admin.dispose()
    return info.value


@pytest.mark.postgres
def test_a_connection_terminated_by_the_server_is_transient(postgres_url: str) -> None:
    """psycopg's AdminShutdown (SQLSTATE 57P01), as SQLAlchemy raises it and as Optuna wraps it."""
    import psycopg

    error = _terminated(postgres_url)
    assert isinstance(error.orig, psycopg.errors.AdminShutdown) and error.orig.sqlstate == "57P01"
    assert is_transient(error) and _dropped(error)
    try:
        try:
            raise error
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise optuna.exceptions.StorageInternalError("An exception is raised during the commit.") from exc
    except optuna.exceptions.StorageInternalError as wrapped:
        assert is_transient(wrapped)


@pytest.mark.postgres
def test_opening_an_existing_storage_takes_a_few_statements(postgres_url: str) -> None:
    """A worker opening the storage while the server drops connections every second (CI's
    test_connections_killed_by_the_server) gave up after 60 s: Optuna's table creation and alembic
    check held a connection for a second or more per attempt, so every attempt was cut. Once the
    schema is known good, opening runs only a few short statements."""
    open_storage(postgres_url, create=True).engine.dispose()  # creates the tables
    statements: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    try:
        open_storage(postgres_url).engine.dispose()
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "before_cursor_execute", count)
    assert len(statements) <= 8, statements  # 13 before


def test_a_connection_ended_while_connecting_is_waited_out_a_refused_one_is_not() -> None:
    """While connecting, psycopg reports the server's FATAL without an SQLSTATE: the words tell."""
    import psycopg

    def wrapped(text: str) -> sqlalchemy.exc.OperationalError:
        return sqlalchemy.exc.OperationalError("connect", {}, psycopg.OperationalError(text))

    ended = wrapped(
        'connection failed: connection to server at "127.0.0.1", port 5432 failed: '
        "FATAL:  terminating connection due to administrator command"
    )
    assert _dropped(ended) and is_transient(ended)
    refused = wrapped('connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused')
    assert not _dropped(refused)


def test_report_never_writes_outside_reports_for_an_old_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An experiment named ``..`` (accepted before names were checked) made ``report`` write into
    the working directory."""
    code, _, err = cli("report", "..", "--storage", f"sqlite:///{tmp_path / 'none.db'}", capsys=capsys)
    assert "cannot name a folder under reports/" in one_line(code, err)
