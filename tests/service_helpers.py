"""Helpers shared by the service tests: small specs, the CLI and workers in subprocesses, the
checks of a finished experiment, killing workers mid-work, a private PostgreSQL server. (The
fixtures are in ``tests/conftest.py``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from unlearn_opt.service.experiment import Experiment, load_experiment
from unlearn_opt.service.naming import model_key
from unlearn_opt.service.storage import open_storage

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The PostgreSQL server of the tests: $UNLEARN_OPT_TEST_POSTGRES, else the local default."""
    return os.environ.get("UNLEARN_OPT_TEST_POSTGRES", DEFAULT_PG)


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
    return subprocess.run(
        [sys.executable, "-m", "unlearn_opt", *args],
        cwd=cwd,
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# Imports everything the CLI needs once, then forks one process per command; each says it is
# ready and waits for the go file, so that their storage work overlaps. Prints the exit codes.
_RACER = """
import json, os, sys, time, traceback
import unlearn_opt.cli, unlearn_opt.engine.workspace, unlearn_opt.service.commands, unlearn_opt.service.experiment
folder, commands = sys.argv[1], json.loads(sys.argv[2])
pids = []
for i, args in enumerate(commands):
    pid = os.fork()
    if pid == 0:
        for fd, name in ((1, "out"), (2, "err")):
            os.dup2(os.open(f"{folder}/{name}{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644), fd)
        open(f"{folder}/ready{i}", "w").close()
        while not os.path.exists(f"{folder}/go"):
            time.sleep(0.002)
        code = 0
        try:
            unlearn_opt.cli.main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    pids.append(pid)
print(json.dumps([os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]))
"""


def race_cli(
    commands: list[list[str]], *, cwd: Path, env: dict[str, str], timeout: float = 300
) -> list[subprocess.CompletedProcess[str]]:
    """Run several CLI commands in separate processes released at the same moment (forked from
    one that has imported the modules), so that their storage work overlaps. Returns them in
    order."""
    import json
    import tempfile
    import time

    flags = Path(tempfile.mkdtemp(dir=cwd))
    parent = subprocess.Popen(
        [sys.executable, "-c", _RACER, str(flags), json.dumps(commands)], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + timeout
    while not all((flags / f"ready{i}").exists() for i in range(len(commands))):
        assert time.monotonic() < deadline and parent.poll() is None, "the racers did not start"
        time.sleep(0.01)
    (flags / "go").touch()
    out, _ = parent.communicate(timeout=timeout)
    assert parent.returncode == 0, out
    codes = json.loads(out.strip().splitlines()[-1])
    return [
        subprocess.CompletedProcess(args, code, (flags / f"out{i}").read_text(), (flags / f"err{i}").read_text())
        for i, (args, code) in enumerate(zip(commands, codes))
    ]


def start_worker(experiment: str, *, cwd: Path, env: dict[str, str], extra: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "unlearn_opt", "worker", experiment, "--device", "cpu", *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def sqlite_url(folder: Path) -> str:
    """The embedded default storage of a command run in ``folder``."""
    return f"sqlite:///{folder / 'storage' / 'unlearn_opt.db'}"


def check_exact(url: str, experiment: str, *, n_trials: int) -> dict[str, int]:
    """Every study has exactly n_trials COMPLETE and nothing WAITING/RUNNING; every original and
    retrain reference is COMPLETE exactly once (extra tickets only as PRUNED ``surplus``); every
    COMPLETE trial has its metrics. Returns counts for further checks."""
    storage = open_storage(url)
    exp = load_experiment(storage, experiment)
    failed = 0
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)
        states = [t.state for t in trials]
        assert states.count(TrialState.COMPLETE) == n_trials, (name, states)
        assert TrialState.RUNNING not in states and TrialState.WAITING not in states, (name, states)
        assert all(t.user_attrs.get("surplus") for t in trials if t.state == TrialState.PRUNED), name
        failed += states.count(TrialState.FAIL)
        for t in trials:
            if t.state == TrialState.COMPLETE:
                assert {"forget_error", "privacy_gap", "val_error", "mia_auc", "mia_efficacy", "unlearn_seconds"} <= set(
                    t.user_attrs
                )
                assert list(t.values) == pytest.approx([t.user_attrs["privacy_gap"], t.user_attrs["val_error"]])
        # a FAIL trial either says why (error) or was failed as stale and retried by Optuna
        stale_retried = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
        assert all("error" in t.user_attrs or t.number in stale_retried for t in trials if t.state == TrialState.FAIL), name
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage).get_trials(deepcopy=False)
    complete = [model_key(t.user_attrs) for t in originals if t.state == TrialState.COMPLETE]
    assert sorted(complete) == sorted(exp.models_needed())
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) or t.user_attrs.get("surplus") for t in originals)
    return {"failed": failed, "original_trials": len(originals)}


def wait_all(procs: list[subprocess.Popen[str]], timeout: float = 300) -> list[str]:
    """Wait for worker processes; each must exit 0. Returns their output."""
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out[-3000:]
        outs.append(out)
    return outs


def running_work(storage: BaseStorage, exp: Experiment) -> dict[int, tuple[str, str, int]]:
    """pid of each worker with a RUNNING trial → ("training" or "trial", study name, trial number).
    A tuning trial counts once its parameters are sampled (the pop records the worker before)."""
    out: dict[int, tuple[str, str, int]] = {}
    for kind, names in (("training", [exp.originals_study]), ("trial", list(exp.studies.values()))):
        for name in names:
            study = optuna.load_study(study_name=name, storage=storage)
            for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
                worker = str(t.user_attrs.get("worker", ""))
                if kind == "trial" and not t.params:
                    continue  # popped, parameters not sampled yet: not running its work
                if ":" in worker:
                    out[int(worker.rsplit(":", 1)[1])] = (kind, name, t.number)
    return out


@dataclass
class Kill:
    victim: subprocess.Popen[str]
    study: str
    number: int
    caught: bool  # the trial was still RUNNING after the kill (it did not end between look and kill)


def kill_mid_work(storage: BaseStorage, exp: Experiment, workers: list[subprocess.Popen[str]], kind: str) -> Kill | None:
    """SIGKILL a live worker seen running work of ``kind`` ("training" or "trial"); None when no
    such worker was seen. Whether the kill caught the work is checked after it: the work may have
    ended between the look and the kill."""
    live = {w.pid: w for w in workers if w.poll() is None}
    busy = [(pid, name, number) for pid, (k, name, number) in running_work(storage, exp).items() if k == kind and pid in live]
    if not busy:
        return None
    pid, name, number = busy[0]
    os.kill(pid, signal.SIGKILL)
    live[pid].wait()
    trial = optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)[number]
    caught = trial.state == TrialState.RUNNING and str(trial.user_attrs.get("worker", "")).endswith(f":{pid}")
    return Kill(live[pid], name, number, caught)


# --------------------------------------------------------------------------- a private server


def _pg_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    found = sorted(root.glob("*/bin/pg_ctl")) if root.is_dir() else []
    return found[-1].parent if found else None


def _as_postgres(args: list[str]) -> list[str]:
    """Server binaries refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def private_cluster(password: str | None = None) -> Iterator[tuple[str, list[str]]]:
    """A throw-away PostgreSQL cluster on a free port (restarting it harms nobody), with trust
    auth, or scram-sha-256 and ``password`` for the postgres user. Yields its URL (without the
    password) and the pg_ctl command line to stop and start it."""
    import shutil
    import socket
    import tempfile

    binaries = _pg_bin()
    if binaries is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are needed for a private test cluster")
        pytest.skip("no PostgreSQL server binaries")
    folder = Path(tempfile.mkdtemp(prefix="uo-pgcluster-"))  # not under pytest's 0700 folder: the
    os.chmod(folder, 0o777)  # server runs as the postgres user
    data = folder / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    auth = ["-A", "trust"]
    if password is not None:
        pwfile = folder / "pw"
        pwfile.write_text(password + "\n")
        os.chmod(pwfile, 0o644)
        auth = ["-A", "scram-sha-256", f"--pwfile={pwfile}"]
    subprocess.run(
        _as_postgres([str(binaries / "initdb"), "-D", str(data), *auth, "-U", "postgres"]), check=True, capture_output=True
    )
    pg_ctl = _as_postgres(
        [
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-w",
            "-l",
            str(folder / "log"),
            "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1",
        ]
    )
    subprocess.run([*pg_ctl, "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", pg_ctl
    finally:
        subprocess.run([*pg_ctl, "stop", "-m", "immediate"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
