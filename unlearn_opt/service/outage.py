"""Database outages: a connection killed by the server (``pg_terminate_backend``), a server
restart, a network blip. Workers wait and go on instead of dying; nothing is counted twice because
every state change is a conditional update (see ``tickets``)."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

T = TypeVar("T")

DEFAULT_OUTAGE_SECONDS = 600.0


def outage_limit() -> float:
    """How long a worker waits for the database before giving up:
    $UNLEARN_OPT_DB_OUTAGE_SECONDS (default 600)."""
    return float(os.environ.get("UNLEARN_OPT_DB_OUTAGE_SECONDS", DEFAULT_OUTAGE_SECONDS))


def is_transient(exc: BaseException) -> bool:
    """A lost or refused connection (anywhere in the exception's chain), not bad data or SQL, nor
    an SQLite file that is read-only, damaged or not a database (``sqlite_problem``). Optuna wraps
    storage errors in ``StorageInternalError``; the cause tells which it was."""
    if sqlite_problem(exc) is not None:
        return False
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
            return True
        if type(current).__module__.startswith("psycopg") and type(current).__name__ in ("OperationalError", "InterfaceError"):
            return True
        current = current.__cause__ or current.__context__
    return False


DAMAGED = "the database file is damaged; restore it from a backup"
_SQLITE_PROBLEMS = {
    "SQLITE_NOTADB": "not an SQLite database",
    "SQLITE_CORRUPT": DAMAGED,
    "SQLITE_READONLY": "the database file is read-only (every command writes to it; make it writable)",
}


def sqlite_problem(exc: BaseException) -> str | None:
    """What is wrong with an SQLite file that raised ``exc`` (anywhere in its chain), when that is
    not worth waiting out: not a database, damaged, read-only. None otherwise."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        error = current if isinstance(current, sqlite3.Error) else getattr(current, "orig", None)
        if isinstance(error, sqlite3.Error):
            name = str(getattr(error, "sqlite_errorname", "") or "")
            for prefix, problem in _SQLITE_PROBLEMS.items():
                if name.startswith(prefix):
                    return f"{problem} ({error})"
        current = current.__cause__ or current.__context__
    return None


TRANSIENT_TYPES = (StorageInternalError, sqlalchemy.exc.DBAPIError)


class Outage:
    """Back-off while the database is unreachable; gives up (re-raises) after ``limit`` seconds
    without one successful step. ``sleep`` lets the caller make the wait interruptible."""

    def __init__(
        self, *, limit: float | None = None, sleep: Callable[[float], None] = time.sleep, max_delay: float = 10.0
    ) -> None:
        self.limit = outage_limit() if limit is None else limit
        self.sleep = sleep
        self.max_delay = max_delay
        self.since: float | None = None
        self.delay = 0.5

    def wait(self, exc: BaseException) -> float:
        """Called with a transient error: sleeps a little longer each time; re-raises ``exc``
        once the outage has lasted ``limit`` seconds. Returns the seconds waited so far."""
        now = time.monotonic()
        if self.since is None:
            self.since, self.delay = now, 0.5
        if now - self.since > self.limit:
            raise exc
        self.sleep(self.delay)
        self.delay = min(self.delay * 2, self.max_delay)
        return time.monotonic() - self.since

    def over(self) -> float | None:
        """A step succeeded: the outage (if any) is over; returns how long it lasted."""
        if self.since is None:
            return None
        lasted, self.since = time.monotonic() - self.since, None
        return lasted


def retrying(
    fn: Callable[[], T],
    *,
    limit: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    max_delay: float = 10.0,
) -> T:
    """``fn()``, called again after transient database errors (for the writes that end a trial,
    so that a finished computation is not thrown away for a dropped connection); the waits double
    from 0.5 s up to ``max_delay``."""
    outage = Outage(limit=limit, sleep=sleep, max_delay=max_delay)
    while True:
        try:
            return fn()
        except TRANSIENT_TYPES as exc:
            if not is_transient(exc):
                raise
            outage.wait(exc)
