"""The GPU check's time limit and a SIGTERM stop what a section started (the launcher and its
workers); in their own file so that they run beside the whole check (test_gpu_check.py) on the
other test process."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_gpu_check import ROOT, gpu_check


@pytest.mark.slow
def test_a_section_past_its_time_is_stopped_with_everything_it_started(tmp_path: Path) -> None:
    # 180 s: the launcher has started its first workers by then (13 s in on an idle machine; 90 s was
    # not enough once beside the 16-worker reliability test), and the section (two launches, 600 s
    # windows) cannot end before it
    out = gpu_check(tmp_path, "--sections", "workers", "--budget", "180", "--workers-window", "600", timeout=600)
    assert out.returncode == 1, out.stdout[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["sections"]["workers"]["status"] == "timeout" and report["finished"]
    pids = [int(p) for p in re.findall(r"worker cpu-\d+: pid (\d+)", (tmp_path / "gpu_check.log").read_text())]
    assert pids, "the launcher had not started its workers: nothing was checked"
    for pid in pids:  # the launcher's workers are gone with it
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid


@pytest.mark.slow
def test_a_stopped_check_stops_what_it_started(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNLEARN_OPT_")}
    check = subprocess.Popen(
        [sys.executable, "-m", "bench.gpu_check", str(tmp_path), "--quick", "--device", "cpu", "--sections", "workers"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = tmp_path / "gpu_check.log"
    deadline = time.monotonic() + 300
    pids: list[int] = []
    while not pids and time.monotonic() < deadline and check.poll() is None:
        time.sleep(1)
        pids = [int(p) for p in re.findall(r"worker cpu-\d+: pid (\d+)", log.read_text())] if log.exists() else []
    assert pids, "the launcher never started its worker"
    check.send_signal(signal.SIGTERM)
    assert check.wait(timeout=120) != 0
    assert "stopped (SIGTERM)" in log.read_text()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text(), pid
