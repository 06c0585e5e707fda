"""Deployment files: every command line that docker-compose.yml and the Slurm script run parses
with the real CLI (options included), and every variable they need is in .env.example."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

from tests.service_helpers import run_cli
from unlearn_opt.cli import cli

ROOT = Path(__file__).resolve().parent.parent
VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    pairs = [
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    return {k.strip(): v.strip() for k, v in pairs}


def expand(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message} with the values of .env.example."""

    def one(m: re.Match[str]) -> str:
        name, kind, rest = m.group(1), m.group(2), m.group(3)
        if name in env:
            return env[name]
        assert kind == "-", f"${{{name}}} has no default and is not in .env.example"
        return rest

    return VAR.sub(one, text)


def parses(argv: list[str]) -> None:
    """The command exists and accepts these arguments (nothing is run)."""
    name, *args = argv
    assert name in cli.commands, f"unlearn-opt {name}: no such command"
    command = cli.commands[name]
    try:
        command.make_context(name, list(args), resilient_parsing=False)
    except click.UsageError as exc:  # pragma: no cover - the assertion says which
        raise AssertionError(f"unlearn-opt {' '.join(argv)}: {exc}") from None


def test_every_compose_command_line_parses() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = env_example()
    seen = set()
    for name, service in compose["services"].items():
        if name == "postgres":
            continue
        argv = [expand(a, env) for a in service["command"]]
        parses(argv)
        seen.add(argv[0])
        for value in service.get("environment", {}).values():
            expand(str(value), env)  # every variable has a value or a default
    assert seen == {"create-study", "dashboard", "launch"}
    create = compose["services"]["create-study"]["command"]
    assert (ROOT / "studies" / Path(expand(create[1], env)).name).is_file()  # the spec it names exists


def test_compose_keeps_the_password_out_and_the_ports_local() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    services = compose["services"]
    assert "ports" not in services["postgres"] and services["postgres"]["env_file"] == ".env"
    assert "POSTGRES_PASSWORD" in env_example()  # the password comes from .env …
    assert all("POSTGRES_PASSWORD" not in s.get("environment", {}) for s in services.values())  # … only
    assert env_example()["POSTGRES_PASSWORD"] not in text
    assert all(str(p).startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))
    worker = services["worker"]
    assert worker["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert worker["depends_on"]["create-study"]["condition"] == "service_completed_successfully"
    assert services["create-study"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["postgres"]


def test_slurm_script_launch_line_parses() -> None:
    text = (ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch").read_text()
    assert "#SBATCH --nodes" in text and "srun" in text
    line = next(s for s in text.splitlines() if "unlearn-opt launch" in s)
    argv = shlex.split(line.split("unlearn-opt", 1)[1])
    argv = [{"$0": "cifar10-resnet18", "$gpus": "0,1", "$1": "2"}.get(a, a) for a in argv]
    parses(argv)
    assert "UNLEARN_OPT_STORAGE" in text and "password@" not in text.replace("user:password@dbhost", "")


def test_dockerfile_installs_the_cli() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["unlearn-opt"]' in text and "pip install" in text
    assert 'unlearn-opt = "unlearn_opt.cli:main"' in (ROOT / "pyproject.toml").read_text()


def dockerfile_steps() -> list[tuple[str, str]]:
    """(instruction, arguments) of each Dockerfile step, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_installs_dependencies_before_the_source_as_a_non_root_user() -> None:
    """A code change does not reinstall torch: the dependencies (and the s3 extra's boto3) are
    installed from pyproject.toml alone, before the source is copied; the image runs as non-root."""
    steps = dockerfile_steps()
    copies = [i for i, (op, _) in enumerate(steps) if op == "COPY"]
    runs = [i for i, (op, _) in enumerate(steps) if op == "RUN"]
    assert steps[copies[0]][1].split() == ["pyproject.toml", "./"]  # only what the dependencies need
    deps = runs[0]
    assert copies[0] < deps < copies[1] and "pip install -r" in steps[deps][1]
    assert "['dependencies']" in steps[deps][1] and "['optional-dependencies']['s3']" in steps[deps][1]
    assert any("unlearn_opt" in steps[i][1] for i in copies[1:])
    install = next(i for i in runs if "pip install --no-deps ." in steps[i][1])  # the project, nothing downloaded
    assert install > max(copies)
    user = [args for op, args in steps if op == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert [op for op, _ in steps].index("USER") < [op for op, _ in steps].index("ENTRYPOINT")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(d.startswith("boto3") for d in pyproject["project"]["optional-dependencies"]["s3"])


def test_docker_context_is_only_what_the_image_copies() -> None:
    """.dockerignore keeps the virtual environment, storage, reports and .env out of the build
    context, and lets in every path the Dockerfile copies."""
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*"
    allowed = {ln[1:].rstrip("/") for ln in lines if ln.startswith("!")}
    copied = {src.rstrip("/") for op, args in dockerfile_steps() if op == "COPY" for src in args.split()[:-1]}
    assert copied == allowed


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the image's Python has tomllib")
def test_dockerfile_dependency_step_lists_every_dependency(tmp_path: Path) -> None:
    """The dependency layer's shell line, run here up to its pip install: it lists exactly the
    project's dependencies and the s3 extra."""
    (step,) = [args for op, args in dockerfile_steps() if op == "RUN" and "pip install -r" in args]
    listing = step.split("&& pip install", 1)[0].replace("/tmp/requirements.txt", str(tmp_path / "req.txt"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python").symlink_to(sys.executable)
    env = {"PATH": f"{bindir}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", listing], cwd=tmp_path, env=env, check=True, timeout=60)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["s3"]
    assert (tmp_path / "req.txt").read_text().splitlines() == wanted


def compose_default(value: str) -> str:
    """``${NAME:-default}`` → default."""
    m = VAR.fullmatch(value)
    assert m and m.group(2) == "-", value
    return m.group(3)


def sbatch() -> str:
    return (ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch").read_text()


def test_defaults_agree_between_env_example_compose_and_slurm() -> None:
    """Workers per GPU, spec and experiment, node count: one value in every deployment file."""
    env = env_example()
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    create, launch = services["create-study"]["command"], services["worker"]["command"]
    assert compose_default(Path(create[1]).name) == env["SPEC"]
    assert compose_default(launch[1]) == env["EXPERIMENT"]
    assert compose_default(launch[launch.index("--workers-per-gpu") + 1]) == env["WORKERS_PER_GPU"]
    count = services["worker"]["deploy"]["resources"]["reservations"]["devices"][0]["count"]
    assert compose_default(count) == env["GPU_COUNT"]
    spec = tomllib.loads((ROOT / "studies" / env["SPEC"]).read_text())
    assert spec["name"] == env["EXPERIMENT"]

    text = sbatch()
    assert re.search(r'WORKERS_PER_GPU="\$\{WORKERS_PER_GPU:-(\d+)\}"', text).group(1) == env["WORKERS_PER_GPU"]  # type: ignore[union-attr]
    nodes = re.search(r"^#SBATCH --nodes=(\d+)$", text, re.M).group(1)  # type: ignore[union-attr]
    gres = re.search(r"^#SBATCH --gres=gpu:(\d+)$", text, re.M).group(1)  # type: ignore[union-attr]
    examples = [ROOT / "README.md", ROOT / "docs" / "service.md", ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch"]
    for path in examples:
        for line in path.read_text().splitlines():
            if "unlearn-opt.sbatch " in line and line.lstrip("# ").startswith("sbatch"):
                assert line.rstrip().endswith(f"unlearn-opt.sbatch {env['EXPERIMENT']}"), (path, line)
                assert "--nodes" not in line or f"--nodes={nodes}" in line, (path, line)
                assert "--gres" not in line or f"--gres=gpu:{gres}" in line, (path, line)


def test_compose_worker_reserves_the_gpus_it_uses() -> None:
    """The worker reserves GPU_COUNT GPUs and launches on all of them (and only them)."""
    worker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"] and VAR.fullmatch(str(device["count"]))
    command = worker["command"]
    assert command[command.index("--gpus") + 1] == "all"


def test_compose_file_matches_the_compose_spec() -> None:
    """docker-compose.yml against the compose-spec schema that check-jsonschema ships (offline)."""
    out = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_slurm_script_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("shellcheck is not installed (.ci/run installs it)")
        pytest.skip("shellcheck is not installed")
    out = subprocess.run(["shellcheck", str(ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch")], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout


@pytest.mark.parametrize("url_file", ["missing", "empty"])
def test_slurm_script_stops_without_its_database_url(tmp_path: Path, url_file: str) -> None:
    """No URL file (or an empty one): exit 2 at once, before any srun, instead of every node
    falling back to a SQLite file of its own."""
    path = tmp_path / "url"
    if url_file == "empty":
        path.write_text("")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "UNLEARN_OPT_STORAGE_FILE": str(path)}
    out = subprocess.run(
        ["bash", str(ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch"), "exp"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out.stderr
    assert str(path) in out.stderr and "srun" not in out.stderr


@pytest.mark.slow
def test_every_command_has_help() -> None:
    out = run_cli("--help", cwd=ROOT)
    for sub in (
        "trial",
        "create-study",
        "list",
        "delete",
        "worker",
        "launch",
        "status",
        "run",
        "report",
        "decision-regions",
        "dashboard",
    ):
        assert sub in out.stdout
        help_out = run_cli(sub, "--help", cwd=ROOT)
        assert help_out.returncode == 0 and f"Usage: unlearn-opt {sub}" in help_out.stdout
