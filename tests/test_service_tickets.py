"""Tickets (WAITING trials) under concurrency: each is popped by exactly one process, a stale
trial is failed and retried exactly once however many workers sweep, a failure queues exactly
one replacement. On SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import sqlalchemy
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from unlearn_opt.service import optuna_adapter as rdb
from unlearn_opt.service import tickets
from unlearn_opt.service.board import read_board
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
FAST_HEARTBEAT = {"UNLEARN_OPT_HEARTBEAT_SECONDS": "1", "UNLEARN_OPT_GRACE_SECONDS": "2"}


@pytest.fixture(autouse=True)
def fast_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in FAST_HEARTBEAT.items():
        monkeypatch.setenv(k, v)


def _popper(url: str, barrier: Any, queue: Any) -> None:
    os.environ.update(FAST_HEARTBEAT)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    study = optuna.load_study(study_name="s", storage=storage)
    barrier.wait()
    got: list[int] = []
    while True:
        waiting = read_board(storage, [rdb.study_id(study)])[rdb.study_id(study)].waiting
        if not waiting:
            break
        for ticket in waiting:
            if tickets.pop(study, ticket.trial_id):
                got.append(ticket.trial_id)
                break
    queue.put(got)


def _sweeper(url: str, barrier: Any, queue: Any) -> None:
    os.environ.update(FAST_HEARTBEAT)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="s", storage=open_storage(url))
    barrier.wait()
    queue.put(tickets.fail_stale(study))


def _in_processes(target: Any, url: str, n: int) -> list[Any]:
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, barrier, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def _new_study(url: str, n: int) -> optuna.Study:
    study = optuna.create_study(study_name="s", storage=open_storage(url, create=True), directions=["minimize"] * 2)
    for _ in range(n):
        study.enqueue_trial({}, user_attrs={"ticket": True})
    return study


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'storage' / 'db.sqlite'}"
    return request.getfixturevalue("postgres_url")


@pytest.mark.slow
def test_each_ticket_is_popped_by_exactly_one_process(url: str) -> None:
    """Optuna's own WAITING → RUNNING update is not atomic on SQLite (measured: 17 double pops
    out of 300 tickets with 4 processes); tickets.pop is, on both databases."""
    _new_study(url, 150)
    got = [i for part in _in_processes(_popper, url, 3) for i in part]
    assert len(got) == 150 and len(set(got)) == 150


@pytest.mark.slow
def test_a_stale_trial_is_failed_and_retried_once_however_many_sweep(url: str) -> None:
    study = _new_study(url, 6)
    for t in study.get_trials():
        assert tickets.pop(study, rdb.trial_id(t))
        rdb.storage_of(study).set_trial_param(rdb.trial_id(t), "x", 0.5, optuna.distributions.FloatDistribution(0, 1))
    time.sleep(3.5)  # grace period 2 s: all six are stale now
    failed = _in_processes(_sweeper, url, 3)
    assert sum(failed) == 6
    trials = study.get_trials()
    assert [t.state for t in trials[:6]] == [TrialState.FAIL] * 6
    retries = trials[6:]
    assert sorted(t.system_attrs["failed_trial"] for t in retries) == list(range(6))  # one each
    assert all(t.state == TrialState.WAITING and t.params == {"x": 0.5} for t in retries)


def test_fail_and_requeue_queues_one_replacement(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = _new_study(url, 1)
    trial_id = rdb.trial_id(study.get_trials()[0])
    for attempt in range(tickets.SAME_PARAMS_RETRIES + 1):
        assert tickets.pop(study, trial_id)
        assert tickets.fail_and_requeue(study, trial_id, f"boom {attempt}", params={"x": 0.25})
        assert not tickets.fail_and_requeue(study, trial_id, "again", params={"x": 0.25})  # not twice
        trials = study.get_trials()
        assert trials[-2].state == TrialState.FAIL and trials[-2].user_attrs["error"] == f"boom {attempt}"
        retry = trials[-1]
        assert retry.state == TrialState.WAITING and retry.user_attrs["retry_of"] == trials[-2].number
        assert retry.user_attrs["ticket"] is True
        trial_id = rdb.trial_id(retry)
    # after SAME_PARAMS_RETRIES retries with the same parameters, a fresh ticket
    assert study.get_trials()[-1].system_attrs.get("fixed_params") == {}
    assert [t.state for t in study.get_trials()].count(TrialState.WAITING) == 1


def test_finish_only_moves_running_trials(tmp_path: Path) -> None:
    study = _new_study(f"sqlite:///{tmp_path / 'db.sqlite'}", 1)
    trial_id = rdb.trial_id(study.get_trials()[0])
    assert not tickets.finish(study, trial_id, TrialState.FAIL)  # still WAITING
    assert tickets.pop(study, trial_id) and not tickets.pop(study, trial_id)
    assert tickets.finish(study, trial_id, TrialState.PRUNED)
    assert not tickets.finish(study, trial_id, TrialState.FAIL)
    assert study.get_trials()[0].state == TrialState.PRUNED
    with pytest.raises(ValueError):
        tickets.finish(study, trial_id, TrialState.COMPLETE)


def test_a_popped_trial_takes_parameters_and_is_told(url: str) -> None:
    """pop registers only the popped trial in Optuna's storage cache; setting parameters and
    telling through optuna.Trial work as after ask(), and the study reads back the final state."""
    study = _new_study(url, 3)
    study.get_trials()  # the cache has seen the study (and the WAITING tickets)
    ids = [rdb.trial_id(t) for t in study.get_trials()]
    for i, trial_id in enumerate(ids):
        assert tickets.pop(study, trial_id)
        trial = rdb.popped_trial(study, trial_id)
        x = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, [x, float(i)])
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert [t.values[1] for t in trials] == [0.0, 1.0, 2.0]
    assert all(t.values[0] == t.params["x"] for t in trials)


def test_pop_records_the_heartbeat_and_attributes_with_the_move(url: str) -> None:
    study = _new_study(url, 2)
    first, second = (rdb.trial_id(t) for t in study.get_trials())
    assert tickets.pop(study, first, user_attrs={"worker": "host:1", "fixed_params": {"momentum": 0.9}})
    assert not tickets.pop(study, first, user_attrs={"worker": "host:2"})  # taken: nothing written
    trial = rdb.storage_of(study).get_trial(first)
    assert trial.state == TrialState.RUNNING and trial.datetime_start is not None
    assert trial.user_attrs == {"ticket": True, "worker": "host:1", "fixed_params": {"momentum": 0.9}}
    backend = rdb.backend(study)
    with backend.engine.connect() as conn:
        beats = conn.execute(sqlalchemy.text("SELECT trial_id FROM trial_heartbeats")).scalars().all()
    assert beats == [first]  # the first beat came with the pop: a process killed now leaves a stale trial
    assert rdb.storage_of(study).get_trial(second).state == TrialState.WAITING


def test_complete_is_tell_with_the_metrics(url: str) -> None:
    """complete() stores what study.tell() and set_trial_user_attr() would: values (inf too),
    state, datetimes, attributes; the sampler's after_trial hook sees the trial; a trial failed
    meanwhile, or NaN values, are refused and nothing is written."""
    study = _new_study(url, 4)
    seen: list[tuple[int, TrialState, list[float] | None]] = []
    study.sampler.after_trial = lambda st, t, state, values: seen.append((t.number, state, values))  # type: ignore[method-assign]
    ids = [rdb.trial_id(t) for t in study.get_trials()]
    told = []
    for i, trial_id in enumerate(ids[:2]):
        assert tickets.pop(study, trial_id)
        trial = rdb.popped_trial(study, trial_id)
        x = trial.suggest_float("x", 0.0, 1.0)
        tickets.complete(study, trial, [x, float("inf") if i else 0.5], user_attrs={"val_error": 0.5, "nested": [1, {"a": 2}]})
        told.append(x)
    trials = study.get_trials()  # through Optuna's cache, which had the popped trials as placeholders
    assert [t.state for t in trials[:2]] == [TrialState.COMPLETE] * 2
    assert [t.values for t in trials[:2]] == [[told[0], 0.5], [told[1], float("inf")]]
    assert [t.params["x"] for t in trials[:2]] == told
    assert all(t.user_attrs == {"ticket": True, "val_error": 0.5, "nested": [1, {"a": 2}]} for t in trials[:2])
    assert all(t.datetime_complete is not None and t.datetime_complete >= t.datetime_start for t in trials[:2])
    assert seen == [(0, TrialState.COMPLETE, [told[0], 0.5]), (1, TrialState.COMPLETE, [told[1], float("inf")])]
    assert 0 in [t.number for t in study.best_trials]  # (x, inf) cannot dominate (x', 0.5)
    stale = ids[2]
    assert tickets.pop(study, stale)
    trial = rdb.popped_trial(study, stale)
    assert tickets.finish(study, stale, TrialState.FAIL)  # another worker failed it as stale
    with pytest.raises(UpdateFinishedTrialError):
        tickets.complete(study, trial, [0.1, 0.1], user_attrs={"late": 1})
    never_popped = rdb.popped_trial(study, ids[3])
    with pytest.raises(ValueError):
        tickets.complete(study, never_popped, [float("nan"), 0.1], user_attrs={})
    with pytest.raises(UpdateFinishedTrialError):
        tickets.complete(study, never_popped, [0.1, 0.1], user_attrs={"late": 1})  # still WAITING
    after = study.get_trials()
    assert after[2].state == TrialState.FAIL and "late" not in after[2].user_attrs and after[2].values is None
    assert after[3].state == TrialState.WAITING and "late" not in after[3].user_attrs and after[3].values is None


def test_pop_closes_a_surplus_ticket(url: str) -> None:
    """n_trials = 2 and three tickets (two processes repaired at once): the ticket numbered after
    two active ones is closed as PRUNED surplus, in the pop's transaction; once one of those two
    has failed for good, it is a ticket like any other."""
    study = _new_study(url, 3)
    a, b, c = (rdb.trial_id(t) for t in study.get_trials())
    assert tickets.pop(study, a, n_trials=2)  # nothing ahead of it
    assert tickets.pop(study, b, n_trials=2)  # one ahead
    assert not tickets.pop(study, c, n_trials=2)  # two ahead: surplus
    trial = study.get_trials()[2]
    assert trial.state == TrialState.PRUNED and trial.user_attrs["surplus"] is True
    study.enqueue_trial({})
    assert tickets.finish(study, b, TrialState.FAIL)
    assert tickets.pop(study, rdb.trial_id(study.get_trials()[3]), n_trials=2)  # only a is ahead now


def test_close_surplus_only_closes_running_tickets(url: str) -> None:
    study = _new_study(url, 1)
    trial_id = rdb.trial_id(study.get_trials()[0])
    assert not tickets.close_surplus(study, trial_id)  # still WAITING: nothing written
    assert "surplus" not in study.get_trials()[0].user_attrs
    assert tickets.pop(study, trial_id) and tickets.close_surplus(study, trial_id)
    assert not tickets.close_surplus(study, trial_id)
    trial = study.get_trials()[0]
    assert trial.state == TrialState.PRUNED and trial.user_attrs["surplus"] is True
