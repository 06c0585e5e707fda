"""Workers sharing one GPU: the same small experiment (CIFAR-shaped synthetic data, ResNet-18
width 0.25, SCRUB with one epoch, SQLite) under `unlearn-opt launch --gpus 0 --workers-per-gpu K`
for each K: trials per minute over a fixed window that starts once the original exists and every
worker has finished a trial (its data loaded, its checkpoint read, cuDNN tuned). The launcher is
then stopped with SIGTERM (its workers' running trials are failed and re-queued).

The membership-inference SVC is fitted on at most 1 000 confidences per side here (the default is
10 000) so that a trial's time is the GPU's, not the SVC's on the CPU. Goal: K = 4 ≥ 2.5× the
trials per minute of K = 1. --quick runs CPU workers (--cpu-workers K) at tiny sizes anywhere."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import device_of, emitted, parser, stamp

NAME = "gpu-workers"
SPEC = """
name = "{name}"
dataset = "synthetic"
architecture = "resnet18"
widths = [{width}]
methods = ["scrub"]
goals = ["privacy"]
n_trials = {n_trials}
seed = 0

[synthetic]
train_size = {train}
test_size = {test}
channels = 3
image_size = 32

[forget]
size = {forget}

[original]
epochs = 1
batch_size = 256

[unlearning]
batch_size = 256
forget_batch_size = 64

[evaluation]
batch_size = 2048
mia_max_examples = 1000

[sampler]
name = "random"

[search.scrub]
epochs = {{ low = 1, high = 1 }}
max_steps = {{ low = 1, high = 1 }}
"""


def completed(study: Any, since: datetime) -> list[tuple[datetime, str, float]]:
    """(time, worker, unlearn seconds) of the trials completed since ``since``."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if t.datetime_complete is not None and t.datetime_complete >= since:
            out.append(
                (t.datetime_complete, str(t.user_attrs.get("worker", "")), float(t.user_attrs.get("unlearn_seconds", 0.0)))
            )
    return out


def one_run(
    k: int, *, gpu: bool, study: Any, env: dict[str, str], work: Path, window: float, warmup_limit: float
) -> dict[str, Any]:
    """`launch` with K workers; trials per minute over ``window`` seconds after the warm-up."""
    slots = ["--gpus", "0", "--workers-per-gpu", str(k)] if gpu else ["--cpu-workers", str(k)]
    log_path = work / f"launch-{k}.log"
    started = datetime.now()
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "unlearn_opt", "launch", NAME, *slots, "--no-live"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        echo = _Echo(log_path)
        try:
            warm_from, warm = None, False
            limit = time.monotonic() + warmup_limit
            while time.monotonic() < limit and proc.poll() is None:
                echo()
                if len({w for _, w, _ in completed(study, started)}) >= k:
                    warm_from, warm = datetime.now(), True
                    break
                time.sleep(1.0)
            warm_from = warm_from or datetime.now()
            stamp(f"K={k}: warm after {(warm_from - started).total_seconds():.0f} s; counting for {window:g} s")
            end = time.monotonic() + window
            while time.monotonic() < end and proc.poll() is None:
                time.sleep(0.5)
            until = datetime.now()
            ran_out = proc.poll() is not None
        finally:
            _stop(proc)
            echo()
    trials = [t for t in completed(study, warm_from) if t[0] <= until]
    seconds = (until - warm_from).total_seconds()
    lines = log_path.read_text().splitlines()
    result = {
        "workers": k,
        "warmup_seconds": round((warm_from - started).total_seconds(), 1),
        "warm": warm,  # every worker had finished a trial when the window began
        "window_seconds": round(seconds, 1),
        "trials_in_window": len(trials),
        "trials_per_minute": round(len(trials) / seconds * 60, 2) if seconds > 0 else None,
        "mean_unlearn_seconds": round(sum(t[2] for t in trials) / len(trials), 3) if trials else None,
        "ran_out_of_trials": ran_out,
        # what each worker reported at its start: its device and CUDA_VISIBLE_DEVICES
        "worker_lines": [x for x in lines if x.startswith("worker ") and (" on " in x or ": pid " in x)],
        "errors": [x for x in lines if x.startswith("error") or "Traceback" in x][:5],
    }
    stamp(f"K={k}: {result['trials_in_window']} trials in {result['window_seconds']} s = {result['trials_per_minute']}/min")
    return result


class _Echo:
    """Prints the launcher's new lines about its workers (slot, pid, CUDA_VISIBLE_DEVICES, the
    workers' start lines) and its errors, as they appear in its log."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def __call__(self) -> None:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        done = data.rfind(b"\n") + 1  # whole lines only
        self.offset += done
        for line in data[:done].decode(errors="replace").splitlines():
            if line.startswith(("worker ", "error", "stopping")):
                stamp(f"launch: {line}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the launcher (it stops its workers); everything in its session killed after 60 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # any worker left behind
    except ProcessLookupError:
        pass
    proc.wait()


def run(result: dict[str, Any], *, device: str, workers: list[int], window: float, quick: bool, work: Path) -> None:
    """Fills ``result`` run by run."""
    import optuna

    from unlearn_opt.service.experiment import load_experiment
    from unlearn_opt.service.storage import open_storage

    gpu = device_of(device).type == "cuda"
    sizes = (
        # quick: enough tickets that no window runs out of them (a CPU trial here takes about 0.5 s)
        {"width": 0.0625, "train": 400, "test": 200, "forget": 20, "n_trials": 1000}
        if quick
        else {"width": 0.25, "train": 50_000, "test": 10_000, "forget": 200, "n_trials": 600}
    )
    result.update(benchmark="gpu_workers", device="cuda" if gpu else "cpu", width=sizes["width"], examples=sizes["train"])
    result.update(runs=[], speedup={})
    spec_path = work / f"{NAME}.toml"
    spec_path.write_text(SPEC.format(name=NAME, **sizes))
    url = f"sqlite:///{work / 'storage.db'}"
    env = {**os.environ, "UNLEARN_OPT_STORAGE": url, "UNLEARN_OPT_ARTIFACTS": str(work / "artifacts")}
    stamp(f"create-study ({sizes['n_trials']} tickets)")
    made = subprocess.run(
        [sys.executable, "-m", "unlearn_opt", "create-study", str(spec_path)], env=env, capture_output=True, text=True
    )
    if made.returncode != 0:
        raise RuntimeError(f"create-study failed ({made.returncode}): {made.stderr.strip()[-2000:]}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    exp = load_experiment(storage, NAME)
    study = optuna.load_study(study_name=next(iter(exp.studies.values())), storage=storage)
    for k in workers:
        figures = one_run(k, gpu=gpu, study=study, env=env, work=work, window=window, warmup_limit=600.0 if quick else 300.0)
        result["runs"].append(figures)
        by_k = {r["workers"]: r["trials_per_minute"] for r in result["runs"]}
        base = by_k.get(1)
        result["speedup"] = {str(k): round(v / base, 2) if base and v is not None else None for k, v in by_k.items()}


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--workers", default=None, help="Comma-separated K (default 1,2,4; --quick 1,2).")
    p.add_argument("--window", type=float, default=None, help="Seconds counted per K (default 30, --quick 8).")
    p.add_argument("--work", default=None, help="Folder for the database and checkpoints (default: a temporary one).")
    args = p.parse_args()
    workers = [int(k) for k in (args.workers or ("1,2" if args.quick else "1,2,4")).split(",")]
    window = args.window or (8.0 if args.quick else 30.0)
    with emitted({}) as result, tempfile.TemporaryDirectory(prefix="gpu-workers-") as tmp:
        work = Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        run(result, device=args.device, workers=workers, window=window, quick=args.quick, work=work)


if __name__ == "__main__":
    main()
