"""Shared fixtures: a fresh PostgreSQL database per test, small specs, CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _admin_url() -> str:
    return os.environ.get("UNLEARN_OPT_TEST_POSTGRES", DEFAULT_PG)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new database on the server of $UNLEARN_OPT_TEST_POSTGRES, dropped afterwards.
    Unreachable server: skip, or fail when CI=true."""
    import sqlalchemy
    from sqlalchemy.engine import make_url

    admin = make_url(_admin_url())
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
            conn.execute(sqlalchemy.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            ), {"n": name})  # fmt: skip
            conn.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}"'))
        engine.dispose()


TINY_SPEC = """
name = "{name}"
dataset = "synthetic"
architecture = "mlp"
widths = [0.25, 1.0]
methods = ["scrub", "l1_sparse"]
goals = ["privacy"]
n_trials = {n_trials}
seed = 0

[synthetic]
train_size = 400
test_size = 300

[forget]
size = 40

[original]
epochs = {epochs}
batch_size = 64

[unlearning]
batch_size = 32

[search.scrub]
epochs = {{ low = {low}, high = {high} }}

[search.l1_sparse]
epochs = {{ low = {low}, high = {high} }}
"""


def write_spec(folder: Path, *, name: str = "tiny", n_trials: int = 3, epochs: int = 5, low: int = 1, high: int = 2) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(TINY_SPEC.format(name=name, n_trials=n_trials, epochs=epochs, low=low, high=high))
    return path


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNLEARN_OPT_")}
    env.update({"UNLEARN_OPT_HEARTBEAT_SECONDS": "1", "UNLEARN_OPT_GRACE_SECONDS": "3", "OMP_NUM_THREADS": "1"})
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unlearn_opt", *args], cwd=cwd, env=env or cli_env(),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def start_worker(experiment: str, *, cwd: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "unlearn_opt", "worker", experiment, "--device", "cpu", *extra],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
