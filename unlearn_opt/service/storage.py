"""Storage URLs, the Optuna RDB storage with heartbeats, and the artifact store.

``--storage URL`` or ``UNLEARN_OPT_STORAGE``; default an SQLite file under ``storage/``
(WAL journal and a busy timeout, so several local workers share it). PostgreSQL through
``postgresql+psycopg://`` with pool_pre_ping. Passwords never leave this module unmasked.
"""

from __future__ import annotations

import os
import re
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
from unlearn_opt.service.outage import DAMAGED, retrying, sqlite_problem

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
    ``postgresql://`` is served by psycopg 3; an unencoded ``@`` in the password is encoded."""
    url = url or os.environ.get(ENV_STORAGE) or default_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(
            f"--storage: {mask_url(url)!r} is not a database URL (e.g. sqlite:///storage/x.db or postgresql+psycopg://user@host/db)"
        ) from None
    except ValueError:  # SQLAlchemy parses the port as an integer
        raise UserError(f"--storage: {mask_url(url)!r}: the port must be a number (e.g. host:5432)") from None
    if parsed.password is not None and parsed.host and "@" in parsed.host:
        # user:ab@s3cret@host: SQLAlchemy splits at the first "@" after the password, libpq (and
        # mask_url) at the last one; take libpq's reading, so the password "ab@s3cret" is sent.
        rest, host = parsed.host.rsplit("@", 1)
        parsed = parsed.set(password=f"{parsed.password}@{rest}", host=host)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise UserError(f"--storage: unsupported database {parsed.drivername!r} (use sqlite:/// or postgresql+psycopg://)")
    if parsed.drivername == "sqlite" and parsed.database not in (None, "", ":memory:"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser().resolve()))
    return parsed.render_as_string(hide_password=False)


SECRET_QUERY_KEYS = frozenset({"password", "sslpassword"})  # libpq's secret connection parameters
_SECRET_PAIR = re.compile(r"((?:ssl)?password\s*=\s*)('[^']*'|[^&\s]*)", re.IGNORECASE)


def mask_url(url: str | URL) -> str:
    """The URL with every credential replaced by ***: the userinfo password (also one holding an
    unencoded ``@``: everything before the last ``@`` of the authority is userinfo, as libpq reads
    it), a ``password=``/``sslpassword=`` query parameter, and ``password=`` in anything that is
    not a URL (a libpq keyword string)."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        text = _SECRET_PAIR.sub(r"\1***", str(url))
        return "<unparsable URL>" if "@" in text else text
    if parsed.host and "@" in parsed.host:  # user:ab@s3cret@host: the password is "ab@s3cret"
        parsed = parsed.set(password="***", host=parsed.host.rsplit("@", 1)[1])
    secret = {k for k in parsed.query if k.lower() in SECRET_QUERY_KEYS}
    if secret:
        parsed = parsed.update_query_dict({k: "***" for k in secret})
    return parsed.render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername == "sqlite"


def _sqlite_path(url: str) -> Path | None:
    db = make_url(url).database
    return Path(db) if db and db != ":memory:" else None


def secrets_of(url: str | URL) -> list[str]:
    """Every credential in the URL as written (the strings ``mask_url`` hides), longest first."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except (ArgumentError, ValueError):
        return [m.group(2).strip("'") for m in _SECRET_PAIR.finditer(str(url)) if m.group(2).strip("'")]
    found = [parsed.password or ""]
    if parsed.host and "@" in parsed.host:
        found.append(parsed.host.rsplit("@", 1)[0])
    for key, value in parsed.query.items():
        if key.lower() in SECRET_QUERY_KEYS:
            found += [value] if isinstance(value, str) else list(value)
    return sorted({str(f) for f in found if f}, key=len, reverse=True)


def _one_line(exc: BaseException, url: str | None = None) -> str:
    """The first line of the error (the driver's message), every credential of ``url`` masked: a
    server's reason may quote the host, which may hold part of a password."""
    lines = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    for secret in secrets_of(url) if url else []:
        text = text.replace(secret, "***")
    return text


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


def check_reachable(url: str, *, create: bool) -> bool:
    """Check the installed Optuna, then connect once; a clear UserError (masked URL, the server's
    reason) if that fails or if the database holds Optuna tables of another schema revision. An
    SQLite file that does not exist is an error unless ``create``; then only its folder is checked
    (nothing is written here: ``open_storage(create=True)`` makes it). Returns True when Optuna's
    tables are there, at the supported revision."""
    optuna_adapter.check_optuna()
    path = _sqlite_path(url) if is_sqlite(url) else None
    if path is not None:
        if not path.exists():
            if not create:
                raise UserError(f"storage {mask_url(url)}: no such database file (run `unlearn-opt create-study SPEC` first)")
            problem = _cannot_create(path)
            if problem:
                raise UserError(f"storage {mask_url(url)}: cannot create the database file ({problem})")
            return False
        _prepare_sqlite(url, path)
        engine = sqlalchemy.create_engine(url, connect_args={"timeout": 60})
        try:
            with engine.connect() as conn:
                return _check_schema(url, conn)
        finally:
            engine.dispose()
    engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10})
    try:
        for attempt in range(ANSWERED_RETRIES + 1):
            try:
                with engine.connect() as conn:
                    return _check_schema(url, conn)
            except SQLAlchemyError as exc:
                if attempt == ANSWERED_RETRIES or not _dropped(exc):
                    raise UserError(f"storage {mask_url(url)}: cannot connect: {_one_line(exc, url)}") from None
                time.sleep(1.0)
    finally:
        engine.dispose()
    raise AssertionError("unreachable")  # pragma: no cover


def _check_schema(url: str, conn: sqlalchemy.Connection) -> bool:
    try:
        return optuna_adapter.check_schema(conn)
    except UserError as exc:
        raise type(exc)(f"storage {mask_url(url)}: {exc}") from None  # a SchemaError stays one


def _dropped(exc: SQLAlchemyError) -> bool:
    """The server answered, then dropped the connection or said it is starting up (SQLSTATE class
    57, operator intervention): worth another try. A refused connection, an unknown host, a wrong
    password or a missing database is not."""
    sqlstate = str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "")
    return sqlstate.startswith("57") or any(words in str(exc) for words in _DROPPED_WORDS)


# how libpq/psycopg word a connection the server ended; while connecting, psycopg gives no SQLSTATE
_DROPPED_WORDS = (
    "closed the connection unexpectedly",
    "terminating connection due to",  # 57P01 administrator command, 57P02 crash of another backend
    "the database system is starting up",  # 57P03
    "the database system is shutting down",
    "the connection is lost",
    "EOF detected",
)


def _prepare_sqlite(url: str, path: Path) -> None:
    """Make the folder and the file if needed; switch the file to WAL (persistent), so readers
    never block the one writer and several local processes can share it. A read-only file or
    folder, a file that is not SQLite and a damaged file (``PRAGMA quick_check``) are one line
    each: none of them is an outage to wait out."""
    where = f"storage {mask_url(url)}"
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise UserError(f"{where}: the database file is read-only (every command writes to it; make it writable)")
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise UserError(
                f"{where}: the folder {path.parent} is read-only (SQLite writes its -wal and -shm files beside the database)"
            )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=60)
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"{where}: cannot open the database file ({exc})") from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        damage = [str(row[0]) for row in conn.execute("PRAGMA quick_check(1)")]
    except sqlite3.DatabaseError as exc:
        raise UserError(f"{where}: {sqlite_problem(exc) or f'cannot open the database file ({exc})'}") from None
    finally:
        conn.close()
    if damage != ["ok"]:
        found = " ".join(" ".join(damage).replace("*** in database main ***", "").split())
        raise UserError(f"{where}: {DAMAGED} ({found[:160]})")


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
    ready = check_reachable(url, create=create)
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
                # the tables are there at the supported revision (checked above): no table creation
                # and no alembic check, which hold a connection for a second or more, long enough
                # for a server that drops connections every second to fail every attempt
                skip_table_creation=ready,
                skip_compatibility_check=ready,
            )

    try:  # the server answered just now: a connection dropped from here on is an outage, waited out
        return retrying(make, limit=OPEN_OUTAGE_SECONDS, max_delay=2.0)  # many short tries
    except (SQLAlchemyError, RuntimeError) as exc:
        raise UserError(f"storage {mask_url(url)}: {_one_line(exc, url)}") from None


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
