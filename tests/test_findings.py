"""The findings checks (a)–(e) on hand-made selections small enough to verify by hand."""

from __future__ import annotations

import pytest

from unlearn_opt.analysis.findings import claim_a, claim_b, claim_c, claim_d, claim_e, findings, j_test, regimes, to_markdown

ORIGINALS = {
    ("original", 0.1, 0.0): {"train_error": 0.10, "forget_error": 0.12, "forget_test_error": 0.15, "privacy_gap": 0.03},
    ("original", 1.0, 0.0): {"train_error": 0.0, "forget_error": 0.0, "forget_test_error": 0.08, "privacy_gap": 0.08},
    ("retrain", 1.0, 0.0): {"train_error": 0.0, "forget_error": 0.07, "forget_test_error": 0.08, "privacy_gap": 0.01},
}


def row(
    width: float,
    method: str,
    goal: str,
    lam: float,
    *,
    forget: float,
    test: float,
    gap: float = 0.0,
    sparsity: float = 0.0,
    retrain_forget: float | None = None,
) -> dict:
    return {
        "width": width,
        "sparsity": sparsity,
        "method": method,
        "goal": goal,
        "lambda": lam,
        "trial_number": 0,
        "forget_error": forget,
        "test_error": test,
        "privacy_gap": gap,
        "retrain_forget_error": retrain_forget,
    }


def test_regimes_and_the_test_trade_off() -> None:
    assert regimes(ORIGINALS) == {0.1: "under", 1.0: "over"}
    assert j_test(row(1.0, "scrub", "privacy", 0.4, forget=0, test=0.1, gap=0.05)) == pytest.approx(0.4 * 0.05 + 0.6 * 0.1)
    assert j_test(row(1.0, "scrub", "bias_removal", 0.6, forget=0.7, test=0.1)) == pytest.approx(0.6 * 0.3 + 0.4 * 0.1)


def test_claim_a_compares_the_regimes_at_every_lambda() -> None:
    rows = [
        row(0.1, "scrub", "privacy", 0.2, forget=0, test=0.3, gap=0.1),
        row(1.0, "scrub", "privacy", 0.2, forget=0, test=0.05, gap=0.1),
    ]
    found = claim_a(rows, regimes(ORIGINALS), ["scrub"])
    assert found.holds is True  # 0.2·0.1 + 0.8·0.05 = 0.06 < 0.2·0.1 + 0.8·0.3 = 0.26
    assert [t["mean_J_test"] for t in found.table] == pytest.approx([0.26, 0.06])
    rows.append(row(1.0, "scrub", "privacy", 0.6, forget=0, test=0.3, gap=0.5))
    rows.append(row(0.1, "scrub", "privacy", 0.6, forget=0, test=0.3, gap=0.1))
    assert claim_a(rows, regimes(ORIGINALS), ["scrub"]).holds is False  # at λ = 0.6 the small width wins


def test_claim_b_needs_a_margin_over_l1_sparse() -> None:
    rows = [
        row(1.0, m, "bias_removal", 0.4, forget=e, test=0.1) for m, e in (("scrub", 0.5), ("neggrad", 0.4), ("l1_sparse", 0.05))
    ]
    assert claim_b(rows, regimes(ORIGINALS)).holds is True
    rows[1]["forget_error"] = 0.1  # neggrad only 0.05 above l1_sparse
    assert claim_b(rows, regimes(ORIGINALS)).holds is False
    assert claim_b([], regimes(ORIGINALS)).holds is None


def test_claim_c_reads_the_originals() -> None:
    found = claim_c(ORIGINALS, regimes(ORIGINALS))
    assert found.holds is True and found.table[0]["privacy_gap"] == 0.03 and found.table[1]["retrain_privacy_gap"] == 0.01
    worse = {**ORIGINALS, ("original", 0.1, 0.0): {**ORIGINALS[("original", 0.1, 0.0)], "privacy_gap": 0.2}}
    assert claim_c(worse, regimes(worse)).holds is False
    # with corrupted forget labels E_F and E_Ft use different labels: no verdict, no table
    corrupt = claim_c(ORIGINALS, regimes(ORIGINALS), corrupt_labels=True)
    assert corrupt.holds is None and not corrupt.table and "corrupted" in corrupt.summary


def test_claim_d_locality() -> None:
    regions = [
        {"width": 0.1, "sparsity": 0.0, "c_prox": 0.2, "s_far": 0.95},
        {"width": 1.0, "sparsity": 0.0, "c_prox": 0.5, "s_far": 0.99},
    ]
    found = claim_d(regions, regimes(ORIGINALS))
    assert found.holds is True and [t["locality"] for t in found.table] == pytest.approx([0.15, 0.49])
    regions[1]["s_far"] = 0.5  # changes everywhere: not local
    assert claim_d(regions, regimes(ORIGINALS)).holds is False
    assert claim_d([], regimes(ORIGINALS)).holds is None


def test_claim_e_gap_to_retrain_against_sparsity() -> None:
    rows = [
        row(1.0, m, "privacy", 0.4, forget=f, test=0.1, sparsity=s, retrain_forget=0.07)
        for m in ("finetune", "l1_sparse")
        for s, f in ((0.0, 0.0), (0.9, 0.05))
    ]
    found = claim_e(rows, regimes(ORIGINALS))
    assert found.holds is True  # |0.05 − 0.07| = 0.02 < |0 − 0.07| = 0.07
    assert [t["gap_to_retrain_forget_error"] for t in found.table] == pytest.approx([0.07, 0.02, 0.07, 0.02])
    rows[1]["forget_error"] = 0.2  # finetune pruned overshoots: 0.13 > 0.07
    assert claim_e(rows, regimes(ORIGINALS)).holds is False


def test_every_claim_reported_even_on_an_empty_experiment() -> None:
    found = findings([], {}, [], methods=["scrub"])
    assert [f.claim for f in found] == ["a", "b", "c", "d", "e"] and all(f.holds is None for f in found)
    text = to_markdown(findings([], ORIGINALS, [], methods=["scrub"]))
    assert "| (c) |" in text and "\\|E_F − E_Ft\\|" in text


def test_each_verdict_states_its_rule_what_stands_behind_it_and_whether_it_flips_across_lambda() -> None:
    rows = [
        {**row(w, "scrub", "privacy", lam, forget=0, test=t, gap=g), "study": f"x/w{w:g}", "n_complete": n}
        for w, lam, t, g, n in (
            (0.1, 0.2, 0.3, 0.1, 7),
            (1.0, 0.2, 0.05, 0.1, 5),
            (0.1, 0.6, 0.3, 0.1, 7),
            (1.0, 0.6, 0.3, 0.5, 5),
        )
    ]
    a = findings(rows, ORIGINALS, [], methods=["scrub"])[0]
    assert a.holds is False and a.by_lambda == {0.2: True, 0.6: False} and a.flips
    assert (a.points, a.trials, a.replicates) == (4, 12, 1)  # 2 studies: 7 + 5 COMPLETE trials
    assert "4 selected points from 12 COMPLETE trials" in a.evidence() and "flips across λ" in a.evidence()
    assert "J_T = λ·g + (1 − λ)·E_T" in a.rule
    steady = findings(rows[:2], ORIGINALS, [], methods=["scrub"])[0]
    assert steady.holds is True and not steady.flips and "same at every λ" in steady.evidence()
    text = to_markdown(findings(rows, ORIGINALS, [], methods=["scrub"]))
    assert "flips across λ" in text and "train error is at most 0.5%" in text
    c = findings(rows, ORIGINALS, [], methods=["scrub"])[2]
    assert c.points == 2 and "original models" in c.evidence() and "≤ 0.05" in c.rule


def test_along_depth_the_regimes_tables_and_words_are_by_depth() -> None:
    """One width, two depths: the originals are keyed by depth, the rows matched by their depth
    (their width is the same), and the statements, rules and tables say depth."""
    originals = {
        ("original", 1, 0.0): {"train_error": 0.03, "forget_error": 0.03, "forget_test_error": 0.13, "privacy_gap": 0.10},
        ("original", 2, 0.0): {"train_error": 0.001, "forget_error": 0.0, "forget_test_error": 0.06, "privacy_gap": 0.06},
    }
    assert regimes(originals) == {1: "under", 2: "over"}
    rows = [
        {**row(0.75, "scrub", "privacy", 0.4, forget=0, test=t, gap=g), "depth": d, "study": f"x/d{d}", "n_complete": 3}
        for d, t, g in ((1, 0.12, 0.05), (2, 0.07, 0.02))
    ]
    regions = [
        {"width": 0.75, "depth": d, "sparsity": 0.0, "lambda": 0.4, "trial_number": 0, "c_prox": c, "s_far": s}
        for d, c, s in ((1, 0.05, 0.95), (2, 0.10, 0.97))
    ]
    a, _, c, d, _ = findings(rows, originals, regions, methods=["scrub"], axis="depth")
    # J_T: depth 1 0.4·0.05 + 0.6·0.12 = 0.092; depth 2 0.4·0.02 + 0.6·0.07 = 0.050
    assert a.holds is True and [t["mean_J_test"] for t in a.table] == pytest.approx([0.092, 0.050])
    assert [t["depth"] for t in a.table] == [1, 2] and "width" not in a.table[0]
    assert a.statement == "Over-parameterized depths reach a better trade-off between the goal and test error."
    assert "over the depths of each regime" in a.rule and (a.points, a.trials) == (2, 6)
    assert c.holds is False and [t["depth"] for t in c.table] == [1, 2]  # depth 1's gap 0.10 > 0.05
    # locality: depth 1 0.05 + 0.95 − 1 = 0.00, depth 2 0.10 + 0.97 − 1 = 0.07
    assert d.holds is True and [t["locality"] for t in d.table] == pytest.approx([0.0, 0.07])
    assert "more so at large depths" in d.statement
    text = to_markdown([a, c, d])
    assert "A depth is over-parameterized" in text and "| goal | lambda | depth | regime | mean_J_test |" in text
    with pytest.raises(ValueError, match="axis"):
        findings(rows, originals, regions, methods=["scrub"], axis="sparsity")
