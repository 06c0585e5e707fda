"""Faults: a corrupted checkpoint, an unwritable artifact store, a property test over specs."""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from optuna.trial import TrialState

from tests.service_helpers import cli_env, run_cli, write_spec
from unlearn_opt.cli import main
from unlearn_opt.errors import UserError
from unlearn_opt.service.experiment import Experiment, load_experiment
from unlearn_opt.service.naming import ModelKey, model_attrs
from unlearn_opt.service.originals import CORRUPT_ATTR, READ_ATTEMPTS, CheckpointError, install
from unlearn_opt.service.storage import open_storage
from unlearn_opt.spec import load_spec, spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _one_trial_done(tmp_path: Path) -> tuple[dict[str, str], optuna.storages.RDBStorage, Experiment, optuna.Study]:
    """The tiny spec (2 trials per study) created, and one worker run for one trial (so its
    models are trained and stored): the CLI's environment, the storage, the experiment and its
    originals study."""
    write_spec(tmp_path, n_trials=2)
    env = cli_env()
    assert run_cli("create-study", "tiny.toml", cwd=tmp_path, env=env).returncode == 0
    first = run_cli("worker", "tiny", "--device", "cpu", "--max-trials", "1", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    storage = open_storage(f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}")
    exp = load_experiment(storage, "tiny")
    return env, storage, exp, optuna.load_study(study_name=exp.originals_study, storage=storage)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_damaged_checkpoint_is_detected_and_retrained(tmp_path: Path, damage: str) -> None:
    """A checkpoint cut short, or of the same size with a few bytes changed (a weight silently
    different, which would still load): its SHA-256 no longer matches; the trial that needed it
    fails with that message and the original is retrained once."""
    env, storage, exp, originals = _one_trial_done(tmp_path)
    trained = [t for t in originals.get_trials() if t.state == TrialState.COMPLETE]
    assert trained
    victim = trained[0]
    path = tmp_path / "storage" / "artifacts" / victim.user_attrs["artifact_id"]
    blob = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(blob[:100])
    else:  # flip the low bits of 8 bytes in the last quarter (weights, not the zip headers)
        at = len(blob) * 3 // 4
        path.write_bytes(blob[:at] + bytes(b ^ 1 for b in blob[at : at + 8]) + blob[at + 8 :])
    second = run_cli("worker", "tiny", "--device", "cpu", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert victim.user_attrs["artifact_id"] in originals.user_attrs[CORRUPT_ATTR]
    again = [
        t
        for t in originals.get_trials()
        if t.state == TrialState.COMPLETE
        and t.user_attrs["width"] == victim.user_attrs["width"]
        and t.user_attrs["kind"] == victim.user_attrs["kind"]
    ]
    assert len(again) == 2 and again[1].user_attrs["replaces"] == victim.number  # retrained once
    errors = []
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
        assert not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials)
        errors += [t.user_attrs.get("error", "") for t in trials if t.state == TrialState.FAIL]
    assert any("does not match its recorded SHA-256" in e for e in errors)


@pytest.mark.slow
@pytest.mark.slow
def test_a_checkpoint_the_store_cannot_read_stops_the_worker_and_marks_nothing(tmp_path: Path) -> None:
    """A read that fails for another reason than "not found" (here the checkpoint's path is a
    folder: IsADirectoryError; a permission error is the same case) says nothing about the
    checkpoint: the worker stops with one line, the trial is queued again, nothing is marked
    corrupt or retrained; once the store reads again, the next worker finishes the work."""
    env, storage, exp, originals = _one_trial_done(tmp_path)
    victim = next(t for t in originals.get_trials() if t.state == TrialState.COMPLETE and t.user_attrs["kind"] == "original")
    path = tmp_path / "storage" / "artifacts" / victim.user_attrs["artifact_id"]
    kept = path.with_name("kept")
    path.rename(kept)
    path.mkdir()
    models = len(originals.get_trials())
    second = run_cli("worker", "tiny", "--device", "cpu", cwd=tmp_path, env=env)
    assert second.returncode == 2, second.stderr
    line = second.stderr.strip().splitlines()[-1]  # the last line; before it, the worker's progress
    assert "cannot read checkpoint" in line and "IsADirectoryError" in line and "Traceback" not in line, line
    assert CORRUPT_ATTR not in originals.user_attrs and len(originals.get_trials()) == models  # no retraining queued
    path.rmdir()
    kept.rename(path)
    third = run_cli("worker", "tiny", "--device", "cpu", cwd=tmp_path, env=env)
    assert third.returncode == 0, third.stderr
    assert len(originals.get_trials()) == models and CORRUPT_ATTR not in originals.user_attrs
    for name in exp.studies.values():
        trials = optuna.load_study(study_name=name, storage=storage).get_trials()
        assert [t.state for t in trials].count(TrialState.COMPLETE) == 2


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
    st.none(),
    st.booleans(),
    st.integers(-5, 500),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.one_of(st.integers(-2, 3), st.floats(-1, 9), st.text(max_size=4)), max_size=4),
)
KEYS = st.sampled_from(
    [
        "name",
        "dataset",
        "architecture",
        "widths",
        "sparsities",
        "methods",
        "goals",
        "lambdas",
        "n_trials",
        "seed",
        "forget",
        "original",
        "sampler",
        "search",
        "data_dir",
        "typo",
    ]
)
TABLES = st.dictionaries(
    st.sampled_from(["size", "selection", "classes", "epochs", "lr", "name", "scrub", "x"]), VALUES, max_size=3
)
QUICKSTART = (Path(__file__).resolve().parent.parent / "studies" / "quickstart.toml").read_text()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(KEYS, st.one_of(VALUES, TABLES), max_size=8))
def test_no_spec_gives_a_traceback(raw: dict) -> None:
    """Whatever the document, loading it either works or raises one-line UserError."""
    base = {"name": "p", "dataset": "digits", "architecture": "cnn", "widths": [1.0]}
    try:
        spec_from_dict({**base, **raw})
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)


def _toml_value(value: object) -> str:
    if value is None:
        return '""'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return (
            "nan" if value != value else ("inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value))
        )
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return str(value)


@st.composite
def spec_files(draw: st.DrawFn) -> bytes:
    """A spec file: generated keys and values written as TOML, the quickstart with a few bytes
    cut, inserted or replaced, or bytes that are not text at all."""
    kind = draw(st.sampled_from(["generated", "mutated", "bytes"]))
    if kind == "generated":
        doc = {
            "name": "p",
            "dataset": "digits",
            "architecture": "cnn",
            "widths": [1.0],
            **draw(st.dictionaries(KEYS, VALUES, max_size=6)),
        }
        tables = draw(
            st.dictionaries(
                st.sampled_from(["forget", "original", "sampler", "unlearning", "evaluation", "search.scrub"]), TABLES, max_size=3
            )
        )
        lines = [f"{k} = {_toml_value(v)}" for k, v in doc.items()]
        for name, table in tables.items():
            lines += [f"[{name}]", *(f"{k} = {_toml_value(v)}" for k, v in table.items())]
        return "\n".join(lines).encode()
    if kind == "mutated":
        text = QUICKSTART.encode()
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            cut = draw(st.integers(0, 12))
            text = text[:at] + draw(st.binary(max_size=4)) + text[at + cut :]
        return text
    return draw(st.binary(max_size=200))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_files())
def test_no_spec_file_gives_a_traceback(tmp_path: Path, content: bytes) -> None:
    """load_spec on generated files: a Spec, or one line naming the file."""
    path = tmp_path / "generated.toml"
    path.write_bytes(content)
    try:
        load_spec(path)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"spec {path}: ")


@pytest.mark.slow  # create-study on each file: splits, databases
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(spec_files())
def test_create_study_on_generated_files_is_one_line_or_success(tmp_path: Path, content: bytes) -> None:
    """The whole command (in this process): exit 2 with one line and nothing written, or exit 0."""
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    spec = folder / "generated.toml"
    spec.write_bytes(content)
    db = folder / "db" / "x.db"
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(["create-study", str(spec), "--storage", f"sqlite:///{db}", "--artifacts", str(folder / "art")])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    if code != 0:
        assert code == 2 and len(err.getvalue().strip().splitlines()) == 1 and "Traceback" not in err.getvalue(), err.getvalue()
        assert not db.exists() and not (folder / "art").exists()


class _FlakyStore:
    """An artifact store whose first ``failures`` reads raise OSError (a network blip), then
    hand over ``blob``."""

    def __init__(self, failures: int, blob: bytes) -> None:
        self.failures, self.blob, self.reads = failures, blob, 0

    def open_reader(self, artifact_id: str) -> io.BytesIO:
        self.reads += 1
        if self.reads <= self.failures:
            raise OSError("connection reset by peer")
        return io.BytesIO(self.blob)

    def write(self, artifact_id: str, content_body: object) -> None:
        raise NotImplementedError

    def remove(self, artifact_id: str) -> None:
        raise NotImplementedError


@pytest.mark.parametrize("failures", [READ_ATTEMPTS - 1, READ_ATTEMPTS])
def test_a_checkpoint_read_is_tried_again_before_the_store_is_blamed(failures: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads that fail fewer than READ_ATTEMPTS times reach the checksum (here a mismatch, so no
    workspace is needed); READ_ATTEMPTS failures in a row are the store's refusal (``unreadable``),
    after waits of 1 s and 2 s."""
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    key = ModelKey("original", 1.0, 0.0, 0, 1)
    trial = optuna.trial.create_trial(
        state=TrialState.COMPLETE, value=0.0, user_attrs={**model_attrs(key), "artifact_id": "ckpt", "sha256": "0" * 64}
    )
    store = _FlakyStore(failures, b"weights")
    with pytest.raises(CheckpointError) as caught:
        install(None, trial, store)  # type: ignore[arg-type]
    assert store.reads == min(failures + 1, READ_ATTEMPTS) and waits == [1.0, 2.0][: store.reads - 1]
    if failures < READ_ATTEMPTS:
        assert not caught.value.unreadable and "does not match its recorded SHA-256" in str(caught.value)
    else:
        assert caught.value.unreadable and "connection reset by peer" in str(caught.value)
