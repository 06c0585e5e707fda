"""``unlearn-opt report``: selection.csv, pareto.csv and one self-contained report.html; the
figures and a note per study are also saved on the studies for optuna-dashboard.

Three steps: ``build_report`` reads the experiment into rows, ``render_report`` draws the page and
its figures, ``save_on_studies`` puts the figures and notes on the studies; ``write_report`` does
all three and writes the files."""

from __future__ import annotations

import csv
import datetime as dt
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import plotly.graph_objects as go
from optuna.storages import BaseStorage
from optuna_dashboard import save_note, save_plotly_graph_object

from unlearn_opt.analysis.collect import ExperimentResults, StudyResult, pareto_rows, read_results, selection_rows
from unlearn_opt.analysis.figures import (
    hypervolume_history,
    originals_vs_width,
    pareto_front,
    regions_vs_width,
    selected_vs_depth,
    selected_vs_params,
    selected_vs_width,
    sparsity_effect,
)
from unlearn_opt.analysis.findings import (
    Finding,
    along,
    findings,
    interpolation_threshold,
    regime_rule,
    to_json,
    to_markdown,
)
from unlearn_opt.analysis.regions import plane_figure, stored_regions
from unlearn_opt.analysis.replicates import (
    ReplicateFindings,
    aggregate,
    aggregate_originals,
    aggregate_table_columns,
    errorbar_vs_width,
    originals_errorbars,
    replicate_findings,
)
from unlearn_opt.errors import UserError
from unlearn_opt.service.experiment import ORIGINALS_ABOUT, Experiment, load_experiment
from unlearn_opt.service.storage import open_storage

SELECTION_LEAD = ["study", "width", "sparsity", "method", "goal", "lambda", "trial_number", "j_lambda"]
SELECTION_TABLE = [  # the columns of the selection table in report.html (the study's name is in the CSV)
    "width",
    "sparsity",
    "method",
    "goal",
    "lambda",
    "n_complete",
    "trial_number",
    "j_lambda",
    "forget_error",
    "forget_test_error",
    "privacy_gap",
    "val_error",
    "test_error",
    "mia_auc",
    "mia_efficacy",
    "original_train_error",
    "original_test_error",
    "retrain_forget_error",
]


def write_csv(path: Path, rows: Sequence[dict[str, Any]], lead: Sequence[str]) -> None:
    columns = list(lead)
    for row in rows:
        columns += [k for k in row if k not in columns]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})


def _groups(res: ExperimentResults) -> dict[tuple[float, str, str], list[StudyResult]]:
    out: dict[tuple[float, str, str], list[StudyResult]] = {}
    depth = res.reference_depth  # other depths: see the depth and parameter-count figures
    for s in (s for s in res.studies if s.key.replicate == 0 and s.key.depth == depth):  # replicates: see the Replicates section
        out.setdefault((s.key.sparsity, s.key.method, s.key.goal), []).append(s)
    return out


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, interactive: str | None = None) -> str:
    """An HTML table; text left-aligned, numbers right-aligned. With ``interactive`` (an id), a
    filter box above it and sortable headers (click; again to reverse), in a scrolling box."""

    def cell(v: Any) -> str:
        if v is None:
            return "<td class='num'>—</td>"
        if isinstance(v, bool):
            return f"<td>{v}</td>"
        if isinstance(v, float):
            return f"<td class='num' data-v='{v!r}'>{v:.4g}</td>"
        if isinstance(v, int):
            return f"<td class='num' data-v='{v}'>{v}</td>"
        return f"<td>{html.escape(str(v))}</td>"

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if interactive is None:
        return table
    return (
        f"<div class='interactive' id='{interactive}'><p><input type='search' class='filter' "
        f"placeholder='filter rows (e.g. w0.25, scrub, privacy)' aria-label='filter rows'> "
        f"<span class='count'>{len(rows)} rows</span>; click a column header to sort.</p>"
        f"<div class='scroll'>{table}</div></div>"
    )


TABLE_SCRIPT = """
document.querySelectorAll('div.interactive').forEach(function (box) {
  var tbody = box.querySelector('tbody'), rows = Array.from(tbody.rows), count = box.querySelector('.count');
  box.querySelector('.filter').addEventListener('input', function (e) {
    var words = e.target.value.toLowerCase().split(/\\s+/).filter(Boolean), shown = 0;
    rows.forEach(function (r) {
      var text = r.textContent.toLowerCase(), ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      r.style.display = ok ? '' : 'none'; if (ok) shown++;
    });
    count.textContent = shown + ' of ' + rows.length + ' rows';
  });
  box.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var dir = th.dataset.dir === 'asc' ? -1 : 1;
      box.querySelectorAll('th').forEach(function (h) { delete h.dataset.dir; });
      th.dataset.dir = dir === 1 ? 'asc' : 'desc';
      function key(r) { var c = r.cells[col]; return c.dataset.v !== undefined ? parseFloat(c.dataset.v) : c.textContent; }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x === 'number' && typeof y === 'number') return dir * (x - y);
        if (typeof x === 'number') return -1;
        if (typeof y === 'number') return 1;
        return dir * String(x).localeCompare(String(y), undefined, {numeric: true});
      });
      rows.forEach(function (r) { tbody.appendChild(r); });
    });
  });
});
"""


class _Page:
    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []
        self._plotly_included = False

    def section(self, anchor: str, heading: str, text: str = "") -> None:
        self.parts.append(f'<h2 id="{anchor}">{html.escape(heading)}</h2>')
        if text:
            self.parts.append(f"<p>{text}</p>")

    def figure(self, fig: go.Figure) -> None:
        # plotly.js is inlined once: the page renders offline
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=not self._plotly_included))
        self._plotly_included = True

    def raw(self, text: str) -> None:
        self.parts.append(text)

    def render(self) -> str:
        style = (
            "body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 2em;max-width:1400px;color:#222;"
            "text-align:left;line-height:1.45}p,li{max-width:72em}"
            "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;"
            "vertical-align:top}td.num{text-align:right;font-variant-numeric:tabular-nums}"
            "th{background:#f3f3f3;position:sticky;top:0}.interactive th{cursor:pointer}"
            ".interactive th[data-dir=asc]::after{content:' ▲'}.interactive th[data-dir=desc]::after{content:' ▼'}"
            ".scroll{max-height:32em;overflow:auto;border:1px solid #ddd}.filter{width:24em;padding:3px}"
            ".missing{color:#a33}.findings td:nth-child(2),.findings td:nth-child(6){min-width:16em}"
        )
        return (
            f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(self.title)}</h1>{''.join(self.parts)}"
            f"<script>{TABLE_SCRIPT}</script></body></html>"
        )


@dataclass
class ReportData:
    """What the report says, as rows read from the storage (nothing rendered yet)."""

    results: ExperimentResults
    selection: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    regions: list[dict[str, Any]]
    findings: list[Finding]  # with replicates: the overall verdicts
    replicates: ReplicateFindings | None = None  # with replicates = N > 1
    aggregate: list[dict[str, Any]] | None = None  # mean/std over replicates (``replicates.aggregate``)

    @property
    def experiment(self) -> Experiment:
        return self.results.experiment


@dataclass
class RenderedReport:
    html: str
    static: dict[str, go.Figure]  # the main figures by file name (``--images``)
    dashboard: dict[str, list[go.Figure]]  # study name → the figures saved on it


def build_report(storage: BaseStorage, experiment: str) -> ReportData:
    """Read the experiment and compute every row of the report: the λ selection, the Pareto
    fronts, the stored decision-region scores and the findings."""
    exp = load_experiment(storage, experiment)
    res = read_results(storage, exp)
    sel = selection_rows(res)
    regions = region_rows(res)
    methods, corrupt, axis = exp.spec.methods, exp.spec.forget.corrupt_labels, res.axis
    # findings and replicate means along width at the spec's first depth (the only one by default),
    # or along depth when the spec has one width and several depths
    on_axis, regions_on_axis, originals = res.on_axis(sel), res.on_axis(regions), res.axis_originals()
    if exp.replicates > 1:
        reps = replicate_findings(on_axis, originals, regions_on_axis, methods=methods, corrupt_labels=corrupt, axis=axis)
        return ReportData(res, sel, pareto_rows(res), regions, reps.overall, reps, aggregate(on_axis, axis=axis))
    found = findings(on_axis, originals.get(0, {}), regions_on_axis, methods=methods, corrupt_labels=corrupt, axis=axis)
    return ReportData(res, sel, pareto_rows(res), regions, found)


def _at_reference_depth(res: ExperimentResults, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows at the depth the width figures and findings use (the spec's first)."""
    return [r for r in rows if r.get("depth", 1) == res.reference_depth]


def _size_section(page: _Page, res: ExperimentResults, sel: Sequence[dict[str, Any]], static: dict[str, go.Figure]) -> None:
    """Selected points against the originals' parameter count (width and depth at equal size),
    and with several depths, against depth at each width."""
    spec = res.experiment.spec
    lam = sorted(spec.lambdas)[len(spec.lambdas) // 2]
    page.section(
        "size",
        "Selected points against model size",
        f"The selected points at λ = {lam:g} (the middle λ) against the original's parameter count (log axis): a line per"
        " method and depth through the widths, so that a model grown by width and one grown by depth compare at"
        " equal size." + (" Then, per width, the selected points against depth." if len(spec.depths) > 1 else ""),
    )
    for goal in spec.goals:
        fig = selected_vs_params(sel, goal=goal, lam=lam)
        page.figure(fig)
        static[f"selected-params-{goal}"] = fig
    if len(spec.depths) > 1:
        for width in spec.widths:
            for goal in spec.goals:
                fig = selected_vs_depth(sel, goal=goal, width=width)
                page.figure(fig)
                static[f"selected-depth-w{width:g}-{goal}"] = fig


def write_tables(data: ReportData, out: Path) -> None:
    """selection.csv, pareto.csv, regions.csv, findings.md and findings.json into ``out``."""
    write_csv(out / "selection.csv", data.selection, SELECTION_LEAD)
    write_csv(out / "pareto.csv", data.pareto, SELECTION_LEAD[:7])
    write_csv(out / "regions.csv", data.regions, ["study", "width", "sparsity", "method", "goal", "lambda", "trial_number"])
    (out / "findings.md").write_text(to_markdown(data.findings), encoding="utf-8")
    (out / "findings.json").write_text(to_json(data.findings), encoding="utf-8")
    if data.aggregate is not None:
        axis = data.results.axis
        write_csv(out / "replicates.csv", data.aggregate, [axis, "sparsity", "method", "goal", "lambda", "n"])
        originals = aggregate_originals(data.results.axis_originals(), axis=axis)
        write_csv(out / "replicates-originals.csv", originals, ["kind", axis])


def render_report(data: ReportData) -> RenderedReport:
    """The self-contained report.html, with the figures it shows: the main ones by name (for
    PNGs) and, per study, those saved on it for the dashboard."""
    exp, res, regions = data.experiment, data.results, [r for r in data.regions if r.get("replicate", 0) == 0]
    all_depths = [r for r in data.selection if r.get("replicate", 0) == 0]  # the figures show replicate 0
    sel, regions = _at_reference_depth(res, all_depths), _at_reference_depth(res, regions)
    static: dict[str, go.Figure] = {}

    page = _Page(f"unlearn-opt report: {exp.name}")
    missing = res.missing()
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    page.raw(
        f"<p>{len(exp.studies)} studies, {exp.spec.n_trials} trials each, dataset {exp.spec.dataset}, "
        f"architecture {exp.spec.architecture}, widths {', '.join(f'{w:g}' for w in exp.spec.widths)}; "
        + (
            f"depths {', '.join(str(d) for d in exp.spec.depths)} "
            + (
                "(the findings and replicate means: along depth; the width figures: each depth's single point); "
                if res.axis == "depth"
                else f"(the width figures and findings: depth {res.reference_depth}); "
            )
            if exp.spec.deep
            else ""
        )
        + f"spec {exp.spec_hash[:12]}; written {stamp}.</p>"
    )
    page.section("missing", "What is missing")
    if missing:
        page.raw("<ul class='missing'>" + "".join(f"<li>{html.escape(m)}</li>" for m in missing) + "</ul>")
    else:
        page.raw("<p>Nothing: every study has its trials and every original is trained.</p>")

    threshold = interpolation_threshold(res.originals)  # the width figures'
    axis = res.axis
    axis_threshold = interpolation_threshold(res.axis_originals().get(0, {}))
    page.section(
        "findings",
        "The papers' findings, checked on this experiment",
        html.escape(regime_rule(axis))
        + (
            f" Here: {axis} {axis_threshold:g}."
            if axis_threshold is not None
            else along(" Here: no width interpolates, so nothing is over-parameterized.", axis)
        )
        + " Each verdict follows the rule in the last column; <i>behind it</i> says how many selected points and trials"
        " it rests on and whether it would change if only one λ were used (a verdict that flips across λ is weak)."
        + along(" Per-width tables: findings.md.", axis),
    )
    page.raw(
        "<div class='findings'>"
        + _table(
            [
                {
                    "claim": f"({f.claim})",
                    "statement": f.statement,
                    "here": {True: "holds", False: "does not hold", None: "cannot tell"}[f.holds],
                    "numbers": f.summary,
                    "behind it": f.evidence(),
                    "rule": f.rule,
                }
                for f in data.findings
            ],
            ["claim", "statement", "here", "numbers", "behind it", "rule"],
        )
        + "</div>"
    )

    if data.replicates is not None and data.aggregate is not None:
        _replicates_section(page, data, goals=exp.spec.goals, static=static)

    page.section("originals", "Original models against width")
    originals_fig = originals_vs_width(res)
    page.figure(originals_fig)
    static["originals"] = originals_fig

    page.section(
        "pareto-fronts",
        "Pareto fronts",
        "Objective 1 against validation error, all widths overlaid; open symbols joined by a step line are the"
        " Pareto-optimal trials of a width, faint filled ones all its COMPLETE trials. Each width has its own symbol"
        " and colour (dark: narrow), larger for narrower widths, so fronts that meet near (0, 0) stay visible."
        " Click a legend entry to hide a width.",
    )
    dashboard_figs: dict[str, list[go.Figure]] = {}
    for (sparsity, method, goal), studies in sorted(_groups(res).items()):
        fig = pareto_front(
            studies,
            title=f"{method} — {goal}" + (f" (sparsity {sparsity:g})" if exp.spec.sparse else ""),
            threshold=threshold,
        )
        page.figure(fig)
        if sparsity == 0.0:
            static[f"pareto-{method}-{goal}"] = fig
        for s in studies:
            dashboard_figs.setdefault(s.name, []).append(fig)

    page.section(
        "selected-points",
        "Selected points against width",
        "Per λ, the trial minimizing J_λ = λ·g + (1 − λ)·E_V (the papers' figure). The black dotted line is the"
        " retrain reference (a model trained on the retain set only: what unlearning aims at), the grey dashed"
        " line the original before unlearning; the closer a method's line is to the black one, the closer to"
        " retraining.",
    )
    for goal in exp.spec.goals:
        for sparsity in sorted(exp.spec.sparsities):
            fig = selected_vs_width(sel, goal=goal, sparsity=sparsity, threshold=threshold)
            page.figure(fig)
            if sparsity == 0.0:
                static[f"selected-{goal}"] = fig
            for s in res.studies:
                if s.key.goal == goal and s.key.sparsity == sparsity:
                    dashboard_figs.setdefault(s.name, []).append(fig)

    _size_section(page, res, all_depths, static)

    if exp.spec.sparse:
        page.section("sparsity", "Prune, then unlearn")
        for goal in exp.spec.goals:
            fig = sparsity_effect(sel, goal=goal)
            page.figure(fig)
            static[f"sparsity-{goal}"] = fig

    page.section(
        "hypervolume",
        "Hypervolume against trials",
        "Per study, the hypervolume of its Pareto front (against the goal's reference point) after each trial;"
        " a curve that has gone flat means more trials stopped improving that front.",
    )
    page.figure(hypervolume_history(res.studies))
    for s in res.studies:
        if s.complete:
            dashboard_figs.setdefault(s.name, []).append(hypervolume_history([s]))
        dashboard_figs.setdefault(s.name, []).append(originals_fig)

    page.section("selection-table", "Selection table")
    columns = [c for c in SELECTION_TABLE if c != "sparsity" or exp.spec.sparse]
    if exp.spec.deep:
        columns.insert(columns.index("width") + 1, "depth")
    if any("replicate" in r for r in sel):  # replicated experiments: which replicate a row is from
        columns.insert(columns.index("lambda"), "replicate")
    page.raw(_table(all_depths, columns, interactive="selection"))

    page.section("decision-regions", "Decision regions")
    if regions:
        regions_fig = regions_vs_width(regions, threshold=threshold)
        page.figure(regions_fig)
        static["regions"] = regions_fig
        page.raw(_table(regions, ["study", "lambda", "trial_number", "delta", "c_prox", "s_far"]))
        for s in res.studies:
            for r in stored_regions(s):
                if r.get("plane"):
                    page.figure(plane_figure(r["plane"], title=f"{s.name} λ={r['lambda']:g} trial {r['trial_number']}"))
    else:
        page.raw(f"<p>Not computed yet: run <code>unlearn-opt decision-regions {html.escape(exp.name)}</code>.</p>")
    return RenderedReport(page.render(), static, dashboard_figs)


def _replicates_section(page: _Page, data: ReportData, *, goals: Sequence[str], static: dict[str, go.Figure]) -> None:
    """The replicates' verdicts per claim, the originals' errors and per goal the selected
    points' metrics, mean ± std over replicates; the sections after it show replicate 0."""
    found, agg = data.replicates, data.aggregate
    assert found is not None and agg is not None
    n = len(found.per_replicate)
    page.section(
        "replicates",
        f"Replicates ({n})",
        "Each replicate has its own forget, validation and forget-test sets and its own initialization. "
        "Below: each claim's verdict per replicate; then the selected points' mean ± sample std over replicates "
        "(n = replicates with a selected point; replicates.csv has every metric). The sections after this one "
        "show replicate 0.",
    )
    page.raw(_table(found.table(), ["claim", *[f"r{r}" for r in sorted(found.per_replicate)], "overall"]))
    # each replicate's threshold (its own originals), not replicate 0's
    axis, reps = data.results.axis, data.results.axis_originals()
    thresholds = [interpolation_threshold(reps[r]) for r in sorted(reps)]
    originals_fig = originals_errorbars(aggregate_originals(reps, axis=axis), threshold=thresholds, axis=axis)
    page.figure(originals_fig)
    static["replicates-originals"] = originals_fig
    for goal in goals:
        for sparsity in sorted({r["sparsity"] for r in agg if r["goal"] == goal}):
            fig = errorbar_vs_width(agg, goal=goal, sparsity=sparsity, threshold=thresholds, axis=axis)
            page.figure(fig)
            if sparsity == 0.0:
                static[f"replicates-{goal}"] = fig
        page.raw(_table([r for r in agg if r["goal"] == goal], aggregate_table_columns(goal, axis=axis)))


def write_report(
    *,
    storage_url: str | None,
    experiment: str,
    out_dir: str | Path,
    save_to_dashboard: bool = True,
    images: bool = False,
) -> Path:
    """Write the report of ``experiment`` into ``out_dir``: selection.csv, pareto.csv,
    regions.csv, findings.md/.json, report.html (and the main figures as PNG under figures/
    with ``images``), and save its figures and a note on each study for the dashboard; returns
    the HTML path."""
    storage = open_storage(storage_url)
    data = build_report(storage, experiment)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tables(data, out)
    rendered = render_report(data)
    path = out / "report.html"
    path.write_text(rendered.html, encoding="utf-8")
    if images:
        write_images(rendered.static, out / "figures")
    if save_to_dashboard:
        save_on_studies(data, rendered.dashboard, storage=storage)
    return path


def region_rows(res: ExperimentResults) -> list[dict[str, Any]]:
    """The stored decision-region scores, one row per (study, λ, δ), without the plane grids."""
    return [
        {
            "study": s.name,
            "width": s.key.width,
            "depth": s.key.depth,
            "sparsity": s.key.sparsity,
            "method": s.key.method,
            "goal": s.key.goal,
            "replicate": s.key.replicate,
            **{k: v for k, v in r.items() if k not in ("study", "plane")},
        }
        for s in res.studies
        for r in stored_regions(s)
    ]


def write_images(figures: dict[str, go.Figure], folder: Path) -> None:
    """Each figure as a PNG (plotly + kaleido, which drives a local Chrome/Chromium)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise UserError("report --images needs kaleido: pip install 'unlearn-opt[images]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    for name, fig in figures.items():
        try:
            fig.write_image(
                folder / f"{name}.png", width=1400 if "selected" in name else 900, height=int(fig.layout.height or 500), scale=1
            )
        except Exception as exc:  # noqa: BLE001 - kaleido's errors (no browser) become one line
            raise UserError(
                f"report --images: could not render {name}.png ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
                "kaleido needs Chrome or Chromium (set BROWSER_PATH)"
            ) from None


def save_on_studies(data: ReportData, figs: Mapping[str, Sequence[go.Figure]], *, storage: BaseStorage | None = None) -> None:
    """Each study's figures and a note (its selected points) for optuna-dashboard; with
    ``storage``, also the originals study's note: what it is and a table of its models."""
    res, sel = data.results, data.selection
    for s in res.studies:
        for i, fig in enumerate(figs.get(s.name, [])):
            save_plotly_graph_object(s.study, fig, graph_object_id=f"unlearn-opt-{i}")
        lines = [
            f"## {s.name}",
            "",
            f"{len(s.complete)}/{res.experiment.spec.n_trials} trials COMPLETE.",
            "",
            "| λ | trial | J_λ | objective 1 | val_error | test_error |",
            "|---|---|---|---|---|---|",
        ]
        for r in (r for r in sel if r["study"] == s.name):
            if r.get("trial_number") is None:
                lines.append(f"| {r['lambda']:g} | — | — | — | — | — |")
            else:
                lines.append(
                    f"| {r['lambda']:g} | {r['trial_number']} | {r['j_lambda']:.4f} | {r['objective_1']:.4f} | "
                    f"{r['objective_2']:.4f} | {r['test_error']:.4f} |"
                )
        save_note(s.study, "\n".join(lines))
    exp = res.experiment
    deep = exp.spec.deep  # a depth column when the spec has depths other than [1]
    models = [
        f"| {k.kind} | {k.width:g} | "
        + (f"{k.depth} | " if deep else "")
        + f"{k.sparsity:g} | {m['train_error']:.4f} | {m['test_error']:.4f} | {'over' if m['overparameterized'] else 'under'} |"
        for k, m in sorted(res.models.items())
        if k.replicate == 0
    ]
    note = [f"## {exp.originals_study}: the trained models", "", ORIGINALS_ABOUT, ""]
    head = ["kind", "width", *(["depth"] if deep else []), "sparsity", "train_error", "test_error", "regime"]
    note += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *models]
    if storage is not None:
        save_note(optuna.load_study(study_name=exp.originals_study, storage=storage), "\n".join(note))
