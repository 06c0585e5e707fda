"""Replicates (``replicates = N``) and exact study names: the spec key, names that never collide
and parse back, an experiment stored before either existed still loads and runs, replicate
aggregation against brute force on a hand-made storage, and a tiny MNIST-1D experiment with two
replicates through create-study, worker and report."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import statistics
import sys
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from tests.service_helpers import check_exact, cli_env, run_cli
from unlearn_opt.analysis.replicates import aggregate_originals
from unlearn_opt.analysis.report import build_report, render_report, write_report, write_tables
from unlearn_opt.analysis.selection import select
from unlearn_opt.data import load_dataset
from unlearn_opt.engine.workspace import replicate_splits
from unlearn_opt.errors import UserError
from unlearn_opt.service import commands
from unlearn_opt.service import worker as worker_module
from unlearn_opt.service.experiment import create_experiment, load_experiment
from unlearn_opt.service.naming import StudyKey, fmt_number, parse_study_name, study_keys
from unlearn_opt.service.status import progress_tables
from unlearn_opt.service.storage import open_storage, resolve_artifacts
from unlearn_opt.spec import replicate_seed, spec_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

optuna.logging.set_verbosity(optuna.logging.WARNING)

DATA = Path(__file__).parent / "data"


def synthetic(**extra: Any) -> dict[str, Any]:
    return {
        "name": "reps",
        "dataset": "synthetic",
        "architecture": "mlp",
        "widths": [0.25, 1.0],
        "methods": ["finetune"],
        "goals": ["privacy"],
        "n_trials": 2,
        "synthetic": {"train_size": 300, "test_size": 200},
        "forget": {"size": 30},
        "original": {"epochs": 2, "batch_size": 64},
        **extra,
    }


# ------------------------------------------------------------------ the spec key


def test_replicates_key_default_range_and_digest() -> None:
    base = spec_from_dict(synthetic())
    assert base.replicates == 1 and "replicates" not in base.to_dict()  # earlier specs' digests unchanged
    assert spec_from_dict(synthetic(replicates=1)).digest() == base.digest()
    three = spec_from_dict(synthetic(replicates=3))
    assert three.digest() != base.digest() and spec_from_dict(three.to_dict()) == three
    for bad, why in ((0, "must be in [1, 10] (got 0)"), (11, "must be in [1, 10] (got 11)"), (1.5, "must be an integer")):
        with pytest.raises(UserError, match="^replicates: ") as err:
            spec_from_dict(synthetic(replicates=bad))
        assert why in str(err.value) and "\n" not in str(err.value)


def test_replicate_zero_is_the_spec_itself_and_others_draw_other_splits() -> None:
    spec = spec_from_dict(synthetic(replicates=3))
    assert spec.for_replicate(0) is spec
    seeds = [spec.for_replicate(r).seed for r in range(3)]
    assert seeds[0] == 0 and len(set(seeds)) == 3 and seeds[1] == replicate_seed(0, 1)
    assert not {seeds[1], seeds[2]} & {0, 1, 2}  # clear of the seed + k used inside a replicate
    splits = replicate_splits(spec)
    assert splits[0].digest() == replicate_splits(spec_from_dict(synthetic()))[0].digest()  # replicate 0 = today's
    assert len({s.digest() for s in splits}) == 3
    assert len({tuple(s.forget.tolist()) for s in splits}) == 3 and len({tuple(s.val.tolist()) for s in splits}) == 3
    with pytest.raises(ValueError):
        spec.for_replicate(3)


# ------------------------------------------------------------------ exact names


def test_names_are_exact_unique_and_parse_back() -> None:
    assert [fmt_number(v) for v in (0.25, 1.0, 2.0, 0.5, 1e-05, 0.9)] == ["0.25", "1", "2", "0.5", "1e-05", "0.9"]
    assert fmt_number(0.5000001) == "0.5000001" and fmt_number(0.5000002) == "0.5000002"
    spec = spec_from_dict(synthetic(widths=[0.5000001, 0.5000002, 1.0], sparsities=[0.0, 0.9000001, 0.9000002], replicates=2))
    keys = study_keys(spec)
    names = [k.name(sparse=spec.sparse) for k in keys]
    assert len(set(names)) == len(keys) == 3 * 3 * 2
    assert "reps/w1/s0/finetune/privacy" in names and "reps/r1/w0.5000002/s0.9000001/finetune/privacy" in names
    assert all(parse_study_name(n) == k for n, k in zip(names, keys, strict=True))
    dense = StudyKey("a.b-c_d", 1 / 3, 0.0, "scrub", "bias_removal")
    assert (
        parse_study_name(dense.name(sparse=False)) == dense
        and dense.name(sparse=False) == "a.b-c_d/w0.3333333333333333/scrub/bias_removal"
    )
    for bad in ("x/_originals", "x/w1/scrub", "x/r0/w1/scrub/privacy", "x/wabc/scrub/privacy"):
        with pytest.raises(ValueError, match="not a study name"):
            parse_study_name(bad)


def test_near_equal_widths_get_their_own_studies(tmp_path: Path) -> None:
    """Widths 0.5000001 and 0.5000002 shared one study under 6-significant-digit names."""
    spec = spec_from_dict(synthetic(widths=[0.5000001, 0.5000002]))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = open_storage(url, create=True)
    exp, _ = create_experiment(
        spec, storage=storage, splits=replicate_splits(spec), artifacts=resolve_artifacts(str(tmp_path / "art"), url)
    )
    stored = {s.study_name for s in storage.get_all_studies()}
    assert stored == {"reps/w0.5000001/finetune/privacy", "reps/w0.5000002/finetune/privacy", "reps/_originals"}
    for key, name in load_experiment(storage, "reps").studies.items():
        study = optuna.load_study(study_name=name, storage=storage)
        assert study.user_attrs["width"] == key.width and len(study.get_trials()) == 2


# ------------------------------------------------------------------ an experiment from before


LEGACY_SPEC = """
name = "legacy"
dataset = "synthetic"
architecture = "mlp"
widths = [0.3333333, 1.0]
methods = ["finetune"]
goals = ["privacy"]
n_trials = 2
seed = 0

[synthetic]
train_size = 300
test_size = 200

[forget]
size = 30

[original]
epochs = 3
batch_size = 64

[search.finetune]
epochs = { low = 1, high = 2 }
"""


@pytest.mark.slow
def test_an_experiment_created_before_replicates_loads_and_runs(tmp_path: Path) -> None:
    """tests/data/legacy-experiment.sql: ``create-study`` of LEGACY_SPEC by the code before
    replicates and exact names (commit 429334f), dumped with sqlite3's iterdump. Its width
    0.3333333 was named w0.333333; that study keeps its name, creating the same spec again finds
    the same experiment (hash, splits, names), and a worker completes it."""
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((DATA / "legacy-experiment.sql").read_text())
    url = f"sqlite:///{db}"
    storage = open_storage(url)
    exp = load_experiment(storage, "legacy")
    assert sorted(exp.studies.values()) == ["legacy/w0.333333/finetune/privacy", "legacy/w1/finetune/privacy"]
    assert exp.replicates == 1 and exp.models_needed() == [
        ("original", 0.3333333, 0.0, 0, 1),
        ("original", 1.0, 0.0, 0, 1),
        ("retrain", 0.3333333, 0.0, 0, 1),
        ("retrain", 1.0, 0.0, 0, 1),
    ]
    spec = spec_from_dict(tomllib.loads(LEGACY_SPEC))
    artifacts = resolve_artifacts(str(tmp_path / "artifacts"), url)
    # the dump holds the database only: its splits file goes into this test's artifact store,
    # under the id the experiment recorded (a worker checks that the store holds it)
    splits_id = optuna.load_study(study_name=exp.originals_study, storage=storage).user_attrs["splits_artifact_id"]
    artifacts.open().write(splits_id, io.BytesIO(json.dumps(replicate_splits(spec)[0].to_dict()).encode()))
    again, created = create_experiment(spec, storage=storage, splits=replicate_splits(spec), artifacts=artifacts)
    assert not created and (again.spec_hash, again.splits_digest, again.studies) == (
        exp.spec_hash,
        exp.splits_digest,
        exp.studies,
    )
    assert len(storage.get_all_studies()) == 3  # nothing added
    from unlearn_opt.service.worker import Worker

    Worker(storage=storage, experiment="legacy", artifacts=artifacts, device="cpu", poll_seconds=0.1).run()
    check_exact(url, "legacy", n_trials=2)


# ------------------------------------------------------------------ aggregation, hand-made storage


METRICS = ("forget_error", "forget_test_error", "privacy_gap", "test_error", "val_error", "mia_auc")


def _trial(values: dict[str, float]) -> optuna.trial.FrozenTrial:
    from optuna.distributions import FloatDistribution

    return create_trial(
        state=TrialState.COMPLETE,
        values=[values["privacy_gap"], values["val_error"]],
        params={"lr": values["lr"]},
        distributions={"lr": FloatDistribution(1e-4, 1e-1, log=True)},
        user_attrs={k: values[k] for k in METRICS},
    )


def _record(width: float, train_error: float, gap: float) -> dict[str, Any]:
    metrics = {"forget_error": train_error, "forget_test_error": train_error + gap, "privacy_gap": gap, "test_error": 0.2}
    return {
        "width": width,
        "sparsity": 0.0,
        "param_count": 10,
        "train_error": train_error,
        "test_error": 0.2,
        "overparameterized": train_error <= 0.005,
        "train_seconds": 1.0,
        "metrics": metrics,
    }


def test_aggregation_matches_brute_force_on_a_hand_made_storage(tmp_path: Path) -> None:
    """Three replicates' studies filled with hand-made trials (one replicate's study left
    empty); each (width, λ) row of the aggregate is the mean and sample std, computed here by
    hand, of the J_λ-selected trials' metrics over the replicates that have one. Claim (c) holds
    in replicate 0 only: overall "cannot tell", with both verdicts listed."""
    spec = spec_from_dict(synthetic(replicates=3, lambdas=[0.2, 0.6]))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = open_storage(url, create=True)
    exp, _ = create_experiment(
        spec, storage=storage, splits=replicate_splits(spec), artifacts=resolve_artifacts(str(tmp_path / "art"), url)
    )
    made: dict[tuple[float, int], list[dict[str, float]]] = {}
    for i, (key, name) in enumerate(exp.studies.items()):
        if (key.width, key.replicate) == (1.0, 2):
            continue  # no COMPLETE trial: n = 2 at width 1
        study = optuna.load_study(study_name=name, storage=storage)
        for j in range(4):
            x = (i * 7 + j * 3) % 11 / 11
            v = {
                "forget_error": x / 3,
                "forget_test_error": 0.1 + x / 5,
                "privacy_gap": abs(0.1 + x / 5 - x / 3),
                "test_error": 0.2 + ((i + j) % 5) / 50,
                "val_error": 0.3 - x / 4 + j / 100,
                "mia_auc": 0.5 + x / 10,
                "lr": 0.001 * (j + 1),
            }
            study.add_trial(_trial(v))
            made.setdefault((key.width, key.replicate), []).append(v)
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    for kind, width, sparsity, replicate, _ in exp.models_needed():
        train_error = 0.1 if width == 0.25 else 0.0  # width 0.25 under-parameterized
        gap = 0.02 if replicate == 0 else 0.2  # (c) holds in replicate 0 only
        originals.add_trial(
            create_trial(
                state=TrialState.COMPLETE,
                value=0.2,
                user_attrs={
                    "kind": kind,
                    "width": width,
                    "sparsity": sparsity,
                    "replicate": replicate,
                    "record": _record(width, train_error, gap),
                },
            )
        )

    data = build_report(storage, "reps")
    assert data.aggregate is not None and data.replicates is not None
    assert {(r["width"], r["lambda"]) for r in data.aggregate} == {(w, lam) for w in (0.25, 1.0) for lam in (0.2, 0.6)}
    for row in data.aggregate:
        chosen = []
        for r in range(3):
            trials = made.get((row["width"], r))
            if trials:  # brute force: J_λ = λ·g + (1 − λ)·E_V, lowest wins (first on ties)
                chosen.append(min(trials, key=lambda v: row["lambda"] * v["privacy_gap"] + (1 - row["lambda"]) * v["val_error"]))
        assert row["n"] == len(chosen) == (3 if row["width"] == 0.25 else 2)
        for m in METRICS:
            values = [v[m] for v in chosen]
            assert row[f"{m}_mean"] == pytest.approx(sum(values) / len(values))
            mean = sum(values) / len(values)
            assert row[f"{m}_std"] == pytest.approx((sum((x - mean) ** 2 for x in values) / (len(values) - 1)) ** 0.5)
    # the same selection as select() on the study, replicate by replicate
    study0 = optuna.load_study(study_name=exp.studies[StudyKey("reps", 0.25, 0.0, "finetune", "privacy", 1)], storage=storage)
    picked = select(study0.get_trials(), goal="privacy", lam=0.2)
    assert (
        picked is not None
        and [r for r in data.selection if r["replicate"] == 1 and r["width"] == 0.25 and r["lambda"] == 0.2][0]["trial_number"]
        == picked.number
    )

    gaps = [0.02, 0.2, 0.2]  # the originals' privacy gaps of replicates 0, 1, 2
    for row in aggregate_originals(data.results.replicate_originals):
        assert row["n"] == 3 and row["train_error_mean"] == pytest.approx(0.1 if row["width"] == 0.25 else 0.0)
        assert row["privacy_gap_mean"] == pytest.approx(statistics.fmean(gaps))
        assert row["privacy_gap_std"] == pytest.approx(statistics.stdev(gaps)) and row["train_error_std"] == pytest.approx(0.0)

    c_row = next(r for r in data.replicates.table() if r["claim"] == "(c)")
    assert (c_row["r0"], c_row["r1"], c_row["r2"], c_row["overall"]) == ("holds", "does not hold", "does not hold", "cannot tell")
    overall_c = next(f for f in data.findings if f.claim == "c")
    assert overall_c.holds is None and overall_c.summary.startswith("holds in 1 of 3 replicates")
    # what stands behind each overall verdict is the sum over the replicates, not replicate 0's alone
    for i, overall in enumerate(data.findings):
        per = [found[i] for found in data.replicates.per_replicate.values()]
        assert overall.replicates == 3 and overall.rule == per[0].rule != ""
        assert (overall.points, overall.trials) == (sum(f.points for f in per), sum(f.trials for f in per))
    overall_a = next(f for f in data.findings if f.claim == "a")
    assert overall_a.points > 0 and overall_a.trials > 0 and "3 replicate(s)" in overall_a.evidence()
    assert set(overall_a.by_lambda) == {0.2, 0.6}


def test_one_width_several_depths_are_aggregated_and_judged_along_depth(tmp_path: Path) -> None:
    """widths = [1], depths = [1, 2], two replicates: the replicate means, the originals' means,
    the findings and the CSVs are per depth (depth 1 under-parameterized, depth 2 over), not
    depth 1 alone."""
    spec = spec_from_dict(synthetic(widths=[1.0], depths=[1, 2], replicates=2, lambdas=[0.2]))
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    storage = open_storage(url, create=True)
    exp, _ = create_experiment(
        spec, storage=storage, splits=replicate_splits(spec), artifacts=resolve_artifacts(str(tmp_path / "art"), url)
    )
    test_error = {}
    for key, name in exp.studies.items():
        study = optuna.load_study(study_name=name, storage=storage)
        t = 0.1 if key.depth == 2 else 0.2 + key.replicate / 10  # one trial: it is the selected point
        test_error[key.depth, key.replicate] = t
        v = {"forget_error": 0.0, "forget_test_error": 0.1, "privacy_gap": 0.1, "test_error": t, "val_error": t}
        study.add_trial(_trial({**v, "mia_auc": 0.5, "lr": 0.01}))
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    for kind, width, sparsity, replicate, depth in exp.models_needed():
        record = _record(width, 0.1 if depth == 1 else 0.0, 0.1 if depth == 1 else 0.03)
        attrs = {"kind": kind, "width": width, "sparsity": sparsity, "replicate": replicate, "depth": depth, "record": record}
        originals.add_trial(create_trial(state=TrialState.COMPLETE, value=0.2, user_attrs=attrs))

    data = build_report(storage, "reps")
    assert data.results.axis == "depth" and data.aggregate is not None and data.replicates is not None
    assert sorted((r["depth"], r["n"]) for r in data.aggregate) == [(1, 2), (2, 2)] and "width" not in data.aggregate[0]
    by_depth = {r["depth"]: r for r in data.aggregate}
    assert by_depth[1]["test_error_mean"] == pytest.approx((0.2 + 0.3) / 2) and by_depth[2]["test_error_mean"] == pytest.approx(
        0.1
    )
    rows = aggregate_originals(data.results.axis_originals(), axis="depth")
    assert sorted((r["kind"], r["depth"], r["n"], r["train_error_mean"]) for r in rows) == [
        ("original", 1, 2, 0.1),
        ("original", 2, 2, 0.0),
        ("retrain", 1, 2, 0.1),
        ("retrain", 2, 2, 0.0),
    ]
    a, _, c, *_ = data.findings
    # J_T at λ 0.2 = 0.2·0.1 + 0.8·E_T: depth 2 (0.1) below depth 1 (0.2, 0.3) in both replicates
    assert a.holds is True and a.statement.startswith("Over-parameterized depths")
    assert c.holds is False and all("depth" in t and "width" not in t for t in c.table)  # depth 1's gap 0.1 > 0.05
    (tmp_path / "out").mkdir()
    write_tables(data, tmp_path / "out")
    assert (tmp_path / "out" / "replicates.csv").read_text().startswith("depth,sparsity,method,goal,lambda,n,")
    assert (tmp_path / "out" / "replicates-originals.csv").read_text().startswith("kind,depth,")
    assert "A depth is over-parameterized" in (tmp_path / "out" / "findings.md").read_text()
    page = render_report(data).html
    assert "Here: depth 2." in page and "along depth" in page


# ------------------------------------------------------------------ end to end, MNIST-1D


MNIST1D_SPEC = """
name = "m1d-reps"
dataset = "mnist1d"
architecture = "cnn1d"
widths = [0.25, 1.0]
methods = ["finetune", "retrain"]
goals = ["privacy"]
lambdas = [0.5]
n_trials = 2
replicates = 2

[mnist1d]
num_samples = 500
seed = 7

[forget]
size = 30

[original]
epochs = 2
batch_size = 100
optimizer = "adam"
lr = 0.01
weight_decay = 0.0

[search.finetune]
epochs = { low = 1, high = 1 }
"""


@pytest.mark.slow
def test_mnist1d_with_two_replicates_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """create-study (the command), a worker, status and report (in this process: the machine's
    start-up time is what makes such a test slow) of a tiny MNIST-1D spec with replicates = 2."""
    (tmp_path / "m.toml").write_text(MNIST1D_SPEC)
    env = cli_env(COLUMNS="200")
    created = run_cli("create-study", "m.toml", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    assert "4 studies (2 replicates" in created.stdout and "8 original/retrain models" in created.stdout
    url = f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}"
    loads: list[str] = []

    def counting_load(name: str, **kw: Any) -> Any:
        loads.append(name)
        return load_dataset(name, **kw)

    monkeypatch.setattr(worker_module, "load_dataset", counting_load)
    assert commands.work("m1d-reps", storage=url, artifacts=None, device="cpu") == 8  # in-process: no start-up
    assert loads == ["mnist1d"]  # one worker, two replicates: the data generated once
    check_exact(url, "m1d-reps", n_trials=2)
    storage = open_storage(url)
    exp = load_experiment(storage, "m1d-reps")
    assert set(exp.studies.values()) == {
        "m1d-reps/w0.25/finetune/privacy",  # replicate 0: the names of a spec without replicates
        "m1d-reps/w1/finetune/privacy",
        "m1d-reps/r1/w0.25/finetune/privacy",
        "m1d-reps/r1/w1/finetune/privacy",
    }
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    splits = originals.user_attrs["replicate_splits"]
    assert len(splits) == 1 and splits[0]["digest"] != originals.user_attrs["splits_digest"]
    records = {
        (t.user_attrs["width"], t.user_attrs.get("replicate", 0)): t.user_attrs["record"]["metrics"]["forget_error"]
        for t in originals.get_trials()
        if t.state == TrialState.COMPLETE and t.user_attrs["kind"] == "original"
    }
    assert len(records) == 4  # trained once per (replicate, width)

    progress, _ = commands.status("m1d-reps", storage=url)
    assert progress.to_dict()["replicates"] == [
        {"replicate": 0, "complete": 4, "total": 4},
        {"replicate": 1, "complete": 4, "total": 4},
    ]
    studies_table, models_table = progress_tables(progress)
    assert "r0 4/4, r1 4/4" in str(studies_table.title) and models_table.columns[0].header == "rep"
    write_report(storage_url=url, experiment="m1d-reps", out_dir=tmp_path / "rep")
    with (tmp_path / "rep" / "replicates.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["width"], r["method"], r["lambda"], r["n"], r["replicates"]) for r in rows] == [
        ("0.25", "finetune", "0.5", "2", "0 1"),
        ("1.0", "finetune", "0.5", "2", "0 1"),
    ]
    assert all(float(r["test_error_std"]) >= 0 for r in rows)
    assert (tmp_path / "rep" / "replicates-originals.csv").read_text().count("\n") == 1 + 4  # 2 widths × (original, retrain)
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "Replicates (2)" in page and "holds in" in page
    with (tmp_path / "rep" / "selection.csv").open() as f:
        assert sorted(r["replicate"] for r in csv.DictReader(f)) == ["0", "0", "1", "1"]


def test_create_study_lists_many_replicated_studies_one_row_per_method() -> None:
    """More than 24 studies with replicates: one row per method, its widths once, the replicates
    named in the total line (the row's pattern is plain text, not console markup)."""
    from rich.console import Console

    from unlearn_opt.cli.service import print_created
    from unlearn_opt.service.commands import Created
    from unlearn_opt.service.experiment import experiment_from_spec

    spec = spec_from_dict(synthetic(widths=[0.25, 0.5, 1.0, 2.0], methods=["scrub", "neggrad", "finetune"], replicates=3))
    made = Created(
        experiment_from_spec(spec, splits_digest="0" * 64, replicate_digests=["1" * 64, "2" * 64]), True, "sqlite:///x.db"
    )
    console = Console(record=True, width=200)
    print_created(made, console)
    text = console.export_text()
    assert [line.count("0.25 0.5 1 2") for line in text.splitlines() if "reps(/rR)/w*/" in line] == [1, 1, 1]
    assert "36 studies (3 replicates, R = 1..2 under /rR), 24 original/retrain models" in text


def test_each_replicates_threshold_is_marked_with_its_count() -> None:
    """The replicate figures mark every replicate's own interpolation threshold, not replicate
    0's alone: thresholds 1, 2, 1 give two dotted lines, named "in 2 of 3" and "in 1 of 3"."""
    from unlearn_opt.analysis.figures import threshold_marks
    from unlearn_opt.analysis.replicates import originals_errorbars

    assert threshold_marks(None) == [] and threshold_marks(2.0) == [(2.0, "interpolation threshold (width 2)")]
    assert threshold_marks([1.0, 1.0]) == [(1.0, "interpolation threshold (width 1 in every replicate)")]
    assert threshold_marks([1.0, None]) == [(1.0, "interpolation threshold (width 1 in 1 of 2 replicates)")]
    assert threshold_marks([None, None]) == []
    rows = [
        {"kind": "original", "width": w, "sparsity": 0.0, "n": 3, "train_error_mean": e, "train_error_std": 0.01}
        | {"test_error_mean": e + 0.05, "test_error_std": 0.01}
        for w, e in ((0.5, 0.1), (1.0, 0.003), (2.0, 0.0))
    ]
    fig = originals_errorbars(rows, threshold=[1.0, 2.0, 1.0])
    assert sorted(shape.x0 for shape in fig.layout.shapes) == [1.0, 2.0]
    names = {t.name for t in fig.data}
    assert {
        "interpolation threshold (width 1 in 2 of 3 replicates)",
        "interpolation threshold (width 2 in 1 of 3 replicates)",
    } <= names
