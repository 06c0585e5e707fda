"""The worker loop: pull tickets from the experiment's studies until every study has exactly
``n_trials`` COMPLETE trials and every original is trained.

Order of work: originals that tuning studies wait for, then the tuning study furthest behind
whose original is ready, then retrain references. The dataset, splits and originals stay in
memory between trials; the dataset is loaded once and shared by the replicates' workspaces. A
trial that raises is FAIL with the error recorded, and a replacement ticket (same parameters, up
to ``SAME_PARAMS_RETRIES`` times) keeps the count exact. SIGTERM or Ctrl-C: the running trial is
failed and re-queued with its parameters, then the worker exits 0.

Signals only interrupt the long computations (training, unlearning, loading data, waiting);
during the short bookkeeping on the storage (popping a ticket, telling a result, failing a trial
and queueing its replacement) they are noted and acted on right after, so an interruption never
leaves a trial RUNNING or a ticket lost.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import optuna
import torch
from optuna.distributions import FloatDistribution, IntDistribution
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial

from unlearn_opt.data import TensorData, load_dataset
from unlearn_opt.engine.runtime import resolve_device
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.errors import UserError
from unlearn_opt.goals import get_goal
from unlearn_opt.methods import distributions, resolved_space
from unlearn_opt.service import optuna_adapter as rdb
from unlearn_opt.service import tickets
from unlearn_opt.service.board import StudyBoard, Ticket, read_board
from unlearn_opt.service.experiment import Experiment, ensure_tickets, load_experiment
from unlearn_opt.service.naming import ModelKey, StudyKey, model_attrs, model_label
from unlearn_opt.service.originals import (
    CheckpointError,
    OriginalsView,
    install,
    is_duplicate,
    key_of,
    open_store,
    retrain_corrupt,
    store_lost,
    store_model,
    train_model,
)
from unlearn_opt.service.outage import TRANSIENT_TYPES, Outage, is_transient, retrying
from unlearn_opt.service.storage import ArtifactLocation
from unlearn_opt.spec import Spec

log = logging.getLogger("unlearn_opt.worker")

MAX_CONSECUTIVE_FAILURES = 5


class Interrupted(Exception):
    """SIGTERM / SIGINT reached the worker."""


def make_sampler(spec: Spec, *, seed_offset: int) -> optuna.samplers.BaseSampler:
    """The spec's sampler, seeded per worker. TPE uses the constant liar, so concurrent workers
    do not all sample the same point."""
    seed = (spec.sampler.seed + seed_offset) % (2**31)
    name = spec.sampler.name
    if name == "tpe":
        startup = max(1, min(10, spec.n_trials // 2))
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True, multivariate=True, n_startup_trials=startup)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class StudyState:
    key: StudyKey
    study: optuna.Study
    board: StudyBoard


@dataclass
class Worker:
    storage: RDBStorage
    experiment: str
    artifacts: ArtifactLocation
    device: str = "auto"
    max_trials: int | None = None
    poll_seconds: float = 2.0
    on_event: Callable[[str], None] | None = None
    trials_done: int = 0
    _failures_in_a_row: int = 0
    _stop_signal: str | None = None  # set by SIGTERM / SIGINT
    _interruptible: bool = False  # True only around long computations

    def __post_init__(self) -> None:
        self.exp: Experiment = load_experiment(self.storage, self.experiment)
        self.spec = self.exp.spec
        self.dev = resolve_device(self.device)
        self.id = worker_id()
        offset = zlib.crc32(self.id.encode())
        self.studies = {  # one sampler per study (TPE's multivariate search space is per study)
            key: optuna.load_study(study_name=name, storage=self.storage, sampler=make_sampler(self.spec, seed_offset=offset + i))
            for i, (key, name) in enumerate(self.exp.studies.items())
        }
        self.originals = optuna.load_study(study_name=self.exp.originals_study, storage=self.storage)
        self.store = open_store(self.originals, self.artifacts)  # the experiment's own store, or exit 2
        self._data: TensorData | None = None  # loaded once, on the device, shared by the replicates
        self._workspaces: dict[int, Workspace] = {}
        self._last_sweep = 0.0
        self._view: OriginalsView | None = None  # kept once every original is trained
        self._originals_board: StudyBoard | None = None
        self._last_view: tuple[StudyBoard, OriginalsView] | None = None

    # ------------------------------------------------------------ set-up

    @property
    def ws(self) -> Workspace:
        """Replicate 0's workspace."""
        return self.workspace(0)

    def workspace(self, replicate: int) -> Workspace:
        """The workspace of ``replicate`` (its splits and originals, on the dataset this worker
        loaded once), built on first use; its splits must match the stored digest."""
        if replicate not in self._workspaces:
            if self._data is None:
                spec = self.spec
                data = load_dataset(spec.dataset, data_dir=spec.data_dir, synthetic=spec.synthetic, mnist1d=spec.mnist1d)
                self._data = data.to(self.dev)
            ws = Workspace(self.spec.for_replicate(replicate), device=self.dev, data=self._data)
            if ws.splits.digest() != self.exp.splits_digest_of(replicate):
                raise UserError(
                    f"experiment {self.experiment!r}: the splits made from this machine's copy of "
                    f"{self.spec.dataset!r} differ from the stored ones (different data files?)"
                )
            self._workspaces[replicate] = ws
        return self._workspaces[replicate]

    def describe(self) -> str:
        """The start line: who, on which device, with which ``CUDA_VISIBLE_DEVICES``."""
        cvd = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = str(self.dev)
        if self.dev.type == "cuda":
            props = torch.cuda.get_device_properties(self.dev)
            uuid = getattr(props, "uuid", None)
            where += f" ({props.name}" + (f", GPU-{uuid})" if uuid is not None else ")")
        pinned = "unset" if cvd is None else repr(cvd)
        return f"worker {self.id} on {where}, CUDA_VISIBLE_DEVICES={pinned}: {self.experiment}"

    def _say(self, text: str) -> None:
        log.info("[%s] %s", self.id, text)
        if self.on_event is not None:
            self.on_event(text)

    # ------------------------------------------------------------ main loop

    def run(self) -> int:
        """Work until the experiment is done (or ``max_trials``, or a signal); returns trials
        completed."""
        previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
        for s in previous:
            signal.signal(s, self._interrupt)
        outage = Outage(sleep=self._interruptible_sleep)
        try:
            while self._stop_signal is None and (self.max_trials is None or self.trials_done < self.max_trials):
                try:
                    if not self.step():
                        break
                except TRANSIENT_TYPES as exc:
                    if not is_transient(exc):
                        raise
                    waited = outage.wait(exc)  # re-raises once the outage lasts too long
                    self._say(f"database unreachable for {waited:.0f} s ({_first_line(exc)}); retrying")
                    self._forget_view()
                    continue
                lasted = outage.over()
                if lasted is not None:
                    self._say(f"database back after {lasted:.0f} s")
        except Interrupted:
            pass
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        if self._stop_signal is not None:
            self._say(f"{self._stop_signal}: any running trial was failed and re-queued; exiting")
        return self.trials_done

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        self._stop_signal = signal.Signals(signum).name
        if self._interruptible:
            self._interruptible = False
            raise Interrupted(self._stop_signal)

    def _interruptible_sleep(self, seconds: float) -> None:
        with self.interruptible():
            time.sleep(seconds)

    @contextmanager
    def interruptible(self) -> Iterator[None]:
        """A long computation: a signal interrupts it at once (the caller fails its trial)."""
        if self._stop_signal is not None:
            raise Interrupted(self._stop_signal)
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def sweep(self, *, force: bool = False) -> None:
        """Fail stale trials (their workers died); the heartbeat callback re-queues their params."""
        interval = float(self.storage.heartbeat_interval or 10)
        if not force and time.monotonic() - self._last_sweep < interval:
            return
        self._last_sweep = time.monotonic()
        for study in (self.originals, *self.studies.values()):
            if tickets.fail_stale(study):
                self._forget_view()

    def states(self) -> list[StudyState]:
        """Every tuning study's board, from one query that also reads the originals study's board."""
        ids = [rdb.study_id(st) for st in (*self.studies.values(), self.originals)]
        boards = read_board(self.storage, ids)
        self._originals_board = boards[rdb.study_id(self.originals)]
        return [StudyState(key, study, boards[rdb.study_id(study)]) for key, study in self.studies.items()]

    def originals_view(self) -> OriginalsView:
        """The originals study, read again only when its board (states, tickets) has changed since
        the last read; once all are trained it cannot change, so it is read no more."""
        if self._view is not None:
            return self._view
        board = self._originals_board
        if self._last_view is not None and board is not None and board == self._last_view[0]:
            return self._last_view[1]
        view = OriginalsView.read(self.originals)
        self._last_view = (board, view) if board is not None else None
        if view.all_done(self.exp.models_needed()):
            self._view = view
        return view

    def _forget_view(self) -> None:
        """Our own change to the originals study (or an outage): read it afresh next time."""
        self._view = self._last_view = None

    def step(self) -> bool:
        """Do one piece of work, or wait a moment; False when everything is done."""
        self.sweep()
        states = self.states()
        view = self.originals_view()
        n = self.spec.n_trials
        if all(s.board.complete >= n for s in states) and view.all_done(self.exp.models_needed()):
            self._close_leftovers(states, view)
            return False
        needed = {(s.key.width, s.key.replicate, s.key.depth) for s in states if s.board.complete < n}
        for model_ticket in view.claimable():  # first the originals that tuning studies wait for
            mk = key_of(model_ticket)
            if mk.kind == "original" and (mk.width, mk.replicate, mk.depth) in needed and self._train_model(model_ticket):
                return True
        ready = [
            s
            for s in states
            if s.board.waiting and view.ready("original", s.key.width, s.key.sparsity, s.key.replicate, s.key.depth)
        ]
        for st in sorted(ready, key=lambda s: ((s.board.complete + s.board.active) / n, s.board.complete, s.key)):
            for ticket in st.board.waiting:
                if tickets.pop(st.study, ticket.trial_id, user_attrs=self._trial_attrs(st.key), n_trials=n):
                    self._run_ticket(st, ticket, view)
                    return True
        for model_ticket in view.claimable():
            if self._train_model(model_ticket):
                return True
        if self._repair(states, view):
            return True
        with self.interruptible():
            time.sleep(self.poll_seconds)
        return True

    def _repair(self, states: list[StudyState], view: OriginalsView) -> bool:
        """Queue tickets lost between a FAIL and its replacement (a worker killed in between, or
        a trial past its stale retries); True if any was queued."""
        n = self.spec.n_trials
        repaired = False
        for st in states:
            if st.board.complete + st.board.active < n and ensure_tickets(st.study, n):
                self._say(f"{self.exp.studies[st.key]}: re-queued lost tickets")
                repaired = True
        queued = {key_of(t) for t in view.waiting} | set(view.running)
        for needed_key in self.exp.models_needed():
            key = needed_key._replace(width=float(needed_key.width), sparsity=float(needed_key.sparsity))
            if key not in view.complete and key not in queued:
                self.originals.enqueue_trial({}, user_attrs=model_attrs(key))
                self._say(f"re-queued the lost ticket of {model_label(key)}")
                self._forget_view()
                repaired = True
        return repaired

    def _close_leftovers(self, states: list[StudyState], view: OriginalsView) -> None:
        """Tickets left over by a race (a stale trial re-queued while its worker also re-queued
        it) once everything is done: popped and closed as PRUNED with ``surplus = True``."""
        leftovers = [(st.study, t.trial_id) for st in states for t in st.board.waiting]
        leftovers += [(self.originals, rdb.trial_id(t)) for t in OriginalsView.read(self.originals).waiting]
        for study, trial_id in leftovers:
            if tickets.pop(study, trial_id):
                tickets.close_surplus(self.storage, trial_id)

    # ------------------------------------------------------------ originals

    def _train_model(self, ticket: FrozenTrial) -> bool:
        trial_id = rdb.trial_id(ticket)
        if not tickets.pop(self.originals, trial_id, user_attrs={"worker": self.id}):
            return False
        key = key_of(ticket)
        if is_duplicate(self.originals, trial_id):
            tickets.close_surplus(self.storage, trial_id)
            self._forget_view()
            return True
        trial = rdb.popped_trial(self.originals, trial_id)
        label = model_label(key)
        self._say(f"training {label} on {self.dev}")
        try:
            with tickets.heartbeat(self.originals, trial_id):
                with self.interruptible():
                    if key.sparsity > 0:
                        self._ensure_original(key.width, 0.0, OriginalsView.read(self.originals), key.replicate, depth=key.depth)
                    model, record = train_model(self.workspace(key.replicate), key)
                retrying(
                    lambda: store_model(self.originals, trial, key, model, record, self.store), sleep=self._interruptible_sleep
                )
        except Interrupted:
            self._fail(self.originals, trial, "interrupted", requeue={}, count_retry=False)
            raise
        except UserError:
            self._fail(self.originals, trial, traceback.format_exc(limit=3), requeue={})
            raise
        except UpdateFinishedTrialError:
            self._say(f"{label}: was failed as stale meanwhile; its retry counts instead")
            return True
        except Exception as exc:  # noqa: BLE001 - recorded on the trial, re-queued
            self._fail(self.originals, trial, f"{type(exc).__name__}: {exc}", requeue={})
            self._count_failure(exc)
            return True
        self._failures_in_a_row = 0
        self._say(
            f"{label}: {record.param_count:,} parameters, train error {record.train_error:.4f}, "
            f"test error {record.test_error:.4f} ({record.train_seconds:.1f} s)"
        )
        return True

    def _ensure_original(self, width: float, sparsity: float, view: OriginalsView, replicate: int = 0, *, depth: int = 1) -> None:
        ws = self.workspace(replicate)
        if ws.has_original(width, sparsity, depth=depth):
            return
        key = ModelKey("original", float(width), float(sparsity), replicate, depth)
        trial = view.complete.get(key)
        if trial is None:
            raise RuntimeError(f"{model_label(key)} is not trained yet")
        try:
            install(ws, trial, self.store)
        except CheckpointError as exc:  # never a silently wrong model: retrain it, fail this trial
            if exc.unreadable:  # the store refused the read: the checkpoint may be whole, mark nothing
                raise UserError(f"artifacts: {exc} (nothing was marked for retraining; fix the store's access)") from None
            lost = store_lost(self.originals, self.artifacts) if exc.missing else None
            if lost is not None:  # not the checkpoint, the whole store is gone: stop, mark nothing
                raise lost from None
            retrain_corrupt(self.originals, trial, exc.artifact_id)
            self._forget_view()
            raise

    # ------------------------------------------------------------ tuning trials

    def _suggest(self, trial: optuna.Trial, key: StudyKey) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name, dist in distributions(key.method, self.spec).items():
            if isinstance(dist, IntDistribution):
                params[name] = trial.suggest_int(name, dist.low, dist.high, log=dist.log)
            elif isinstance(dist, FloatDistribution):
                params[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
            else:
                raise TypeError(f"{key.method}.{name}: cannot sample a {type(dist).__name__}")
        return params

    def _trial_attrs(self, key: StudyKey) -> dict[str, Any]:
        """What a tuning trial records when it is popped: who runs it, where, and the method's
        hyperparameters that the spec fixes (not searched)."""
        _, fixed = resolved_space(key.method, self.spec)
        return {"fixed_params": fixed, "worker": self.id, "device": str(self.dev)}

    def _run_ticket(self, st: StudyState, ticket: Ticket, view: OriginalsView) -> None:
        study, key = st.study, st.key
        name = self.exp.studies[key]
        trial = rdb.popped_trial(study, ticket.trial_id)
        params: dict[str, Any] = {}
        try:
            with tickets.heartbeat(study, ticket.trial_id):
                params = self._suggest(trial, key)
                with self.interruptible():
                    self._ensure_original(key.width, key.sparsity, view, key.replicate, depth=key.depth)
                    result = self.workspace(key.replicate).run_trial(
                        width=key.width,
                        sparsity=key.sparsity,
                        method=key.method,
                        goal=key.goal,
                        params=params,
                        depth=key.depth,
                    )
            retrying(
                lambda: tickets.complete(study, trial, result.values, user_attrs=result.metrics), sleep=self._interruptible_sleep
            )
        except Interrupted:
            self._fail(study, trial, "interrupted", requeue=params, count_retry=False)
            raise
        except UpdateFinishedTrialError:
            self._say(f"{name} trial {ticket.number}: was failed as stale meanwhile; its retry counts instead")
            return
        except UserError:
            self._fail(study, trial, traceback.format_exc(limit=3), requeue=params)
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the trial, re-queued
            self._fail(study, trial, f"{type(exc).__name__}: {exc}", requeue=params)
            self._count_failure(exc)
            return
        self._failures_in_a_row = 0
        self.trials_done += 1
        first, second = get_goal(key.goal).metric_names
        self._say(
            f"{name} trial {ticket.number}: {first}={result.values[0]:.4f} "
            f"{second}={result.values[1]:.4f} ({result.metrics['unlearn_seconds']:.1f} s unlearning)"
        )

    def _fail(
        self, study: optuna.Study, trial: optuna.Trial, error: str, *, requeue: dict[str, Any], count_retry: bool = True
    ) -> None:
        """FAIL with the error recorded, and a replacement ticket (see ``tickets.fail_and_requeue``)."""
        tickets.fail_and_requeue(study, rdb.trial_id(trial), error, params=requeue, count_retry=count_retry)
        self._forget_view()

    def _count_failure(self, exc: BaseException) -> None:
        self._failures_in_a_row += 1
        self._say(f"trial failed: {type(exc).__name__}: {exc}")
        if self._failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
            raise RuntimeError(
                f"{MAX_CONSECUTIVE_FAILURES} trials in a row failed on this worker (last: {type(exc).__name__}: {exc})"
            )


def _first_line(exc: BaseException) -> str:
    cause = exc.__cause__ or exc
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
