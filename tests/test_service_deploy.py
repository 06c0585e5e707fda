"""Deployment files: every command line that docker-compose.yml and the Slurm script run parses
with the real CLI (options included), and every variable they need is in .env.example."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

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


@pytest.mark.slow
def test_every_command_has_help() -> None:
    out = run_cli("--help", cwd=ROOT)
    for sub in ("trial", "create-study", "worker", "launch", "status", "run", "report", "decision-regions", "dashboard"):
        assert sub in out.stdout
        help_out = run_cli(sub, "--help", cwd=ROOT)
        assert help_out.returncode == 0 and f"Usage: unlearn-opt {sub}" in help_out.stdout
