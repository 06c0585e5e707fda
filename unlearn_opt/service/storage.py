"""Storage URLs, the Optuna RDB storage with heartbeats, and the artifact store.

``--storage URL`` or ``UNLEARN_OPT_STORAGE``; default an SQLite file under ``storage/``
(WAL journal and a busy timeout, so several local workers share it). PostgreSQL through
``postgresql+psycopg://`` with pool_pre_ping. Passwords never leave this module unmasked.
"""

from __future__ import annotations

import os
import sqlite3
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import optuna
import sqlalchemy
from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from unlearn_opt.errors import UserError
from unlearn_opt.service import optuna_adapter
from unlearn_opt.service.outage import retrying

ENV_STORAGE = "UNLEARN_OPT_STORAGE"
ENV_ARTIFACTS = "UNLEARN_OPT_ARTIFACTS"
ENV_HEARTBEAT = "UNLEARN_OPT_HEARTBEAT_SECONDS"
ENV_GRACE = "UNLEARN_OPT_GRACE_SECONDS"
DEFAULT_DIR = Path("storage")
DEFAULT_DB = "unlearn_opt.db"
STALE_RETRIES = 3
ANSWERED_RETRIES = 30  # connection attempts, 1 s apart, while the server is restarting
OPEN_OUTAGE_SECONDS = 60.0  # opening a storage that answered a moment ago: wait this long for it


def default_url() -> str:
    return f"sqlite:///{(DEFAULT_DIR / DEFAULT_DB).resolve()}"


def resolve_url(url: str | None) -> str:
    """The storage URL: the argument, else $UNLEARN_OPT_STORAGE, else the SQLite default.
    ``postgresql://`` is served by psycopg 3."""
    url = url or os.environ.get(ENV_STORAGE) or default_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            f"--storage: {mask_url(url)!r} is not a database URL (e.g. sqlite:///storage/x.db or postgresql+psycopg://user@host/db)"
        ) from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise UserError(f"--storage: unsupported database {parsed.drivername!r} (use sqlite:/// or postgresql+psycopg://)")
    if parsed.drivername == "sqlite" and parsed.database not in (None, "", ":memory:"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparsable URL>" if "@" in str(url) else str(url)
    return parsed.render_as_string(hide_password=True)


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername == "sqlite"


def _sqlite_path(url: str) -> Path | None:
    db = make_url(url).database
    return Path(db) if db and db != ":memory:" else None


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _cannot_create(path: Path) -> str | None:
    """Why ``path`` (a file or folder that does not exist yet) could not be created, or None.
    Looks only: nothing is written."""
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                return f"{parent} is not a folder"
            if not os.access(parent, os.W_OK | os.X_OK):
                return f"{parent} is not writable"
            return None
    return None


def check_reachable(url: str, *, create: bool) -> None:
    """Check the installed Optuna, then connect once; a clear UserError (masked URL, the server's
    reason) if that fails or if the database holds Optuna tables of another schema revision. An
    SQLite file that does not exist is an error unless ``create``; then only its folder is checked
    (nothing is written here: ``open_storage(create=True)`` makes it)."""
    optuna_adapter.check_optuna()
    path = _sqlite_path(url) if is_sqlite(url) else None
    if path is not None:
        if not path.exists():
            if not create:
                raise UserError(f"storage {mask_url(url)}: no such database file (run `unlearn-opt create-study SPEC` first)")
            problem = _cannot_create(path)
            if problem:
                raise UserError(f"storage {mask_url(url)}: cannot create the database file ({problem})")
            return
        _prepare_sqlite(url, path)
        engine = sqlalchemy.create_engine(url, connect_args={"timeout": 60})
        try:
            with engine.connect() as conn:
                _check_schema(url, conn)
        finally:
            engine.dispose()
        return
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10})
    try:
        for attempt in range(ANSWERED_RETRIES + 1):
            try:
                with engine.connect() as conn:
                    _check_schema(url, conn)
                    return
            except SQLAlchemyError as exc:
                if attempt == ANSWERED_RETRIES or not _dropped(exc):
                    raise UserError(f"storage {mask_url(url)}: cannot connect: {_one_line(exc)}") from None
                time.sleep(1.0)
    finally:
        engine.dispose()


def _check_schema(url: str, conn: sqlalchemy.Connection) -> None:
    try:
        optuna_adapter.check_schema(conn)
    except UserError as exc:
        raise type(exc)(f"storage {mask_url(url)}: {exc}") from None  # a SchemaError stays one


def _dropped(exc: SQLAlchemyError) -> bool:
    """The server answered, then dropped the connection or said it is starting up (SQLSTATE class
    57, operator intervention): worth another try. A refused connection, an unknown host, a wrong
    password or a missing database is not."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    return sqlstate.startswith("57") or "closed the connection unexpectedly" in str(exc)


def _prepare_sqlite(url: str, path: Path) -> None:
    """Make the folder and the file if needed; switch the file to WAL (persistent), so readers
    never block the one writer and several local processes can share it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=60)
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"storage {mask_url(url)}: cannot open the database file ({exc})") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as exc:
        raise UserError(f"storage {mask_url(url)}: not an SQLite database ({exc})") from None
    finally:
        conn.close()


def heartbeat_settings() -> tuple[int, int]:
    """(heartbeat interval, grace period) in seconds: $UNLEARN_OPT_HEARTBEAT_SECONDS (default 20)
    and $UNLEARN_OPT_GRACE_SECONDS (default 3 intervals)."""
    try:
        interval = int(os.environ.get(ENV_HEARTBEAT, "20"))
        grace = int(os.environ.get(ENV_GRACE, str(3 * interval)))
    except ValueError:
        raise UserError(f"${ENV_HEARTBEAT} and ${ENV_GRACE} must be whole seconds") from None
    if interval < 1 or grace <= interval:
        raise UserError(f"${ENV_GRACE} must exceed ${ENV_HEARTBEAT} (got {grace} <= {interval})")
    return interval, grace


def open_storage(url: str | None, *, create: bool = False) -> RDBStorage:
    """An RDBStorage with heartbeats; stale trials are failed and their parameters retried.
    Another Optuna than the supported one, or a database of another schema revision, is refused
    (``check_reachable``) before anything is written."""
    url = resolve_url(url)
    check_reachable(url, create=create)
    path = _sqlite_path(url) if is_sqlite(url) else None
    if path is not None and not path.exists():
        _prepare_sqlite(url, path)
    if is_sqlite(url):
        engine_kwargs: dict[str, object] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {
            "pool_pre_ping": True,
            "pool_size": 2,
            "max_overflow": 4,
            "pool_recycle": 600,
            "connect_args": {"connect_timeout": 10},
        }
    interval, grace = heartbeat_settings()

    def make() -> RDBStorage:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=STALE_RETRIES),
            )

    try:  # the server answered just now: a connection dropped from here on is an outage, waited out
        return retrying(make, limit=OPEN_OUTAGE_SECONDS)
    except (SQLAlchemyError, RuntimeError) as exc:
        raise UserError(f"storage {mask_url(url)}: {_one_line(exc)}") from None


class ArtifactStore(Protocol):
    """What Optuna's ``upload_artifact``/``download_artifact`` need of an artifact store."""

    def open_reader(self, artifact_id: str) -> BinaryIO: ...

    def write(self, artifact_id: str, content_body: BinaryIO) -> None: ...

    def remove(self, artifact_id: str) -> None: ...


@dataclass(frozen=True)
class ArtifactLocation:
    """Where checkpoints go: a folder, or ``s3://bucket/prefix``."""

    spec: str

    def check(self) -> None:
        """A UserError if this store cannot be used; nothing is written."""
        if self.spec.startswith("s3://"):
            try:
                import boto3  # noqa: F401
            except ImportError:
                raise UserError("artifacts: s3:// needs boto3 (pip install boto3)") from None
            if not self.spec[len("s3://") :].split("/", 1)[0]:
                raise UserError(f"artifacts: {self.spec!r} names no bucket (use s3://bucket)")
            return
        path = Path(self.spec).expanduser()
        if path.exists():
            if not path.is_dir():
                raise UserError(f"artifacts: {path} is not a folder")
            if not os.access(path, os.W_OK | os.X_OK):
                raise UserError(f"artifacts: {path} is not writable")
            return
        problem = _cannot_create(path)
        if problem:
            raise UserError(f"artifacts: cannot create the folder {path} ({problem})")

    def open(self) -> ArtifactStore:
        if self.spec.startswith("s3://"):
            from optuna.artifacts import Boto3ArtifactStore

            self.check()  # boto3 is there, the URL names a bucket
            bucket, _, prefix = self.spec[len("s3://") :].partition("/")
            store = Boto3ArtifactStore(bucket)
            return _Prefixed(store, prefix.strip("/")) if prefix.strip("/") else store
        path = Path(self.spec).expanduser()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"artifacts: cannot create the folder {path} ({exc.strerror or exc})") from None
        if not os.access(path, os.W_OK):
            raise UserError(f"artifacts: {path} is not writable")
        from unlearn_opt.service.filestore import AtomicFileStore

        return AtomicFileStore(path)  # a checkpoint appears only once complete


class _Prefixed:
    """An artifact store whose keys live under ``prefix/`` (``s3://bucket/prefix``); the artifact
    ids recorded in the database stay plain."""

    def __init__(self, store: ArtifactStore, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def open_reader(self, artifact_id: str) -> BinaryIO:
        return self.store.open_reader(f"{self.prefix}/{artifact_id}")

    def write(self, artifact_id: str, content_body: BinaryIO) -> None:
        self.store.write(f"{self.prefix}/{artifact_id}", content_body)

    def remove(self, artifact_id: str) -> None:
        self.store.remove(f"{self.prefix}/{artifact_id}")


def resolve_artifacts(artifacts: str | None, url: str) -> ArtifactLocation:
    """``--artifacts``, else $UNLEARN_OPT_ARTIFACTS, else ``artifacts/`` beside the SQLite file
    (or ``storage/artifacts`` for a server database)."""
    chosen = artifacts or os.environ.get(ENV_ARTIFACTS)
    if chosen:
        return ArtifactLocation(chosen if chosen.startswith("s3://") else str(Path(chosen).expanduser().resolve()))
    path = _sqlite_path(url) if is_sqlite(url) else None
    base = path.parent if path is not None else DEFAULT_DIR.resolve()
    return ArtifactLocation(str(base / "artifacts"))
