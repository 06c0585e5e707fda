"""create-study: idempotent, a changed spec refused; bad specs, storage URLs, artifact stores and
GPU indices are one line and exit 2, with nothing written."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import optuna
import pytest
from sqlalchemy.engine import make_url

from tests.service_helpers import cli_env, private_cluster, run_cli, sqlite_url, write_spec
from unlearn_opt.service.storage import mask_url, open_storage

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.mark.slow
def test_a_large_experiment_is_listed_one_row_per_method_and_goal(tmp_path: Path) -> None:
    """More than 24 studies: one row per (sparsity, method, goal) with its widths, not 36 rows."""
    text = write_spec(tmp_path, n_trials=1).read_text()
    text = text.replace("widths = [0.25, 1.0]", "widths = [0.25, 0.5, 1.0]\nsparsities = [0.0, 0.5, 0.9]")
    text = text.replace('goals = ["privacy"]', 'goals = ["privacy", "bias_removal"]')
    (tmp_path / "big.toml").write_text(text.replace('name = "tiny"', 'name = "big"'))
    out = run_cli("create-study", "big.toml", cwd=tmp_path, env=cli_env(COLUMNS="200"))
    assert out.returncode == 0, out.stderr
    assert "36 studies, 12 original/retrain models" in out.stdout
    rows = [line for line in out.stdout.splitlines() if "big/w*/" in line]
    assert len(rows) == 12 and all("0.25 0.5 1" in row for row in rows)
    assert any("big/w*/s0.9/l1_sparse/bias_removal" in row for row in rows)
    studies = optuna.get_all_study_names(storage=open_storage(sqlite_url(tmp_path)))
    assert "big/w0.5/s0.9/l1_sparse/bias_removal" in studies and len(studies) == 37  # + the originals


@pytest.mark.slow
def test_create_study_is_idempotent_and_refuses_a_changed_spec(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n_trials=3)
    env = cli_env()
    first = run_cli("create-study", str(spec), cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert "tiny/w1/l1_sparse/privacy" in first.stdout and "created" in first.stdout
    again = run_cli("create-study", str(spec), cwd=tmp_path, env=env)
    assert again.returncode == 0 and "already there, unchanged" in again.stdout
    storage = open_storage(sqlite_url(tmp_path))
    names = {s.study_name for s in storage.get_all_studies()}
    assert names == {
        "tiny/w0.25/scrub/privacy",
        "tiny/w0.25/l1_sparse/privacy",
        "tiny/w1/scrub/privacy",
        "tiny/w1/l1_sparse/privacy",
        "tiny/_originals",
    }
    study = optuna.load_study(study_name="tiny/w1/scrub/privacy", storage=storage)
    assert len(study.get_trials(deepcopy=False)) == 3  # n_trials tickets, none added the second time
    assert study.metric_names == ["privacy_gap", "val_error"]
    assert [d.name for d in study.directions] == ["MINIMIZE", "MINIMIZE"]
    assert study.user_attrs["spec"]["name"] == "tiny" and len(study.user_attrs["spec_hash"]) == 64
    originals = optuna.load_study(study_name="tiny/_originals", storage=storage)
    assert len(originals.get_trials()) == 4  # 2 originals + 2 retrain references, queued once
    assert originals.user_attrs["splits_digest"] == study.user_attrs["splits_digest"]
    assert originals.user_attrs["splits_artifact_id"]
    # in optuna-dashboard it says what it is: a record of trained models, not an optimisation
    from optuna_dashboard import get_note

    assert originals.metric_names == ["test_error (recorded, not optimised)"]
    assert "Not an optimisation" in get_note(originals) and "Not an optimisation" in originals.user_attrs["about"]

    changed = write_spec(tmp_path, n_trials=5)
    refused = run_cli("create-study", str(changed), cwd=tmp_path, env=env)
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "already exists with a different spec" in refused.stderr
    assert "--new-version" in refused.stderr and "Traceback" not in refused.stderr
    assert {s.study_name for s in storage.get_all_studies()} == names  # nothing written
    versioned = run_cli("create-study", str(changed), "--new-version", cwd=tmp_path, env=env)
    assert versioned.returncode == 0 and "tiny.v2/w1/scrub/privacy" in versioned.stdout


@pytest.mark.slow
def test_bad_spec_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "b"\ndataset = "digits"\narchitecture = "cnn"\nwidths = [1]\nn_trials = -3\n')
    out = run_cli("create-study", str(bad), cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == f"error: spec {bad}: n_trials: must be > 0 (got -3)"
    assert not (tmp_path / "storage").exists()
    missing = tmp_path / "cifar.toml"
    missing.write_text(
        f'name = "c"\ndataset = "cifar10"\ndata_dir = "{tmp_path / "nope"}"\narchitecture = "resnet18"\nwidths = [1]\n'
    )
    out = run_cli("create-study", str(missing), cwd=tmp_path)
    assert out.returncode == 2 and "cifar10: data_dir" in out.stderr and not (tmp_path / "storage").exists()
    assert len(out.stderr.strip().splitlines()) == 1
    out = run_cli("create-study", str(tmp_path / "absent.toml"), cwd=tmp_path)
    assert out.returncode == 2 and not (tmp_path / "storage").exists()


@pytest.mark.slow
def test_wrong_password_is_one_masked_line(tmp_path: Path) -> None:
    """A real server that asks for a password (scram-sha-256): a wrong one is one masked line and
    exit 2 for create-study and worker, with nothing written; the right one works and is shown
    nowhere."""
    spec = write_spec(tmp_path)
    with private_cluster(password="right-Pw9") as (url, _):
        base = make_url(url)
        wrong = base.set(password="s3cret").render_as_string(hide_password=False)
        for command in (["create-study", str(spec)], ["worker", "tiny"]):
            out = run_cli(*command, "--storage", wrong, cwd=tmp_path)
            assert out.returncode == 2, out.stderr
            line = out.stderr.strip()
            assert len(line.splitlines()) == 1 and "Traceback" not in line
            assert "password authentication failed" in line and "s3cret" not in line, line
            assert f"postgres:***@127.0.0.1:{base.port}/postgres" in line
        assert not (tmp_path / "storage").exists()
        right = base.set(password="right-Pw9").render_as_string(hide_password=False)
        out = run_cli("create-study", str(spec), "--storage", right, "--artifacts", str(tmp_path / "art"), cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert "right-Pw9" not in out.stdout + out.stderr and "postgres:***@" in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgresql+psycopg://alice:s3cret@127.0.0.1:1/x", "cannot connect"),  # unreachable host
        ("mysql://alice:s3cret@127.0.0.1/x", "unsupported database"),
        ("not a url", "is not a database URL"),
    ],
)
def test_bad_storage_urls_exit_2_masked_and_write_nothing(tmp_path: Path, url: str, words: str) -> None:
    spec = write_spec(tmp_path)
    out = run_cli("create-study", str(spec), "--storage", url, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert words in out.stderr and "s3cret" not in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "storage").exists()


@pytest.mark.slow
def test_storage_url_from_the_environment_and_unusable_sqlite_folder(tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = run_cli("create-study", str(spec), cwd=tmp_path, env=cli_env(UNLEARN_OPT_STORAGE=f"sqlite:///{blocker}/x/db.sqlite"))
    assert out.returncode == 2 and "cannot create the database file" in out.stderr and "is not a folder" in out.stderr
    assert not (tmp_path / "storage").exists()


@pytest.mark.slow
def test_an_s3_artifact_store_without_boto3_is_one_line(tmp_path: Path) -> None:
    if importlib.util.find_spec("boto3") is not None:
        pytest.skip("boto3 is installed here")
    out = run_cli("create-study", str(write_spec(tmp_path)), "--artifacts", "s3://bucket/prefix", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == "error: artifacts: s3:// needs boto3 (pip install boto3)", out.stderr
    assert not (tmp_path / "storage").exists()


@pytest.mark.slow
def test_unknown_experiment_and_missing_storage(tmp_path: Path) -> None:
    out = run_cli("status", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "no such database file" in out.stderr
    assert not (tmp_path / "storage").exists()  # status does not create the default storage
    write_spec(tmp_path)
    assert run_cli("create-study", str(tmp_path / "tiny.toml"), cwd=tmp_path).returncode == 0
    out = run_cli("worker", "nope", cwd=tmp_path)
    assert out.returncode == 2 and "experiment 'nope' does not exist in this storage (known: tiny)" in out.stderr


@pytest.mark.slow
def test_launch_rejects_a_gpu_that_does_not_exist(tmp_path: Path) -> None:
    import torch

    missing = torch.cuda.device_count()  # on a machine without GPUs: --gpus 0
    out = run_cli("launch", "tiny", "--gpus", str(missing), cwd=tmp_path)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert f"--gpus: GPU {missing} is not visible here (" in out.stderr
    assert not (tmp_path / "storage").exists()


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"gpus": "x"}, "'x' is not a GPU index"),
        ({"gpus": "0,0"}, "listed twice"),
        ({"gpus": "0", "workers_per_gpu": 0}, "--workers-per-gpu: must be >= 1"),
        ({"cpu_workers": -1}, "--cpu-workers: must be >= 0"),
        ({}, "no workers asked for"),
    ],
)
def test_launch_slots_are_checked(kwargs: dict, words: str) -> None:
    from unlearn_opt.errors import UserError
    from unlearn_opt.service.launch import VisibleGpus, plan_slots

    args = {"gpus": None, "workers_per_gpu": 1, "cpu_workers": 0, "visible": VisibleGpus(("0", "1"), None), **kwargs}
    with pytest.raises(UserError, match=re.escape(words)):
        plan_slots(**args)


def test_launch_slots_pin_each_worker_to_one_gpu() -> None:
    from unlearn_opt.service.launch import VisibleGpus, plan_slots

    slots = plan_slots(gpus="0,1", workers_per_gpu=2, cpu_workers=1, visible=VisibleGpus(("0", "1"), None))
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["0", "0", "1", "1", ""]
    assert [s.device for s in slots] == ["cuda"] * 4 + ["cpu"]


def test_mask_url_hides_passwords() -> None:
    assert mask_url("postgresql+psycopg://u:p%40ss@h:5432/d") == "postgresql+psycopg://u:***@h:5432/d"
    assert mask_url("sqlite:///storage/x.db") == "sqlite:///storage/x.db"
    assert "pw" not in mask_url("garbage://u:pw@")


def test_create_study_makes_the_splits_a_workspace_makes_without_building_one(tmp_path: Path) -> None:
    import torch

    from unlearn_opt.engine.workspace import Workspace, spec_splits
    from unlearn_opt.spec import load_spec

    spec = load_spec(write_spec(tmp_path))
    assert spec_splits(spec).digest() == Workspace(spec, device=torch.device("cpu")).splits.digest()
