"""`launch --gpus` maps through the launcher's own CUDA_VISIBLE_DEVICES (as Slurm sets it), and the
Slurm script uses the allocation (`--gpus all`), never nvidia-smi. Real launcher and worker
processes report what each slot got; no GPU is needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service_helpers import cli_env, run_cli, write_spec
from unlearn_opt.errors import UserError
from unlearn_opt.service.launch import VisibleGpus, plan_slots, visible_gpus

ROOT = Path(__file__).resolve().parent.parent
SBATCH = ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch"


# --------------------------------------------------------------------------- which GPUs are visible


@pytest.mark.parametrize(
    ("cvd", "count", "entries"),
    [
        (None, 2, ("0", "1")),  # unset: the machine's GPUs, by index
        ("3,5", 2, ("3", "5")),  # Slurm's allocation on a node without device cgroups
        (" 3 , 5 ", 2, ("3", "5")),
        ("GPU-8f2a1c3e-aaaa-bbbb-cccc-000000000001,GPU-8f2a1c3e-aaaa-bbbb-cccc-000000000002", 2, None),
        ("MIG-GPU-8f2a1c3e/1/0,MIG-GPU-8f2a1c3e/2/0", 1, ("MIG-GPU-8f2a1c3e/1/0",)),  # CUDA uses one MIG device
        ("0,-1,2", 1, ("0",)),  # CUDA stops at the first entry that names no device
        ("", 0, ()),  # empty: no GPU
    ],
)
def test_visible_gpus_follow_cuda_visible_devices(
    monkeypatch: pytest.MonkeyPatch, cvd: str | None, count: int, entries: tuple[str, ...] | None
) -> None:
    import torch

    if cvd is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", cvd)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)  # what the CUDA runtime enumerates
    seen = visible_gpus()
    assert seen.entries == (entries if entries is not None else tuple(str(cvd).split(",")))
    assert seen.cvd == cvd


def test_gpu_indices_map_through_the_visible_devices() -> None:
    visible = VisibleGpus(("3", "5"), "3,5")
    slots = plan_slots(gpus="0,1", workers_per_gpu=2, cpu_workers=1, visible=visible)
    assert [(s.name, s.device, s.env["CUDA_VISIBLE_DEVICES"]) for s in slots] == [
        ("gpu0-0", "cuda", "3"),
        ("gpu0-1", "cuda", "3"),
        ("gpu1-0", "cuda", "5"),
        ("gpu1-1", "cuda", "5"),
        ("cpu-0", "cpu", ""),
    ]
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in plan_slots(gpus="1", workers_per_gpu=1, cpu_workers=0, visible=visible)] == [
        "5"
    ]
    uuids = VisibleGpus(("GPU-a", "GPU-b", "GPU-c"), "GPU-a,GPU-b,GPU-c")
    slots = plan_slots(gpus="all", workers_per_gpu=1, cpu_workers=0, visible=uuids)
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in slots] == ["GPU-a", "GPU-b", "GPU-c"]
    unset = VisibleGpus(("0", "1"), None)  # physical indices
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in plan_slots(gpus="all", workers_per_gpu=1, cpu_workers=0, visible=unset)] == [
        "0",
        "1",
    ]


@pytest.mark.parametrize(
    ("gpus", "visible", "words"),
    [
        (
            "2",
            VisibleGpus(("3", "5"), "3,5"),
            "--gpus: GPU 2 is not visible here (2 GPU(s) visible, indices 0-1; CUDA_VISIBLE_DEVICES='3,5')",
        ),
        ("0", VisibleGpus((), ""), "--gpus: GPU 0 is not visible here (no GPU is visible; CUDA_VISIBLE_DEVICES='')"),
        ("all", VisibleGpus((), None), "--gpus all: no GPU is visible"),
        ("0,x", VisibleGpus(("0",), None), "'x' is not a GPU index (expected all, or e.g. 0,1,2)"),
    ],
)
def test_gpus_beyond_the_visible_ones_are_one_clear_error(gpus: str, visible: VisibleGpus, words: str) -> None:
    with pytest.raises(UserError, match=re.escape(words)):
        plan_slots(gpus=gpus, workers_per_gpu=1, cpu_workers=0, visible=visible)


# --------------------------------------------------------------------------- real processes


def launcher(*args: str, cwd: Path, cvd: str | None, gpus_present: int) -> subprocess.CompletedProcess[str]:
    """The real `unlearn-opt` CLI in a process whose CUDA runtime enumerates ``gpus_present``
    devices (the one thing faked: this machine has no GPU). Its workers are ordinary processes."""
    env = cli_env()
    env.pop("CUDA_VISIBLE_DEVICES", None)
    if cvd is not None:
        env["CUDA_VISIBLE_DEVICES"] = cvd
    code = f"import torch; torch.cuda.device_count = lambda: {gpus_present}; from unlearn_opt.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("cvd", "present", "gpus", "expected"),
    [
        ("3,5", 2, "0,1", {"gpu0-0": "3", "gpu1-0": "5"}),
        ("GPU-0000000a-fake,GPU-0000000b-fake,GPU-0000000c-fake", 3, "all", None),
        (None, 2, "1", {"gpu1-0": "1"}),
    ],
)
def test_each_worker_gets_the_gpu_its_slot_maps_to(
    tmp_path: Path, cvd: str | None, present: int, gpus: str, expected: dict[str, str] | None
) -> None:
    if expected is None:
        expected = {f"gpu{i}-0": e for i, e in enumerate(str(cvd).split(","))}
    write_spec(tmp_path)
    assert run_cli("create-study", "tiny.toml", cwd=tmp_path).returncode == 0
    out = launcher("launch", "tiny", "--gpus", gpus, "--no-live", cwd=tmp_path, cvd=cvd, gpus_present=present)
    # The launcher's line per slot: its pid and the CUDA_VISIBLE_DEVICES it was given.
    slots = dict(re.findall(r"worker (gpu\d+-\d+): pid \d+, cuda, CUDA_VISIBLE_DEVICES=(\S+)", out.stderr))
    assert slots == expected, out.stderr
    # Each worker says what it saw (here: no CUDA device behind that value) and exits 2, once.
    seen = re.findall(r"no CUDA GPU is visible with CUDA_VISIBLE_DEVICES='([^']*)'", out.stderr)
    assert sorted(seen) == sorted(expected.values()), out.stderr
    assert out.stderr.count("not restarting it") == len(expected), out.stderr
    assert out.returncode == 1, out.stderr


@pytest.mark.slow
def test_launch_rejects_gpus_that_are_not_visible(tmp_path: Path) -> None:
    out = launcher("launch", "tiny", "--gpus", "2", cwd=tmp_path, cvd="3,5", gpus_present=2)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip() == (
        "error: --gpus: GPU 2 is not visible here (2 GPU(s) visible, indices 0-1; CUDA_VISIBLE_DEVICES='3,5')"
    )
    for gpus in ("0", "all"):  # the real count: an empty CUDA_VISIBLE_DEVICES hides every GPU
        env = {**cli_env(), "CUDA_VISIBLE_DEVICES": ""}
        out = run_cli("launch", "tiny", "--gpus", gpus, cwd=tmp_path, env=env)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "no GPU is visible; CUDA_VISIBLE_DEVICES=''" in out.stderr
    assert not (tmp_path / "storage").exists()


@pytest.mark.slow
def test_a_worker_starts_with_one_line_naming_its_device(tmp_path: Path) -> None:
    write_spec(tmp_path, epochs=1)
    assert run_cli("create-study", "tiny.toml", cwd=tmp_path).returncode == 0
    env = {**cli_env(), "CUDA_VISIBLE_DEVICES": ""}
    out = run_cli("worker", "tiny", "--device", "cpu", "--max-trials", "1", "--quiet", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    assert re.search(r"^worker \S+:\d+ on cpu, CUDA_VISIBLE_DEVICES='': tiny$", out.stderr, re.M), out.stderr


# --------------------------------------------------------------------------- the Slurm script


def fake_bin(folder: Path) -> Path:
    """`srun` that runs its command here, `unlearn-opt` that prints what it was asked, and an
    `nvidia-smi` that fails the test if the script calls it."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    scripts = {
        "srun": '#!/bin/sh\necho called > "$FAKE_LOG.srun"\nwhile [ "${1#--}" != "$1" ]; do shift; done\nexec "$@"\n',
        "unlearn-opt": '#!/bin/sh\necho "unlearn-opt $* | CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES | $UNLEARN_OPT_STORAGE"\n',
        "nvidia-smi": "#!/bin/sh\necho 'nvidia-smi was called' >&2\nexit 99\n",
    }
    for name, text in scripts.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    return bin_dir


def sbatch(folder: Path, *, storage_file: Path, cvd: str | None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{fake_bin(folder)}:/usr/bin:/bin",
        "HOME": str(folder),
        "FAKE_LOG": str(folder / "log"),
        "UNLEARN_OPT_STORAGE_FILE": str(storage_file),
    }
    if cvd is not None:
        env["CUDA_VISIBLE_DEVICES"] = cvd
    return subprocess.run(["bash", str(SBATCH), "cifar10-resnet18"], env=env, capture_output=True, text=True, timeout=30)


def test_slurm_script_launches_on_the_allocation(tmp_path: Path) -> None:
    url = tmp_path / "url"
    url.write_text("postgresql+psycopg://u:pw@dbhost:5432/unlearn\n")
    out = sbatch(tmp_path, storage_file=url, cvd="3,5")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == (
        "unlearn-opt launch cifar10-resnet18 --gpus all --workers-per-gpu 2 --no-live"
        " | CUDA_VISIBLE_DEVICES=3,5 | postgresql+psycopg://u:pw@dbhost:5432/unlearn"
    )
    assert "nvidia-smi" not in SBATCH.read_text().replace("never nvidia-smi", "")


def test_slurm_script_stops_at_once_without_its_database_url(tmp_path: Path) -> None:
    out = sbatch(tmp_path, storage_file=tmp_path / "missing", cvd="0")
    assert out.returncode == 2 and not (tmp_path / "log.srun").exists(), out.stderr
    assert out.stderr.strip() == (
        f"unlearn-opt.sbatch: cannot read the database-URL file {tmp_path / 'missing'} "
        "(create it as above, or set UNLEARN_OPT_STORAGE_FILE)"
    )
    empty, case = tmp_path / "empty", tmp_path / "empty-case"
    empty.write_text("")
    case.mkdir()
    out = sbatch(case, storage_file=empty, cvd="0")
    assert out.returncode == 2 and "is empty" in out.stderr and not (case / "log.srun").exists(), out.stderr


def test_slurm_script_refuses_a_node_without_gpus(tmp_path: Path) -> None:
    url = tmp_path / "url"
    url.write_text("sqlite:///x.db")
    out = sbatch(tmp_path, storage_file=url, cvd=None)
    assert out.returncode == 2 and "Slurm gave this node no GPUs" in out.stderr and not out.stdout, out.stderr


def test_slurm_script_is_shellcheck_clean() -> None:
    """CI installs shellcheck (.ci/run); elsewhere this test needs it installed."""
    import shutil

    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed under CI")
        pytest.skip("shellcheck not installed (apt-get install shellcheck)")
    out = subprocess.run(["shellcheck", str(SBATCH)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout
