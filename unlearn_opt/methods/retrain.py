"""Retrain: a fresh model trained from scratch on R with the original recipe — exact unlearning,
the reference. Not tuned (empty search space); the engine supplies the training closure."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from unlearn_opt.methods.base import Method, UnlearnInputs


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    if inputs.retrain is None:
        raise RuntimeError("retrain needs the engine's retrain closure")
    return inputs.retrain()


METHOD = Method(
    name="retrain",
    space=(),
    unlearn=unlearn,
    uses_forget=False,
    tuned=False,
    summary="from scratch on R (exact unlearning)",
)
