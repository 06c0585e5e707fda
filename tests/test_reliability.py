"""Fault injection with real worker processes on a real PostgreSQL: rounds of SIGKILL during
original training and during trials, connections killed from the server side, a server restart,
a full disk, Ctrl-C. Each experiment must still end with exactly n_trials COMPLETE per study,
every original trained and nothing RUNNING (``check_exact``)."""

from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState

from tests.service_helpers import (
    check_exact,
    cli_env,
    kill_mid_work,
    private_cluster,
    run_cli,
    running_work,
    start_worker,
    wait_all,
    write_spec,
)
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # real worker processes


def test_kill_rounds_during_training_and_trials_end_exact(tmp_path: Path, postgres_url: str) -> None:
    """Six rounds: at a random moment, a worker that is training an original (2 rounds) or running
    a tuning trial (4 rounds) is killed with SIGKILL and a new one is started."""
    spec = write_spec(tmp_path, n_trials=3, epochs=150, low=100, high=200)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "tiny")
    rng = random.Random(0)
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    kills: list[str] = []  # the kinds of work caught RUNNING by a kill
    deadline = time.monotonic() + 400
    while len(kills) < 6 and time.monotonic() < deadline:
        time.sleep(rng.uniform(0.0, 1.0))
        if all(w.poll() is not None for w in workers):
            break  # finished before all rounds: asserted below
        want = "training" if kills.count("training") < 2 else "trial"
        kill = kill_mid_work(storage, exp, workers, want)
        if kill is None:
            continue
        if kill.caught:
            kills.append(want)
        workers = [w for w in workers if w is not kill.victim] + [start_worker("tiny", cwd=tmp_path, env=env)]
    wait_all(workers, timeout=400)
    assert kills == ["training"] * 2 + ["trial"] * 4, kills
    counts = check_exact(postgres_url, "tiny", n_trials=3)
    assert counts["failed"] >= kills.count("trial")  # each killed trial was failed as stale, then retried


def test_connections_killed_by_the_server(tmp_path: Path, postgres_url: str) -> None:
    """pg_terminate_backend on every connection of the workers, every 0.1 s while they start (opening
    the storage, loading the experiment) and every second after: they reconnect and go on;
    nothing is counted twice."""
    spec = write_spec(tmp_path, n_trials=4, epochs=60, low=40, high=80)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    database = sqlalchemy.engine.make_url(postgres_url).database
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    terminated, started = 0, time.monotonic()
    try:
        while any(w.poll() is None for w in workers):
            time.sleep(0.1 if time.monotonic() - started < 8 else 1.0)
            with admin.connect() as conn:
                terminated += len(
                    conn.execute(
                        sqlalchemy.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :d AND pid <> pg_backend_pid()"
                        ),
                        {"d": database},
                    ).all()
                )
    finally:
        admin.dispose()
    wait_all(workers, timeout=60)
    assert terminated >= 10, terminated
    check_exact(postgres_url, "tiny", n_trials=4)


# --------------------------------------------------------------------------- a private server


@pytest.fixture
def private_server() -> Iterator[tuple[str, list[str]]]:
    """A throw-away PostgreSQL cluster on a free port, so that restarting it harms nobody."""
    with private_cluster() as server:
        yield server


def test_server_restart_while_workers_run(tmp_path: Path, private_server: tuple[str, list[str]]) -> None:
    """The server is stopped (fast shutdown: every session killed) and started again 5 s later,
    twice, while three workers run: they wait for it and finish exact."""
    url, pg_ctl = private_server
    spec = write_spec(tmp_path, n_trials=4, epochs=100, low=60, high=120)
    env = cli_env(UNLEARN_OPT_STORAGE=url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"), UNLEARN_OPT_GRACE_SECONDS="10")
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    storage = open_storage(url)
    exp = load_experiment(storage, "tiny")
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    restarts, seen = 0, set()
    deadline = time.monotonic() + 200
    while restarts < 2 and time.monotonic() < deadline:
        seen |= set(running_work(storage, exp))
        if all(w.pid in seen for w in workers):  # all three are past their start-up
            storage.engine.dispose()
            subprocess.run([*pg_ctl, "stop", "-m", "fast"], check=True, capture_output=True)
            time.sleep(5)
            subprocess.run([*pg_ctl, "start"], check=True, capture_output=True)
            restarts += 1
            time.sleep(2)
        time.sleep(0.3)
    logs = wait_all(workers, timeout=400)
    assert restarts == 2
    assert not any("Traceback" in log for log in logs)
    check_exact(url, "tiny", n_trials=4)


# --------------------------------------------------------------------------- disk, signals


def _limit_file_size() -> None:
    """A "full disk" for one process: any file write past 4 KiB fails with EFBIG (CPython
    ignores SIGXFSZ, so the write raises OSError instead of killing the process)."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (4 * 1024, 4 * 1024))


def test_full_disk_fails_trials_clearly_and_the_experiment_stays_consistent(tmp_path: Path, postgres_url: str) -> None:
    spec = write_spec(tmp_path, n_trials=2, epochs=5)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    full = subprocess.run(
        [sys.executable, "-m", "unlearn_opt", "worker", "tiny", "--device", "cpu"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=_limit_file_size,
    )
    assert full.returncode == 1, full.stderr[-2000:]
    assert "File too large" in full.stderr and "trials in a row failed" in full.stderr
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "tiny")
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage).get_trials()
    failed = [t for t in originals if t.state == TrialState.FAIL]
    assert failed and all("File too large" in t.user_attrs["error"] for t in failed)
    assert not any(t.state == TrialState.RUNNING for t in originals)
    assert not any(t.state == TrialState.COMPLETE for t in originals)  # no checkpoint, no original
    for name in exp.studies.values():  # no tuning trial ran on a model that was not stored
        assert all(t.state == TrialState.WAITING for t in optuna.load_study(study_name=name, storage=storage).get_trials())
    # space again: a normal worker finishes the experiment exactly
    wait_all([start_worker("tiny", cwd=tmp_path, env=env)])
    check_exact(postgres_url, "tiny", n_trials=2)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_to_a_worker(tmp_path: Path, postgres_url: str, sig: signal.Signals) -> None:
    spec = write_spec(tmp_path, n_trials=2, epochs=5, low=150, high=250)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "tiny")
    worker = start_worker("tiny", cwd=tmp_path, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and running_work(storage, exp).get(worker.pid, ("",))[0] != "trial":
        time.sleep(0.1)
    worker.send_signal(sig)
    out, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, out[-2000:]
    assert "Traceback" not in out and f"{sig.name}: any running trial was failed and re-queued" in out
    interrupted = []
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert not any(t.state == TrialState.RUNNING for t in trials)
        interrupted += [t for t in trials if t.state == TrialState.FAIL]
    assert len(interrupted) == 1 and interrupted[0].user_attrs["error"] == "interrupted"
    wait_all([start_worker("tiny", cwd=tmp_path, env=env)], timeout=400)
    check_exact(postgres_url, "tiny", n_trials=2)


# --------------------------------------------------------------------------- load


def test_sixteen_workers_two_thousand_trials(tmp_path: Path, postgres_url: str) -> None:
    """16 processes of the real worker loop (trivial objective) for 2 000 trials on PostgreSQL:
    exact counts, no error reaches the user, and the peak number of connections stays under
    the server's limit."""
    from bench.storage_scaling import run_workers

    database = sqlalchemy.engine.make_url(postgres_url).database
    admin = sqlalchemy.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        limit = int(conn.execute(sqlalchemy.text("SHOW max_connections")).scalar_one())
    peak, stop = [0], threading.Event()

    def watch() -> None:
        with admin.connect() as conn:
            while not stop.is_set():
                n = conn.execute(
                    sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d"), {"d": database}
                ).scalar_one()
                peak[0] = max(peak[0], int(n))
                time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        result = run_workers(postgres_url, str(tmp_path / "artifacts"), workers=16, n_trials=2000, studies=4)
    finally:
        stop.set()
        watcher.join()
        admin.dispose()
    assert result["exit_codes"] == [0] * 16, result
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "bench")
    for name in exp.studies.values():
        states = [t.state for t in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)]
        assert states.count(TrialState.COMPLETE) == 500 and TrialState.RUNNING not in states and TrialState.WAITING not in states
    assert peak[0] < limit, (peak[0], limit)
    print(f"\n16 workers, 2000 trials in {result['seconds']:.1f} s; peak connections {peak[0]} of {limit}")
