"""Tests of predictive values and likelihood ratios in analysis.stats.diagnostic."""

import math

import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from analysis.stats.diagnostic import accuracy_from_table, diagnostic_accuracy
from analysis.stats.errors import InsufficientDataError, ParameterError
from tests.analysis.stats.plain_json import assert_plain_json

Z95 = 1.959963984540054


def log_interval(ratio: float, se: float) -> tuple[float, float]:
    return ratio * math.exp(-Z95 * se), ratio * math.exp(Z95 * se)


def reads(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per subject from {group: (positive, n)}."""
    rows = []
    for group, (positive, n) in counts.items():
        rows += [{"group": group, "mbs_read": i < positive} for i in range(n)]
    return pd.DataFrame(rows)


def binary_accuracy(frame: pd.DataFrame, positive: list[str], negative: list[str]) -> dict:
    return diagnostic_accuracy(
        frame,
        marker="mbs_read",
        group_col="group",
        positive_groups=positive,
        negative_groups=negative,
        continuous=False,
    )


# --- hand-computed values ----------------------------------------------------------------------


def test_rizzo_2020_table_by_hand() -> None:
    # Rizzo 2020 counts: 62 of 82 ALS and 13 of 33 controls MBS-positive.
    # TP 62, FN 20, FP 13, TN 20.
    answer = accuracy_from_table(tp=62, fp=13, fn=20, tn=20)
    assert_plain_json(answer)
    assert answer["table"] == {"tp": 62, "fp": 13, "fn": 20, "tn": 20}
    assert answer["ppv"]["estimate"] == pytest.approx(62 / 75)
    assert answer["npv"]["estimate"] == pytest.approx(20 / 40)
    for key, (k, n) in (("ppv", (62, 75)), ("npv", (20, 40))):
        expected = proportion_confint(k, n, method="wilson")
        assert (answer[key]["ci_low"], answer[key]["ci_high"]) == pytest.approx(expected)
    # LR+ = (62/82) / (13/33) = 0.75610 / 0.39394 = 1.9193;
    # SE ln LR+ = √(1/62 − 1/82 + 1/13 − 1/33) = √0.050558 = 0.22485.
    lr_pos = answer["lr_positive"]
    assert lr_pos["estimate"] == pytest.approx(1.9193, abs=1e-4)
    se = math.sqrt(1 / 62 - 1 / 82 + 1 / 13 - 1 / 33)
    assert se == pytest.approx(0.22485, abs=1e-5)
    assert (lr_pos["ci_low"], lr_pos["ci_high"]) == pytest.approx(
        log_interval(1.9193, se), rel=1e-4
    )
    # LR− = (20/82) / (20/33) = 0.40244; SE = √(1/20 − 1/82 + 1/20 − 1/33) = 0.23503.
    lr_neg = answer["lr_negative"]
    assert lr_neg["estimate"] == pytest.approx(33 / 82)
    se = math.sqrt(1 / 20 - 1 / 82 + 1 / 20 - 1 / 33)
    assert (lr_neg["ci_low"], lr_neg["ci_high"]) == pytest.approx(log_interval(33 / 82, se))
    assert answer["value_warnings"] == []
    # Sensitivity and specificity as before.
    assert answer["sensitivity"]["estimate"] == pytest.approx(62 / 82)
    assert answer["specificity"]["estimate"] == pytest.approx(20 / 33)


def test_likelihood_ratios_follow_from_sensitivity_and_specificity() -> None:
    answer = accuracy_from_table(tp=40, fp=10, fn=10, tn=90)
    sens, spec = 40 / 50, 90 / 100
    assert answer["lr_positive"]["estimate"] == pytest.approx(sens / (1 - spec))  # 8.0
    assert answer["lr_negative"]["estimate"] == pytest.approx((1 - sens) / spec)  # 0.2222
    assert answer["lr_positive"]["estimate"] == pytest.approx(8.0)


# --- published worked examples (Simel, Samsa and Matchar 1991 log method) ---------------------


def test_uic_diagnostic_test_calculator_example_1() -> None:
    # Schwartz A., Diagnostic Test Calculator, University of Illinois at Chicago
    # (araw.mede.uic.edu/cgi-bin/testcalc.pl?DT=25&Dt=1&dT=1&dt=83): disease and test positive
    # 25, disease test negative 1, no disease test positive 1, no disease test negative 83.
    # Published: LR+ 81, 95% CI [11, 568]; LR− 0.04, 95% CI [0.01, 0.27].
    answer = accuracy_from_table(tp=25, fp=1, fn=1, tn=83)
    lr_pos, lr_neg = answer["lr_positive"], answer["lr_negative"]
    assert round(lr_pos["estimate"]) == 81
    assert (round(lr_pos["ci_low"]), round(lr_pos["ci_high"])) == (11, 568)
    assert round(lr_neg["estimate"], 2) == 0.04
    assert (round(lr_neg["ci_low"], 2), round(lr_neg["ci_high"], 2)) == (0.01, 0.27)


def test_uic_diagnostic_test_calculator_example_2() -> None:
    # Same calculator, DT=32&Dt=3&dT=49&dt=28. Published: LR+ 1.44 [1.18, 1.75];
    # LR− 0.24 [0.08, 0.72].
    answer = accuracy_from_table(tp=32, fp=49, fn=3, tn=28)
    lr_pos, lr_neg = answer["lr_positive"], answer["lr_negative"]
    assert round(lr_pos["estimate"], 2) == 1.44
    assert (round(lr_pos["ci_low"], 2), round(lr_pos["ci_high"], 2)) == (1.18, 1.75)
    assert round(lr_neg["estimate"], 2) == 0.24
    assert (round(lr_neg["ci_low"], 2), round(lr_neg["ci_high"], 2)) == (0.08, 0.72)


def test_uic_calculator_zero_cell_example() -> None:
    # Same calculator, DT=2350000&Dt=0&dT=4465000&dt=40185000 ("Added 0.5 to cells to estimate
    # CI's"). Published: LR+ 10 [9.99, 10]; LR− 0.00 [0.00, 0.00]. LR+ has no zero cell; LR− has
    # FN = 0 and is continuity-corrected here too.
    answer = accuracy_from_table(tp=2_350_000, fp=4_465_000, fn=0, tn=40_185_000)
    lr_pos, lr_neg = answer["lr_positive"], answer["lr_negative"]
    assert lr_pos["estimate"] == pytest.approx(10.0)
    assert (f"{lr_pos['ci_low']:.3g}", f"{lr_pos['ci_high']:.3g}") == ("9.99", "10")
    assert lr_neg["estimate"] is not None and round(lr_neg["estimate"], 2) == 0.0
    assert round(lr_neg["ci_high"], 2) == 0.0
    assert any("negative likelihood ratio" in w and "0.5" in w for w in answer["value_warnings"])


# --- zero cells --------------------------------------------------------------------------------


def test_no_false_positive_gives_a_corrected_finite_lr_positive() -> None:
    # Chakraborty 2015-like counts: 13 of 18 patients and 0 of 10 controls positive.
    # LR+ = (13/18) / (0/10) is infinite; with 0.5 added to every cell (TP 13.5, FN 5.5,
    # FP 0.5, TN 10.5): (13.5/19) / (0.5/11) = 15.632, SE = √(1/13.5 − 1/19 + 1/0.5 − 1/11).
    answer = accuracy_from_table(tp=13, fp=0, fn=5, tn=10)
    assert_plain_json(answer)
    lr_pos = answer["lr_positive"]
    ratio = (13.5 / 19) / (0.5 / 11)
    assert ratio == pytest.approx(15.632, abs=1e-3)
    se = math.sqrt(1 / 13.5 - 1 / 19 + 1 / 0.5 - 1 / 11)
    assert lr_pos["estimate"] == pytest.approx(ratio)
    assert (lr_pos["ci_low"], lr_pos["ci_high"]) == pytest.approx(log_interval(ratio, se))
    assert lr_pos["ci_low"] < lr_pos["estimate"] < lr_pos["ci_high"]
    (note,) = answer["value_warnings"]
    assert "infinite" in note and "10 non-patients" in note and "0.5 added" in note
    # LR− has no zero cell: uncorrected.
    assert answer["lr_negative"]["estimate"] == pytest.approx((5 / 18) / (10 / 10))
    # PPV 13/13 with its Wilson interval reaching 1.
    assert answer["ppv"]["estimate"] == 1.0 and answer["ppv"]["ci_high"] == 1.0


def test_no_true_positive_gives_a_corrected_lr_positive_near_zero() -> None:
    answer = accuracy_from_table(tp=0, fp=4, fn=20, tn=16)
    lr_pos = answer["lr_positive"]
    ratio = (0.5 / 21) / (4.5 / 21)
    assert lr_pos["estimate"] == pytest.approx(ratio)
    assert lr_pos["ci_low"] < ratio < lr_pos["ci_high"]
    assert any("is 0 (none of the 20 patients" in w for w in answer["value_warnings"])
    assert answer["ppv"]["estimate"] == 0.0 and answer["ppv"]["ci_low"] == 0.0


def test_perfect_sensitivity_corrects_lr_negative() -> None:
    answer = accuracy_from_table(tp=20, fp=5, fn=0, tn=15)
    lr_neg = answer["lr_negative"]
    ratio = (0.5 / 21) / (15.5 / 21)
    se = math.sqrt(1 / 0.5 - 1 / 21 + 1 / 15.5 - 1 / 21)
    assert lr_neg["estimate"] == pytest.approx(ratio)
    assert (lr_neg["ci_low"], lr_neg["ci_high"]) == pytest.approx(log_interval(ratio, se))
    assert answer["npv"]["estimate"] == 1.0
    assert len(answer["value_warnings"]) == 1


def test_nobody_called_positive_leaves_ppv_and_lr_positive_undefined() -> None:
    answer = accuracy_from_table(tp=0, fp=0, fn=12, tn=9)
    assert_plain_json(answer)
    empty = {"estimate": None, "ci_low": None, "ci_high": None}
    assert answer["ppv"] == empty and answer["lr_positive"] == empty
    assert answer["npv"]["estimate"] == pytest.approx(9 / 21)
    # LR− = (12/12) / (9/9) = 1 on the raw table (no zero cell among FN and TN).
    assert answer["lr_negative"]["estimate"] == pytest.approx(1.0)
    notes = answer["value_warnings"]
    assert any("positive predictive value (PPV) is undefined" in w for w in notes)
    assert any("0/0" in w and "positive likelihood ratio" in w for w in notes)
    assert all(w.endswith(".") for w in notes)


def test_nobody_called_negative_leaves_npv_and_lr_negative_undefined() -> None:
    answer = accuracy_from_table(tp=7, fp=3, fn=0, tn=0)
    empty = {"estimate": None, "ci_low": None, "ci_high": None}
    assert answer["npv"] == empty and answer["lr_negative"] == empty
    assert answer["lr_positive"]["estimate"] == pytest.approx(1.0)
    assert len(answer["value_warnings"]) == 2


# --- validation and confidence level ------------------------------------------------------------


@pytest.mark.parametrize(
    "cells",
    [(-1, 2, 3, 4), (1.5, 2, 3, 4), (True, 2, 3, 4), ("1", 2, 3, 4)],
)
def test_counts_must_be_whole_non_negative_numbers(cells: tuple) -> None:
    with pytest.raises(ParameterError):
        accuracy_from_table(*cells)


def test_a_table_without_patients_or_non_patients_is_refused() -> None:
    with pytest.raises(InsufficientDataError, match="0 patient"):
        accuracy_from_table(tp=0, fp=3, fn=0, tn=4)
    with pytest.raises(InsufficientDataError, match="0 non-patient"):
        accuracy_from_table(tp=3, fp=0, fn=4, tn=0)


def test_alpha_sets_the_confidence_level() -> None:
    wide = accuracy_from_table(tp=30, fp=10, fn=10, tn=30)
    narrow = accuracy_from_table(tp=30, fp=10, fn=10, tn=30, alpha=0.10)
    for key in ("sensitivity", "specificity", "ppv", "npv", "lr_positive", "lr_negative"):
        assert wide[key]["estimate"] == narrow[key]["estimate"]
        assert wide[key]["ci_low"] < narrow[key]["ci_low"] < narrow[key]["ci_high"]
        assert narrow[key]["ci_high"] < wide[key]["ci_high"]


# --- through diagnostic_accuracy -----------------------------------------------------------------


def test_binary_marker_answers_the_new_values() -> None:
    answer = binary_accuracy(reads({"ALS": (62, 82), "CONTROL": (13, 33)}), ["ALS"], ["CONTROL"])
    assert_plain_json(answer)
    direct = accuracy_from_table(tp=62, fp=13, fn=20, tn=20)
    for key in ("table", "sensitivity", "specificity", "ppv", "npv", "lr_positive", "lr_negative"):
        assert answer[key] == direct[key]
    assert answer["value_warnings"] == [] and answer["warnings"] == []


def test_binary_marker_zero_cell_notes_stay_out_of_the_auc_warnings() -> None:
    # 0 of 10 controls positive: LR+ is corrected and said so in value_warnings.
    answer = binary_accuracy(
        reads({"ALS": (9, 13), "PLS": (4, 5), "CONTROL": (0, 10)}), ["ALS", "PLS"], ["CONTROL"]
    )
    assert answer["table"] == {"tp": 13, "fp": 0, "fn": 5, "tn": 10}
    assert answer["lr_positive"] == accuracy_from_table(tp=13, fp=0, fn=5, tn=10)["lr_positive"]
    assert len(answer["value_warnings"]) == 1 and answer["warnings"] == []


def test_all_reads_negative_gives_undefined_ppv() -> None:
    answer = binary_accuracy(reads({"ALS": (0, 4), "CONTROL": (0, 5)}), ["ALS"], ["CONTROL"])
    assert_plain_json(answer)
    assert answer["ppv"]["estimate"] is None and answer["lr_positive"]["estimate"] is None
    assert answer["sensitivity"]["estimate"] == 0.0
    assert any("PPV" in w for w in answer["value_warnings"])


def test_continuous_marker_values_at_the_youden_threshold() -> None:
    frame = pd.DataFrame(
        {
            "group": ["ALS"] * 5 + ["CONTROL"] * 5,
            "band_contrast": [0.10, 0.02, 0.12, 0.13, 0.14, 0.01, 0.03, 0.04, 0.05, 0.06],
        }
    )
    answer = diagnostic_accuracy(
        frame,
        marker="band_contrast",
        group_col="group",
        positive_groups=["ALS"],
        negative_groups=["CONTROL"],
        continuous=True,
    )
    assert_plain_json(answer)
    # Youden threshold 0.10 (Youden index 4/5 − 0/5): TP 4, FP 0, FN 1 (0.02), TN 5.
    assert answer["threshold"] == pytest.approx(0.10)
    assert answer["table"] == {"tp": 4, "fp": 0, "fn": 1, "tn": 5}
    assert answer["ppv"]["estimate"] == 1.0
    assert answer["npv"]["estimate"] == pytest.approx(5 / 6)
    assert answer["lr_positive"] == accuracy_from_table(tp=4, fp=0, fn=1, tn=5)["lr_positive"]
    assert answer["warnings"] == [] and len(answer["value_warnings"]) == 1
