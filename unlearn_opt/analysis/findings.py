"""Do the papers' findings hold in this experiment? Each check reads the selected points
(``selection_rows``), the originals and the stored decision-region scores, and returns its numbers
and a verdict (True, False, or None when the experiment cannot tell).

Under-/over-parameterized: the dense original's train error is above / at most 0.5 %. The
claims compare models along one size axis (``axis``): width (at the spec's first depth), or depth
when the spec has a single width and several depths; "widths" below reads "depths" then.

- (a) trade-off: J_T = λ·g + (1 − λ)·E_T of the selected points (the paper's J_λ with the test
  error in place of the validation error, g = privacy_gap or 1 − E_F), averaged over the
  methods; holds if the over-parameterized widths' mean is lower at every λ, for both goals.
- (b) bias removal at large widths: the selected E_F of scrub and neggrad (which use F) against
  l1_sparse (R only), mean over λ and over-parameterized widths; holds if both exceed it by 0.1.
- (c) the originals' |E_F − E_Ft|: holds if every under-parameterized original's gap is at most
  0.05 (small: the model never memorized F).
- (d) decision regions: locality = C_prox + S_far − 1 (change near F, sameness far away) of the
  selected points; holds if S_far ≥ 0.9 everywhere and the mean locality of the
  over-parameterized widths is higher than that of the under-parameterized ones.
- (e) prune-then-unlearn: |E_F − E_F(retrain)| of the selected finetune and l1_sparse points
  (privacy goal, over-parameterized widths, mean over λ); holds if it is lower at the highest
  sparsity than dense, for both methods.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from unlearn_opt.engine.workspace import OVERPARAMETERIZED_TRAIN_ERROR
from unlearn_opt.goals import get_goal

F_METHODS = ("scrub", "neggrad")
MARGIN_B = 0.1
SMALL_GAP_C = 0.05
S_FAR_MIN_D = 0.9


SIZE_AXES = ("width", "depth")

RULES = {
    "a": "Per goal and λ, the selected points' J_T = λ·g + (1 − λ)·E_T (J_λ with the test error in place of the "
    "validation error), averaged over the methods scrub, neggrad and l1_sparse and over the widths of each regime. "
    "Holds if the over-parameterized mean is lower at every λ, for both goals.",
    "b": "Bias-removal goal, over-parameterized widths: the selected E_F of scrub and of neggrad (which use F), mean "
    f"over λ and widths, each at least {MARGIN_B:g} above that of l1_sparse (which uses only R).",
    "c": f"Every under-parameterized dense original has |E_F − E_Ft| ≤ {SMALL_GAP_C:g} (it never memorized F). "
    "Not checked when F's labels are corrupted.",
    "d": "From the stored decision-region scores of the selected points: locality = C_prox + S_far − 1. Holds if "
    f"S_far ≥ {S_FAR_MIN_D:g} everywhere and the over-parameterized widths' mean locality is above the "
    "under-parameterized widths'.",
    "e": "Privacy goal, over-parameterized widths: |E_F − E_F(retrain)| of the selected finetune and l1_sparse points, "
    "mean over λ, lower at the highest sparsity than dense, for both methods.",
}
REGIME_RULE = (
    f"A width is over-parameterized when its dense original's train error is at most {OVERPARAMETERIZED_TRAIN_ERROR:.1%} "
    "(it interpolates its training set), under-parameterized otherwise; the interpolation threshold is the smallest "
    "over-parameterized width."
)


def _check_axis(axis: str) -> None:
    if axis not in SIZE_AXES:
        raise ValueError(f"axis must be one of {SIZE_AXES}, not {axis!r}")


def along(text: str, axis: str) -> str:
    """``text`` (a statement or rule written along width) for the size ``axis``."""
    _check_axis(axis)
    return text if axis == "width" else text.replace("widths", f"{axis}s").replace("width", axis)


def regime_rule(axis: str = "width") -> str:
    """:data:`REGIME_RULE` along ``axis``."""
    return along(REGIME_RULE, axis)


@dataclass
class Finding:
    """A claim, its verdict here, and what stands behind the verdict: the selected points used
    (``points``, one per study and λ), the COMPLETE trials of their studies (``trials``), the
    replicates (1 until experiments are replicated), and the verdict at each λ alone
    (``by_lambda``; it flips when it holds at some λ and not at others)."""

    claim: str
    statement: str
    holds: bool | None
    summary: str
    table: list[dict[str, Any]] = field(default_factory=list)
    rule: str = ""
    points: int = 0
    trials: int = 0
    replicates: int = 1
    by_lambda: dict[float, bool | None] = field(default_factory=dict)
    axis: str = "width"  # the size axis the regimes and tables are along

    @property
    def flips(self) -> bool:
        """True when the verdict differs between λ values."""
        return len({v for v in self.by_lambda.values() if v is not None}) > 1

    def evidence(self) -> str:
        """One line: how many trials and replicates stand behind the verdict, and whether it flips across λ."""
        if self.claim == "c":
            return f"{self.points} original models (one training each, no trials); {self.replicates} replicate(s)"
        word = {True: "holds", False: "not", None: "?"}
        per = ", ".join(f"λ={lam:g} {word[v]}" for lam, v in sorted(self.by_lambda.items()))
        head = f"{self.points} selected points from {self.trials} COMPLETE trials; {self.replicates} replicate(s)"
        if all(v is None for v in self.by_lambda.values()):
            return head + "; no verdict at any single λ"
        flip = "flips across λ" if self.flips else "same at every λ"
        return f"{head}; {flip} ({per})"


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.fmean(vals) if vals else None


def _done(rows: Sequence[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if r.get("trial_number") is not None and all(r[k] == v for k, v in match.items())]


def regimes(originals: dict[tuple[str, float, float], dict[str, Any]]) -> dict[float, str]:
    """size (the originals' key: width, or depth along depth) → "under" or "over", from the
    dense original's train error."""
    return {
        k[1]: "over" if v["train_error"] <= OVERPARAMETERIZED_TRAIN_ERROR else "under"
        for k, v in originals.items()
        if k[0] == "original" and k[2] == 0.0
    }


def interpolation_threshold(originals: dict[tuple[str, float, float], dict[str, Any]]) -> float | None:
    """The smallest size (width, or depth along depth) whose dense original interpolates (train error ≤ 0.5 %), or None when
    none does: the boundary between the under- and over-parameterized regimes."""
    return min((w for w, g in regimes(originals).items() if g == "over"), default=None)


def j_test(row: dict[str, Any]) -> float:
    """λ·g + (1 − λ)·E_T of a selected row (``Goal.j_lambda`` with the test error)."""
    goal = get_goal(row["goal"])
    return goal.j_lambda(row["lambda"], row[goal.first.metric], row["test_error"])


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def claim_a(rows: Sequence[dict[str, Any]], regime: dict[float, str], methods: Sequence[str], *, axis: str = "width") -> Finding:
    table: list[dict[str, Any]] = []
    verdicts: list[bool] = []
    parts: list[str] = []
    for goal in sorted({r["goal"] for r in rows}):
        for lam in sorted({r["lambda"] for r in rows}):
            by_width = {}
            for w in sorted(regime):
                picked = [r for r in _done(rows, goal=goal, sparsity=0.0, **{axis: w, "lambda": lam}) if r["method"] in methods]
                by_width[w] = _mean(j_test(r) for r in picked)
                table.append({"goal": goal, "lambda": lam, axis: w, "regime": regime[w], "mean_J_test": by_width[w]})
            under = _mean(v for w, v in by_width.items() if regime[w] == "under")
            over = _mean(v for w, v in by_width.items() if regime[w] == "over")
            if under is not None and over is not None:
                verdicts.append(over < under)
                parts.append(f"{goal} λ={lam:g}: under {under:.3f}, over {over:.3f}")
    return Finding(
        "a",
        along("Over-parameterized widths reach a better trade-off between the goal and test error.", axis),
        all(verdicts) if verdicts else None,
        "; ".join(parts),
        table,
        axis=axis,
    )


def claim_b(rows: Sequence[dict[str, Any]], regime: dict[float, str], *, axis: str = "width") -> Finding:
    over = [w for w, g in regime.items() if g == "over"]
    statement = along("For bias removal at large widths, scrub and neggrad succeed where l1_sparse fails.", axis)
    table: list[dict[str, Any]] = []
    for w in sorted(regime):
        for method in (*F_METHODS, "l1_sparse", "finetune"):
            picked = [r for r in _done(rows, goal="bias_removal", sparsity=0.0, **{axis: w}) if r["method"] == method]
            if picked:
                table.append(
                    {
                        axis: w,
                        "regime": regime[w],
                        "method": method,
                        "forget_error": _mean(r["forget_error"] for r in picked),
                        "test_error": _mean(r["test_error"] for r in picked),
                    }
                )
    means = {
        m: _mean(t["forget_error"] for t in table if t["method"] == m and t[axis] in over) for m in (*F_METHODS, "l1_sparse")
    }
    if any(v is None for v in means.values()):
        return Finding(
            "b",
            statement,
            None,
            along("needs bias_removal studies of scrub, neggrad and l1_sparse at over-parameterized widths", axis),
            table,
            axis=axis,
        )
    holds = all(means[m] >= means["l1_sparse"] + MARGIN_B for m in F_METHODS)  # type: ignore[operator]
    summary = ", ".join(f"{m} E_F {_fmt(v)}" for m, v in means.items()) + along(
        " (mean over λ and over-parameterized widths)", axis
    )
    return Finding("b", statement, holds, summary, table, axis=axis)


def claim_c(
    originals: dict[tuple[str, float, float], dict[str, Any]],
    regime: dict[float, str],
    *,
    corrupt_labels: bool = False,
    axis: str = "width",
) -> Finding:
    statement = "Under-parameterized originals already have a small forget/forget-test gap."
    if corrupt_labels:  # E_F against the corrupted labels, E_Ft against true ones: not a privacy gap
        return Finding("c", statement, None, "not a privacy experiment: the forget set's labels are corrupted", axis=axis)
    table: list[dict[str, Any]] = []
    for w in sorted(regime):
        o = originals[("original", w, 0.0)]
        r = originals.get(("retrain", w, 0.0), {})
        table.append(
            {
                axis: w,
                "regime": regime[w],
                "train_error": o["train_error"],
                "forget_error": o["forget_error"],
                "forget_test_error": o["forget_test_error"],
                "privacy_gap": o["privacy_gap"],
                "retrain_privacy_gap": r.get("privacy_gap"),
            }
        )
    under = [t["privacy_gap"] for t in table if t["regime"] == "under"]
    over = [t["privacy_gap"] for t in table if t["regime"] == "over"]
    holds = all(g <= SMALL_GAP_C for g in under) if under else None
    summary = f"original |E_F − E_Ft|: under-parameterized {', '.join(_fmt(g) for g in under) or '—'}; over-parameterized {', '.join(_fmt(g) for g in over) or '—'}"
    return Finding("c", statement, holds, summary, table, axis=axis)


def claim_d(regions: Sequence[dict[str, Any]], regime: dict[float, str], *, axis: str = "width") -> Finding:
    """``regions``: rows with width (or ``axis``), sparsity, method, goal, c_prox, s_far."""
    table: list[dict[str, Any]] = []
    for w in sorted(regime):
        picked = [r for r in regions if r[axis] == w and r["sparsity"] == 0.0]
        if picked:
            c, s = statistics.fmean(r["c_prox"] for r in picked), statistics.fmean(r["s_far"] for r in picked)
            table.append({axis: w, "regime": regime[w], "c_prox": c, "s_far": s, "locality": c + s - 1})
    under = _mean(t["locality"] for t in table if t["regime"] == "under")
    over = _mean(t["locality"] for t in table if t["regime"] == "over")
    statement = along("Decision regions change near F and stay the same far from it, more so at large widths.", axis)
    if under is None or over is None:
        needs = along("needs `unlearn-opt decision-regions` at under- and over-parameterized widths", axis)
        return Finding("d", statement, None, needs, table, axis=axis)
    holds = over > under and all(t["s_far"] >= S_FAR_MIN_D for t in table)
    summary = (
        f"mean C_prox + S_far − 1: under {under:.3f}, over {over:.3f}; "
        f"S_far from {min(t['s_far'] for t in table):.3f} to {max(t['s_far'] for t in table):.3f}"
    )
    return Finding("d", statement, holds, summary, table, axis=axis)


def claim_e(rows: Sequence[dict[str, Any]], regime: dict[float, str], *, axis: str = "width") -> Finding:
    over = {w for w, g in regime.items() if g == "over"}
    sparsities = sorted({r["sparsity"] for r in rows})
    table: list[dict[str, Any]] = []
    verdicts: list[bool] = []
    parts: list[str] = []
    statement = "Prune-then-unlearn brings finetune and l1_sparse closer to retraining (the sparsity paper)."
    for method in ("finetune", "l1_sparse"):
        gaps = {}
        for s in sparsities:
            picked = [r for r in _done(rows, goal="privacy", sparsity=s, method=method) if r[axis] in over]
            gaps[s] = _mean(
                abs(r["forget_error"] - r["retrain_forget_error"]) for r in picked if r.get("retrain_forget_error") is not None
            )
            table.append(
                {
                    "method": method,
                    "sparsity": s,
                    "gap_to_retrain_forget_error": gaps[s],
                    "test_error": _mean(r["test_error"] for r in picked),
                    "privacy_gap": _mean(r["privacy_gap"] for r in picked),
                }
            )
        if len(sparsities) > 1 and gaps[sparsities[0]] is not None and gaps[sparsities[-1]] is not None:
            verdicts.append(gaps[sparsities[-1]] < gaps[sparsities[0]])  # type: ignore[operator]
            parts.append(f"{method}: " + ", ".join(f"s={s:g} {_fmt(g)}" for s, g in gaps.items()))
    if not verdicts:
        return Finding(
            "e", statement, None, "needs finetune and l1_sparse privacy studies at several sparsities", table, axis=axis
        )
    return Finding("e", statement, all(verdicts), "|E_F − E_F(retrain)|, " + "; ".join(parts), table, axis=axis)


def _in_scope(claim: str, row: dict[str, Any], regime: dict[float, str], base: Sequence[str], axis: str) -> bool:
    """Whether a selected point enters the check of ``claim`` (for counting what stands behind it)."""
    over = regime.get(row[axis]) == "over"
    if row.get("trial_number") is None or row[axis] not in regime:
        return False
    if claim == "a":
        return row["sparsity"] == 0.0 and row["method"] in base
    if claim == "b":
        return row["sparsity"] == 0.0 and over and row["goal"] == "bias_removal" and row["method"] in (*F_METHODS, "l1_sparse")
    if claim == "d":
        return row["sparsity"] == 0.0
    if claim == "e":
        return over and row["goal"] == "privacy" and row["method"] in ("finetune", "l1_sparse")
    return False


def _support(found: Finding, used: Sequence[dict[str, Any]], n_complete: dict[str, int]) -> None:
    found.points = len(used)
    found.trials = sum(n_complete.get(name, 0) for name in {r.get("study") for r in used} if name is not None)
    found.replicates = max(1, len({r.get("replicate") for r in used if r.get("replicate") is not None}))


def findings(
    rows: Sequence[dict[str, Any]],
    originals: dict[tuple[str, float, float], dict[str, Any]],
    regions: Sequence[dict[str, Any]],
    *,
    methods: Sequence[str],
    corrupt_labels: bool = False,
    axis: str = "width",
) -> list[Finding]:
    """Every check, in order (a)–(e), each with its rule, what stands behind it and its verdict
    at each λ alone. ``originals`` are keyed by (kind, size along ``axis``, sparsity), and the
    rows and regions are those on that axis (one depth along width, one width along depth). With
    ``corrupt_labels`` (a bias-removal experiment) the originals' E_F − E_Ft is no privacy gap, so
    (c) is not checked."""
    _check_axis(axis)
    regime = regimes(originals)
    base = [m for m in methods if m in ("scrub", "neggrad", "l1_sparse")] or list(methods)
    lambdas = sorted({r["lambda"] for r in rows} | {r["lambda"] for r in regions})
    n_complete = {r["study"]: int(r["n_complete"]) for r in rows if "study" in r and r.get("n_complete") is not None}

    def at(lam: float, table: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in table if r["lambda"] == lam]

    checks = {
        "a": lambda rs, rg: claim_a(rs, regime, base, axis=axis),
        "b": lambda rs, rg: claim_b(rs, regime, axis=axis),
        "d": lambda rs, rg: claim_d(rg, regime, axis=axis),
        "e": lambda rs, rg: claim_e(rs, regime, axis=axis),
    }
    out: list[Finding] = []
    for claim in "abcde":
        if claim == "c":
            found = claim_c(originals, regime, corrupt_labels=corrupt_labels, axis=axis)
            found.points = len(found.table)
        else:
            found = checks[claim](rows, regions)
            source = regions if claim == "d" else rows
            _support(found, [r for r in source if _in_scope(claim, r, regime, base, axis)], n_complete)
            found.by_lambda = {lam: checks[claim](at(lam, rows), at(lam, regions)).holds for lam in lambdas}
        found.rule = along(RULES[claim], axis)
        out.append(found)
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def to_markdown(found: Sequence[Finding]) -> str:
    word = {True: "holds", False: "does not hold", None: "cannot tell"}
    lines = ["| claim | statement | here | numbers | behind it | rule |", "|---|---|---|---|---|---|"]
    lines += [
        f"| ({f.claim}) | {_cell(f.statement)} | **{word[f.holds]}** | {_cell(f.summary)} | {_cell(f.evidence())} | {_cell(f.rule)} |"
        for f in found
    ]
    lines += ["", regime_rule(found[0].axis if found else "width")]
    for f in found:
        if not f.table:
            continue
        cols = list(f.table[0])
        lines += ["", f"### ({f.claim}) {f.statement}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for row in f.table:
            lines.append("| " + " | ".join(_fmt(v) if isinstance(v, float) else str(v) for v in row.values()) + " |")
    return "\n".join(lines) + "\n"


def to_json(found: Sequence[Finding]) -> str:
    return json.dumps([{**asdict(f), "flips": f.flips, "evidence": f.evidence()} for f in found], indent=1)
