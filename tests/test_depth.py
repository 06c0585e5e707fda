"""The depth axis (``depths = [...]``): each family's layer or block count by hand, the spec's
refusals and its unchanged digests, study names with ``/dD`` that parse back, originals' tickets
of earlier versions (no depth: 1), and a tiny MNIST-1D experiment with depths [1, 2] through
create-study, a worker, status and report."""

from __future__ import annotations

import csv
import os
import sqlite3
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from optuna.trial import TrialState

from tests.service_helpers import check_exact
from unlearn_opt.analysis.report import write_report
from unlearn_opt.cli import main
from unlearn_opt.errors import UserError
from unlearn_opt.models import build_model, count_parameters
from unlearn_opt.models.resnet import BasicBlock, Bottleneck
from unlearn_opt.service import commands
from unlearn_opt.service.experiment import experiment_from_spec, load_experiment
from unlearn_opt.service.naming import ModelKey, StudyKey, model_attrs, model_key, model_label, parse_study_name, study_keys
from unlearn_opt.service.status import progress_tables
from unlearn_opt.service.storage import open_storage
from unlearn_opt.spec import spec_from_dict

optuna.logging.set_verbosity(optuna.logging.WARNING)
DATA = Path(__file__).parent / "data"


def _spec(**extra: Any) -> dict[str, Any]:
    return {"name": "deep", "dataset": "mnist1d", "architecture": "cnn1d", "widths": [0.5], **extra}


# ------------------------------------------------------------------ the models


def test_mlp_depth_two_has_four_hidden_layers_counted_by_hand() -> None:
    """Input 40, hidden 256·w, 10 classes: (40·h + h) + (2·d − 1)·(h·h + h) + (10·h + 10)."""
    h = 256

    def by_hand(d: int) -> int:
        return (40 * h + h) + (2 * d - 1) * (h * h + h) + (10 * h + 10)

    for d in (1, 2):
        model = build_model("mlp", width=1.0, num_classes=10, input_shape=(1, 40), depth=d)
        assert count_parameters(model) == by_hand(d)
        assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 2 * d + 1
    assert by_hand(2) == 210_442


def test_cnn1d_depth_two_has_six_conv_layers_counted_by_hand() -> None:
    """c = 25·w: conv1 (1·c·5 + c), conv2 and conv3 (c·c·3 + c, stride 2: 40 → 19 → 10 → 5),
    3·(d − 1) more of c·c·3 + c at stride 1, then the linear layer (c·5·10 + 10)."""
    for width, c in ((1.0, 25), (0.5, 12)):  # scaled(25, 0.5) = round(12.5) = 12

        def by_hand(d: int, c: int = c) -> int:
            return (c * 5 + c) + (3 * d - 1) * (c * c * 3 + c) + (c * 5 * 10 + 10)

        for d in (1, 2):
            model = build_model("cnn1d", width=width, num_classes=10, input_shape=(1, 40), depth=d)
            assert count_parameters(model) == by_hand(d)
            assert sum(isinstance(m, torch.nn.Conv1d) for m in model.modules()) == 3 * d
            assert model(torch.randn(3, 1, 40)).shape == (3, 10)
    assert count_parameters(build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 40), depth=2)) == 10_910
    # depth 1 is the reference model, parameter names included (stored checkpoints load)
    names = list(build_model("cnn1d", width=1.0, num_classes=10, input_shape=(1, 40)).state_dict())
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv3.weight", "conv3.bias"] + [
        "linear.weight",
        "linear.bias",
    ]


def test_cnn1d_added_layers_are_residual_steps() -> None:
    """Each added layer is h ← h + ReLU(conv(h)), d − 1 of them after each strided layer: with
    their weights and biases zeroed, depth 2 computes exactly what depth 1 computes with the same
    first three layers and linear layer; with one of them set, the step sits where it should."""
    torch.manual_seed(0)
    deep = build_model("cnn1d", width=0.5, num_classes=10, input_shape=(1, 40), depth=2)
    shallow = build_model("cnn1d", width=0.5, num_classes=10, input_shape=(1, 40), depth=1)
    shallow.load_state_dict({k: v for k, v in deep.state_dict().items() if not k.startswith("extra.")})
    x = torch.randn(4, 1, 40)
    with torch.no_grad():
        for conv in deep.extra:
            conv.weight.zero_()
            conv.bias.zero_()
        assert torch.equal(deep(x), shallow(x))
        # one added layer with weights, the one after the second strided layer (stage 1 of 0..2):
        # the shortcut plus ReLU(conv(h)) there, computed by hand
        conv = deep.extra[1]
        conv.weight.normal_()
        conv.bias.fill_(1.0)
        h = shallow.conv2(shallow.conv1(x).relu()).relu()
        h = h + torch.nn.functional.conv1d(h, conv.weight, conv.bias, padding=1).relu()
        expected = shallow.linear(shallow.conv3(h).relu().flatten(1))
        assert torch.allclose(deep(x), expected, atol=1e-5)


def test_resnets_and_the_transformer_multiply_their_blocks() -> None:
    r18 = build_model("resnet18", width=0.125, num_classes=10, input_shape=(3, 8, 8), depth=2)
    assert [len(getattr(r18, f"layer{i}")) for i in (1, 2, 3, 4)] == [4, 4, 4, 4]
    assert sum(isinstance(m, BasicBlock) for m in r18.modules()) == 16
    r50 = build_model("resnet50", width=0.125, num_classes=10, input_shape=(3, 8, 8), depth=2)
    assert [len(getattr(r50, f"layer{i}")) for i in (1, 2, 3, 4)] == [6, 8, 12, 6]
    assert sum(isinstance(m, Bottleneck) for m in r50.modules()) == 32
    t1, t2 = (build_model("transformer", width=0.25, num_classes=10, input_shape=(1, 40), depth=d) for d in (1, 2))
    assert len(t1.blocks.layers) == 4 and len(t2.blocks.layers) == 8
    per_block = sum(p.numel() for p in t1.blocks.layers[0].parameters())
    assert count_parameters(t2) - count_parameters(t1) == 4 * per_block


def test_families_without_a_depth_axis_refuse_one() -> None:
    for arch, shape in (("cnn", (1, 8, 8)), ("allcnn", (3, 8, 8))):
        with pytest.raises(UserError, match="has a fixed depth"):
            build_model(arch, width=1.0, num_classes=10, input_shape=shape, depth=2)
    with pytest.raises(UserError, match=r"depth: must be in \[1, 16\]"):
        build_model("mlp", width=1.0, num_classes=10, input_shape=(1, 40), depth=17)


# ------------------------------------------------------------------ the spec


def test_depths_default_and_digest_unchanged() -> None:
    plain = spec_from_dict(_spec())
    assert plain.depths == (1,) and not plain.deep and "depths" not in plain.to_dict()
    assert spec_from_dict(_spec(depths=[1])).digest() == plain.digest()  # [1] is the default
    deep = spec_from_dict(_spec(depths=[1, 2, 4]))
    assert deep.deep and deep.depths == (1, 2, 4) and deep.to_dict()["depths"] == [1, 2, 4]
    assert spec_from_dict(deep.to_dict(), stored=True) == deep and deep.digest() != plain.digest()
    assert spec_from_dict(_spec(depths=[2])).deep  # one depth other than 1: named too


@pytest.mark.parametrize(
    ("depths", "architecture", "message"),
    [
        ([0], "cnn1d", "depths[0]: must be > 0 (got 0)"),
        ([1, 17], "cnn1d", "depths[1]: must be in [1, 16] (got 17)"),
        ([1.5], "cnn1d", "depths[0]: must be an integer (got a number 1.5)"),
        ([], "cnn1d", "depths: must not be empty"),
        ([2, 2], "cnn1d", "depths[1]: duplicate value 2"),
        (2, "cnn1d", "depths: must be a list (got an integer 2)"),
        ([1, 2], "cnn", "depths: architecture 'cnn' has a fixed depth, so depths must be [1]"),
        ([2], "allcnn", "depths: architecture 'allcnn' has a fixed depth, so depths must be [1]"),
    ],
)
def test_bad_depths_are_refused_in_one_line(depths: Any, architecture: str, message: str) -> None:
    dataset = "mnist1d" if architecture == "cnn1d" else "digits"
    with pytest.raises(UserError) as err:
        spec_from_dict(_spec(depths=depths, architecture=architecture, dataset=dataset))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_create_study_refuses_depth_for_a_fixed_family_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.toml").write_text('name = "x"\ndataset = "digits"\narchitecture = "cnn"\nwidths = [1]\ndepths = [1, 2]\n')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as done:
        main(["create-study", "s.toml"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and "depths: architecture 'cnn' has a fixed depth" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "storage").exists()


def test_trial_refuses_a_depth_its_architecture_lacks_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "s.toml").write_text('name = "x"\ndataset = "digits"\narchitecture = "cnn"\nwidths = [1]\n')
    monkeypatch.chdir(tmp_path)
    for depth, problem in (("2", "--depth: architecture 'cnn' has a fixed depth"), ("0", "--depth: must be > 0 (got 0)")):
        with pytest.raises(SystemExit) as done:
            main(["trial", "s.toml", "--width", "1", "--depth", depth, "--method", "finetune"])
        err = capsys.readouterr().err
        assert done.value.code == 2 and problem in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ names and tickets


def test_names_with_depth_parse_back() -> None:
    spec = spec_from_dict(_spec(widths=[0.5, 1 / 3], depths=[1, 3], sparsities=[0.0, 0.5], replicates=2))
    keys = study_keys(spec)
    names = [k.name(sparse=spec.sparse, deep=spec.deep) for k in keys]
    assert len(set(names)) == len(keys) == 2 * 2 * 2 * 2 * 3 * 2  # replicates, widths, depths, sparsities, methods, goals
    assert all(parse_study_name(n) == k for n, k in zip(names, keys, strict=True))
    key = StudyKey("deep", 0.5, 0.5, "scrub", "privacy", 1, 3)
    assert key.name(sparse=True, deep=True) == "deep/r1/w0.5/d3/s0.5/scrub/privacy"
    assert parse_study_name("deep/w0.5/scrub/privacy").depth == 1  # no /dD: depth 1
    assert experiment_from_spec(spec, splits_digest="0" * 64).studies[key] == "deep/r1/w0.5/d3/s0.5/scrub/privacy"
    plain = spec_from_dict(_spec())
    assert set(experiment_from_spec(plain, splits_digest="0" * 64).studies.values()) == {
        f"deep/w0.5/{m}/{g}" for m in ("scrub", "neggrad", "l1_sparse") for g in ("privacy", "bias_removal")
    }


def test_model_keys_without_depth_are_depth_one() -> None:
    old = {"kind": "original", "width": 0.5, "sparsity": 0.0}  # a ticket of an earlier version
    assert model_key(old) == ModelKey("original", 0.5, 0.0, 0, 1) and model_attrs(model_key(old)) == old
    deep = ModelKey("retrain", 0.5, 0.0, 2, 3)
    assert model_attrs(deep) == {"kind": "retrain", "width": 0.5, "sparsity": 0.0, "replicate": 2, "depth": 3}
    assert model_key(model_attrs(deep)) == deep and model_label(deep) == "retrain w=0.5 d=3 r=2"


def test_an_experiment_created_before_depths_loads_at_depth_one(tmp_path: Path) -> None:
    db = tmp_path / "legacy.db"
    with sqlite3.connect(db) as conn:
        conn.executescript((DATA / "legacy-experiment.sql").read_text())
    exp = load_experiment(open_storage(f"sqlite:///{db}"), "legacy")
    assert exp.spec.depths == (1,) and all(k.depth == 1 for k in exp.studies)
    assert {m.depth for m in exp.models_needed()} == {1} and len(exp.models_needed()) == 4


# ------------------------------------------------------------------ end to end, MNIST-1D


MNIST1D_SPEC = """
name = "m1d-depth"
dataset = "mnist1d"
architecture = "cnn1d"
widths = [0.25]
depths = [1, 2]
methods = ["finetune", "retrain"]
goals = ["privacy"]
lambdas = [0.5]
n_trials = 2

[mnist1d]
num_samples = 500
seed = 7

[forget]
size = 30

[original]
epochs = 2
batch_size = 100
optimizer = "adam"
lr = 0.01
weight_decay = 0.0

[search.finetune]
epochs = { low = 1, high = 1 }
"""


@pytest.mark.slow
def test_mnist1d_with_two_depths_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """create-study (the command), a worker, status and report, all in this process, of a tiny
    MNIST-1D spec with depths = [1, 2]: originals trained once per depth, a depth column, the
    parameter-count and depth figures."""
    (tmp_path / "m.toml").write_text(MNIST1D_SPEC)
    for name in [k for k in os.environ if k.startswith("UNLEARN_OPT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    main(["create-study", "m.toml"])
    out = capsys.readouterr().out
    assert "2 studies" in out and "4 original/retrain models" in out
    url = f"sqlite:///{tmp_path / 'storage' / 'unlearn_opt.db'}"
    assert commands.work("m1d-depth", storage=url, artifacts=None, device="cpu") == 4
    check_exact(url, "m1d-depth", n_trials=2)
    storage = open_storage(url)
    exp = load_experiment(storage, "m1d-depth")
    assert set(exp.studies.values()) == {"m1d-depth/w0.25/d1/finetune/privacy", "m1d-depth/w0.25/d2/finetune/privacy"}
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    params = {
        (t.user_attrs["kind"], t.user_attrs.get("depth", 1)): t.user_attrs["param_count"]
        for t in originals.get_trials()
        if t.state == TrialState.COMPLETE
    }
    c = 6  # scaled(25, 0.25)
    one = (c * 5 + c) + 2 * (c * c * 3 + c) + (c * 5 * 10 + 10)
    assert params == {
        ("original", 1): one,
        ("retrain", 1): one,
        ("original", 2): one + 3 * (c * c * 3 + c),
        ("retrain", 2): one + 3 * (c * c * 3 + c),
    }
    # depth 1's tickets are those of earlier versions: no depth attribute
    assert sorted(str(t.user_attrs.get("depth")) for t in originals.get_trials()) == ["2", "2", "None", "None"]

    progress, _ = commands.status("m1d-depth", storage=url)
    assert sorted((m.kind, m.depth) for m in progress.models) == [
        ("original", 1),
        ("original", 2),
        ("retrain", 1),
        ("retrain", 2),
    ]
    _, models_table = progress_tables(progress)
    assert [col.header for col in models_table.columns][:3] == ["model", "width", "depth"]

    write_report(storage_url=url, experiment="m1d-depth", out_dir=tmp_path / "rep")
    with (tmp_path / "rep" / "selection.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["depth"], r["original_param_count"]) for r in rows) == [("1", str(one)), ("2", str(params[("original", 2)]))]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "selected points against parameter count" in page and "selected points against depth" in page
    # one width, two depths: the findings are judged along depth
    assert "along depth" in page and "A depth is over-parameterized" in (tmp_path / "rep" / "findings.md").read_text()
