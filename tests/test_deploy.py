"""docker-compose.yml parses and every command it runs exists in our CLI; the Slurm script too."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import run_cli

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_services_and_safe_defaults() -> None:
    services = compose()["services"]
    assert {"postgres", "dashboard", "create-study", "worker"} <= set(services)
    pg = services["postgres"]
    assert "healthcheck" in pg and any("pgdata" in v for v in pg["volumes"])
    assert "ports" not in pg  # not on the host's network
    assert "POSTGRES_PASSWORD" not in pg.get("environment", {})  # from the env file
    assert pg["env_file"] == ".env"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text
    assert all(p.startswith("127.0.0.1:") for p in services["dashboard"]["ports"])
    devices = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    assert services["worker"]["depends_on"]["create-study"]["condition"] == "service_completed_successfully"
    assert (ROOT / "Dockerfile").is_file() and (ROOT / ".env.example").is_file()


def test_every_compose_command_exists_in_the_cli() -> None:
    services = compose()["services"]
    commands = {name: s["command"][0] for name, s in services.items() if name != "postgres"}
    assert set(commands.values()) == {"create-study", "dashboard", "launch"}
    for sub in commands.values():
        out = run_cli(sub, "--help", cwd=ROOT)
        assert out.returncode == 0, out.stderr
        assert "Usage: unlearn-opt " + sub in out.stdout
    launch = services["worker"]["command"]
    assert "--gpus" in launch and "--workers-per-gpu" in launch


def test_every_command_has_help() -> None:
    out = run_cli("--help", cwd=ROOT)
    for sub in ("trial", "create-study", "worker", "launch", "status", "run", "report", "decision-regions", "dashboard"):
        assert sub in out.stdout
        assert run_cli(sub, "--help", cwd=ROOT).returncode == 0


def test_slurm_script_runs_launch() -> None:
    text = (ROOT / "deploy" / "slurm" / "unlearn-opt.sbatch").read_text()
    assert "#SBATCH --nodes" in text and "unlearn-opt launch" in text and "srun" in text
