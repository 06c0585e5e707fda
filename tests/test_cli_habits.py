"""The CLI habits of Optuna users: help on every option, --debug, `list` and `delete`, --json
wherever a table is printed, whole tables in files and pipes, no library warnings in the output.
In-process (click's runner, or ``main``) on small SQLite and PostgreSQL storages."""

from __future__ import annotations

import gc
import json
import warnings
from collections.abc import Iterator
from pathlib import Path

import click
import optuna
import pytest
from click.testing import CliRunner
from optuna.artifacts import upload_artifact

from tests.service_helpers import write_spec
from unlearn_opt.cli import cli, main
from unlearn_opt.cli.output import DEBUG_ENV
from unlearn_opt.errors import UserError
from unlearn_opt.service.experiment import experiment_names
from unlearn_opt.service.storage import open_storage


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No storage, artifact or debug settings from the environment; warning filters restored."""
    for name in ("UNLEARN_OPT_STORAGE", "UNLEARN_OPT_ARTIFACTS", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(DEBUG_ENV, "")  # restored (removed) afterwards: --debug sets it
    with warnings.catch_warnings():
        yield


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def exit_code(argv: list[str]) -> int:
    """``unlearn-opt ARGV`` in this process (through ``main``, as the console script runs it)."""
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def all_commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = [("unlearn-opt", cli)]
    return out + [(f"unlearn-opt {name}", command) for name, command in cli.commands.items()]


@pytest.mark.parametrize(("name", "command"), all_commands(), ids=[n for n, _ in all_commands()])
def test_every_option_has_help(name: str, command: click.Command) -> None:
    missing = [p.opts[0] for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not missing, f"{name}: options without help: {missing}"
    assert (command.help or "").strip(), f"{name} has no description"


def test_run_help_names_the_storage_it_uses(clean_env: None) -> None:
    text = invoke("run", "--help").output
    assert "embedded default" not in text and "--storage" in text and "UNLEARN_OPT_STORAGE" in text
    assert "embedded default" not in invoke("--help").output


def test_table_commands_take_json() -> None:
    """Every command that prints a table has --json (dashboard and report print no table)."""
    tables = {"trial", "create-study", "launch", "status", "run", "decision-regions", "list"}
    for name in tables:
        assert "as_json" in [p.name for p in cli.commands[name].params], name


def test_debug_shows_the_traceback(clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import unlearn_opt.service.commands as commands

    def boom(**_: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "list_experiments", boom)
    assert exit_code(["list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["error: RuntimeError: boom (run with --debug for the traceback)"]
    assert exit_code(["--debug", "list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'raise RuntimeError("boom")' in err
    monkeypatch.setenv(DEBUG_ENV, "")
    assert exit_code(["list", "--debug"]) == 1  # after the command, as Optuna users also type it
    assert "Traceback" in capsys.readouterr().err


def test_library_warnings_stay_out_of_the_output(
    clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """torch's UserWarnings and Optuna's ExperimentalWarning are hidden; --debug shows them."""
    import unlearn_opt.service.commands as commands

    def warns(**_: object) -> list[object]:
        warnings.warn("Converting a tensor with requires_grad=True to a scalar", UserWarning, stacklevel=1)
        warnings.warn("set_metric_names is experimental", optuna.exceptions.ExperimentalWarning, stacklevel=1)
        return []

    monkeypatch.setattr(commands, "list_experiments", warns)
    storage = f"sqlite:///{tmp_path / 'x.db'}"
    with warnings.catch_warnings(record=True) as shown:  # what would reach stderr
        assert exit_code(["list", "--storage", storage]) == 0
    assert not shown and "no experiments" in capsys.readouterr().out
    with warnings.catch_warnings(record=True) as shown:
        assert exit_code(["--debug", "list", "--storage", storage]) == 0
    assert {w.category for w in shown} == {UserWarning, optuna.exceptions.ExperimentalWarning}


def test_training_with_a_progress_bar_warns_nothing() -> None:
    """The loss shown by `trial`'s progress bar no longer makes torch warn (requires_grad → float)."""
    import torch

    from unlearn_opt.engine.training import train
    from unlearn_opt.spec import OriginalSpec

    batches = [(torch.randn(8, 4), torch.randint(0, 3, (8,))) for _ in range(2)]
    # objects an earlier test in this process left behind (an unclosed database connection) must
    # not be finalized, and warn, inside the window: collect them first, and no collection inside
    gc.collect()
    gc.disable()
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            train(torch.nn.Linear(4, 3), batches, recipe=OriginalSpec(epochs=2), device=torch.device("cpu"), progress=True)
    finally:
        gc.enable()
    assert not [str(w.message) for w in seen]


def test_tables_are_whole_when_not_a_terminal(clean_env: None, tmp_path: Path) -> None:
    """Written to a pipe or a file (a Slurm log), a table is not cut at 80 columns."""
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace('goals = ["privacy"]', 'goals = ["privacy", "bias_removal"]'))
    storage = f"sqlite:///{tmp_path / 'x.db'}"
    out = invoke("create-study", str(spec), "--storage", storage, "--artifacts", str(tmp_path / "a"))
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert any("tiny/w0.25/l1_sparse/bias_removal" in line and "forget_error (max), val_error (min)" in line for line in lines)
    assert max(len(line) for line in lines) > 80 and "…" not in out.output
    again = invoke("create-study", str(spec), "--storage", storage, "--json")
    made = json.loads(again.output)
    assert made["created"] is False and len(made["studies"]) == 8 and made["models"] == 4
    expected = {"study": "tiny/w1/l1_sparse/bias_removal", "objectives": ["forget_error", "val_error"], "trials": 3}
    assert expected in made["studies"]


def test_decision_regions_json(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    import unlearn_opt.analysis.regions as regions

    row = {"study": "e/w1/scrub/privacy", "lambda": 0.2, "trial_number": 3, "delta": 0.5, "c_prox": 0.25, "s_far": 0.875}
    monkeypatch.setattr(regions, "compute_regions", lambda **_: [row])
    out = invoke("decision-regions", "e", "--json")
    assert json.loads(out.output) == {"experiment": "e", "regions": [row]}


def storage_urls() -> list[str]:
    return ["sqlite", "postgres"]


@pytest.fixture(params=storage_urls())
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'x.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_list_and_delete(clean_env: None, tmp_path: Path, storage_url: str) -> None:
    """`list` shows each experiment with its progress; `delete` asks, then removes its studies
    and its artifacts (study- and trial-level) and nothing of the other experiment."""
    art = tmp_path / "art"
    for name in ("tiny", "other"):
        made = invoke("create-study", str(write_spec(tmp_path, name=name)), "--storage", storage_url, "--artifacts", str(art))
        assert made.exit_code == 0, made.output
    rdb = open_storage(storage_url)
    originals = optuna.load_study(study_name="tiny/_originals", storage=rdb)
    checkpoint = tmp_path / "ckpt.pt"
    checkpoint.write_bytes(b"weights")
    upload_artifact(
        artifact_store=optuna.artifacts.FileSystemArtifactStore(str(art)),
        file_path=str(checkpoint),
        study_or_trial=originals.trials[0],
        storage=rdb,
    )  # as a trained original's checkpoint is stored
    assert len(list(art.iterdir())) == 3  # two splits, one checkpoint

    listed = json.loads(invoke("list", "--storage", storage_url, "--json").output)
    tiny = next(e for e in listed["experiments"] if e["experiment"] == "tiny")
    assert [e["experiment"] for e in listed["experiments"]] == ["other", "tiny"]
    assert tiny == {**tiny, "studies": 4, "complete": 0, "total": 12, "models_done": 0, "models_total": 4, "done": False}
    table = invoke("list", "--storage", storage_url).output
    assert "tiny" in table and "0/12" in table and "0/4" in table and "not started" in table

    declined = CliRunner().invoke(cli, ["delete", "tiny", "--storage", storage_url], input="n\n")
    assert declined.exit_code == 1 and "nothing deleted" in declined.output
    assert sorted(experiment_names(open_storage(storage_url))) == ["other", "tiny"] and len(list(art.iterdir())) == 3

    gone = CliRunner().invoke(cli, ["delete", "tiny", "--storage", storage_url], input="y\n")
    assert gone.exit_code == 0, gone.output
    assert "5 studies and 2 artifacts" in gone.output
    rdb = open_storage(storage_url)
    assert experiment_names(rdb) == ["other"]
    assert not [s.study_name for s in rdb.get_all_studies() if s.study_name.startswith("tiny/")]
    left = list(art.iterdir())
    assert len(left) == 1  # the other experiment's splits
    other = optuna.load_study(study_name="other/_originals", storage=rdb)
    assert left[0].name == other.user_attrs["splits_artifact_id"]

    with pytest.raises(UserError, match="'tiny' does not exist"):
        invoke("delete", "tiny", "--storage", storage_url, "--yes")


def test_delete_unknown_experiment_is_one_line_exit_2(
    clean_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'x.db'}"
    assert (
        invoke("create-study", str(write_spec(tmp_path)), "--storage", storage, "--artifacts", str(tmp_path / "a")).exit_code == 0
    )
    assert exit_code(["delete", "nope", "--storage", storage, "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: experiment 'nope' does not exist in this storage (known: tiny)"]
