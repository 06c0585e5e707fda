"""Faults: a corrupted checkpoint, an unwritable artifact store, a property test over specs."""

from __future__ import annotations

import os
from pathlib import Path

import optuna
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from tests.conftest import cli_env, run_cli, write_spec
from unlearn_opt.errors import UserError
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.originals import CORRUPT_ATTR
from unlearn_opt.service.storage import open_storage
from unlearn_opt.spec import spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_truncated_checkpoint_is_detected_and_retrained(tmp_path: Path) -> None:
    write_spec(tmp_path, n_trials=2)
    env = cli_env()
    assert run_cli("create-study", "tiny.toml", cwd=tmp_path, env=env).returncode == 0
    first = run_cli("worker", "tiny", "--device", "cpu", "--max-trials", "1", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    storage = open_storage(f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}")
    exp = load_experiment(storage, "tiny")
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    trained = [t for t in originals.get_trials() if t.state == TrialState.COMPLETE]
    assert trained
    victim = trained[0]
    path = tmp_path / "storage" / "artifacts" / victim.user_attrs["artifact_id"]
    path.write_bytes(path.read_bytes()[:100])  # truncated in the artifact store
    second = run_cli("worker", "tiny", "--device", "cpu", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert victim.user_attrs["artifact_id"] in originals.user_attrs[CORRUPT_ATTR]
    again = [t for t in originals.get_trials() if t.state == TrialState.COMPLETE and t.user_attrs["width"] == victim.user_attrs["width"]
             and t.user_attrs["kind"] == victim.user_attrs["kind"]]  # fmt: skip
    assert len(again) == 2 and again[1].user_attrs["replaces"] == victim.number  # retrained once
    errors = []
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
        assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
        errors += [t.user_attrs.get("error", "") for t in trials if t.state == TrialState.FAIL]
    assert any("does not match its recorded SHA-256" in e for e in errors)


def test_unwritable_artifact_store_is_a_clear_error(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("not a folder")
        target = blocker / "artifacts"  # cannot be created, even by root
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    write_spec(tmp_path)
    out = run_cli("create-study", "tiny.toml", "--artifacts", str(target), cwd=tmp_path)
    assert out.returncode == 2 and "artifacts" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "storage" / "unlearn_opt.db").exists()  # nothing written


VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 500), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.lists(st.one_of(st.integers(-2, 3), st.floats(-1, 9), st.text(max_size=4)), max_size=4),
)  # fmt: skip
KEYS = st.sampled_from(["name", "dataset", "architecture", "widths", "sparsities", "methods", "goals", "lambdas",
                        "n_trials", "seed", "forget", "original", "sampler", "search", "data_dir", "typo"])  # fmt: skip
TABLES = st.dictionaries(st.sampled_from(["size", "selection", "classes", "epochs", "lr", "name", "scrub", "x"]), VALUES, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, st.one_of(VALUES, TABLES), max_size=8))
def test_no_spec_gives_a_traceback(raw: dict) -> None:
    """Whatever the document, loading it either works or raises one-line UserError."""
    base = {"name": "p", "dataset": "digits", "architecture": "cnn", "widths": [1.0]}
    try:
        spec_from_dict({**base, **raw})
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)
