"""The report's figures (plotly)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from optuna.visualization import plot_hypervolume_history
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from unlearn_opt.analysis.collect import ExperimentResults, StudyResult
from unlearn_opt.engine.workspace import OVERPARAMETERIZED_TRAIN_ERROR
from unlearn_opt.goals import GOAL_NAMES, get_goal

PAPER_METRICS = ("forget_error", "forget_test_error", "privacy_gap", "test_error", "mia_auc")
LAYOUT = {"template": "plotly_white", "font": {"size": 13}, "margin": {"l": 60, "r": 20, "t": 60, "b": 50}}


def width_colors(widths: Sequence[float]) -> dict[float, str]:
    ws = sorted(set(widths))
    if len(ws) == 1:
        return {ws[0]: sample_colorscale("Viridis", [0.5])[0]}
    return {w: c for w, c in zip(ws, sample_colorscale("Viridis", [i / (len(ws) - 1) for i in range(len(ws))]))}


def pareto_front(studies: Sequence[StudyResult], *, title: str) -> go.Figure:
    """Pareto fronts of the same (sparsity, method, goal) at every width, overlaid."""
    fig = go.Figure()
    colors = width_colors([s.key.width for s in studies])
    for s in sorted(studies, key=lambda s: s.key.width):
        done = s.complete
        fig.add_trace(
            go.Scatter(
                x=[t.values[0] for t in done],
                y=[t.values[1] for t in done],
                mode="markers",
                marker={"color": colors[s.key.width], "opacity": 0.25, "size": 6},
                showlegend=False,
                name=f"w={s.key.width:g} trials",
                hovertext=[f"trial {t.number}" for t in done],
            )
        )
        front = sorted(s.pareto(), key=lambda t: t.values[0])
        fig.add_trace(
            go.Scatter(
                x=[t.values[0] for t in front],
                y=[t.values[1] for t in front],
                mode="lines+markers",
                line={"color": colors[s.key.width], "shape": "hv"},
                marker={"size": 9},
                name=f"width {s.key.width:g}",
                hovertext=[f"trial {t.number}" for t in front],
            )
        )
    first = get_goal(studies[0].key.goal).first if studies else None
    fig.update_layout(
        title=title,
        xaxis_title=f"{first.metric} ({first.direction})" if first else "objective 1 ()",
        yaxis_title="val_error (minimize)",
        legend_title="width",
        **LAYOUT,
    )
    return fig


def width_axis(fig: go.Figure, widths: Sequence[float]) -> None:
    """A log-scale width axis labelled at the experiment's own widths (not at plotly's 2, 5, 10)."""
    ticks = sorted(set(widths))
    fig.update_xaxes(type="log", title_text="width", tickvals=ticks, ticktext=[f"{w:g}" for w in ticks])


def selected_vs_width(rows: Sequence[dict[str, Any]], *, goal: str, sparsity: float) -> go.Figure:
    """The papers' figure: metrics of the selected points against width, a line per method,
    marker size by λ."""
    fig = make_subplots(rows=1, cols=len(PAPER_METRICS), subplot_titles=PAPER_METRICS, horizontal_spacing=0.05)
    picked = [r for r in rows if r["goal"] == goal and r["sparsity"] == sparsity and r.get("trial_number") is not None]
    methods = sorted({r["method"] for r in picked})
    lambdas = sorted({r["lambda"] for r in picked})
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for mi, method in enumerate(methods):
        for li, lam in enumerate(lambdas):
            pts = sorted((r for r in picked if r["method"] == method and r["lambda"] == lam), key=lambda r: r["width"])
            for ci, metric in enumerate(PAPER_METRICS, 1):
                fig.add_trace(
                    go.Scatter(
                        x=[r["width"] for r in pts],
                        y=[r[metric] for r in pts],
                        mode="lines+markers",
                        name=f"{method}",
                        legendgroup=method,
                        showlegend=(ci == 1 and li == 0),
                        line={"color": palette[mi % len(palette)], "width": 1 + li},
                        marker={"size": 6 + 4 * li, "color": palette[mi % len(palette)]},
                        hovertext=[f"{method} λ={lam:g} trial {r['trial_number']}" for r in pts],
                    ),
                    row=1,
                    col=ci,
                )
    width_axis(fig, [r["width"] for r in picked])
    fig.update_layout(
        title=f"selected points ({goal}, sparsity {sparsity:g}); marker size ∝ λ ({', '.join(f'{v:g}' for v in lambdas)})",
        height=380,
        **LAYOUT,
    )
    return fig


def originals_vs_width(res: ExperimentResults) -> go.Figure:
    """Train and test error of the originals against width; the interpolation threshold marked."""
    fig = go.Figure()
    for s in sorted(res.experiment.spec.sparsities):
        pts = sorted((k[1], v) for k, v in res.originals.items() if k[0] == "original" and k[2] == s)
        for metric, dash in (("train_error", "solid"), ("test_error", "dash")):
            fig.add_trace(
                go.Scatter(
                    x=[w for w, _ in pts],
                    y=[v[metric] for _, v in pts],
                    mode="lines+markers",
                    line={"dash": dash},
                    name=f"{metric} (sparsity {s:g})",
                )
            )
    dense = sorted((k[1], v) for k, v in res.originals.items() if k[0] == "original" and k[2] == 0.0)
    threshold = next((w for w, v in dense if v["train_error"] <= OVERPARAMETERIZED_TRAIN_ERROR), None)
    if threshold is not None:
        fig.add_vline(x=threshold, line_dash="dot", annotation_text=f"interpolation threshold ≈ width {threshold:g}")
    width_axis(fig, [k[1] for k in res.originals])
    fig.update_layout(title="original models: train and test error against width", yaxis_title="error", **LAYOUT)
    return fig


def hypervolume_history(studies: Sequence[StudyResult]) -> go.Figure:
    """Hypervolume against trial count, one line per study (has the search converged?)."""
    fig = go.Figure()
    for s in studies:
        if len(s.complete) == 0:
            continue
        sub = plot_hypervolume_history(s.study, get_goal(s.key.goal).reference_point())
        for trace in sub.data:
            trace.name = s.name
            trace.showlegend = True
            trace.mode = "lines"
            fig.add_trace(trace)
    fig.update_layout(title="hypervolume against trial number", xaxis_title="trial", yaxis_title="hypervolume", **LAYOUT)
    return fig


def regions_vs_width(regions: Sequence[dict[str, Any]], *, sparsity: float = 0.0) -> go.Figure:
    """C_prox (change near F) and S_far (sameness far from F) of the selected points against
    width, a line per (method, goal), mean over λ."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("C_prox(δ): change near F", "S_far(δ): same far from F"))
    picked = [r for r in regions if r["sparsity"] == sparsity]
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    methods = sorted({r["method"] for r in picked})
    for mi, method in enumerate(methods):
        for goal, dash in zip(GOAL_NAMES, ("solid", "dash", "dot", "dashdot", "longdash")):
            widths = sorted({r["width"] for r in picked if r["method"] == method and r["goal"] == goal})
            if not widths:
                continue
            for col, metric in ((1, "c_prox"), (2, "s_far")):
                ys = [
                    sum(r[metric] for r in picked if r["method"] == method and r["goal"] == goal and r["width"] == w)
                    / sum(1 for r in picked if r["method"] == method and r["goal"] == goal and r["width"] == w)
                    for w in widths
                ]
                fig.add_trace(
                    go.Scatter(
                        x=widths,
                        y=ys,
                        mode="lines+markers",
                        name=f"{method} ({goal})",
                        legendgroup=f"{method}{goal}",
                        showlegend=col == 1,
                        line={"color": palette[mi % len(palette)], "dash": dash},
                    ),
                    row=1,
                    col=col,
                )
    width_axis(fig, [r["width"] for r in picked])
    fig.update_layout(title=f"decision regions of the selected points (sparsity {sparsity:g}, mean over λ)", height=400, **LAYOUT)
    return fig


def sparsity_effect(rows: Sequence[dict[str, Any]], *, goal: str = "privacy") -> go.Figure:
    """Prune-then-unlearn: |E_F − E_F(retrain)| and test error of the selected points against
    sparsity, a line per (method, width), mean over λ."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("|E_F − E_F(retrain)|", "test error"))
    picked = [
        r for r in rows if r["goal"] == goal and r.get("trial_number") is not None and r.get("retrain_forget_error") is not None
    ]
    colors = width_colors([r["width"] for r in picked]) if picked else {}
    symbols = ["circle", "square", "diamond", "x", "triangle-up"]
    for mi, method in enumerate(sorted({r["method"] for r in picked})):
        for w in sorted(colors):
            pts = [r for r in picked if r["method"] == method and r["width"] == w]
            xs = sorted({r["sparsity"] for r in pts})
            for col, value in ((1, lambda r: abs(r["forget_error"] - r["retrain_forget_error"])), (2, lambda r: r["test_error"])):
                ys = [sum(value(r) for r in pts if r["sparsity"] == s) / sum(1 for r in pts if r["sparsity"] == s) for s in xs]
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=ys,
                        mode="lines+markers",
                        name=f"{method} w={w:g}",
                        legendgroup=f"{method}{w}",
                        showlegend=col == 1,
                        marker={"symbol": symbols[mi % len(symbols)], "size": 8},
                        line={"color": colors[w]},
                    ),
                    row=1,
                    col=col,
                )
    fig.update_xaxes(title_text="sparsity (fraction of conv weights pruned)")
    fig.update_layout(title=f"prune, then unlearn ({goal}; selected points, mean over λ)", height=420, **LAYOUT)
    return fig
