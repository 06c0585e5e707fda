"""`unlearn-opt trial` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # the CLI in a subprocess


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "unlearn_opt", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.slow
def test_trial_json_metrics_are_consistent(tmp_path: Path) -> None:
    spec = tmp_path / "s.toml"
    text = (ROOT / "studies" / "quickstart.toml").read_text()
    spec.write_text(text.replace("epochs = 40", "epochs = 10"))
    out = cli(
        "trial",
        str(spec),
        "--width",
        "1",
        "--method",
        "scrub",
        "--goal",
        "privacy",
        "--param",
        "epochs=2",
        "--device",
        "cpu",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    m = result["metrics"]
    for name in ("retain_error", "forget_error", "forget_test_error", "val_error", "test_error", "forget_error_true"):
        assert 0.0 <= m[name] <= 1.0
    assert m["privacy_gap"] == pytest.approx(abs(m["forget_error"] - m["forget_test_error"]))
    assert 0.0 <= m["mia_auc"] <= 1.0 and 0.0 <= m["mia_efficacy"] <= 1.0
    assert m["unlearn_seconds"] > 0
    assert result["objectives"] == {"privacy_gap": m["privacy_gap"], "val_error": m["val_error"]}
    assert not any(k.startswith("objective") for k in m)
    assert result["params"]["epochs"] == 2 and result["params"]["lr"] == 5e-4  # the rest: defaults
    assert result["original"]["param_count"] > 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--width", "1", "--method", "scrub", "--param", "learning_rate=0.1"],
            "--param learning_rate: scrub has no such hyperparameter",
        ),
        (["--width", "1", "--method", "scrub", "--param", "lr"], "expected NAME=VALUE"),
        (["--width", "-1", "--method", "scrub"], "--width: width must be > 0"),
        (["--width", "65", "--method", "scrub"], "--width: width must be <= 64"),  # as in a spec
        (["--width", "1", "--sparsity", "1", "--method", "scrub"], "--sparsity: must be in [0, 1)"),
        (["--width", "1", "--method", "scrub", "--device", "cuda:7"], "--device"),
        (["--width", "1", "--method", "ssd"], "Invalid value for '--method'"),
    ],
)
def test_trial_bad_input_is_one_line_exit_2(args: list[str], words: str) -> None:
    out = cli("trial", "studies/quickstart.toml", *args, "--json")
    assert out.returncode == 2, out.stderr
    assert words in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_trial_bad_spec(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\ndataset = "digits"\narchitecture = "cnn"\nwidths = [0]\n')
    out = cli("trial", str(bad), "--width", "1", "--method", "scrub")
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: spec {bad}: widths[0]: width must be > 0 (got 0.0)"
