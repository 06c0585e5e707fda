"""The GPU check: every CUDA path of the project and the GPU figures, in one run of about 8
minutes on one GPU, written to OUT_DIR as it goes.

    python -m bench.gpu_check OUT_DIR               # on a GPU machine
    python -m bench.gpu_check OUT_DIR --quick --device cpu   # the same code at tiny sizes (CI)

Sections, each a subprocess with its own time limit (all within --budget seconds):
  tests          pytest -m cuda, eager: one trial of every method (bf16 autocast, channels_last),
                 a checkpoint moving between CUDA and CPU, the device augmentation's distribution,
                 the launcher's count of visible GPUs          } run side by side: neither section's
  memory         peak memory of one ResNet-18 width-1 trial     } figures depend on time
                 of each method (bench.gpu_memory)
  epoch          ResNet-18 epochs at widths 0.25/0.5/1, eager and compiled (bench.gpu_epoch)
  workers        trials per minute with 1, 2, 4 workers on the GPU (bench.gpu_workers)
  tests_compile  pytest -m cuda, the same trials with compile = true (compiling takes longest)

OUT_DIR gets gpu_check.json (rewritten after every section: a run cut off keeps what finished),
gpu_check.log (every line of every section, timestamped) and the pytest JUnit files."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent

GOALS = {
    "epoch_seconds_width_1": ("<=", 1.0, "ResNet-18 width 1, seconds per CIFAR-sized epoch (best of eager/compiled)"),
    "workers_4_speedup": (">=", 2.5, "trials per minute with 4 workers on one GPU / with 1 (width 0.25)"),
    "max_trial_peak_gib": ("<", 8.0, "peak memory of one width-1 trial, the largest over the methods"),
}


@dataclass
class Section:
    name: str
    argv: list[str]
    cap: float  # the most seconds it may take
    env: dict[str, str] = field(default_factory=dict)
    junit: Path | None = None


@dataclass
class Check:
    out: Path
    quick: bool
    device: str
    budget: float
    start: float = field(default_factory=time.monotonic)
    results: dict[str, Any] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    log: TextIO | None = None
    running: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    # ------------------------------------------------------------------ output

    def say(self, section: str, text: str, *, echo: bool = True) -> None:
        line = f"[{time.strftime('%H:%M:%S')} +{time.monotonic() - self.start:5.0f}s] {section:13} | {text}"
        with self.lock:
            assert self.log is not None
            self.log.write(line + "\n")
            self.log.flush()
            if echo:
                print(line, flush=True)

    def write_json(self, *, finished: bool = False) -> None:
        with self.lock:
            self.results["elapsed_seconds"] = round(time.monotonic() - self.start, 1)
            self.results["finished"] = finished
            self.results["goals"] = goals(self.results.get("sections", {}), quick=self.quick)
            tmp = self.out / "gpu_check.json.tmp"
            tmp.write_text(json.dumps(self.results, indent=2, sort_keys=True) + "\n")
            tmp.replace(self.out / "gpu_check.json")

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    # ------------------------------------------------------------------ sections

    def run_group(self, sections: list[Section]) -> None:
        """Run these sections side by side; each ends by itself or at its time limit."""
        threads = [threading.Thread(target=self.run_section, args=(s,)) for s in sections]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run_section(self, section: Section) -> None:
        record: dict[str, Any] = {"status": "skipped"}
        self.results["sections"][section.name] = record
        limit = min(section.cap, self.left())
        if limit < 20:
            record["reason"] = f"out of budget ({max(0.0, self.left()):.0f} s left)"
            self.say(section.name, f"skipped: {record['reason']}")
            self.write_json()
            return
        self.say(section.name, f"start (limit {limit:.0f} s): {' '.join(section.argv[2:])}")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **section.env}
        began = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, *section.argv],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.running[section.name] = proc
        lines: list[str] = []
        reader = threading.Thread(target=self._read, args=(section.name, proc, lines))
        reader.start()
        try:
            proc.wait(timeout=limit)
            record["status"] = "ok" if proc.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            record["status"] = "timeout"
            self.say(section.name, f"time limit of {limit:.0f} s reached: stopping it")
            _stop_group(proc)
        reader.join(timeout=30)
        self.running.pop(section.name, None)
        record["returncode"] = proc.returncode
        record["seconds"] = round(time.monotonic() - began, 1)
        if section.junit is not None:
            record["tests"] = junit_results(section.junit) if section.junit.exists() else verbose_results(lines)
            counts: dict[str, int] = {}
            for t in record["tests"]:
                counts[t["outcome"]] = counts.get(t["outcome"], 0) + 1
            record["counts"] = counts
        else:
            record["result"] = last_json(lines)
            if record["result"] is None and record["status"] == "ok":
                record["status"] = "failed"
        if record["status"] != "ok":
            record["tail"] = lines[-40:]
        self.say(
            section.name,
            f"{record['status']} in {record['seconds']} s" + (f" {record.get('counts')}" if "counts" in record else ""),
        )
        self.write_json()

    def stop_all(self) -> None:
        """Stop every running section with all it started (the check itself was stopped)."""
        for name, proc in list(self.running.items()):
            self.say(name, "stopping it: the check was stopped")
            _stop_group(proc)

    def _read(self, name: str, proc: subprocess.Popen[str], lines: list[str]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            # progress on the screen; everything in the log
            echo = line.startswith("[") or " PASSED" in line or " FAILED" in line or " ERROR" in line or " SKIPPED" in line
            self.say(name, line, echo=echo and not line.startswith("{"))


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the section's process group (a benchmark then stops what it started), SIGKILL
    after 45 s."""
    for sig, wait in ((signal.SIGTERM, 45.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def last_json(lines: list[str]) -> dict[str, Any] | None:
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            return value if isinstance(value, dict) else None
    return None


def junit_results(path: Path) -> list[dict[str, Any]]:
    """Each test's outcome, seconds, recorded properties and failure message."""
    out = []
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", None
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome, message = {"failure": "failed", "error": "error", "skipped": "skipped"}[kind], node.get("message")
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        test: dict[str, Any] = {"name": case.get("name"), "outcome": outcome, "seconds": round(float(case.get("time", 0)), 2)}
        if props:
            test["properties"] = props
        if message:
            test["message"] = message[:2000]
        out.append(test)
    return out


def verbose_results(lines: list[str]) -> list[dict[str, Any]]:
    """From `pytest -v` lines, when the run was cut off before its JUnit file was written."""
    out = []
    for line in lines:
        for outcome in ("PASSED", "FAILED", "ERROR", "SKIPPED"):
            if f" {outcome}" in line and "::" in line:
                out.append({"name": line.split("::", 1)[1].split(" ", 1)[0], "outcome": outcome.lower()})
                break
    return out


def goals(sections: dict[str, Any], *, quick: bool) -> dict[str, Any]:
    """The issue's goals against what was measured (None where not measured)."""
    epoch = (sections.get("epoch") or {}).get("result") or {}
    workers = (sections.get("workers") or {}).get("result") or {}
    memory = (sections.get("memory") or {}).get("result") or {}
    width_1: dict[str, Any] = next((w for w in epoch.get("widths", []) if w.get("width") == 1.0), {})
    seconds = [
        m["epoch_seconds"]
        for m in (width_1.get("eager"), width_1.get("compiled"))
        if isinstance(m, dict) and "epoch_seconds" in m
    ]
    values = {
        "epoch_seconds_width_1": min(seconds) if seconds else None,
        "workers_4_speedup": (workers.get("speedup") or {}).get("4"),
        "max_trial_peak_gib": memory.get("max_trial_peak_gib") if memory.get("width") == 1.0 else None,
    }
    out = {}
    for name, (op, target, what) in GOALS.items():
        v = values[name]
        met = None if v is None or quick else {"<=": v <= target, ">=": v >= target, "<": v < target}[op]
        out[name] = {"value": v, "goal": f"{op} {target}", "met": met, "what": what}
    return out


def plan(args: argparse.Namespace, out: Path) -> list[list[Section]]:
    """The sections, in groups run one after the other (a group's sections side by side)."""
    quick, device = args.quick, args.device
    bench = ["--device", device] + (["--quick"] if quick else [])
    window = ["--window", str(args.workers_window)] if args.workers_window else []
    timeout = ["--timeout", "600" if quick else "240"] if importlib.util.find_spec("pytest_timeout") else []
    pytest = ["-m", "pytest", "-m", "cuda", "tests/test_gpu_cuda.py", "-v", "-p", "no:cacheprovider", "-p", "no:logging"]
    pytest += ["-o", "junit_family=xunit1", *timeout]  # xunit1: the tests' recorded figures go into the JUnit file
    tests_env = {"UNLEARN_OPT_TEST_DEVICE": device}
    # On the CPU dry run, one method stands for all (the test is the same function for each).
    only = " and (scrub or not one_trial)" if quick else ""

    def cap(seconds: float) -> float:
        return 1200.0 if quick else seconds  # the CPU dry run: a safety net only

    return [
        [
            Section(
                "tests",
                [*pytest, "-k", f"not compile{only}", "--junitxml", str(out / "cuda_tests.xml")],
                cap(150),
                tests_env,
                out / "cuda_tests.xml",
            ),
            Section("memory", ["-m", "bench.gpu_memory", *bench], cap(150)),
        ],
        [Section("epoch", ["-m", "bench.gpu_epoch", *bench], cap(200))],
        [Section("workers", ["-m", "bench.gpu_workers", *bench, *window], cap(220))],
        [
            Section(
                "tests_compile",
                [*pytest, "-k", f"compile{only}", "--junitxml", str(out / "cuda_tests_compile.xml")],
                cap(600),
                tests_env,
                out / "cuda_tests_compile.xml",
            )
        ],
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("out", metavar="OUT_DIR", help="Folder for gpu_check.json, gpu_check.log and the test reports.")
    p.add_argument("--quick", action="store_true", help="Tiny sizes: checks the code runs; the figures mean nothing.")
    p.add_argument("--device", default="auto", help="cuda, cpu or auto (cuda when available).")
    p.add_argument("--budget", type=float, default=None, help="Seconds for everything (default 450; --quick 3600).")
    p.add_argument("--sections", default=None, help="Only these, comma-separated (tests,memory,epoch,workers,tests_compile).")
    p.add_argument("--workers-window", type=float, default=None, help="Seconds counted per worker count in the workers section.")
    args = p.parse_args()
    import torch

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda: no CUDA device is visible")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    check = Check(out=out, quick=args.quick, device=args.device, budget=args.budget or (3600.0 if args.quick else 450.0))
    groups = plan(args, out)
    if args.sections:
        wanted = {s.strip() for s in args.sections.split(",")}
        known = {s.name for g in groups for s in g}
        if wanted - known:
            sys.exit(f"error: --sections: unknown {', '.join(sorted(wanted - known))} (known: {', '.join(sorted(known))})")
        groups = [[s for s in g if s.name in wanted] for g in groups]
        groups = [g for g in groups if g]
    check.results = {
        "check": "gpu_check",
        "started": datetime.now().isoformat(timespec="seconds"),
        "quick": args.quick,
        "device": args.device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "budget_seconds": check.budget,
        "sections": {},
    }
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with (out / "gpu_check.log").open("a") as log:
        check.log = log
        check.say("check", f"start: device {args.device}, torch {torch.__version__}, budget {check.budget:.0f} s, out {out}")
        check.write_json()
        try:
            for group in groups:
                check.run_group(group)
        except SystemExit:
            check.say("check", "stopped (SIGTERM)")
            check.stop_all()
            check.write_json()
            raise
        check.write_json(finished=True)
        for name, g in check.results["goals"].items():
            check.say("goals", f"{name} = {g['value']} (goal {g['goal']}: {g['met']})")
        failed = [n for n, s in check.results["sections"].items() if s["status"] not in ("ok", "skipped")]
        check.say(
            "check",
            f"done in {time.monotonic() - check.start:.0f} s; "
            + (f"not ok: {', '.join(failed)}" if failed else "every section ok"),
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
