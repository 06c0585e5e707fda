"""`unlearn-opt dashboard`: its API serves our studies and saved figures, and a real headless
browser (Debian's chromium via selenium) renders a study's name and our figure."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import headless, require_chromium
from tests.service_helpers import cli_env, run_cli, start_worker, write_spec

pytestmark = pytest.mark.slow  # a dashboard server, a worker, a browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("dash")
    write_spec(folder, n_trials=2)
    env = cli_env()
    assert run_cli("create-study", "tiny.toml", cwd=folder, env=env).returncode == 0
    worker = start_worker("tiny", cwd=folder, env=env)
    assert worker.wait(timeout=300) == 0
    assert run_cli("report", "tiny", "--out", "rep", cwd=folder, env=env).returncode == 0
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "unlearn_opt", "dashboard", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                get(f"{base}/api/studies")
                break
            except OSError:
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_dashboard_api_serves_studies_and_figures(dashboard: str) -> None:
    summaries = get(f"{dashboard}/api/studies")["study_summaries"]
    names = {s["study_name"]: s["study_id"] for s in summaries}
    assert {"tiny/w1/scrub/privacy", "tiny/_originals"} <= set(names)
    detail = get(f"{dashboard}/api/studies/{names['tiny/w1/scrub/privacy']}?after=0")
    assert {f"unlearn-opt-{i}" for i in range(4)} <= {g["id"] for g in detail["plotly_graph_objects"]}
    assert "tiny/w1/scrub/privacy" in detail["note"]["body"]
    assert detail["objective_names"] == ["privacy_gap", "val_error"]
    originals = get(f"{dashboard}/api/studies/{names['tiny/_originals']}?after=0")
    assert any(a["key"] == "record" for t in originals["trials"] for a in t["user_attrs"])
    assert originals["trials"][0]["artifacts"]  # checkpoints browsable
    assert "Not an optimisation" in originals["note"]["body"]  # what the study is, on its page
    assert originals["objective_names"] == ["test_error (recorded, not optimised)"]


def test_dashboard_binds_localhost_by_default() -> None:
    out = run_cli("dashboard", "--help", cwd=Path.cwd())
    assert "default: 127.0.0.1" in out.stdout


def test_headless_browser_renders_study_and_figure(dashboard: str) -> None:
    from selenium.webdriver.common.by import By

    with headless(*require_chromium()) as browser:
        browser.get(f"{dashboard}/dashboard")
        deadline = time.monotonic() + 30
        while "tiny/w1/scrub/privacy" not in browser.page_source and time.monotonic() < deadline:
            time.sleep(0.3)
        assert "tiny/w1/scrub/privacy" in browser.page_source
        summaries = get(f"{dashboard}/api/studies")["study_summaries"]
        study_id = next(s["study_id"] for s in summaries if s["study_name"] == "tiny/w1/scrub/privacy")
        browser.get(f"{dashboard}/dashboard/studies/{study_id}")
        while time.monotonic() < deadline + 30:
            if browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot") and "width 0.25" in browser.page_source:
                break
            time.sleep(0.3)
        assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
        assert "width 0.25" in browser.page_source  # the legend of our Pareto-front figure
