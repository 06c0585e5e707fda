"""The report's figures (plotly)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from optuna.visualization import plot_hypervolume_history
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from unlearn_opt.analysis.collect import ExperimentResults, StudyResult
from unlearn_opt.analysis.findings import interpolation_threshold
from unlearn_opt.goals import GOAL_NAMES, get_goal

PAPER_METRICS = ("forget_error", "forget_test_error", "privacy_gap", "test_error", "mia_auc")
LAYOUT = {"template": "plotly_white", "font": {"size": 13}, "margin": {"l": 60, "r": 20, "t": 70, "b": 60}}
# a sequential scale without its near-white end (Viridis' last fifth is yellow, faint on white)
WIDTH_SCALE = "Viridis"
WIDTH_SCALE_END = 0.8
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "cross", "x", "star", "pentagon", "hexagram", "triangle-down")
METHOD_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
THRESHOLD_TEXT = "interpolation threshold"


def width_colors(widths: Sequence[float]) -> dict[float, str]:
    """A colour per width from the dark part of the sequential scale (narrow: dark purple)."""
    ws = sorted(set(widths))
    if len(ws) == 1:
        return {ws[0]: sample_colorscale(WIDTH_SCALE, [0.4])[0]}
    points = [WIDTH_SCALE_END * i / (len(ws) - 1) for i in range(len(ws))]
    return dict(zip(ws, sample_colorscale(WIDTH_SCALE, points)))


def width_symbols(widths: Sequence[float]) -> dict[float, str]:
    """A distinct marker symbol per width, so overlapping points stay apart in print too."""
    return {w: SYMBOLS[i % len(SYMBOLS)] for i, w in enumerate(sorted(set(widths)))}


SQRT_TICKS = (0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def _sqrt(values: Sequence[float]) -> list[float]:
    return [math.sqrt(max(0.0, v)) for v in values]


def _sqrt_ticks(top: float) -> dict[str, Any]:
    """Ticks of a square-root axis at round values up to ``top`` (labelled with the values), at
    least 7 % of the axis apart so that their labels do not collide near 0."""
    span = math.sqrt(max(top, 0.01) * 1.05)
    ticks: list[float] = []
    for t in SQRT_TICKS:
        if t <= span**2 and (not ticks or math.sqrt(t) - math.sqrt(ticks[-1]) >= 0.07 * span):
            ticks.append(t)
    return {"tickvals": _sqrt(ticks), "ticktext": [f"{t:g}" for t in ticks]}


def pareto_front(studies: Sequence[StudyResult], *, title: str, threshold: float | None = None) -> go.Figure:
    """Pareto fronts of the same (sparsity, method, goal) at every width, overlaid. Both axes
    are square-root scales (positions √v, labels v): the errors of the over-parameterized
    widths, which pile up near (0, 0) on a linear scale, are spread apart, and 0 stays on the
    axis. Each width has its own colour and open symbol, larger for narrower widths (drawn
    first, behind), so coinciding points remain visible one behind another."""
    fig = go.Figure()
    widths = [s.key.width for s in studies]
    colors, symbols = width_colors(widths), width_symbols(widths)
    rank = {w: i for i, w in enumerate(sorted(set(widths)))}
    top_x = top_y = 0.0
    for s in sorted(studies, key=lambda s: s.key.width):
        w = s.key.width
        size = 22 - 14 * rank[w] / max(1, len(rank) - 1)
        regime = "" if threshold is None else (" (over)" if w >= threshold else " (under)")
        done = s.complete
        front = sorted(s.pareto(), key=lambda t: t.values[0])
        top_x = max([top_x, *(t.values[0] for t in done)])
        top_y = max([top_y, *(t.values[1] for t in done)])
        for trials, is_front in ((done, False), (front, True)):
            fig.add_trace(
                go.Scatter(
                    x=_sqrt([t.values[0] for t in trials]),
                    y=_sqrt([t.values[1] for t in trials]),
                    customdata=[[t.number, t.values[0], t.values[1]] for t in trials],
                    mode="lines+markers" if is_front else "markers",
                    line={"color": colors[w], "shape": "hv", "width": 1.5},
                    marker=(
                        {"size": size, "symbol": f"{symbols[w]}-open", "line": {"width": 2}, "color": colors[w]}
                        if is_front
                        else {"color": colors[w], "opacity": 0.35, "size": 6, "symbol": symbols[w]}
                    ),
                    legendgroup=f"w{w:g}",
                    showlegend=is_front,
                    name=f"width {w:g}{regime}" if is_front else f"width {w:g}: all trials",
                    hovertemplate=f"width {w:g}, trial %{{customdata[0]}}<br>(%{{customdata[1]:.4g}}, %{{customdata[2]:.4g}})"
                    "<extra></extra>",
                )
            )
    first = get_goal(studies[0].key.goal).first if studies else None
    fig.update_layout(
        title=title,
        xaxis_title=(f"{first.metric} ({first.direction})" if first else "objective 1") + ", square-root scale",
        yaxis_title="val_error (minimize), square-root scale",
        legend_title="width (regime)",
        **LAYOUT,
    )
    fig.update_xaxes(zeroline=True, **_sqrt_ticks(top_x))
    fig.update_yaxes(zeroline=True, **_sqrt_ticks(top_y))
    return fig


def log_widths(widths: Sequence[float]) -> bool:
    """Widths spanning a decade or more are shown on a log axis."""
    ws = [w for w in widths if w > 0]
    return bool(ws) and max(ws) / min(ws) >= 10


def width_axis(
    fig: go.Figure,
    widths: Sequence[float],
    *,
    threshold: float | Sequence[float | None] | None = None,
    axis: str = "width",
) -> None:
    """Every width axis of ``fig``: log scale when the widths span decades, labelled at the
    experiment's own widths (not at plotly's 2, 5, 10) and slanted so that close ones
    (0.02, 0.03, 0.05) do not overlap, and the interpolation threshold marked by a dotted line.
    ``threshold`` may be one per replicate: each distinct one is marked and named with the number
    of replicates where it lies. ``axis="depth"``: the same for depths."""
    ticks = sorted(set(widths))
    log = log_widths(ticks)
    fig.update_xaxes(
        type="log" if log else "linear",
        title_text=axis,
        tickvals=ticks,
        ticktext=[f"{w:g}" for w in ticks],
        tickangle=-45,
        tickfont={"size": 11},
    )
    for width, name in threshold_marks(threshold, axis=axis):
        # shapes take data values on log axes too (annotations would need log10)
        fig.add_vline(x=width, line_dash="dot", line_color="#555", row="all", col="all")
        # named in the legend (a line that draws nothing), where it does not cover a subplot title
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                line={"color": "#555", "dash": "dot", "width": 1.5},
                name=name,
                hoverinfo="skip",
            )
        )


def threshold_marks(threshold: float | Sequence[float | None] | None, *, axis: str = "width") -> list[tuple[float, str]]:
    """(width, legend name) of each interpolation threshold to mark: the one threshold, or each
    distinct one of the replicates' with how many replicates have it ("width 1 in 2 of 3
    replicates"); replicates without an over-parameterized width add no line. ``axis``: the
    word for the size (width or depth)."""
    if threshold is None:
        return []
    if isinstance(threshold, (int, float)):
        return [(float(threshold), f"{THRESHOLD_TEXT} ({axis} {threshold:g})")]
    per_replicate = list(threshold)
    found = [t for t in per_replicate if t is not None]
    if len(set(found)) == 1 and len(found) == len(per_replicate):
        return [(found[0], f"{THRESHOLD_TEXT} ({axis} {found[0]:g} in every replicate)")]
    n = len(per_replicate)
    return [(w, f"{THRESHOLD_TEXT} ({axis} {w:g} in {found.count(w)} of {n} replicates)") for w in sorted(set(found))]


def _grid(n: int, cols: int) -> list[tuple[int, int]]:
    return [(i // cols + 1, i % cols + 1) for i in range(n)]


def _method_lines(fig: go.Figure, picked: Sequence[dict[str, Any]], *, x: str, metric: str, row: int, col: int) -> None:
    """One line per (method, λ) of the selected points' ``metric`` against ``x`` (width or depth):
    a colour and symbol per method, thicker lines and larger markers for larger λ."""
    methods = sorted({r["method"] for r in picked})
    lambdas = sorted({r["lambda"] for r in picked})
    for mi, method in enumerate(methods):
        color = METHOD_COLORS[mi % len(METHOD_COLORS)]
        for li, lam in enumerate(lambdas):
            pts = sorted((r for r in picked if r["method"] == method and r["lambda"] == lam), key=lambda r: r[x])
            fig.add_trace(
                go.Scatter(
                    x=[r[x] for r in pts],
                    y=[r[metric] for r in pts],
                    mode="lines+markers",
                    name=method,
                    legendgroup=method,
                    showlegend=((row, col) == (1, 1) and li == 0),
                    line={"color": color, "width": 1 + li},
                    marker={"size": 5 + 3 * li, "color": color, "symbol": SYMBOLS[mi % len(SYMBOLS)]},
                    hovertext=[f"{method} λ={lam:g} {x} {r[x]:g} trial {r['trial_number']}" for r in pts],
                ),
                row=row,
                col=col,
            )


def selected_vs_width(rows: Sequence[dict[str, Any]], *, goal: str, sparsity: float, threshold: float | None = None) -> go.Figure:
    """The papers' figure: metrics of the selected points against width, a line per method
    (marker size ∝ λ), with the retrain reference (black, dotted) and the original (grey,
    dashed) at each width as lines, so "how close to retraining" is the distance to the black
    line."""
    cols = 3
    cells = _grid(len(PAPER_METRICS), cols)
    fig = make_subplots(rows=cells[-1][0], cols=cols, subplot_titles=PAPER_METRICS, horizontal_spacing=0.07, vertical_spacing=0.2)
    picked = [r for r in rows if r["goal"] == goal and r["sparsity"] == sparsity and r.get("trial_number") is not None]
    lambdas = sorted({r["lambda"] for r in picked})
    by_width = {r["width"]: r for r in sorted(picked, key=lambda r: r["width"])}  # references depend on width only
    for metric, (row, col) in zip(PAPER_METRICS, cells):
        _method_lines(fig, picked, x="width", metric=metric, row=row, col=col)
        for kind, style, label in (
            ("retrain", {"color": "black", "dash": "dot", "width": 2}, "retrain reference"),
            ("original", {"color": "#888", "dash": "dash", "width": 2}, "original (before unlearning)"),
        ):
            ref = [(w, r.get(f"{kind}_{metric}")) for w, r in by_width.items() if r.get(f"{kind}_{metric}") is not None]
            fig.add_trace(
                go.Scatter(
                    x=[w for w, _ in ref],
                    y=[v for _, v in ref],
                    mode="lines",
                    line=style,
                    name=label,
                    legendgroup=kind,
                    showlegend=(row, col) == (1, 1),
                    hovertemplate=f"{label}<br>width %{{x:g}}<br>{metric} %{{y:.4f}}<extra></extra>",
                ),
                row=row,
                col=col,
            )
    width_axis(fig, [r["width"] for r in picked], threshold=threshold)
    fig.update_layout(
        title=f"selected points ({goal}, sparsity {sparsity:g}); marker size ∝ λ ({', '.join(f'{v:g}' for v in lambdas)})",
        height=300 * cells[-1][0] + 120,
        legend={"x": 0.72, "y": 0.3, "xanchor": "left", "yanchor": "top"},
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
    width_axis(fig, [k[1] for k in res.originals], threshold=interpolation_threshold(res.originals))
    fig.update_layout(title="original models: train and test error against width", yaxis_title="error", **LAYOUT)
    return fig


def hypervolume_history(studies: Sequence[StudyResult], *, cols: int | None = None) -> go.Figure:
    """Hypervolume against trial number (has the search converged?): a panel per (method,
    goal[, sparsity]), a line per width in the widths' colours; integer trial ticks."""
    panels: dict[tuple[float, str, str], list[StudyResult]] = {}
    for s in studies:
        panels.setdefault((s.key.sparsity, s.key.goal, s.key.method), []).append(s)
    keys = sorted(panels)
    methods = sorted({k[2] for k in keys})
    cols = cols or max(1, min(4, len(methods)))
    cells = _grid(len(keys), cols)
    sparse = len({k[0] for k in keys}) > 1
    titles = [f"{m} · {g}" + (f" · s={sp:g}" if sparse else "") for sp, g, m in keys]
    n_rows = cells[-1][0] if cells else 1
    fig = make_subplots(
        rows=n_rows, cols=cols, subplot_titles=titles or None, horizontal_spacing=0.06, vertical_spacing=min(0.15, 0.3 / n_rows)
    )
    widths = [s.key.width for s in studies]
    colors, symbols = width_colors(widths), width_symbols(widths)
    shown: set[float] = set()
    last = 0
    for key, (row, col) in zip(keys, cells):
        for s in sorted(panels[key], key=lambda s: s.key.width):
            if len(s.complete) == 0:
                continue
            w = s.key.width
            for trace in plot_hypervolume_history(s.study, get_goal(s.key.goal).reference_point()).data:
                xs = list(trace.x)
                last = max([last, *xs])
                fig.add_trace(
                    go.Scatter(
                        x=xs,
                        y=list(trace.y),
                        mode="lines+markers",
                        line={"color": colors[w], "width": 1.5},
                        marker={"symbol": symbols[w], "size": 6, "color": colors[w]},
                        name=f"width {w:g}",
                        legendgroup=f"w{w:g}",
                        showlegend=w not in shown,
                        hovertemplate=f"{s.name}<br>trial %{{x}}<br>hypervolume %{{y:.4f}}<extra></extra>",
                    ),
                    row=row,
                    col=col,
                )
                shown.add(w)
    fig.update_xaxes(tickformat="d", tick0=0, dtick=max(1, math.ceil((last + 1) / 6)), rangemode="tozero")
    fig.update_xaxes(title_text="trial", row=n_rows)
    fig.update_yaxes(title_text="hypervolume", col=1)
    fig.update_layout(
        title="hypervolume against trial number, a panel per method and goal",
        height=max(360, 260 * n_rows + 100),
        legend_title="width",
        **LAYOUT,
    )
    return fig


def regions_vs_width(regions: Sequence[dict[str, Any]], *, sparsity: float = 0.0, threshold: float | None = None) -> go.Figure:
    """C_prox (change near F) and S_far (sameness far from F) of the selected points against
    width, a line per (method, goal), mean over λ."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("C_prox(δ): change near F", "S_far(δ): same far from F"))
    picked = [r for r in regions if r["sparsity"] == sparsity]
    palette = METHOD_COLORS
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
    width_axis(fig, [r["width"] for r in picked], threshold=threshold)
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


def _reference_lines(
    fig: go.Figure, rows: Sequence[dict[str, Any]], *, x: str, metric: str, row: int, col: int, legend: bool, name: str = ""
) -> None:
    """The retrain reference (black, dotted) and the original (grey, dashed) of ``rows`` against
    ``x``, one point per distinct x (the references do not depend on method or λ)."""
    by_x = {r[x]: r for r in sorted(rows, key=lambda r: r[x]) if r.get(x) is not None}
    for kind, style, label in (
        ("retrain", {"color": "black", "dash": "dot", "width": 2}, "retrain reference"),
        ("original", {"color": "#888", "dash": "dash", "width": 2}, "original (before unlearning)"),
    ):
        ref = [(v, r[f"{kind}_{metric}"]) for v, r in by_x.items() if r.get(f"{kind}_{metric}") is not None]
        fig.add_trace(
            go.Scatter(
                x=[v for v, _ in ref],
                y=[m for _, m in ref],
                mode="lines",
                line=style,
                name=label + name,
                legendgroup=kind + name,
                showlegend=legend,
                hovertemplate=f"{label}{name}<br>{x} %{{x:g}}<br>{metric} %{{y:.4f}}<extra></extra>",
            ),
            row=row,
            col=col,
        )


def selected_vs_depth(rows: Sequence[dict[str, Any]], *, goal: str, width: float, sparsity: float = 0.0) -> go.Figure:
    """Metrics of the selected points against depth at one width: a line per method (marker
    size ∝ λ), the retrain reference and the original at each depth as lines."""
    cols = 3
    cells = _grid(len(PAPER_METRICS), cols)
    fig = make_subplots(rows=cells[-1][0], cols=cols, subplot_titles=PAPER_METRICS, horizontal_spacing=0.07, vertical_spacing=0.2)
    picked = [
        r
        for r in rows
        if r["goal"] == goal and r["width"] == width and r["sparsity"] == sparsity and r.get("trial_number") is not None
    ]
    lambdas = sorted({r["lambda"] for r in picked})
    for metric, (row, col) in zip(PAPER_METRICS, cells):
        _method_lines(fig, picked, x="depth", metric=metric, row=row, col=col)
        _reference_lines(fig, picked, x="depth", metric=metric, row=row, col=col, legend=(row, col) == (1, 1))
    depths = sorted({r["depth"] for r in picked})
    fig.update_xaxes(title_text="depth", tickvals=depths, ticktext=[str(d) for d in depths])
    fig.update_layout(
        title=f"selected points against depth ({goal}, width {width:g}, sparsity {sparsity:g}); marker size ∝ λ "
        f"({', '.join(f'{v:g}' for v in lambdas)})",
        height=300 * cells[-1][0] + 120,
        legend={"x": 0.72, "y": 0.3, "xanchor": "left", "yanchor": "top"},
        **LAYOUT,
    )
    return fig


DEPTH_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def selected_vs_params(rows: Sequence[dict[str, Any]], *, goal: str, lam: float, sparsity: float = 0.0) -> go.Figure:
    """Metrics of the selected points at one λ against the original's parameter count (log):
    a colour per method, a line per (method, depth) through the widths (dash and symbol per
    depth), so that growing by width and growing by depth compare at equal size; the retrain
    reference per depth in black."""
    cols = 3
    cells = _grid(len(PAPER_METRICS), cols)
    fig = make_subplots(rows=cells[-1][0], cols=cols, subplot_titles=PAPER_METRICS, horizontal_spacing=0.07, vertical_spacing=0.2)
    picked = [
        r
        for r in rows
        if r["goal"] == goal
        and r["lambda"] == lam
        and r["sparsity"] == sparsity
        and r.get("trial_number") is not None
        and r.get("original_param_count")
    ]
    methods = sorted({r["method"] for r in picked})
    depths = sorted({r.get("depth", 1) for r in picked})
    for metric, (row, col) in zip(PAPER_METRICS, cells):
        for di, depth in enumerate(depths):
            dash, symbol = DEPTH_DASHES[di % len(DEPTH_DASHES)], SYMBOLS[di % len(SYMBOLS)]
            at_depth = [r for r in picked if r.get("depth", 1) == depth]
            for mi, method in enumerate(methods):
                color = METHOD_COLORS[mi % len(METHOD_COLORS)]
                pts = sorted((r for r in at_depth if r["method"] == method), key=lambda r: r["original_param_count"])
                fig.add_trace(
                    go.Scatter(
                        x=[r["original_param_count"] for r in pts],
                        y=[r[metric] for r in pts],
                        mode="lines+markers",
                        name=f"{method}, depth {depth}",
                        legendgroup=method,  # the legend: a colour per method, a dash per depth
                        showlegend=False,
                        line={"color": color, "dash": dash},
                        marker={"size": 8, "color": color, "symbol": symbol},
                        hovertext=[
                            f"{method} width {r['width']:g} depth {depth}: {r['original_param_count']:,} parameters" for r in pts
                        ],
                    ),
                    row=row,
                    col=col,
                )
            ref = sorted(
                (r["original_param_count"], r[f"retrain_{metric}"]) for r in at_depth if r.get(f"retrain_{metric}") is not None
            )
            fig.add_trace(
                go.Scatter(
                    x=[p for p, _ in ref],
                    y=[v for _, v in ref],
                    mode="lines",
                    line={"color": "black", "dash": dash, "width": 1.5},
                    name="retrain reference (black)",
                    hovertext=[f"retrain reference, depth {depth}"] * len(ref),
                    legendgroup="retrain",
                    showlegend=(row, col) == (1, 1) and di == 0,
                ),
                row=row,
                col=col,
            )
    for mi, method in enumerate(methods):  # legend entries only: a colour per method ...
        color = METHOD_COLORS[mi % len(METHOD_COLORS)]
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line={"color": color}, name=method, legendgroup=method))
    for di, depth in enumerate(depths):  # ... and a dash and symbol per depth
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines+markers",
                line={"color": "#666", "dash": DEPTH_DASHES[di % len(DEPTH_DASHES)]},
                marker={"symbol": SYMBOLS[di % len(SYMBOLS)], "color": "#666"},
                name=f"depth {depth}",
                hoverinfo="skip",
            )
        )
    fig.update_xaxes(type="log", title_text="parameters (original)")
    fig.update_layout(
        title=f"selected points against parameter count ({goal}, λ {lam:g}, sparsity {sparsity:g}): width and depth at equal size",
        height=300 * cells[-1][0] + 120,
        legend={"x": 0.72, "y": 0.3, "xanchor": "left", "yanchor": "top"},
        **LAYOUT,
    )
    return fig
