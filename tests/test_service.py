"""The study service with real worker processes, on PostgreSQL and on the SQLite default."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.conftest import cli_env, run_cli, start_worker, write_spec
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def check_exact(url: str, experiment: str, *, n_trials: int) -> dict[str, int]:
    """Every study has exactly n_trials COMPLETE and nothing WAITING/RUNNING; each original and
    retrain reference is COMPLETE exactly once. Returns counts for further checks."""
    storage = open_storage(url)
    exp = load_experiment(storage, experiment)
    failed = 0
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == n_trials, (name, states)
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states, (name, states)
        failed += states.count(TrialState.FAIL)
        for t in trials:
            if t.state == TrialState.COMPLETE:
                assert {"forget_error", "privacy_gap", "mia_auc", "mia_efficacy", "unlearn_seconds"} <= set(t.user_attrs)
                assert t.values[0] == pytest.approx(t.user_attrs["privacy_gap"])
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage).get_trials(deepcopy=False)
    complete = [(t.user_attrs["kind"], t.user_attrs["width"], t.user_attrs["sparsity"]) for t in originals if t.state == TrialState.COMPLETE]
    assert sorted(complete) == sorted(exp.models_needed())
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) or t.user_attrs.get("surplus") for t in originals)
    return {"failed": failed, "original_trials": len(originals)}


def wait_all(procs, timeout: float = 300) -> list[str]:
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out[-3000:]
        outs.append(out)
    return outs


@pytest.mark.postgres
def test_three_workers_on_postgres_end_exact(tmp_path: Path, postgres_url: str) -> None:
    spec = write_spec(tmp_path, n_trials=4)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    out = run_cli("create-study", str(spec), cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "tiny/w0.25/scrub/privacy" in out.stdout
    assert "postgres@" in out.stdout or "***" in out.stdout
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    logs = wait_all(workers)
    counts = check_exact(postgres_url, "tiny", n_trials=4)
    assert counts["failed"] == 0 and counts["original_trials"] == 4  # each original trained once
    trained = sum(log.count("training ") for log in logs)
    assert trained == 4
    status = run_cli("status", "tiny", "--json", cwd=tmp_path, env=env)
    assert status.returncode == 0 and '"complete": 16' in status.stdout


@pytest.mark.postgres
def test_sigkill_mid_trial_still_ends_exact(tmp_path: Path, postgres_url: str) -> None:
    spec = write_spec(tmp_path, n_trials=3, low=40, high=60)  # trials long enough to be caught mid-way
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "tiny")
    victim, killed_trial = None, None
    deadline = time.monotonic() + 180
    while victim is None and time.monotonic() < deadline:
        for name in exp.studies.values():
            for t in optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                pid = int(str(t.user_attrs.get("worker", ":0")).rsplit(":", 1)[1])
                if "worker" in t.user_attrs and any(w.pid == pid for w in workers):
                    victim, killed_trial = next(w for w in workers if w.pid == pid), (name, t.number)
                    break
            if victim:
                break
        time.sleep(0.2)
    assert victim is not None, "no tuning trial seen running"
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    wait_all([w for w in workers if w is not victim])
    counts = check_exact(postgres_url, "tiny", n_trials=3)
    name, number = killed_trial
    trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
    assert trials[number].state == TrialState.FAIL
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == trials[number].params  # the same parameters, retried
    assert counts["failed"] >= 1


def test_two_local_workers_on_the_sqlite_default(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=3)
    env = cli_env()
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "storage" / "unlearn_opt.db").is_file()
    wait_all([start_worker("tiny", cwd=tmp_path, env=env) for _ in range(2)])
    url = f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}"
    counts = check_exact(url, "tiny", n_trials=3)
    assert counts["original_trials"] == 4
    assert any((tmp_path / "storage" / "artifacts").iterdir())


def test_create_study_is_idempotent_and_refuses_a_changed_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=3)
    env = cli_env()
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    again = run_cli("create-study", str(spec), cwd=tmp_path, env=env)
    assert again.returncode == 0 and "already there, unchanged" in again.stdout
    url = f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}"
    storage = open_storage(url)
    study = optuna.load_study(study_name="tiny/w1/scrub/privacy", storage=storage)
    assert len(study.get_trials(deepcopy=False)) == 3  # no extra tickets
    assert study.metric_names == ["privacy_gap", "val_error"]
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.user_attrs["spec"]["name"] == "tiny" and len(study.user_attrs["spec_hash"]) == 64
    changed = write_spec(tmp_path, n_trials=5)
    refused = run_cli("create-study", str(changed), cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "already exists with a different spec" in refused.stderr
    assert "Traceback" not in refused.stderr
    versioned = run_cli("create-study", str(changed), "--new-version", cwd=tmp_path, env=env)
    assert versioned.returncode == 0 and "tiny.v2/w1/scrub/privacy" in versioned.stdout


def test_bad_spec_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\ndataset = "digits"\narchitecture = "cnn"\nwidths = [1]\nn_trials = -3\n')
    out = run_cli("create-study", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == f"error: spec {bad}: n_trials: must be > 0 (got -3)"
    assert not (tmp_path / "storage").exists()
    missing = tmp_path / "cifar.toml"
    missing.write_text(f'name = "c"\ndataset = "cifar10"\ndata_dir = "{tmp_path / "nope"}"\narchitecture = "resnet18"\nwidths = [1]\n')
    out = run_cli("create-study", str(missing), cwd=tmp_path)
    assert out.returncode == 2 and "cifar10: data_dir" in out.stderr and not (tmp_path / "storage").exists()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql+psycopg://alice:s3cret@127.0.0.1:1/x", "cannot connect"),
        ("mysql://alice:s3cret@127.0.0.1/x", "unsupported database"),
        ("not a url", "is not a database URL"),
    ],
)
def test_bad_storage_urls_exit_2_masked(tmp_path: Path, url: str, words: str) -> None:
    spec = write_spec(tmp_path)
    out = run_cli("create-study", str(spec), "--storage", url, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and "s3cret" not in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


@pytest.mark.postgres
def test_missing_database_and_unknown_role(tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    spec = write_spec(tmp_path)
    base = make_url(postgres_url)
    for url, words in [
        (base.set(database="uo_no_such_db"), "does not exist"),
        (base.set(username="uo_no_such_role", password="s3cret"), "uo_no_such_role"),
    ]:
        out = run_cli("create-study", str(spec), "--storage", url.render_as_string(hide_password=False), cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert words in out.stderr and "s3cret" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_unknown_experiment_and_missing_storage(tmp_path: Path) -> None:
    out = run_cli("status", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "no such database file" in out.stderr
    write_spec(tmp_path)
    assert run_cli("create-study", str(tmp_path / "tiny.toml"), cwd=tmp_path).returncode == 0
    out = run_cli("worker", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "experiment 'nope' does not exist in this storage (known: tiny)" in out.stderr


def test_launch_rejects_a_gpu_that_does_not_exist(tmp_path: Path) -> None:
    write_spec(tmp_path)
    assert run_cli("create-study", str(tmp_path / "tiny.toml"), cwd=tmp_path).returncode == 0
    out = run_cli("launch", "tiny", "--gpus", "7", cwd=tmp_path)
    assert out.returncode == 2 and "--gpus: GPU 7 does not exist" in out.stderr


def test_launch_sigterm_leaves_nothing_running(tmp_path: Path) -> None:
    import subprocess
    import sys

    spec = write_spec(tmp_path, n_trials=6, low=40, high=60)
    env = cli_env()
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    url = f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}"
    launcher = subprocess.Popen([sys.executable, "-m", "unlearn_opt", "launch", "tiny", "--cpu-workers", "2", "--no-live"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    storage = open_storage(url)
    exp = load_experiment(storage, "tiny")
    deadline = time.monotonic() + 120
    running = 0
    while time.monotonic() < deadline and not running:
        running = sum(len(optuna.load_study(study_name=n, storage=storage).get_trials(states=(TrialState.RUNNING,)))
                      for n in exp.studies.values())  # fmt: skip
        time.sleep(0.2)
    assert running
    launcher.send_signal(signal.SIGTERM)
    out, _ = launcher.communicate(timeout=60)
    for name in [*exp.studies.values(), exp.originals_study]:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert all(t.state != TrialState.RUNNING for t in trials), out
    interrupted = [t for n in exp.studies.values() for t in optuna.load_study(study_name=n, storage=storage).get_trials()
                   if t.state == TrialState.FAIL]  # fmt: skip
    assert all(t.user_attrs.get("error") == "interrupted" for t in interrupted)
