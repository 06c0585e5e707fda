"""The GPU check runs end to end on the CPU (`--quick --device cpu`), so that it has no bugs when
a GPU arrives; its time limits stop what a section started; its goals are judged as stated."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.gpu_check import goals, verbose_results
from unlearn_opt.engine.runtime import clone_model
from unlearn_opt.methods import METHOD_NAMES

ROOT = Path(__file__).resolve().parent.parent


def gpu_check(out: Path, *args: str, timeout: float = 2400) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNLEARN_OPT_")}
    return subprocess.run(
        [sys.executable, "-m", "bench.gpu_check", str(out), "--quick", "--device", "cpu", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_the_whole_check_runs_on_the_cpu(tmp_path: Path) -> None:
    out = gpu_check(tmp_path)
    assert out.returncode == 0, out.stdout[-5000:] + out.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["finished"] and report["device"] == "cpu" and report["quick"]
    sections = report["sections"]
    assert set(sections) == {"tests", "memory", "epoch", "workers", "tests_compile"}
    assert all(s["status"] == "ok" for s in sections.values()), {n: s["status"] for n, s in sections.items()}
    # the CUDA tests ran on the CPU: eager (one method, the checkpoint, the augmentation), compiled
    eager = {t["name"]: t["outcome"] for t in sections["tests"]["tests"]}
    assert eager["test_checkpoint_trained_on_cuda_loads_on_cpu_and_cuda"] == "passed"
    assert eager["test_device_augmentation_matches_the_cpu_in_distribution"] == "passed"
    assert eager[f"test_one_trial_of_every_method[{METHOD_NAMES[0]}-eager]"] == "passed"
    assert [t["outcome"] for t in sections["tests_compile"]["tests"]] == ["passed"]
    assert "trial_seconds" in sections["tests"]["tests"][0]["properties"]
    # the figures, in their shape (their values mean nothing on this CPU)
    memory = sections["memory"]["result"]
    assert set(memory["methods"]) == set(METHOD_NAMES) and all("seconds" in m for m in memory["methods"].values())
    epoch = sections["epoch"]["result"]
    assert [w["width"] for w in epoch["widths"]] == [0.0625, 0.125]
    for w in epoch["widths"]:
        assert w["flops_per_epoch"] > 0 and w["compile_seconds"] > 0
        for mode in ("eager", "compiled"):
            assert {"epoch_seconds", "images_per_second", "tflops", "peak_memory_gib"} <= set(w[mode])
    workers = sections["workers"]["result"]
    assert [r["workers"] for r in workers["runs"]] == [1, 2]
    for run in workers["runs"]:
        assert run["warm"] and run["window_seconds"] >= 8 and not run["errors"], run
        # the launcher's line per slot and each worker's start line
        assert sum(line.startswith("worker cpu-") for line in run["worker_lines"]) == run["workers"]
        assert sum(" on cpu, CUDA_VISIBLE_DEVICES=''" in line for line in run["worker_lines"]) == run["workers"]
    assert set(report["goals"]) == {"epoch_seconds_width_1", "workers_4_speedup", "max_trial_peak_gib"}
    assert all(g["met"] is None for g in report["goals"].values())  # --quick judges nothing
    log = (tmp_path / "gpu_check.log").read_text()
    for name in sections:
        assert re.search(rf"\+\s*\d+s\] {name}\s+\| ok in", log), name


def test_a_check_without_time_left_skips_every_section(tmp_path: Path) -> None:
    out = gpu_check(tmp_path, "--budget", "5", timeout=300)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert {s["status"] for s in report["sections"].values()} == {"skipped"}
    assert "out of budget" in report["sections"]["tests_compile"]["reason"]


def test_unknown_sections_are_one_line(tmp_path: Path) -> None:
    out = gpu_check(tmp_path, "--sections", "epoch,nope", timeout=300)
    assert out.returncode != 0 and out.stderr.strip().splitlines()[-1].startswith("error: --sections: unknown nope")


def test_goals_are_judged_from_the_figures() -> None:
    sections = {
        "epoch": {"result": {"widths": [{"width": 1.0, "eager": {"epoch_seconds": 1.4}, "compiled": {"epoch_seconds": 0.8}}]}},
        "workers": {"result": {"speedup": {"1": 1.0, "2": 1.7, "4": 2.4}}},
        "memory": {"result": {"width": 1.0, "max_trial_peak_gib": 3.2}},
    }
    judged = goals(sections, quick=False)
    assert judged["epoch_seconds_width_1"]["value"] == 0.8 and judged["epoch_seconds_width_1"]["met"] is True
    assert judged["workers_4_speedup"]["met"] is False
    assert judged["max_trial_peak_gib"]["met"] is True
    assert all(g["value"] is None and g["met"] is None for g in goals({}, quick=False).values())


def test_cut_off_pytest_output_still_gives_the_outcomes() -> None:
    lines = [
        "tests/test_gpu_cuda.py::test_one_trial_of_every_method[scrub-eager] PASSED [ 8%]",
        "tests/test_gpu_cuda.py::test_one_trial_of_every_method[neggrad-eager] FAILED [16%]",
        "some other line",
    ]
    assert verbose_results(lines) == [
        {"name": "test_one_trial_of_every_method[scrub-eager]", "outcome": "passed"},
        {"name": "test_one_trial_of_every_method[neggrad-eager]", "outcome": "failed"},
    ]


def test_a_compiled_models_copy_is_compiled() -> None:
    """Each method unlearns a copy of the original: with `compile = true` the copy must be
    compiled too (deepcopy drops torch.compile's wrapper)."""
    model = torch.nn.Linear(3, 2)
    assert getattr(clone_model(model), "_compiled_call_impl", None) is None
    model.compile()
    twin = clone_model(model)
    assert twin is not model and getattr(twin, "_compiled_call_impl", None) is not None
