"""Replicates (``replicates = N``): each replicate draws other splits (F, V, Ft) and another
initialization of the originals, and runs its own studies; this module puts them together.

Everything is along one size axis (``axis``): width, or depth for a spec with one width and
several depths (the column ``width`` below is then ``depth``).

- :func:`aggregate`: per (width, sparsity, method, goal, λ), over the replicates whose study has
  a selected point, the mean and the spread of each metric of the selected points:
  ``mean = Σ x / n`` and the sample standard deviation ``std = √(Σ (x − mean)² / (n − 1))``
  (None for n = 1), with n.
- :func:`replicate_findings`: the findings of each replicate on its own rows and originals, and
  an overall verdict per claim: holds if it holds in every replicate, does not hold if it holds in
  none, cannot tell otherwise (mixed, or some replicate cannot tell).
- :func:`errorbar_vs_width`: the selected points' means against width with ±std error bars.
- :func:`aggregate_originals` / :func:`originals_errorbars`: the same for the originals and the
  retrain references (train and test error, forget/forget-test error, privacy gap).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from unlearn_opt.analysis.figures import width_axis
from unlearn_opt.analysis.findings import Finding, findings
from unlearn_opt.goals import get_goal
from unlearn_opt.metrics import METRIC_NAMES

GROUP = ("width", "sparsity", "method", "goal", "lambda")  # along width; along depth, "depth" first


def _group(axis: str) -> tuple[str, ...]:
    return (axis, *GROUP[1:])


AGGREGATED = (*METRIC_NAMES, "j_lambda")
VERDICT = {True: "holds", False: "does not hold", None: "cannot tell"}


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """(mean, sample std) of ``values``; (None, None) when empty, std None for one value."""
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def aggregate(
    rows: Sequence[Mapping[str, Any]], metrics: Sequence[str] = AGGREGATED, *, axis: str = "width"
) -> list[dict[str, Any]]:
    """One row per (width, sparsity, method, goal, λ) of ``selection_rows`` (width: ``axis``):
    ``n`` (replicates with a selected point), ``replicates`` (which), and ``METRIC_mean`` /
    ``METRIC_std`` of each metric (over the replicates where it is recorded)."""
    group = _group(axis)
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for r in rows:
        if r.get("trial_number") is not None:
            groups.setdefault(tuple(r[k] for k in group), []).append(r)
    out = []
    for key in sorted(groups, key=lambda k: (k[3], k[1], k[2], k[0], k[4])):
        members = sorted(groups[key], key=lambda r: int(r.get("replicate", 0)))
        row: dict[str, Any] = dict(zip(group, key, strict=True))
        row["n"] = len(members)
        row["replicates"] = " ".join(str(r.get("replicate", 0)) for r in members)
        for m in metrics:
            mean, std = mean_std([float(r[m]) for r in members if r.get(m) is not None])
            row[f"{m}_mean"], row[f"{m}_std"] = mean, std
        out.append(row)
    return out


@dataclass
class ReplicateFindings:
    per_replicate: dict[int, list[Finding]]
    overall: list[Finding]

    def table(self) -> list[dict[str, Any]]:
        """One row per claim: each replicate's verdict and the overall one."""
        out = []
        for i, f in enumerate(self.overall):
            row: dict[str, Any] = {"claim": f"({f.claim})", "statement": f.statement}
            for r, found in sorted(self.per_replicate.items()):
                row[f"r{r}"] = VERDICT[found[i].holds]
            row["overall"] = VERDICT[f.holds]
            out.append(row)
        return out


def overall_verdict(verdicts: Sequence[bool | None]) -> bool | None:
    if verdicts and all(v is True for v in verdicts):
        return True
    if verdicts and all(v is False for v in verdicts):
        return False
    return None


def replicate_findings(
    rows: Sequence[Mapping[str, Any]],
    originals: Mapping[int, Mapping[tuple[str, float, float], dict[str, Any]]],
    regions: Sequence[Mapping[str, Any]],
    *,
    methods: Sequence[str],
    corrupt_labels: bool = False,
    axis: str = "width",
) -> ReplicateFindings:
    """:func:`~unlearn_opt.analysis.findings.findings` of each replicate (its selected rows, its
    originals, its region scores), along ``axis``, and the overall verdicts."""
    per: dict[int, list[Finding]] = {}
    for r in sorted(originals):
        mine = [dict(x) for x in rows if int(x.get("replicate", 0)) == r]
        regs = [dict(x) for x in regions if int(x.get("replicate", 0)) == r]
        per[r] = findings(mine, dict(originals[r]), regs, methods=methods, corrupt_labels=corrupt_labels, axis=axis)
    overall = []
    for i, first in enumerate(next(iter(per.values()))):
        verdicts = [found[i].holds for found in per.values()]
        held = sum(v is True for v in verdicts)
        detail = "; ".join(f"r{r}: {VERDICT[found[i].holds]} ({found[i].summary})" for r, found in per.items())
        overall.append(
            Finding(
                claim=first.claim,
                statement=first.statement,
                holds=overall_verdict(verdicts),
                summary=f"holds in {held} of {len(verdicts)} replicates. {detail}",
                table=[{"replicate": r, **row} for r, found in per.items() for row in found[i].table],
                rule=first.rule,
                points=sum(found[i].points for found in per.values()),
                trials=sum(found[i].trials for found in per.values()),
                replicates=len(per),
                axis=first.axis,
                by_lambda={
                    lam: overall_verdict([found[i].by_lambda.get(lam) for found in per.values()])
                    for lam in sorted({lam for found in per.values() for lam in found[i].by_lambda})
                },
            )
        )
    return ReplicateFindings(per, overall)


def _mean_std_trace(pts: Sequence[Mapping[str, Any]], metric: str, *, axis: str = "width", **style: Any) -> go.Scatter:
    """``metric``'s mean ± std (error bars) against width (``axis``) over the rows ``pts``."""
    return go.Scatter(
        x=[r[axis] for r in pts],
        y=[r[f"{metric}_mean"] for r in pts],
        error_y={"type": "data", "array": [r[f"{metric}_std"] or 0.0 for r in pts], "visible": True},
        mode="lines+markers",
        **style,
    )


def errorbar_vs_width(
    agg: Sequence[Mapping[str, Any]],
    *,
    goal: str,
    sparsity: float = 0.0,
    threshold: float | Sequence[float | None] | None = None,
    axis: str = "width",
) -> go.Figure:
    """Mean ± std over replicates of the selected points' metrics against width (log axis; or
    against ``axis``), a line per method, one panel per metric, line width growing with λ."""
    metrics = list(dict.fromkeys((get_goal(goal).first.metric, "forget_error", "forget_test_error", "test_error")))
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=metrics, horizontal_spacing=0.06)
    picked = [r for r in agg if r["goal"] == goal and r["sparsity"] == sparsity]
    methods = sorted({r["method"] for r in picked})
    lambdas = sorted({r["lambda"] for r in picked})
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    for mi, method in enumerate(methods):
        color = palette[mi % len(palette)]
        for li, lam in enumerate(lambdas):
            pts = sorted((r for r in picked if r["method"] == method and r["lambda"] == lam), key=lambda r: r[axis])
            for ci, metric in enumerate(metrics, 1):
                fig.add_trace(
                    _mean_std_trace(
                        pts,
                        metric,
                        axis=axis,
                        name=method,
                        legendgroup=method,
                        showlegend=ci == 1 and li == 0,
                        line={"color": color, "width": 1 + li},
                        marker={"color": color, "size": 5 + 2 * li},
                        hovertext=[f"{method} λ={lam:g}, n={r['n']}" for r in pts],
                    ),
                    row=1,
                    col=ci,
                )
    width_axis(fig, [r[axis] for r in picked], threshold=threshold, axis=axis)
    fig.update_layout(
        title=f"selected points over replicates ({goal}, sparsity {sparsity:g}): mean ± std; line width ∝ λ "
        f"({', '.join(f'{v:g}' for v in lambdas)})",
        height=380,
        template="plotly_white",
    )
    return fig


ORIGINAL_METRICS = ("train_error", "test_error", "forget_error", "forget_test_error", "privacy_gap")


def aggregate_originals(
    originals: Mapping[int, Mapping[tuple[str, float, float], Mapping[str, Any]]], *, axis: str = "width"
) -> list[dict[str, Any]]:
    """One row per (kind, width, sparsity) (width: ``axis``, as the originals are keyed): n and
    the mean / sample std over replicates of :data:`ORIGINAL_METRICS` of the trained originals
    and retrain references."""
    groups: dict[tuple[str, float, float], list[Mapping[str, Any]]] = {}
    for per in originals.values():
        for key, record in per.items():
            groups.setdefault(key, []).append(record)
    out = []
    for (kind, width, sparsity), records in sorted(groups.items()):
        row: dict[str, Any] = {"kind": kind, axis: width, "sparsity": sparsity, "n": len(records)}
        for m in ORIGINAL_METRICS:
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std([float(r[m]) for r in records if r.get(m) is not None])
        out.append(row)
    return out


def originals_errorbars(
    rows: Sequence[Mapping[str, Any]], *, threshold: float | Sequence[float | None] | None = None, axis: str = "width"
) -> go.Figure:
    """Dense originals' (and retrain references') train and test error against width (``axis``),
    mean ± std over replicates: the interpolation threshold with its spread."""
    fig = go.Figure()
    styles = {("original", "train_error"): "#1f77b4", ("original", "test_error"): "#d62728"}
    styles |= {("retrain", "train_error"): "#aec7e8", ("retrain", "test_error"): "#ff9896"}
    for (kind, metric), color in styles.items():
        pts = sorted((r for r in rows if r["kind"] == kind and r["sparsity"] == 0.0), key=lambda r: r[axis])
        fig.add_trace(
            _mean_std_trace(
                pts,
                metric,
                axis=axis,
                name=f"{kind} {metric}",
                line={"color": color, "dash": "solid" if kind == "original" else "dot"},
                hovertext=[f"n={r['n']}" for r in pts],
            )
        )
    width_axis(fig, [r[axis] for r in rows], threshold=threshold, axis=axis)
    fig.update_layout(
        title="originals and retrain references over replicates: mean ± std",
        yaxis_title="error",
        height=420,
        template="plotly_white",
    )
    return fig


def aggregate_table_columns(goal: str, *, axis: str = "width") -> list[str]:
    """The columns report.html shows of :func:`aggregate`'s rows for ``goal``."""
    first = get_goal(goal).first.metric
    cols = [axis, "sparsity", "method", "lambda", "n"]
    for m in dict.fromkeys((first, "forget_error", "forget_test_error", "test_error", "mia_auc")):
        cols += [f"{m}_mean", f"{m}_std"]
    return cols
