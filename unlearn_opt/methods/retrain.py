"""Retrain: a fresh model trained from scratch on R with the original recipe — exact unlearning,
the reference. Not tuned (no hyperparameters, no studies); the engine supplies the training
closure (one model per width, trained once)."""

from __future__ import annotations

from collections.abc import Mapping

from torch import nn

from unlearn_opt.methods.base import UnlearnInputs


def unlearn(inputs: UnlearnInputs, params: Mapping[str, float | int]) -> nn.Module:
    if inputs.retrain is None:
        raise RuntimeError("retrain needs the engine's retrain closure")
    return inputs.retrain()
