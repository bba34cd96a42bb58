"""Tests of analysis.stats.diagnostic against published counts and scipy/statsmodels."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from analysis.stats.diagnostic import (
    correlation,
    diagnostic_accuracy,
    prevalence_by_group,
    wilson_ci,
)
from analysis.stats.errors import InsufficientDataError, ParameterError
from tests.analysis.stats.plain_json import assert_plain_json


def reads(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One row per subject from {group: (positive, n)}."""
    rows = []
    for group, (positive, n) in counts.items():
        rows += [{"group": group, "mbs_read": i < positive} for i in range(n)]
    return pd.DataFrame(rows)


def test_wilson_matches_statsmodels() -> None:
    for k, n in ((62, 82), (13, 33), (0, 10), (10, 10), (1, 1)):
        low, high = wilson_ci(k, n)
        expected = proportion_confint(k, n, alpha=0.05, method="wilson")
        assert (low, high) == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError):
        wilson_ci(3, 0)


def test_rizzo_2020_counts() -> None:
    # Rizzo 2020 (J Clin Med): 62 of 82 ALS and 13 of 33 controls MBS-positive.
    frame = reads({"ALS": (62, 82), "CONTROL": (13, 33)})
    answer = diagnostic_accuracy(
        frame,
        marker="mbs_read",
        group_col="group",
        positive_groups=["ALS"],
        negative_groups=["CONTROL"],
        continuous=False,
    )
    assert_plain_json(answer)
    groups = {g["group"]: g for g in answer["groups"]}
    assert round(100 * groups["ALS"]["proportion"], 1) == 75.6
    assert round(100 * groups["CONTROL"]["proportion"], 1) == 39.4
    for group, (k, n) in (("ALS", (62, 82)), ("CONTROL", (13, 33))):
        expected = proportion_confint(k, n, method="wilson")
        assert (groups[group]["ci_low"], groups[group]["ci_high"]) == pytest.approx(expected)
    assert answer["sensitivity"]["estimate"] == pytest.approx(62 / 82)
    assert answer["specificity"]["estimate"] == pytest.approx(20 / 33)
    assert (answer["specificity"]["ci_low"], answer["specificity"]["ci_high"]) == pytest.approx(
        proportion_confint(20, 33, method="wilson")
    )
    expected_p = stats.fisher_exact([[62, 20], [13, 20]], alternative="two-sided").pvalue
    assert answer["fisher_p"] == pytest.approx(expected_p, rel=1e-12)
    assert answer["auc"] is None


def test_chakraborty_2015_counts() -> None:
    # Chakraborty 2015: about 70% of 13 ALS (9), 80% of 5 PLS (4), 0 of 10 controls.
    frame = reads({"ALS": (9, 13), "PLS": (4, 5), "CONTROL": (0, 10)})
    answer = diagnostic_accuracy(
        frame,
        marker="mbs_read",
        group_col="group",
        positive_groups=["ALS", "PLS"],
        negative_groups=["CONTROL"],
        continuous=False,
    )
    assert_plain_json(answer)
    assert answer["sensitivity"]["estimate"] == pytest.approx(13 / 18)
    assert answer["specificity"]["estimate"] == 1.0
    assert answer["specificity"]["ci_high"] == 1.0
    assert answer["specificity"]["ci_low"] == pytest.approx(
        proportion_confint(10, 10, method="wilson")[0]
    )
    assert answer["fisher_p"] == pytest.approx(
        stats.fisher_exact([[13, 5], [0, 10]]).pvalue, rel=1e-12
    )
    assert [g["group"] for g in answer["groups"]] == ["ALS", "PLS", "CONTROL"]


def test_prevalence_reports_empty_groups_as_none() -> None:
    answer = prevalence_by_group(
        reads({"ALS": (3, 4)}), group_col="group", positive_col="mbs_read", groups=["ALS", "PLS"]
    )
    assert_plain_json(answer)
    assert answer[1] == {
        "group": "PLS",
        "n": 0,
        "positive": 0,
        "proportion": None,
        "ci_low": None,
        "ci_high": None,
    }


def test_continuous_marker_auc_delong_and_youden() -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "group": ["ALS"] * 60 + ["CONTROL"] * 40,
            "band_contrast": np.concatenate(
                [rng.normal(0.08, 0.03, 60), rng.normal(0.03, 0.03, 40)]
            ),
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
    cases = frame.loc[frame["group"] == "ALS", "band_contrast"]
    controls = frame.loc[frame["group"] == "CONTROL", "band_contrast"]
    u = stats.mannwhitneyu(cases, controls).statistic
    assert answer["auc"] == pytest.approx(u / (60 * 40))
    assert answer["auc_ci_low"] < answer["auc"] < answer["auc_ci_high"]
    roc = answer["roc"]
    assert roc["fpr"][0] == 0.0 and roc["tpr"][-1] == 1.0 and roc["thresholds"][0] is None
    youden = max(t - f for t, f in zip(roc["tpr"], roc["fpr"], strict=True))
    sens, spec = answer["sensitivity"]["estimate"], answer["specificity"]["estimate"]
    assert sens + spec - 1 == pytest.approx(youden)
    called = frame["band_contrast"] >= answer["threshold"]
    assert called[frame["group"] == "ALS"].mean() == pytest.approx(sens)


def test_delong_variance_by_hand() -> None:
    # cases 3, 4; controls 1, 3: psi = [[1, .5], [1, 1]] → AUC 0.875;
    # V10 = [.75, 1], V01 = [1, .75]; var = 0.03125/2 + 0.03125/2 = 0.03125.
    frame = pd.DataFrame({"g": ["d", "d", "h", "h"], "x": [3.0, 4.0, 1.0, 3.0]})
    answer = diagnostic_accuracy(
        frame,
        marker="x",
        group_col="g",
        positive_groups=["d"],
        negative_groups=["h"],
        continuous=True,
    )
    half = 1.959963984540054 * math.sqrt(0.03125)
    assert answer["auc"] == 0.875
    assert answer["auc_ci_low"] == pytest.approx(0.875 - half)
    assert answer["auc_ci_high"] == 1.0  # clipped


def test_correlation_matches_scipy_with_fisher_z_interval() -> None:
    rng = np.random.default_rng(8)
    umn = rng.integers(0, 15, 50).astype(float)
    frame = pd.DataFrame({"umn": umn, "band_contrast": 0.004 * umn + rng.normal(0, 0.02, 50)})
    answer = correlation(frame, "band_contrast", "umn", method="pearson")
    expected = stats.pearsonr(frame["band_contrast"], frame["umn"])
    assert answer["rho"] == pytest.approx(expected.statistic)
    assert answer["p"] == pytest.approx(expected.pvalue)
    z, se = math.atanh(answer["rho"]), 1 / math.sqrt(47)
    assert answer["ci_low"] == pytest.approx(math.tanh(z - 1.959964 * se), abs=1e-6)
    spearman = correlation(frame, "band_contrast", "umn")
    assert spearman["rho"] == pytest.approx(
        stats.spearmanr(frame["band_contrast"], frame["umn"]).statistic
    )
    assert spearman["ci_low"] < spearman["rho"] < spearman["ci_high"]
    assert_plain_json(spearman)


def test_errors() -> None:
    frame = reads({"ALS": (3, 4)})
    with pytest.raises(InsufficientDataError):
        diagnostic_accuracy(
            frame,
            marker="mbs_read",
            group_col="group",
            positive_groups=["ALS"],
            negative_groups=["CONTROL"],
            continuous=False,
        )
    with pytest.raises(ParameterError):
        diagnostic_accuracy(
            frame,
            marker="nope",
            group_col="group",
            positive_groups=["ALS"],
            negative_groups=["CONTROL"],
            continuous=False,
        )
    with pytest.raises(InsufficientDataError):
        correlation(pd.DataFrame({"a": [1.0, 2.0], "b": [1.0, 3.0]}), "a", "b")
