"""Method declarations: importable without torch, validated in specs, and the batch-size rule."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unlearn_opt.errors import UserError
from unlearn_opt.methods import complete_params, distributions, get_method, resolved_space
from unlearn_opt.methods.registry import DECLARATIONS
from unlearn_opt.service.naming import study_keys
from unlearn_opt.spec import METHODS, spec_from_dict

BASE = {"name": "t", "dataset": "digits", "architecture": "cnn", "widths": [1.0]}


def test_spec_and_declarations_load_without_torch() -> None:
    code = (
        "import sys, unlearn_opt.spec, unlearn_opt.methods, unlearn_opt.service.naming;"
        "from unlearn_opt.methods import resolved_space, complete_params;"
        "spec = unlearn_opt.spec.spec_from_dict({'name': 't', 'dataset': 'digits', 'architecture': 'cnn', 'widths': [1],"
        " 'methods': ['scrub'], 'search': {'scrub': {'lr': 0.1}}});"
        "resolved_space('scrub', spec); complete_params('neggrad', {'lr': 0.1}, None);"
        "unlearn_opt.service.naming.study_keys(spec);"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_declared_method_is_a_spec_method_with_an_implementation() -> None:
    assert METHODS == tuple(m.name for m in DECLARATIONS)
    assert "gradient_ascent" in METHODS
    for m in DECLARATIONS:
        module = __import__(m.module, fromlist=["unlearn"])
        assert callable(module.unlearn), m.name
        assert module.__doc__ and "Reference" in module.__doc__ or m.name == "retrain", m.name


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"search": {"ssd": {"lr": 0.1}}}, "search.ssd", "unknown method"),
        ({"search": {"finetune": {"lr": 0.1}}}, "search.finetune", "not in methods"),
        ({"methods": ["retrain", "scrub"], "search": {"retrain": {"lr": 0.1}}}, "search.retrain.lr", "it has: none"),
        ({"search": {"scrub": {"batch_size": 0}}}, "search.scrub.batch_size", "within [1,"),
        ({"search": {"scrub": {"lr_decay_epoch_2": 2.5}}}, "search.scrub.lr_decay_epoch_2", "integer"),
        ({"unlearning": {"batch_size": 0}}, "unlearning.batch_size", "> 0"),
    ],
)
def test_bad_search_tables_name_the_field(patch: dict, field: str, words: str) -> None:
    with pytest.raises(UserError) as info:
        spec_from_dict({**BASE, **patch})
    assert str(info.value).startswith(field + ":") and words in str(info.value), str(info.value)


def test_stored_specs_with_an_unused_search_table_still_load() -> None:
    """Earlier versions accepted [search.X] for a method the spec does not run; a stored spec
    (read back from the database) drops that table instead of refusing the experiment."""
    raw = {**BASE, "methods": ["scrub"], "search": {"scrub": {"lr": 0.1}, "neggrad": {"lr": 0.2}}}
    with pytest.raises(UserError, match="^search.neggrad: neggrad is not in methods"):
        spec_from_dict(raw)
    spec = spec_from_dict(raw, stored=True)
    assert set(spec.search) == {"scrub"} and spec_from_dict(spec.to_dict()) == spec


def test_gradient_ascent_is_usable_in_a_spec() -> None:
    spec = spec_from_dict(
        {
            **BASE,
            "methods": ["gradient_ascent", "retrain"],
            "search": {"gradient_ascent": {"lr": {"low": 1e-5, "high": 1e-3, "log": True}}},
        }
    )
    assert [k.method for k in study_keys(spec)] == ["gradient_ascent"] * len(spec.goals)  # retrain: not tuned
    dists = distributions("gradient_ascent", spec)
    assert set(dists) == {"lr", "epochs"} and dists["lr"].low == 1e-5


def test_study_keys_follow_the_declaration(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from unlearn_opt.methods import registry

    spec = spec_from_dict({**BASE, "methods": ["finetune", "retrain"], "goals": ["privacy"]})
    assert [k.method for k in study_keys(spec)] == ["finetune"]
    monkeypatch.setitem(registry.METHODS, "finetune", replace(registry.METHODS["finetune"], tuned=False))
    assert study_keys(spec) == []


def test_batch_sizes_defaults_then_unlearning_then_search() -> None:
    """Per method: [search.METHOD] first, then [unlearning] (one value for all), then the default."""
    plain = spec_from_dict({**BASE, "methods": ["scrub", "neggrad", "finetune", "gradient_ascent"]})
    assert plain.unlearning.batch_size is None and "batch_size" not in plain.to_dict()["unlearning"]
    sizes = {m: {k: v for k, v in resolved_space(m, plain)[1].items() if "batch" in k} for m in plain.methods}
    assert sizes == {
        "scrub": {"batch_size": 256, "forget_batch_size": 512},
        "neggrad": {"batch_size": 128, "forget_batch_size": 32},
        "finetune": {"batch_size": 256},
        "gradient_ascent": {"forget_batch_size": 256},
    }
    legacy = spec_from_dict(
        {
            **BASE,
            "methods": ["scrub", "finetune", "gradient_ascent"],
            "unlearning": {"batch_size": 64, "forget_batch_size": 32},
            "search": {"scrub": {"forget_batch_size": 8, "batch_size": {"low": 16, "high": 128, "log": True}}},
        }
    )
    assert spec_from_dict(legacy.to_dict()) == legacy
    ranges, fixed = resolved_space("scrub", legacy)
    assert fixed["forget_batch_size"] == 8 and ranges["batch_size"] == (16, 128, True, True)
    assert complete_params("finetune", {}, legacy)["batch_size"] == 64
    assert complete_params("gradient_ascent", {}, legacy)["forget_batch_size"] == 32


def test_scrub_lr_decay_is_overridable() -> None:
    from unlearn_opt.methods.scrub import lr_at

    default = complete_params("scrub", {"lr": 1.0})
    assert [lr_at(e, default) for e in range(1, 12)] == pytest.approx([1, 1, 1, 0.1, 0.1, 1e-2, 1e-2, 1e-2, 1e-2, 1e-3, 1e-3])
    spec = spec_from_dict({**BASE, "methods": ["scrub"], "search": {"scrub": {"lr_decay_rate": 1.0}}})
    assert {lr_at(e, complete_params("scrub", {"lr": 1.0}, spec)) for e in range(1, 12)} == {1.0}
    assert get_method("scrub").param("lr_decay_epoch_3").default == 9
