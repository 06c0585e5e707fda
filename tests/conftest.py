"""Shared fixtures: a fresh PostgreSQL database per test. The helpers (small specs, the CLI in a
subprocess, workers, checks of a finished experiment, a private server) are in
``tests/service_helpers.py``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.service_helpers import admin_url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new database on the server of $UNLEARN_OPT_TEST_POSTGRES, dropped afterwards.
    Unreachable server: skip, or fail when CI=true."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    admin = make_url(admin_url())
    engine = sqlalchemy.create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"uo_test_{uuid.uuid4().hex[:10]}"
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as exc:
        engine.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {admin.render_as_string(hide_password=True)} is unreachable under CI: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc.orig}")
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.execute(
                sqlalchemy.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
                ),
                {"n": name},
            )
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()
