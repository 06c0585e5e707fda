"""Which database errors a worker waits out, and the back-off that does it."""

from __future__ import annotations

import pytest
import sqlalchemy.exc
from optuna.exceptions import StorageInternalError

from unlearn_opt.service.outage import Outage, is_transient, retrying


def _wrapped(cause: BaseException) -> StorageInternalError:
    try:
        try:
            raise cause
        except Exception as exc:
            raise StorageInternalError("An exception is raised during the commit.") from exc
    except StorageInternalError as outer:
        return outer


def test_lost_connections_are_transient_bad_sql_is_not() -> None:
    lost = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("terminating connection due to administrator command"))
    assert is_transient(lost) and is_transient(_wrapped(lost))
    bad = sqlalchemy.exc.ProgrammingError("SELEC 1", {}, Exception("syntax error"))
    assert not is_transient(bad) and not is_transient(_wrapped(bad))
    assert not is_transient(ValueError("x"))


def test_retrying_waits_out_an_outage_and_gives_up_after_the_limit() -> None:
    calls, sleeps = [], []
    lost = sqlalchemy.exc.OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise lost
        return "done"

    assert retrying(flaky, sleep=sleeps.append) == "done"
    assert sleeps == [0.5, 1.0, 2.0]  # doubling back-off
    with pytest.raises(sqlalchemy.exc.OperationalError):
        retrying(lambda: (_ for _ in ()).throw(lost), limit=0.0, sleep=lambda s: None)
    bad = sqlalchemy.exc.ProgrammingError("SELEC 1", {}, Exception("syntax error"))
    with pytest.raises(sqlalchemy.exc.ProgrammingError):  # never retried
        retrying(lambda: (_ for _ in ()).throw(bad), sleep=sleeps.append)
    outage = Outage(limit=60, sleep=lambda s: None)
    assert outage.over() is None
    outage.wait(lost)
    assert outage.over() is not None and outage.since is None
