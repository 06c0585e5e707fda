"""Real worker processes against a real PostgreSQL ($UNLEARN_OPT_TEST_POSTGRES)."""

from __future__ import annotations

import time
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.trial import TrialState
from sqlalchemy.engine import make_url

from tests.service_helpers import check_exact, cli_env, kill_mid_work, run_cli, start_worker, wait_all, write_spec
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.storage import open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)
pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # real worker processes


def test_three_workers_on_postgres_end_exact(tmp_path: Path, postgres_url: str) -> None:
    spec = write_spec(tmp_path, n_trials=4)
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    out = run_cli("create-study", str(spec), cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert "tiny/w0.25/scrub/privacy" in out.stdout and "postgres@127.0.0.1" in out.stdout
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    logs = wait_all(workers)
    counts = check_exact(postgres_url, "tiny", n_trials=4)
    assert counts["failed"] == 0 and counts["original_trials"] == 4  # each original trained once
    assert sum(log.count("training ") for log in logs) == 4
    assert sum("trial" in log and "val_error=" in log for log in logs) >= 2  # the work was shared
    status = run_cli("status", "tiny", "--json", cwd=tmp_path, env=env)
    assert status.returncode == 0 and '"complete": 16' in status.stdout
    table = run_cli("status", "tiny", cwd=tmp_path, env=env)
    assert table.returncode == 0 and "4/4" in table.stdout and "retrain" in table.stdout


def test_sigkill_mid_trial_still_ends_exact(tmp_path: Path, postgres_url: str) -> None:
    spec = write_spec(tmp_path, n_trials=3, low=40, high=60)  # trials long enough to be caught mid-way
    env = cli_env(UNLEARN_OPT_STORAGE=postgres_url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    assert run_cli("create-study", str(spec), cwd=tmp_path, env=env).returncode == 0
    workers = [start_worker("tiny", cwd=tmp_path, env=env) for _ in range(3)]
    storage = open_storage(postgres_url)
    exp = load_experiment(storage, "tiny")
    kill = None
    deadline = time.monotonic() + 180
    while (kill is None or not kill.caught) and time.monotonic() < deadline:
        if kill is not None:  # the trial ended just before the kill: replace the victim, try again
            workers = [w for w in workers if w is not kill.victim] + [start_worker("tiny", cwd=tmp_path, env=env)]
        kill = kill_mid_work(storage, exp, workers, "trial")
        time.sleep(0.2)
    assert kill is not None and kill.caught, "no tuning trial caught running"
    wait_all([w for w in workers if w is not kill.victim])
    counts = check_exact(postgres_url, "tiny", n_trials=3)
    trials = optuna.load_study(study_name=kill.study, storage=storage).get_trials(deepcopy=False)
    assert trials[kill.number].state == TrialState.FAIL  # failed as stale by another worker
    retried = [t for t in trials if t.system_attrs.get("failed_trial") == kill.number]
    assert len(retried) == 1 and retried[0].state == TrialState.COMPLETE
    assert retried[0].params == trials[kill.number].params  # the same parameters, retried
    assert counts["failed"] >= 1


def test_missing_database_unknown_role_write_nothing(tmp_path: Path, postgres_url: str) -> None:
    from sqlalchemy.engine import make_url

    spec = write_spec(tmp_path)
    base = make_url(postgres_url)
    for url, words in [
        (base.set(database="uo_no_such_db"), 'database "uo_no_such_db" does not exist'),
        (base.set(username="uo_no_such_role", password="s3cret"), "uo_no_such_role"),
    ]:
        out = run_cli("create-study", str(spec), "--storage", url.render_as_string(hide_password=False), cwd=tmp_path)
        assert out.returncode == 2, out.stderr
        assert words in out.stderr and "s3cret" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
        assert "***" in out.stderr or "uo_no_such_db" in out.stderr
    assert not (tmp_path / "storage").exists()


def test_a_password_in_the_storage_url_is_never_written_or_shown(tmp_path: Path, postgres_url: str) -> None:
    """The test server trusts local connections, so a password in the URL is accepted and ignored:
    a whole run (create, worker, status, report with dashboard notes) shows and stores it nowhere:
    not in any output, not in any file it writes, not in any row of the database."""
    password = "pw-Zq81xK"
    url = str(make_url(postgres_url).set(password=password).render_as_string(hide_password=False))
    spec = write_spec(tmp_path, n_trials=2)
    env = cli_env(UNLEARN_OPT_STORAGE=url, UNLEARN_OPT_ARTIFACTS=str(tmp_path / "artifacts"))
    outputs = []
    for args in (("create-study", str(spec)), ("status", "tiny"), ("status", "tiny", "--json")):
        out = run_cli(*args, cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stderr
        outputs += [out.stdout, out.stderr]
    outputs += wait_all([start_worker("tiny", cwd=tmp_path, env=env)])
    out = run_cli("report", "tiny", "--out", str(tmp_path / "report"), cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    outputs += [out.stdout, out.stderr]
    assert "***" in outputs[0] and not any(password in text for text in outputs)
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".csv", ".md", ".json", ".html", ".toml", ".txt")]
    assert any(p.name == "report.html" for p in files)
    assert not [p for p in files if password in p.read_text(errors="replace")]
    engine = sqlalchemy.create_engine(postgres_url)
    try:
        meta = sqlalchemy.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            rows = {t.name: [str(tuple(r)) for r in conn.execute(t.select())] for t in meta.sorted_tables}
    finally:
        engine.dispose()
    assert sum(len(r) for r in rows.values()) > 100 and "study_user_attributes" in rows
    assert not [name for name, table_rows in rows.items() if any(password in r for r in table_rows)]
