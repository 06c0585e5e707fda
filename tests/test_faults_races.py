"""Races and partial writes: create-study run several times at the same moment (real processes,
SQLite and PostgreSQL), a worker started on the wrong artifact store, a checkpoint upload killed
half-way."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.service_helpers import TINY_SPEC, cli_env, race_cli, sqlite_url
from unlearn_opt.service.experiment import experiment_names, load_experiment
from unlearn_opt.service.storage import open_storage

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
