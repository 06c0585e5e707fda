"""The embedded default (SQLite under storage/) with several local workers: `run`, `launch`,
SIGTERM and a worker that dies under `launch`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.service_helpers import check_exact, cli_env, run_cli, sqlite_url, write_spec
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = pytest.mark.slow  # real worker and launcher processes


def wait_for_running(url: str, experiment: str, *, timeout: float = 120) -> tuple[str, optuna.trial.FrozenTrial]:
    """The first RUNNING tuning trial seen (its worker recorded, its parameters sampled), returned as soon as it is
    seen so that the caller can act while it still runs."""
    deadline = time.monotonic() + timeout
    path = Path(url[len("sqlite:///") :])
    while time.monotonic() < deadline:
        if path.exists():
            storage = open_storage(url)
            for name in load_experiment(storage, experiment).studies.values():
                for t in optuna.load_study(study_name=name, storage=storage).get_trials(states=(TrialState.RUNNING,)):
                    if "worker" in t.user_attrs and t.params:  # sampled: running its work
                        return name, t
        time.sleep(0.2)
    raise AssertionError("no tuning trial seen running")


def test_run_with_two_local_workers_on_the_sqlite_default(tmp_path: Path) -> None:
    """`unlearn-opt run SPEC --workers 2 --regions`: create on storage/unlearn_opt.db, two local
    worker processes to the end, the decision regions of the selected points, then the report."""
    spec = write_spec(tmp_path, n_trials=3)
    out = run_cli("run", str(spec), "--workers", "2", "--json", "--regions", cwd=tmp_path, env=cli_env())
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])  # --json: the outcome as one object
    assert result["exit_code"] == 0 and result["complete"] == result["total"] == 12
    assert result["report"] == str(Path("reports") / "tiny" / "report.html")
    assert (tmp_path / "storage" / "unlearn_opt.db").is_file()
    counts = check_exact(sqlite_url(tmp_path), "tiny", n_trials=3)
    assert counts["original_trials"] == 4
    assert any((tmp_path / "storage" / "artifacts").iterdir())
    assert (tmp_path / "reports" / "tiny" / "selection.csv").is_file()
    regions = (tmp_path / "reports" / "tiny" / "regions.csv").read_text().splitlines()
    assert regions[0].startswith("study,width,sparsity,method,goal,lambda,trial_number") and len(regions) > 1
    assert (tmp_path / "reports" / "tiny" / "findings.md").is_file()
    workers = set()
    storage = open_storage(sqlite_url(tmp_path))
    for name in load_experiment(storage, "tiny").studies.values():
        workers |= {t.user_attrs["worker"] for t in optuna.load_study(study_name=name, storage=storage).get_trials()}
    assert len(workers) == 2  # both local workers ran trials on the one SQLite file


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_launch_sigterm_or_ctrl_c_leaves_nothing_running(tmp_path: Path, how: str) -> None:
    """SIGTERM to the launcher alone, or Ctrl-C in its terminal (SIGINT to the launcher and its
    workers, one process group): every running trial is failed and re-queued, exit 130."""
    spec = write_spec(tmp_path, n_trials=6, low=40, high=60)
    env = cli_env()
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    url = sqlite_url(tmp_path)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "unlearn_opt", "launch", "tiny", "--cpu-workers", "2", "--no-live"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    wait_for_running(url, "tiny")
    if how == "sigterm":
        launcher.send_signal(signal.SIGTERM)
    else:
        os.killpg(launcher.pid, signal.SIGINT)
    out, _ = launcher.communicate(timeout=60)
    assert launcher.returncode == 130, out
    storage = open_storage(url)
    exp = load_experiment(storage, "tiny")
    interrupted = 0
    for name in [*exp.studies.values(), exp.originals_study]:
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        assert all(t.state != TrialState.RUNNING for t in trials), out
        for t in trials:
            if t.state == TrialState.FAIL:
                interrupted += 1
                assert t.user_attrs.get("error") == "interrupted", t.user_attrs
                retries = [u for u in trials if u.user_attrs.get("retry_of") == t.number]
                assert len(retries) == 1 and retries[0].state == TrialState.WAITING  # queued again,
                assert retries[0].system_attrs.get("fixed_params", {}) == t.params  # with its parameters
    assert interrupted


def test_launch_restarts_a_killed_worker_and_ends_exact(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=2, low=80, high=100)  # trials of seconds: the kill lands in one
    env = cli_env(UNLEARN_OPT_HEARTBEAT_SECONDS="30", UNLEARN_OPT_GRACE_SECONDS="600")  # no help from heartbeats
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    url = sqlite_url(tmp_path)
    launcher = subprocess.Popen(
        [sys.executable, "-m", "unlearn_opt", "launch", "tiny", "--cpu-workers", "2", "--no-live"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    name, trial = wait_for_running(url, "tiny")
    os.kill(int(trial.user_attrs["worker"].rsplit(":", 1)[1]), signal.SIGKILL)
    out, _ = launcher.communicate(timeout=240)
    assert launcher.returncode == 0, out
    assert "exited with -9; restarting" in out
    check_exact(url, "tiny", n_trials=2)
    storage = open_storage(url)
    trials = optuna.load_study(study_name=name, storage=storage).get_trials()
    killed = trials[trial.number]
    assert killed.state == TrialState.FAIL and killed.user_attrs["error"] == "worker exited with -9"
    retry = [t for t in trials if t.user_attrs.get("retry_of") == trial.number]
    assert len(retry) == 1 and retry[0].state == TrialState.COMPLETE and retry[0].params == killed.params
