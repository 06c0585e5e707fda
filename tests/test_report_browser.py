"""The report's figures as a browser lays them out: width axes whose labels do not overlap at
close widths (0.02, 0.03, 0.05) and whose interpolation-threshold line sits at its width. (The
full report of a real experiment is rendered in tests/test_analysis.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import figures, headless, overlapping, require_chromium, wait_for_plots
from unlearn_opt.analysis.figures import selected_vs_width

pytestmark = pytest.mark.slow  # a browser

WIDTHS = (0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 2.0)


def rows() -> list[dict]:
    """Selected points of two methods at 3 λ over the 7 widths, with their references."""
    out = []
    for w in WIDTHS:
        for method in ("scrub", "l1_sparse"):
            for lam in (0.2, 0.4, 0.6):
                r = {"width": w, "sparsity": 0.0, "method": method, "goal": "privacy", "lambda": lam, "trial_number": 1}
                for metric in ("forget_error", "forget_test_error", "privacy_gap", "test_error", "mia_auc"):
                    r[metric] = 0.1 / w**0.5 * (1 + lam)
                    r[f"retrain_{metric}"] = 0.1 / w**0.5
                    r[f"original_{metric}"] = 0.2 / w**0.5
                out.append(r)
    return out


def test_width_axes_labels_apart_threshold_at_its_width(tmp_path: Path) -> None:
    chromium, driver = require_chromium()
    fig = selected_vs_width(rows(), goal="privacy", sparsity=0.0, threshold=0.05)
    page = tmp_path / "fig.html"
    page.write_text(fig.to_html(include_plotlyjs=True, default_width=1200))
    for window in (1280, 700):  # the figure is responsive: narrow panels at 700 px
        with headless(chromium, driver, width=window) as browser:
            browser.get(page.as_uri())
            assert wait_for_plots(browser) == 1
            (info,) = figures(browser)
            assert info["title"].startswith("selected points (privacy")
            assert len(info["axes"]) == 5 and all(ax["type"] == "log" for ax in info["axes"])  # 0.02 to 2: decades
            for ax in info["axes"]:
                assert [lab[4] for lab in ax["labels"]] == ["0.02", "0.03", "0.05", "0.1", "0.25", "0.5", "2"]
                assert overlapping(ax["labels"]) == [], (window, ax["id"])
                ((x, pixel),) = ax["lines"]  # the threshold, on every width axis
                assert x == pytest.approx(0.05) and pixel == pytest.approx(dict(ax["tickPixels"])[0.05], abs=0.5)
            assert "retrain reference" in info["legend"] and "original (before unlearning)" in info["legend"]
            assert "interpolation threshold (width 0.05)" in info["legend"]
