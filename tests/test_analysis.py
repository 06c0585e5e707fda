"""Analysis: λ selection against brute force, pareto.csv = best_trials, the report, regions."""

from __future__ import annotations

import csv
import itertools
import os
import re
import shutil
from fractions import Fraction
from pathlib import Path

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial

from tests.service_helpers import cli_env, run_cli, start_worker, write_spec
from unlearn_opt.analysis.selection import j_lambda, select
from unlearn_opt.service import optuna_adapter
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


def hand_made(values: list[tuple[float, float] | None]) -> list:
    """COMPLETE trials with the given values (None: a FAIL trial), numbered in order."""
    study = optuna.create_study(directions=["minimize", "minimize"])
    dist = {"lr": FloatDistribution(1e-4, 1.0)}
    for v in values:
        if v is None:
            study.add_trial(create_trial(state=TrialState.FAIL, params={"lr": 0.1}, distributions=dist))
        else:
            study.add_trial(create_trial(values=list(v), params={"lr": 0.1}, distributions=dist))
    return study.get_trials()


@pytest.mark.parametrize("goal", ["privacy", "bias_removal"])
def test_selection_matches_brute_force(goal: str) -> None:
    grid = [0.0, 0.1, 0.25, 0.5, 0.9]
    values = [None, *itertools.islice(itertools.product(grid, grid), 0, 25, 2), None, (0.1, 0.1), (0.1, 0.1)]
    trials = hand_made(values)
    for lam in (0.0, 0.2, 0.4, 0.6, 1.0):
        chosen = select(trials, goal=goal, lam=lam)
        best, best_number = float("inf"), None
        for t in trials:  # brute force: lowest J, ties to the lower number
            if t.state != TrialState.COMPLETE:
                continue
            g = t.values[0] if goal == "privacy" else 1 - t.values[0]
            j = lam * g + (1 - lam) * t.values[1]
            if j < best - 1e-12:
                best, best_number = j, t.number
        assert chosen.number == best_number
        assert j_lambda(goal, lam, chosen) == pytest.approx(best)


def test_selection_ties_fail_and_empty() -> None:
    trials = hand_made([None, (0.3, 0.2), (0.2, 0.3), (0.3, 0.2)])
    assert select(trials, goal="privacy", lam=0.5).number == 1  # J = 0.25 for 1, 2 and 3: the lowest number
    assert select(hand_made([None, None]), goal="privacy", lam=0.4) is None
    assert select([], goal="bias_removal", lam=0.4) is None
    # bias removal maximizes E_F: g = 1 − E_F
    assert select(hand_made([(0.9, 0.3), (0.1, 0.1)]), goal="bias_removal", lam=0.6).number == 0


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny experiment run to the end on the SQLite default by one worker."""
    folder = tmp_path_factory.mktemp("exp")
    write_spec(folder, n_trials=4)
    env = cli_env()
    assert run_cli("create-study", "tiny.toml", cwd=folder, env=env).returncode == 0
    worker = start_worker("tiny", cwd=folder, env=env)
    out, _ = worker.communicate(timeout=300)
    assert worker.returncode == 0, out
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_report_files(finished: Path) -> None:
    out = run_cli("report", "tiny", "--out", "rep", cwd=finished)
    assert out.returncode == 0, out.stderr
    rep = finished / "rep"
    sel = read_csv(rep / "selection.csv")
    assert list(sel[0])[:7] == ["study", "width", "sparsity", "method", "goal", "lambda", "trial_number"]
    assert len(sel) == 4 * 3  # 4 studies × 3 λ
    storage = open_storage(f"sqlite:///{finished / 'storage' / 'unlearn_opt.db'}")
    exp = load_experiment(storage, "tiny")
    pareto = read_csv(rep / "pareto.csv")
    for name in exp.studies.values():
        study = optuna.load_study(study_name=name, storage=storage)
        assert sorted(int(r["trial_number"]) for r in pareto if r["study"] == name) == sorted(t.number for t in study.best_trials)
        for row in (r for r in sel if r["study"] == name):
            chosen = select(study.get_trials(), goal="privacy", lam=float(row["lambda"]))
            assert int(row["trial_number"]) == chosen.number
            assert float(row["privacy_gap"]) == pytest.approx(chosen.user_attrs["privacy_gap"])
        assert all(r["original_test_error"] != "" and r["retrain_forget_error"] != "" for r in sel)
    page = (rep / "report.html").read_text()
    for anchor in (
        "missing",
        "originals",
        "pareto-fronts",
        "selected-points",
        "hypervolume",
        "selection-table",
        "decision-regions",
    ):
        assert f'id="{anchor}"' in page
    # self-contained: no script or stylesheet fetched from the network
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"http", page)
    assert "Plotly.newPlot" in page and "plotly.js" in page.lower()
    # the figures and a note are on the studies for optuna-dashboard
    study = optuna.load_study(study_name="tiny/w1/scrub/privacy", storage=storage)
    system_attrs = storage.get_study_system_attrs(optuna_adapter.study_id(study))
    assert sum(k.startswith("dashboard:plot_data:") for k in system_attrs) >= 2
    assert "tiny/w1/scrub/privacy" in optuna_dashboard_note(study)
    # the originals study's note says what it is and lists its models with their exact errors
    originals = optuna.load_study(study_name="tiny/_originals", storage=storage)
    note = optuna_dashboard_note(originals)
    assert "Not an optimisation" in note and "| retrain | 1 | 0 |" in note
    for t in originals.get_trials(states=[TrialState.COMPLETE]):  # errors: the float64 of the exact fraction
        metrics = t.user_attrs["record"]["metrics"]
        errors = [t.values[0], t.user_attrs["train_error"], *(v for k, v in metrics.items() if k.endswith("_error"))]
        assert all(float(Fraction(v).limit_denominator(10_000)) == v for v in errors), errors  # not 0.18000000715


def optuna_dashboard_note(study: optuna.Study) -> str:
    from optuna_dashboard import get_note

    return get_note(study)


@pytest.mark.slow
def test_report_on_a_partly_finished_experiment(tmp_path: Path) -> None:
    write_spec(tmp_path, n_trials=2)
    assert run_cli("create-study", "tiny.toml", cwd=tmp_path).returncode == 0
    out = run_cli("report", "tiny", "--out", "rep", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "0/2 trials COMPLETE" in page and "not trained yet" in page
    assert run_cli("report", "nope", cwd=tmp_path).returncode == 2


@pytest.mark.slow
def test_decision_regions_on_selected_trials(finished: Path) -> None:
    out = run_cli("decision-regions", "tiny", "--lambda", "0.4", "--delta", "0.5", "--device", "cpu", cwd=finished)
    assert out.returncode == 0, out.stderr
    storage = open_storage(f"sqlite:///{finished / 'storage' / 'unlearn_opt.db'}")
    study = optuna.load_study(study_name="tiny/w1/l1_sparse/privacy", storage=storage)
    (row,) = study.user_attrs["decision_regions"]
    assert row["lambda"] == 0.4 and row["delta"] == 0.5
    assert 0.0 <= row["c_prox"] <= 1.0 and 0.0 <= row["s_far"] <= 1.0
    assert len(row["plane"]["original"]) == row["plane"]["steps"]


@pytest.mark.slow
def test_report_after_regions_has_findings_regions_and_images(finished: Path) -> None:
    """Runs after test_decision_regions_on_selected_trials (module order): the stored scores reach
    regions.csv, findings.md names every claim, and --images writes PNGs (Chromium needed)."""
    images = shutil.which("chromium") is not None
    if not images and os.environ.get("CI") == "true":
        pytest.fail("chromium must be installed under CI (.ci/run installs it)")
    args = ["report", "tiny", "--out", "rep2", "--no-dashboard", *(["--images"] if images else [])]
    out = run_cli(*args, cwd=finished)
    assert out.returncode == 0, out.stderr
    rep = finished / "rep2"
    regions = read_csv(rep / "regions.csv")
    assert {r["study"] for r in regions} == {
        "tiny/w0.25/scrub/privacy",
        "tiny/w0.25/l1_sparse/privacy",
        "tiny/w1/scrub/privacy",
        "tiny/w1/l1_sparse/privacy",
    }
    assert all(r["lambda"] == "0.4" and r["delta"] == "0.5" and "plane" not in r for r in regions)
    text = (rep / "findings.md").read_text()
    assert all(f"| ({c}) |" in text for c in "abcde")
    page = (rep / "report.html").read_text()
    assert 'id="findings"' in page and "change near F" in page
    if images:
        pngs = sorted(p.name for p in (rep / "figures").glob("*.png"))
        assert {"originals.png", "regions.png", "selected-privacy.png", "pareto-scrub-privacy.png"} <= set(pngs)
        assert all((rep / "figures" / p).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


@pytest.mark.slow
def test_report_reads_in_a_browser(finished: Path) -> None:
    """The report of the finished experiment in headless Chromium: every figure drawn with its
    title, axis titles and traces; the findings' rules and support on the page; the selection
    table filters and sorts."""
    from selenium.webdriver.common.by import By

    from tests.browser import figures, headless, require_chromium, wait_for_plots

    chromium, driver = require_chromium()
    out = run_cli("report", "tiny", "--out", "rep3", "--no-dashboard", cwd=finished)
    assert out.returncode == 0, out.stderr
    with headless(chromium, driver, width=1280) as browser:
        browser.get((finished / "rep3" / "report.html").as_uri())
        n = wait_for_plots(browser)
        assert n >= 5  # originals, 2 Pareto fronts, selected points, hypervolume (+ regions)
        for fig in figures(browser):
            assert fig["title"], fig
            assert fig["xtitles"] and (fig["ytitles"] or fig["panels"]), fig["title"]  # y named by a panel title
            assert fig["traces"] > 0 and fig["drawn"] > 0, fig["title"]
            for ax in fig["axes"]:
                if ax["title"] == "width":  # the experiment's widths, labelled as such
                    assert [lab[4] for lab in ax["labels"]] == ["0.25", "1"], fig["title"]
        titles = [f["title"] for f in figures(browser)]
        assert any(t.startswith("hypervolume") for t in titles) and any(t.startswith("scrub — privacy") for t in titles)
        body = browser.find_element(By.TAG_NAME, "body").text
        assert "findings.py" not in body and "Holds if" in body and "COMPLETE trials" in body
        assert "same at every λ" in body or "flips across λ" in body
        box = browser.find_element(By.ID, "selection")
        box.find_element(By.CSS_SELECTOR, "input.filter").send_keys("scrub")
        assert box.find_element(By.CSS_SELECTOR, ".count").text == "6 of 12 rows"
        column = [th.text for th in box.find_elements(By.TAG_NAME, "th")].index("j_lambda")
        header = box.find_elements(By.TAG_NAME, "th")[column]
        header.click()
        assert header.get_attribute("data-dir") == "asc"
        shown = [r for r in box.find_elements(By.CSS_SELECTOR, "tbody tr") if r.is_displayed()]
        values = [float(r.find_elements(By.TAG_NAME, "td")[column].text) for r in shown]
        assert len(values) == 6 and values == sorted(values)


@pytest.mark.slow
def test_decision_regions_fine_tuned_to_flip_f_changes_near_f() -> None:
    """A model fine-tuned to flip F's labels changes its predictions near F (C_prox > 0)."""
    import torch
    import torch.nn.functional as F

    from unlearn_opt.engine.runtime import clone_model
    from unlearn_opt.engine.workspace import Workspace
    from unlearn_opt.spec import spec_from_dict

    spec = spec_from_dict(
        {
            "name": "flip",
            "dataset": "digits",
            "architecture": "cnn",
            "widths": [1.0],
            "forget": {"size": 20},
            "original": {"epochs": 15, "batch_size": 64},
        }
    )
    ws = Workspace(spec, device=torch.device("cpu"))
    original, _ = ws.original(1.0)
    same = ws.regions(original, clone_model(original), delta=0.5)
    assert same.c_prox == 0.0 and same.s_far == 1.0
    flipped = clone_model(original)
    x = ws.data.normalize(ws.data.x_train[ws.sets.forget])
    y = (ws.sets.forget_labels + 1) % 10
    opt = torch.optim.SGD(flipped.parameters(), lr=0.05)
    flipped.train()
    for _ in range(100):
        opt.zero_grad()
        F.cross_entropy(flipped(x), y).backward()
        opt.step()
    scores = ws.regions(original, flipped, delta=0.5)
    assert scores.c_prox > 0.5
    assert scores.s_far > scores.c_prox - 0.5
