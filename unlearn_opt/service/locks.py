"""One ``create-study`` at a time per database.

Creating an experiment reads the storage (is the name taken? by which spec?) and then writes many
rows; two processes doing that at once would both find the name free. So the whole of it, the
first creation of Optuna's tables included, runs under a lock that the database's other users
also see: on PostgreSQL a session-level advisory lock (``pg_advisory_lock``, scoped to the
database, released by the server if the holder dies), on SQLite an exclusive ``flock`` on
``FILE.lock`` beside the database file (released by the kernel if the holder dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from unlearn_opt.errors import UserError
from unlearn_opt.service.storage import mask_url

# the advisory lock's key: a signed 64-bit number fixed by this name
CREATE_LOCK_KEY = int.from_bytes(hashlib.sha256(b"unlearn-opt create-study").digest()[:8], "big", signed=True)


@contextmanager
def creation_lock(url: str) -> Iterator[None]:
    """Hold the database's creation lock for the block (waiting for it as long as it takes)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            yield  # one process only
            return
        with _file_lock(url, Path(parsed.database).with_name(Path(parsed.database).name + ".lock")):
            yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        conn: sqlalchemy.Connection | None = None
        try:
            conn = engine.connect()
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": CREATE_LOCK_KEY})
        except SQLAlchemyError as exc:
            if conn is not None:
                conn.close()  # connected, but the lock failed: the connection is not left open
            first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise UserError(f"storage {mask_url(url)}: cannot take the creation lock: {first[0] if first else exc}") from None
        assert conn is not None
        try:
            yield
        finally:
            conn.close()  # ends the session: the server releases its advisory locks
    finally:
        engine.dispose()


@contextmanager
def after_creation(url: str) -> Iterator[None]:
    """Wait until no ``create-study`` holds the creation lock, and keep it from starting during
    the block (a shared hold), writing nothing: for a check that read the database while another
    process was creating Optuna's tables. Never raises: if the lock cannot be had, the block
    runs without it (and the check it wraps reports the real problem)."""
    parsed = make_url(url)
    if parsed.drivername == "sqlite":
        database = parsed.database
        lock = Path(database).with_name(Path(database).name + ".lock") if database not in (None, "", ":memory:") else None
        try:
            fd = os.open(lock, os.O_RDONLY) if lock is not None else None  # made by the creator before its tables
        except OSError:
            fd = None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            if fd is not None:
                os.close(fd)
        return
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 10})
    try:
        conn: sqlalchemy.Connection | None = None
        try:
            conn = engine.connect()
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock_shared(:k)"), {"k": CREATE_LOCK_KEY})
        except SQLAlchemyError:
            if conn is not None:
                conn.close()
            conn = None
        try:
            yield
        finally:
            if conn is not None:
                conn.close()
    finally:
        engine.dispose()


@contextmanager
def _file_lock(url: str, path: Path) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise UserError(f"storage {mask_url(url)}: cannot create the lock file {path} ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
