"""Spec loading and validation: every problem is one line naming the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from unlearn_opt.errors import UserError
from unlearn_opt.spec import load_spec, spec_from_dict

ROOT = Path(__file__).resolve().parent.parent

BASE = {"name": "t", "dataset": "digits", "architecture": "cnn", "widths": [0.5, 1.0]}


def test_quickstart_spec_loads() -> None:
    spec = load_spec(ROOT / "studies" / "quickstart.toml")
    assert spec.dataset == "digits" and spec.architecture == "cnn"
    assert len(spec.widths) >= 4 and min(spec.widths) < 0.1 and max(spec.widths) >= 1
    assert set(spec.methods) >= {"scrub", "neggrad", "l1_sparse"}
    assert set(spec.goals) == {"privacy", "bias_removal"}


@pytest.mark.parametrize("path", sorted((ROOT / "studies").glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_spec_loads(path: Path) -> None:
    assert load_spec(path).name == path.stem


def test_results_specs_cover_the_study() -> None:
    """docs/RESULTS.md: widths across the interpolation threshold, the three methods plus finetune,
    both goals, a prune-then-unlearn axis; bias removal on a forget set with corrupted labels."""
    sweep = load_spec(ROOT / "studies" / "digits-width-sweep.toml")
    assert min(sweep.widths) <= 0.03 and max(sweep.widths) >= 1.0
    assert set(sweep.methods) == {"scrub", "neggrad", "l1_sparse", "finetune"}
    assert set(sweep.goals) == {"privacy", "bias_removal"} and sorted(sweep.sparsities) == [0.0, 0.5, 0.9]
    bias = load_spec(ROOT / "studies" / "digits-bias-removal.toml")
    assert list(bias.goals) == ["bias_removal"]
    assert bias.forget.corrupt_labels and bias.widths == sweep.widths and bias.methods == sweep.methods


def test_mnist1d_results_specs_cover_the_study() -> None:
    """docs/RESULTS.md on MNIST-1D: widths from 0.25 (the narrowest that trains in every replicate)
    to 8, five methods and the retrain reference, 3 replicates, privacy and bias removal (corrupted
    labels) with the same recipe (bias removal up to width 4, which already fits every wrong
    label), and prune-then-unlearn on the width sweep's first replicate (same seed, splits and
    recipe)."""
    sweep = load_spec(ROOT / "studies" / "mnist1d-width-sweep.toml")
    assert sweep.dataset == "mnist1d" and sweep.architecture == "cnn1d"
    assert min(sweep.widths) <= 0.25 and max(sweep.widths) >= 8 and sweep.replicates == 3
    assert set(sweep.methods) == {"scrub", "neggrad", "l1_sparse", "gradient_ascent", "finetune", "retrain"}
    assert list(sweep.goals) == ["privacy"] and not sweep.forget.corrupt_labels
    bias = load_spec(ROOT / "studies" / "mnist1d-bias-removal.toml")
    assert list(bias.goals) == ["bias_removal"] and bias.forget.corrupt_labels
    assert set(bias.widths) <= set(sweep.widths) and min(bias.widths) <= 0.25 and max(bias.widths) >= 4
    assert (bias.methods, bias.replicates, bias.original, bias.n_trials) == (
        sweep.methods,
        sweep.replicates,
        sweep.original,
        sweep.n_trials,
    )
    prune = load_spec(ROOT / "studies" / "mnist1d-prune.toml")
    assert sorted(prune.sparsities) == [0.0, 0.5, 0.9] and prune.replicates >= 1
    assert {"finetune", "l1_sparse"} <= set(prune.methods) and set(prune.widths) <= set(sweep.widths)
    assert (prune.seed, prune.forget, prune.validation) == (sweep.seed, sweep.forget, sweep.validation)
    assert dataclasses.replace(prune.original, prune_epochs=None) == sweep.original


def test_mnist1d_depth_and_transformer_specs_pair_their_goals() -> None:
    """The depth and Transformer questions: each a privacy spec and a corrupted-label bias-removal
    spec that differ only there; depth at one width, on the width sweep's recipe, seed and splits."""
    sweep = load_spec(ROOT / "studies" / "mnist1d-width-sweep.toml")
    for stem, architecture in (("mnist1d-depth", "cnn1d"), ("mnist1d-transformer", "transformer")):
        privacy = load_spec(ROOT / "studies" / f"{stem}.toml")
        bias = load_spec(ROOT / "studies" / f"{stem}-bias-removal.toml")
        assert privacy.architecture == bias.architecture == architecture
        assert list(privacy.goals) == ["privacy"] and not privacy.forget.corrupt_labels
        assert list(bias.goals) == ["bias_removal"] and bias.forget.corrupt_labels
        assert (privacy.widths, privacy.depths, privacy.methods, privacy.original, privacy.n_trials) == (
            bias.widths,
            bias.depths,
            bias.methods,
            bias.original,
            bias.n_trials,
        )
        assert privacy.replicates == 3 and (privacy.seed, privacy.validation) == (sweep.seed, sweep.validation)
        assert {"scrub", "neggrad", "l1_sparse", "retrain"} <= set(privacy.methods)
    depth = load_spec(ROOT / "studies" / "mnist1d-depth.toml")
    assert len(depth.widths) == 1 and len(depth.depths) >= 3 and depth.original == sweep.original
    transformer = load_spec(ROOT / "studies" / "mnist1d-transformer.toml")
    assert len(transformer.widths) >= 4 and transformer.depths == (1,)


def test_roundtrip_and_digest() -> None:
    spec = spec_from_dict({**BASE, "search": {"scrub": {"lr": {"low": 1e-4, "high": 1e-2, "log": True}}}})
    again = spec_from_dict(spec.to_dict())
    assert again == spec and again.digest() == spec.digest()
    assert spec_from_dict({**BASE, "n_trials": 21}).digest() != spec.digest()


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"widht": [1]}, "widht", "unknown key"),
        ({"widths": [1, -1]}, "widths[1]", "> 0"),
        ({"widths": [0]}, "widths[0]", "> 0"),
        ({"widths": "1"}, "widths", "must be a list"),
        ({"lambdas": [0.2, 1.5]}, "lambdas[1]", "[0, 1]"),
        ({"dataset": "mnist"}, "dataset", "unknown value 'mnist'"),
        ({"architecture": "vit"}, "architecture", "unknown value"),
        ({"methods": ["scrub", "ssd"]}, "methods[1]", "unknown value 'ssd'"),
        ({"goals": ["fairness"]}, "goals[0]", "unknown value"),
        ({"n_trials": "ten"}, "n_trials", "must be an integer"),
        ({"n_trials": 0}, "n_trials", "> 0"),
        ({"forget": {"size": 10, "colour": 1}}, "forget.colour", "unknown key"),
        ({"forget": {"size": 2.5}}, "forget.size", "integer"),
        ({"forget": {"selection": "classes"}}, "forget.classes", "at least one class"),
        ({"original": {"lr": -1}}, "original.lr", "> 0"),
        ({"original": {"schedule": "linear"}}, "original.schedule", "unknown value"),
        ({"validation": {"fraction": 1.0}}, "validation.fraction", "(0, 1)"),
        ({"sparsities": [0.0, 1.0]}, "sparsities[1]", "[0, 1)"),
        ({"sampler": {"name": "cmaes"}}, "sampler.name", "unknown value"),
        ({"search": {"scrub": {"learning_rate": 0.1}}}, "search.scrub.learning_rate", "no such hyperparameter"),
        ({"search": {"scrub": {"lr": {"low": 1, "high": 0.1}}}}, "search.scrub.lr", "low must be <= high"),
        ({"search": {"scrub": {"epochs": {"low": 1.5, "high": 3}}}}, "search.scrub.epochs", "integer"),
        ({"dataset": "cifar10"}, "data_dir", "required"),
    ],
)
def test_bad_values_name_the_field(patch: dict, field: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        spec_from_dict({**BASE, **patch})
    message = str(info.value)
    assert message.startswith(field + ":"), message
    assert words in message
    assert "\n" not in message


def test_missing_required_key() -> None:
    raw = dict(BASE)
    del raw["widths"]
    with pytest.raises(UserError, match="^widths: is required"):
        spec_from_dict(raw)


def test_malformed_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nwidths = [1,\n')
    with pytest.raises(UserError, match="malformed TOML"):
        load_spec(bad)
    with pytest.raises(UserError, match="no such file"):
        load_spec(tmp_path / "nope.toml")


def test_relative_data_dir_resolves_against_spec_folder(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        'name = "c"\ndataset = "cifar10"\ndata_dir = "data/cifar"\narchitecture = "resnet18"\nwidths = [1]\n'
    )
    assert load_spec(tmp_path / "s.toml").data_dir == str(tmp_path / "data" / "cifar")
