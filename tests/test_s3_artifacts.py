"""``s3://bucket/prefix`` artifact stores (the Docker image's ``s3`` extra) against moto's S3:
checkpoints round-trip under the prefix, and ``delete`` removes an experiment's objects only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.service_helpers import write_spec
from unlearn_opt.cli import cli
from unlearn_opt.service.storage import ArtifactLocation, resolve_artifacts

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")

BUCKET = "unlearn-test"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """A moto S3 with one bucket; fake credentials, no network."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("UNLEARN_OPT_ARTIFACTS", raising=False)
    with moto.mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def keys(client: object) -> list[str]:
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))  # type: ignore[attr-defined]


def test_s3_store_round_trip_under_its_prefix(s3: object) -> None:
    from optuna.artifacts.exceptions import ArtifactNotFound

    location = resolve_artifacts("s3://unlearn-test/runs/a", "sqlite:///x.db")
    assert location == ArtifactLocation("s3://unlearn-test/runs/a")
    location.check()
    store = location.open()
    store.write("ckpt-1", io.BytesIO(b"weights"))
    assert keys(s3) == ["runs/a/ckpt-1"]
    assert store.open_reader("ckpt-1").read() == b"weights"
    store.remove("ckpt-1")
    assert keys(s3) == []
    with pytest.raises(ArtifactNotFound):
        store.open_reader("ckpt-1")


def test_create_study_and_delete_on_s3(s3: object, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'x.db'}"
    for name in ("tiny", "other"):
        out = CliRunner().invoke(
            cli,
            ["create-study", str(write_spec(tmp_path, name=name)), "--storage", storage, "--artifacts", f"s3://{BUCKET}/{name}"],
        )
        assert out.exit_code == 0, out.output
    assert [k.split("/")[0] for k in keys(s3)] == ["other", "tiny"]  # each experiment's splits
    gone = CliRunner().invoke(cli, ["delete", "tiny", "--storage", storage, "--yes"])  # the store recorded at creation
    assert gone.exit_code == 0, gone.output
    assert f"s3://{BUCKET}/tiny" in gone.output
    assert [k.split("/")[0] for k in keys(s3)] == ["other"]
