"""``unlearn-opt decision-regions``: C_prox and S_far (docs/design.md §6) of the selected trials, and a
plane of predicted classes through a forget example and two neighbours, original beside
unlearned. The unlearned model is rebuilt by re-running the trial's parameters with the same
seed (the engine is deterministic for a given device)."""

from __future__ import annotations

from typing import Any

import optuna
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from unlearn_opt.analysis.collect import StudyResult, read_results
from unlearn_opt.analysis.selection import select
from unlearn_opt.engine.runtime import autocast, eval_mode, resolve_device
from unlearn_opt.engine.workspace import Workspace
from unlearn_opt.errors import UserError
from unlearn_opt.service.experiment import load_experiment
from unlearn_opt.service.naming import ModelKey
from unlearn_opt.service.originals import OriginalsView, install, open_store
from unlearn_opt.service.storage import open_storage, resolve_artifacts, resolve_url

ATTR = "decision_regions"


def stored_regions(s: StudyResult) -> list[dict[str, Any]]:
    return [{"study": s.name, **r} for r in s.study.user_attrs.get(ATTR, [])]


def plane_grid(ws: Workspace, models: dict[str, nn.Module], *, steps: int = 31) -> dict[str, Any]:
    """Predicted classes on the plane x0 + a·(x1 − x0) + b·(x2 − x0), a, b ∈ [−0.5, 1.5], where x0
    is the first forget example and x1, x2 its two nearest retain examples (L2 in input space).
    The plane lies in the input space, so it is the same for images (C, H, W) and signals (C, L)."""
    d = ws.data
    x0 = d.normalize(d.x_train[ws.sets.forget[:1]])
    retain = d.normalize(d.x_train[ws.sets.retain])
    nearest = torch.cdist(x0.flatten(1), retain.flatten(1))[0].argsort()[:2]
    x1, x2 = retain[nearest[0]], retain[nearest[1]]
    coords = torch.linspace(-0.5, 1.5, steps, device=d.device)
    a, b = torch.meshgrid(coords, coords, indexing="xy")
    per_point = (-1,) + (1,) * (x0.dim() - 1)  # one coefficient per point, broadcast over (C, *spatial)
    pts = x0 + a.reshape(per_point) * (x1 - x0) + b.reshape(per_point) * (x2 - x0)
    out: dict[str, Any] = {"coords": coords.tolist(), "steps": steps}
    for name, model in models.items():
        with eval_mode(model), autocast(d.device):
            out[name] = model(pts).argmax(1).reshape(steps, steps).tolist()
    return out


def plane_figure(plane: dict[str, Any], *, title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("original", "unlearned"))
    for col, name in enumerate(("original", "unlearned"), 1):
        fig.add_trace(
            go.Heatmap(
                z=plane[name],
                x=plane["coords"],
                y=plane["coords"],
                colorscale="Turbo",
                showscale=col == 2,
                colorbar={"title": "class"},
            ),
            row=1,
            col=col,
        )
        for x, y, label in ((0, 0, "forget x0"), (1, 0, "x1"), (0, 1, "x2")):
            fig.add_trace(
                go.Scatter(
                    x=[x],
                    y=[y],
                    mode="markers+text",
                    text=[label],
                    textposition="top center",
                    marker={"color": "white", "size": 9, "line": {"color": "black", "width": 1}},
                    showlegend=False,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="a (along x1 − x0)")
    fig.update_yaxes(title_text="b (along x2 − x0)", col=1)
    fig.update_layout(title=title, height=420, template="plotly_white")
    return fig


def compute_regions(
    *,
    storage_url: str | None,
    experiment: str,
    artifacts: str | None = None,
    lambdas: list[float] | None = None,
    delta: float | None = None,
    device: str = "auto",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Scores of the selected trials, stored on their studies (user attribute ``decision_regions``)
    and as plane figures for the dashboard. Returns one row per (study, λ)."""
    from optuna_dashboard import save_plotly_graph_object

    url = resolve_url(storage_url)
    storage = open_storage(url)
    exp = load_experiment(storage, experiment)
    res = read_results(storage, exp)
    originals = optuna.load_study(study_name=exp.originals_study, storage=storage)
    store = open_store(originals, resolve_artifacts(artifacts, url))  # the experiment's store, or one line
    lambdas = list(lambdas or exp.spec.lambdas)
    delta = exp.spec.evaluation.delta if delta is None else delta
    first = Workspace(exp.spec, device=resolve_device(device), progress=progress)
    workspaces = {0: first}  # one per replicate, on the dataset loaded once
    view = OriginalsView.read(originals)
    rows = []
    for s in res.studies:
        key = ModelKey("original", s.key.width, s.key.sparsity, s.key.replicate, s.key.depth)
        if key not in view.complete:
            continue
        if s.key.replicate not in workspaces:
            workspaces[s.key.replicate] = Workspace(
                exp.spec.for_replicate(s.key.replicate), device=first.device, data=first.data, progress=progress
            )
        ws = workspaces[s.key.replicate]
        if not ws.has_original(s.key.width, s.key.sparsity, depth=s.key.depth):
            install(ws, view.complete[key], store)
        kept = [r for r in s.study.user_attrs.get(ATTR, []) if r["lambda"] not in lambdas or r["delta"] != delta]
        for lam in lambdas:
            trial = select(s.trials, goal=s.key.goal, lam=lam)
            if trial is None:
                continue
            params = {**trial.user_attrs.get("fixed_params", {}), **trial.params}
            original, unlearned, _, _ = ws.unlearn(
                width=s.key.width, sparsity=s.key.sparsity, method=s.key.method, params=params, depth=s.key.depth
            )
            scores = ws.regions(original, unlearned, delta=delta)
            plane = plane_grid(ws, {"original": original, "unlearned": unlearned})
            row = {
                "lambda": lam,
                "trial_number": trial.number,
                "delta": delta,
                "c_prox": scores.c_prox,
                "s_far": scores.s_far,
                "plane": plane,
            }
            kept.append(row)
            rows.append({"study": s.name, **row})
            save_plotly_graph_object(
                s.study,
                plane_figure(plane, title=f"{s.name} λ={lam:g} trial {trial.number}"),
                graph_object_id=f"regions-l{lam:g}",
            )
        s.study.set_user_attr(ATTR, kept)
    if not rows:
        raise UserError(f"decision-regions: experiment {experiment!r} has no COMPLETE trial with a trained original yet")
    return rows
