"""Headless Chromium (Debian's chromium + chromium-driver) through selenium, for the browser tests,
and the script that takes the report screenshots under docs/:

    python -m tests.browser REPORT.html OUT.png [--width 1280]

(a full-page PNG of the rendered report; plotly needs a real browser to lay out its figures)."""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROME_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


def require_chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver; skips the test without them (fails it under CI=true)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium and chromedriver must be installed under CI (.ci/run installs them)")
        pytest.skip("Debian's chromium / chromium-driver are not installed")
    return chromium, driver


@contextmanager
def headless(chromium: str, driver: str, *, width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium window of ``width`` × ``height`` CSS pixels, closed on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for arg in (*CHROME_ARGS, f"--window-size={width},{height}"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def wait_for_plots(browser: Any, *, timeout: float = 60) -> int:
    """Wait until every plotly figure on the page has drawn its SVG; returns how many there are."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n, drawn = browser.execute_script(
            "const p = document.querySelectorAll('.js-plotly-plot');"
            "return [p.length, Array.from(p).filter(e => e.querySelector('svg.main-svg')).length];"
        )
        if n and n == drawn:
            return int(n)
        time.sleep(0.3)
    raise AssertionError("the report's plotly figures did not render")


FIGURES_JS = """
return Array.from(document.querySelectorAll('.js-plotly-plot')).map(function (gd) {
  var fl = gd._fullLayout, text = function (sel) {
    return Array.from(gd.querySelectorAll(sel)).map(function (e) { return e.textContent; }).filter(Boolean);
  };
  var axes = Object.keys(fl).filter(function (k) { return /^xaxis\\d*$/.test(k); }).map(function (k) {
    var ax = fl[k], id = ax._id, labels = Array.from(gd.querySelectorAll('.' + id + 'tick text'))
      .map(function (t) { var r = t.getBoundingClientRect(); return [r.left, r.right, r.top, r.bottom, t.textContent]; });
    return {id: id, title: ax.title && ax.title.text, type: ax.type, labels: labels,
            lines: (fl.shapes || []).filter(function (s) { return s.xref === id && s.x0 === s.x1; })
              .map(function (s) { return [s.x0, ax._offset + ax.d2p(s.x0)]; }),
            tickPixels: (ax.tickvals || []).map(function (v) { return [v, ax._offset + ax.d2p(v)]; })};
  });
  return {title: text('.gtitle').join(' '), xtitles: text('.g-xtitle, [class^=g-x][class$=title]'),
          ytitles: text('.g-ytitle, [class^=g-y][class$=title]'), traces: gd.data.length,
          drawn: gd.querySelectorAll('.scatterlayer .trace, .heatmaplayer .hm').length,
          legend: text('.legendtext'), panels: text('.annotation-text'), axes: axes};
});
"""


def figures(browser: Any) -> list[dict[str, Any]]:
    """Each rendered plotly figure of the page: its title, axis titles, trace counts (in the data
    and drawn), legend entries, annotations (subplot titles), and per x axis its type, tick labels' boxes, and the vertical
    lines drawn on it with their pixel positions (``_fullLayout``: the figure as laid out)."""
    return list(browser.execute_script(FIGURES_JS))


def overlapping(labels: list[list[Any]]) -> list[tuple[str, str]]:
    """Pairs of tick labels whose boxes intersect (more than half a pixel each way)."""
    out = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if min(a[1], b[1]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[2], b[2]) > 0.5:
                out.append((a[4], b[4]))
    return out


def full_page_png(browser: Any, out: Path) -> None:
    """A PNG of the whole page (not only the window), through the DevTools protocol."""
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
    out.write_bytes(base64.b64decode(shot["data"]))


def main() -> None:
    parser = argparse.ArgumentParser(description="Full-page screenshot of a report.html in headless Chromium")
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280, help="window width in CSS pixels (default: 1280)")
    args = parser.parse_args()
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        raise SystemExit("needs Debian's chromium and chromium-driver")
    with headless(chromium, driver, width=args.width) as browser:
        browser.get(args.report.resolve().as_uri())
        n = wait_for_plots(browser)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(args.width, int(height) + 100)
        wait_for_plots(browser)
        time.sleep(1)  # plotly re-lays out on resize
        full_page_png(browser, args.out)
    try:  # a 256-colour palette: a third of the size, no visible change on plotly's flat colours
        from PIL import Image

        Image.open(args.out).convert("RGB").quantize(colors=256).save(args.out, optimize=True)
    except ImportError:
        pass
    print(f"{args.out}: {n} figures, {args.width}×{height} px")


if __name__ == "__main__":
    main()
