"""Every benchmark runs in --quick mode and ends with one JSON object (no timed assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service_helpers import DEFAULT_PG, cli_env

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # each benchmark in a subprocess


@pytest.mark.parametrize(
    ("name", "keys"),
    [
        ("data_pipeline", {"ratio", "ours_seconds", "dataloader_seconds"}),
        ("trial_overhead", {"ratio", "service_median_seconds_per_trial", "bare_median_seconds_per_trial"}),
        ("storage_scaling", {"db_overhead_ms_per_trial", "speedup_4_workers", "sqlite_trials_per_second"}),
        ("gpu_epoch", {"epoch_seconds", "tflops", "peak_memory_gib", "widths"}),
    ],
)
def test_benchmark_quick(name: str, keys: set[str]) -> None:
    env = cli_env(UNLEARN_OPT_TEST_POSTGRES=os.environ.get("UNLEARN_OPT_TEST_POSTGRES", DEFAULT_PG))
    out = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--quick", "--device", "cpu"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["benchmark"] == name and keys <= set(result)
    assert result["machine"]
