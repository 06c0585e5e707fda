"""Launching local workers: one process per slot, pinned with CUDA_VISIBLE_DEVICES (mapped through
the launcher's own, so that Slurm's allocation is honoured), restarted if it dies, stopped together
on Ctrl-C / SIGTERM, with one live progress display."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from unlearn_opt.errors import UserError
from unlearn_opt.service.outage import TRANSIENT_TYPES, is_transient
from unlearn_opt.service.status import Progress, progress_tables

MAX_RESTARTS = 5
STOP_GRACE_SECONDS = 30.0


@dataclass(frozen=True)
class Slot:
    name: str
    device: str
    env: dict[str, str]


@dataclass(frozen=True)
class VisibleGpus:
    """The GPUs this process may use, in CUDA's order: ``entries[i]`` is what a worker pinned to
    GPU ``i`` gets as its ``CUDA_VISIBLE_DEVICES`` (an index, a ``GPU-`` UUID or a ``MIG-`` id).
    ``cvd`` is this process's own ``CUDA_VISIBLE_DEVICES`` (None when unset)."""

    entries: tuple[str, ...]
    cvd: str | None

    def describe(self) -> str:
        n = len(self.entries)
        seen = "no GPU is visible" if n == 0 else f"{n} GPU(s) visible, indices 0-{n - 1}"
        if self.cvd is None:
            return seen
        return f"{seen}; CUDA_VISIBLE_DEVICES={self.cvd!r}"


def visible_gpus() -> VisibleGpus:
    """The GPUs visible to this process. Their number is the CUDA runtime's
    (``torch.cuda.device_count()``: NVML or the driver, both honouring ``CUDA_VISIBLE_DEVICES``
    with indices, UUIDs or MIG ids; an empty value means none), never ``nvidia-smi``, which lists
    every GPU of the machine. CUDA enumerates a prefix of the ``CUDA_VISIBLE_DEVICES`` list (it
    stops at the first entry that names no device), so GPU ``i`` is the list's ``i``-th entry;
    without the variable, GPU ``i`` is the machine's GPU ``i``."""
    import torch

    count = torch.cuda.device_count()
    cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
    if cvd is None:
        return VisibleGpus(tuple(str(i) for i in range(count)), None)
    entries = [e.strip() for e in cvd.split(",")]
    return VisibleGpus(tuple(entries[:count]), cvd)


def parse_gpus(gpus: str, visible: VisibleGpus) -> list[int]:
    """``--gpus``: ``all`` or comma-separated indices into the visible GPUs."""
    if gpus.strip() == "all":
        if not visible.entries:
            raise UserError(f"--gpus all: {visible.describe()}")
        return list(range(len(visible.entries)))
    indices = []
    for part in gpus.split(","):
        part = part.strip()
        if not part.isdigit():
            raise UserError(f"--gpus: {part!r} is not a GPU index (expected all, or e.g. 0,1,2)")
        if int(part) >= len(visible.entries):
            raise UserError(f"--gpus: GPU {part} is not visible here ({visible.describe()})")
        indices.append(int(part))
    if len(set(indices)) != len(indices):
        raise UserError("--gpus: an index is listed twice")
    return indices


def plan_slots(*, gpus: str | None, workers_per_gpu: int, cpu_workers: int, visible: VisibleGpus | None = None) -> list[Slot]:
    """One slot per worker. ``--gpus`` indices refer to the GPUs visible to this process
    (:func:`visible_gpus` unless given): with ``CUDA_VISIBLE_DEVICES=3,5`` (as Slurm sets it),
    ``--gpus 0,1`` pins workers to ``CUDA_VISIBLE_DEVICES=3`` and ``=5``; ``--gpus all`` uses
    every visible GPU."""
    slots: list[Slot] = []
    if workers_per_gpu < 1:
        raise UserError(f"--workers-per-gpu: must be >= 1 (got {workers_per_gpu})")
    if cpu_workers < 0:
        raise UserError(f"--cpu-workers: must be >= 0 (got {cpu_workers})")
    if gpus:
        if visible is None:
            visible = visible_gpus()
        for g in parse_gpus(gpus, visible):
            for k in range(workers_per_gpu):
                slots.append(Slot(f"gpu{g}-{k}", "cuda", {"CUDA_VISIBLE_DEVICES": visible.entries[g]}))
    for k in range(cpu_workers):
        slots.append(Slot(f"cpu-{k}", "cpu", {"CUDA_VISIBLE_DEVICES": ""}))
    if not slots:
        raise UserError("launch: no workers asked for (give --gpus and/or --cpu-workers)")
    return slots


@dataclass
class Launcher:
    experiment: str
    storage_url: str
    artifacts: str
    slots: list[Slot]
    read_progress: Callable[[], Progress]
    threads_per_worker: int | None = None
    release: Callable[[list[str], str], int] | None = None  # fail + re-queue the trials of gone workers
    console: Console = field(default_factory=lambda: Console(stderr=True))
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _restarts: dict[str, int] = field(default_factory=dict)
    _stopping: bool = False

    def _spawn(self, slot: Slot) -> None:
        env = {**os.environ, **slot.env, "UNLEARN_OPT_STORAGE": self.storage_url, "UNLEARN_OPT_ARTIFACTS": self.artifacts}
        if self.threads_per_worker:
            env["OMP_NUM_THREADS"] = str(self.threads_per_worker)
        cmd = [sys.executable, "-m", "unlearn_opt", "worker", "--device", slot.device, "--quiet", "--", self.experiment]
        proc = subprocess.Popen(cmd, env=env)
        self._procs[slot.name] = proc
        pinned = f"CUDA_VISIBLE_DEVICES={slot.env['CUDA_VISIBLE_DEVICES']}" if slot.device == "cuda" else "no GPU"
        self.console.print(f"worker {slot.name}: pid {proc.pid}, {slot.device}, {pinned}", highlight=False)

    def _signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def _release(self, procs: list[subprocess.Popen[bytes]], why: str, error: str) -> None:
        """Their RUNNING trials are failed and re-queued now, not after the heartbeat grace."""
        if self.release is None or not procs:
            return
        host = socket.gethostname()
        try:
            n = self.release([f"{host}:{p.pid}" for p in procs], error)
        except Exception as exc:  # noqa: BLE001 - the heartbeats will do it later
            self.console.print(f"could not release the trials of stopped workers ({exc}); their heartbeats will")
            return
        if n:
            self.console.print(f"{n} trial(s) of {why} worker(s) failed and re-queued")

    def run(self, *, live: bool = True) -> int:
        """Run until every worker has exited 0 (the experiment is done) or a stop is asked;
        returns the exit code."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in previous:
            signal.signal(s, self._signal)
        for slot in self.slots:
            self._spawn(slot)
        code = 0
        try:
            with Live(console=self.console, refresh_per_second=1, transient=False) if live else _Null() as view:
                last = 0.0
                while True:
                    if self._stopping:
                        code = self._stop_all()
                        break
                    finished = self._reap()
                    if time.monotonic() - last > 2.0:
                        last = time.monotonic()
                        self._refresh(view)
                    if finished:
                        break
                    time.sleep(0.5)
                self._refresh(view)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if any(self._restarts.get(s.name, 0) > MAX_RESTARTS for s in self.slots):
            code = code or 1
        return code

    def _refresh(self, view: Live | None) -> None:
        """Redraw the progress; while the database is unreachable, say so (the workers wait)."""
        if view is None:
            return
        try:
            view.update(Group(*progress_tables(self.read_progress())))
        except TRANSIENT_TYPES as exc:
            if not is_transient(exc):
                raise
            view.update(Text("database unreachable; the workers wait for it", style="yellow"))

    def _reap(self) -> bool:
        """Restart workers that died; True when all have exited cleanly."""
        alive = 0
        for slot in self.slots:
            proc = self._procs[slot.name]
            rc = proc.poll()
            if rc is None:
                alive += 1
            elif rc != 0 and rc != 2:
                self._release([proc], "dead", f"worker exited with {rc}")
                n = self._restarts.get(slot.name, 0) + 1
                self._restarts[slot.name] = n
                if n <= MAX_RESTARTS:
                    self.console.print(f"worker {slot.name} exited with {rc}; restarting ({n}/{MAX_RESTARTS})")
                    self._spawn(slot)
                    alive += 1
                else:
                    self.console.print(f"worker {slot.name} keeps failing (exit {rc}); not restarting it")
            elif rc == 2:
                if self._restarts.get(slot.name, 0) <= MAX_RESTARTS:
                    self.console.print(f"worker {slot.name} exited with 2 (bad input, see its message); not restarting it")
                self._restarts[slot.name] = MAX_RESTARTS + 1  # bad input: restarting cannot help
        return alive == 0

    def _stop_all(self) -> int:
        self.console.print("stopping workers (their running trials are failed and re-queued)…")
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self._procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._release(list(self._procs.values()), "stopped", "interrupted")
        return 130


class _Null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
