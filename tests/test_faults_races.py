"""Races and partial writes: create-study run several times at the same moment (real processes,
SQLite and PostgreSQL), a worker started on the wrong artifact store, a checkpoint upload killed
half-way."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import optuna
import pytest
import torch
from optuna.artifacts import upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import TrialState

from tests.service_helpers import ROOT, TINY_SPEC, cli_env, race_cli, run_cli, sqlite_url, write_spec
from unlearn_opt.engine.workspace import OriginalRecord
from unlearn_opt.errors import UserError
from unlearn_opt.service import optuna_adapter as rdb
from unlearn_opt.service import tickets
from unlearn_opt.service.commands import create_study
from unlearn_opt.service.experiment import experiment_names, load_experiment
from unlearn_opt.service.filestore import STALE_PARTIAL_S
from unlearn_opt.service.originals import CheckpointError, install, key_of, open_store, store_lost, store_model
from unlearn_opt.service.storage import ArtifactLocation, open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _spec(folder: Path, file: str, *, name: str, n_trials: int) -> str:
    path = folder / file
    path.write_text(TINY_SPEC.format(name=name, n_trials=n_trials, epochs=5, low=1, high=2))
    return str(path)


def _state(out: str) -> str:
    return "created" if "(created)" in out else "exists" if "(already there, unchanged)" in out else "?"


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_create_study_at_the_same_moment(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    """Six create-study released at once on a fresh storage: the same spec twice (one creates,
    the other finds it; no schema-creation error), two specs under one name (one wins, the other
    is refused with one line), two specs with --new-version (two versions). Every study holds exactly n_trials tickets, of its own spec; one
    splits file per experiment, none orphaned."""
    url = sqlite_url(tmp_path) if backend == "sqlite" else request.getfixturevalue("postgres_url")
    art = tmp_path / "artifacts"
    env = cli_env(UNLEARN_OPT_STORAGE=url, UNLEARN_OPT_ARTIFACTS=str(art), COLUMNS="400")
    same = _spec(tmp_path, "same.toml", name="same", n_trials=2)
    diff = [_spec(tmp_path, f"diff{n}.toml", name="diff", n_trials=n) for n in (2, 3)]
    ver = [_spec(tmp_path, f"ver{n}.toml", name="ver", n_trials=n) for n in (2, 3)]
    runs = race_cli(
        [
            ["create-study", same],
            ["create-study", same],
            ["create-study", diff[0]],
            ["create-study", diff[1]],
            ["create-study", ver[0], "--new-version"],
            ["create-study", ver[1], "--new-version"],
        ],
        cwd=tmp_path,
        env=env,
    )
    for r in (*runs[:2], *runs[4:]):
        assert r.returncode == 0 and not r.stderr, r.stderr
    assert sorted(_state(r.stdout) for r in runs[:2]) == ["created", "exists"]
    lost = [r for r in runs[2:4] if r.returncode != 0]
    won = [r for r in runs[2:4] if r.returncode == 0]
    assert len(lost) == 1 and len(won) == 1 and lost[0].returncode == 2, [r.stderr for r in runs[2:4]]
    assert len(lost[0].stderr.strip().splitlines()) == 1 and "already exists with a different spec" in lost[0].stderr
    assert _state(won[0].stdout) == "created"

    storage = open_storage(url)
    assert experiment_names(storage) == ["diff", "same", "ver", "ver.v2"]
    winner = 2 if won[0] is runs[2] else 3
    assert load_experiment(storage, "diff").spec.n_trials == winner
    assert sorted(load_experiment(storage, v).spec.n_trials for v in ("ver", "ver.v2")) == [2, 3]
    expected, splits = set(), set()
    for name in experiment_names(storage):
        exp = load_experiment(storage, name)
        for study_name in exp.studies.values():
            study = optuna.load_study(study_name=study_name, storage=storage)
            trials = study.get_trials(deepcopy=False)
            assert [t.state for t in trials] == [TrialState.WAITING] * exp.spec.n_trials, study_name  # nothing doubled
            assert study.user_attrs["spec_hash"] == exp.spec_hash, study_name  # not another spec's study
        originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
        assert len(originals.get_trials(deepcopy=False)) == len(exp.models_needed())
        expected |= {*exp.studies.values(), exp.originals_study}
        splits.add(originals.user_attrs["splits_artifact_id"])
    assert {s.study_name for s in storage.get_all_studies()} == expected  # no stray study of a losing spec
    assert {p.name for p in art.iterdir()} == splits  # one splits file per experiment, none orphaned


def test_new_version_twice_finds_the_version_holding_the_spec(tmp_path: Path) -> None:
    """``--new-version`` again with the same spec reports NAME.v2 unchanged (no NAME.v3 copy)."""
    url, art = sqlite_url(tmp_path), str(tmp_path / "artifacts")
    create_study(write_spec(tmp_path, n_trials=2), storage=url, artifacts=art)
    made = [create_study(write_spec(tmp_path, n_trials=3), storage=url, artifacts=art, new_version=True) for _ in range(2)]
    assert [(m.experiment.name, m.created) for m in made] == [("tiny.v2", True), ("tiny.v2", False)]
    other = create_study(write_spec(tmp_path, n_trials=4), storage=url, artifacts=art, new_version=True)
    assert (other.experiment.name, other.created) == ("tiny.v3", True)


# a checkpoint upload that stops half-way (the process is then killed with SIGKILL)
_SLOW_UPLOAD = """
import sys, time
from pathlib import Path
from unlearn_opt.service.storage import ArtifactLocation

class HalfWay:
    chunks = 0
    def read(self, size=-1):
        self.chunks += 1
        if self.chunks > 4:
            Path(sys.argv[2]).touch()
            time.sleep(120)
        return b"w" * 65536

ArtifactLocation(sys.argv[1]).open().write("checkpoint", HalfWay())
"""


@pytest.mark.slow
def test_a_checkpoint_upload_killed_half_way_is_not_visible(tmp_path: Path) -> None:
    """kill -9 while a checkpoint is being written to the artifact folder: the artifact does not
    exist (no truncated file under its name); the next upload of it works."""
    art, halfway = tmp_path / "artifacts", tmp_path / "halfway"
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_UPLOAD, str(art), str(halfway)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not halfway.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "the upload never started"
        time.sleep(0.01)
    proc.kill()
    proc.wait()
    store = ArtifactLocation(str(art)).open()
    with pytest.raises(ArtifactNotFound):
        store.open_reader("checkpoint")
    assert not (art / "checkpoint").exists()
    store.write("checkpoint", io.BytesIO(b"whole"))
    assert store.open_reader("checkpoint").read() == b"whole"
    umask = os.umask(0o022)
    os.umask(umask)
    assert (art / "checkpoint").stat().st_mode & 0o777 == 0o666 & ~umask  # readable as a plain file would be
    (left,) = art.glob(".checkpoint.*.partial")  # the killed writer's bytes, still in the folder
    a_day_ago = time.time() - STALE_PARTIAL_S - 60
    os.utime(left, (a_day_ago, a_day_ago))
    fresh = art / ".other.0.partial"  # a writer still at work: recent, so kept
    fresh.write_bytes(b"w")
    store.write("next", io.BytesIO(b"n"))
    assert not left.exists() and fresh.exists() and (art / "checkpoint").read_bytes() == b"whole"


def test_a_retried_original_lists_only_its_own_checkpoint(tmp_path: Path) -> None:
    """A training killed during its upload leaves the link to that upload on its trial (Optuna
    writes the link first), and the stale-trial retry copies it; the retry, once finished,
    lists only the checkpoint it stored. A missing checkpoint is not a corrupt one."""
    url = sqlite_url(tmp_path)
    create_study(write_spec(tmp_path), storage=url, artifacts=str(tmp_path / "artifacts"))
    storage = open_storage(url)
    originals = optuna.load_study(study_name=load_experiment(storage, "tiny").originals_study, storage=storage)
    first = originals.get_trials(deepcopy=False, states=(TrialState.WAITING,))[0]
    assert tickets.pop(originals, rdb.trial_id(first), user_attrs={"worker": "gone:1"})

    class Killed:  # the upload stops here (the process died)
        def write(self, artifact_id: str, content_body: BinaryIO) -> None:
            raise KeyboardInterrupt

    (tmp_path / "ckpt.pt").write_bytes(b"partial")
    with pytest.raises(KeyboardInterrupt):
        upload_artifact(artifact_store=Killed(), file_path=str(tmp_path / "ckpt.pt"), study_or_trial=first, storage=storage)  # type: ignore[arg-type]
    assert tickets.finish(originals, rdb.trial_id(first), TrialState.FAIL)  # failed as stale, and retried:
    rdb.backend(originals).get_heartbeat_stale_trial_callback()(originals, storage.get_trial(rdb.trial_id(first)))  # type: ignore[misc]
    retry = [t for t in originals.get_trials(deepcopy=False, states=(TrialState.WAITING,)) if "failed_trial" in t.system_attrs]
    assert len(retry) == 1 and any(k.startswith("artifacts:") for k in retry[0].system_attrs)  # the inherited link
    assert tickets.pop(originals, rdb.trial_id(retry[0]), user_attrs={"worker": "here:2"})
    model = torch.nn.Linear(3, 2)
    record = OriginalRecord(
        width=0.25,
        sparsity=0.0,
        param_count=8,
        train_error=0.0,
        test_error=0.1,
        overparameterized=True,
        train_seconds=1.0,
        metrics={},
    )
    trial = rdb.popped_trial(originals, rdb.trial_id(retry[0]))
    store_model(originals, trial, key_of(retry[0]), model, record, ArtifactLocation(str(tmp_path / "artifacts")).open())
    done = storage.get_trial(rdb.trial_id(retry[0]))
    assert done.state == TrialState.COMPLETE
    assert [k for k in done.system_attrs if k.startswith("artifacts:")] == ["artifacts:" + done.user_attrs["artifact_id"]]

    # later the checkpoint is missing: from the right store it is lost (retrained), from another
    # store the store is wrong (the worker stops; nothing is marked)
    right, elsewhere = ArtifactLocation(str(tmp_path / "artifacts")), ArtifactLocation(str(tmp_path / "elsewhere"))
    (tmp_path / "artifacts" / done.user_attrs["artifact_id"]).unlink()
    with pytest.raises(CheckpointError) as missing:
        install(None, done, right.open())  # type: ignore[arg-type]  # fails before it needs a workspace
    assert missing.value.missing and "is missing from the artifact store" in str(missing.value)
    assert store_lost(originals, right) is None
    assert "is not the artifact store of experiment 'tiny'" in str(store_lost(originals, elsewhere))
    assert not (tmp_path / "elsewhere").exists()


def _originals_snapshot(url: str) -> tuple[object, ...]:
    storage = open_storage(url)
    study = optuna.load_study(study_name=load_experiment(storage, "tiny").originals_study, storage=storage)
    trials = [(t.number, t.state, t.user_attrs) for t in study.get_trials(deepcopy=False)]
    return study.user_attrs, trials


@pytest.mark.slow
def test_a_worker_on_the_wrong_artifact_store_refuses_and_changes_nothing(tmp_path: Path) -> None:
    """A worker given an artifact store that does not hold the experiment's checkpoints (an empty
    mount point, a mistyped folder): one line, exit 2; the trained original is not marked corrupt,
    nothing is retrained, the mistyped folder is not created."""
    env, url = cli_env(), sqlite_url(tmp_path)
    shared, empty, typo = tmp_path / "shared", tmp_path / "empty", tmp_path / "shraed"
    empty.mkdir()
    create_study(write_spec(tmp_path, n_trials=1), storage=url, artifacts=str(shared))
    first = run_cli("worker", "tiny", "--device", "cpu", "--max-trials", "1", "--artifacts", str(shared), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    before = _originals_snapshot(url)
    assert any(state == TrialState.COMPLETE for _, state, _ in before[1])  # an original is trained
    out = run_cli("worker", "tiny", "--device", "cpu", "--artifacts", str(empty), cwd=tmp_path, env=env)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "is not the artifact store of experiment 'tiny'" in out.stderr
    assert str(shared) in out.stderr  # where the checkpoints are
    assert _originals_snapshot(url) == before  # nothing marked corrupt, nothing queued or retrained
    assert not any(empty.iterdir())
    storage = open_storage(url)
    originals = optuna.load_study(study_name="tiny/_originals", storage=storage)
    with pytest.raises(UserError, match="is not the artifact store of experiment 'tiny'"):
        open_store(originals, ArtifactLocation(str(typo)))  # what a worker or launch checks first
    assert not typo.exists()
    assert open_store(originals, ArtifactLocation(str(shared)))  # the right one
