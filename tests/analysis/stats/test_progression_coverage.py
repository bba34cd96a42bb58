"""Intervals of fit_progression against known truth: level-specific slope variances, small
groups, informative dropout and more than two levels (simulated studies,
tests/analysis/stats/progression_simulation.py; the 200-study table is bench/bench_coverage.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.oneway import anova_oneway
from statsmodels.stats.weightstats import ttest_ind

from analysis.stats.progression import fit_progression
from tests.analysis.stats.plain_json import assert_plain_json
from tests.analysis.stats.progression_simulation import (
    LAST_VISIT_MONTHS,
    LevelTruth,
    Scenario,
    simulate_study,
)

#: ALS slopes vary ten times more between subjects than controls' (points per month).
HETEROGENEOUS = Scenario(subjects_per_level=8)


def own_slopes(frame: pd.DataFrame) -> pd.DataFrame:
    """Each subject's least-squares slope of alsfrs_total on months, with its group."""
    rows = []
    for subject, visits in frame.groupby("subject"):
        slope = np.polyfit(visits["months"], visits["alsfrs_total"], 1)[0]
        rows.append({"subject": subject, "group": visits["group"].iloc[0], "slope": slope})
    return pd.DataFrame(rows)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_slope_intervals_cover_the_truth_when_levels_differ_in_slope_variance() -> None:
    # 60 studies of 8 ALS and 8 controls, visits every 4 months to 24 months (about 30 s);
    # bench/bench_coverage.py runs 200 and more.
    truth = {name: level.slope for name, level in HETEROGENEOUS.levels.items()}
    truth["difference"] = truth["CONTROL"] - truth["ALS"]
    estimates: dict[str, list[float]] = {key: [] for key in truth}
    ses: dict[str, list[float]] = {key: [] for key in truth}
    covered: dict[str, list[bool]] = {key: [] for key in truth}
    for seed in range(60):
        answer = fit_progression(
            simulate_study(HETEROGENEOUS, seed),
            outcome="alsfrs_total",
            by="group",
            engine="vectorized",
        )
        intervals = {s["level"]: s for s in answer["slopes"]}
        intervals["difference"] = answer["slope_difference"]
        se = {s["level"]: s["se"] for s in answer["df"]["slopes"]}
        se["difference"] = answer["df"]["slope_difference"]["se"]
        for key, interval in intervals.items():
            estimate = interval["slope"] if key != "difference" else interval["estimate"]
            estimates[key].append(estimate)
            ses[key].append(se[key])
            covered[key].append(interval["ci_low"] <= truth[key] <= interval["ci_high"])
    for key in truth:
        assert np.mean(covered[key]) >= 0.90, key
        # The reported SE tracks the estimates' spread over studies (Monte Carlo SD of the
        # ratio with 60 studies is about 0.09).
        assert 0.8 < np.mean(ses[key]) / np.std(estimates[key], ddof=1) < 1.25, key

    # The previous model, one random-effects covariance shared by both groups, pools the slope
    # variance: its ALS SE is far below the spread of the ALS slope over studies.
    shared = []
    for seed in range(10):
        fit = smf.mixedlm(
            "alsfrs_total ~ months * C(group)",
            simulate_study(HETEROGENEOUS, seed),
            groups="subject",
            re_formula="~months",
        ).fit(reml=True, method=["lbfgs", "powell"], maxiter=2000)
        shared.append(fit.bse_fe["months"])
    assert np.mean(shared) < 0.8 * np.std(estimates["ALS"], ddof=1)


@pytest.mark.parametrize("subjects", [3, 4, 5])
def test_small_groups_get_t_intervals_with_small_df(subjects: int) -> None:
    frame = simulate_study(Scenario(subjects_per_level=subjects), seed=subjects)
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    assert_plain_json(answer)
    assert "Satterthwaite" in answer["df"]["method"]
    for slope, detail in zip(answer["slopes"], answer["df"]["slopes"], strict=True):
        assert slope["level"] == detail["level"]
        assert 1 <= detail["df"] < 7 * subjects  # never the normal's infinite df
        quantile = stats.t.ppf(0.975, detail["df"])
        half_width = (slope["ci_high"] - slope["ci_low"]) / 2
        assert half_width == pytest.approx(quantile * detail["se"], rel=1e-9)
        assert half_width > 1.96 * detail["se"]
    difference = answer["slope_difference"]
    detail = answer["df"]["slope_difference"]
    t = difference["estimate"] / detail["se"]
    assert difference["p"] == pytest.approx(2 * stats.t.sf(abs(t), detail["df"]), rel=1e-9)
    assert answer["slope_differences"][0]["df"] == detail["df"]


def test_small_groups_slope_df_is_subjects_minus_one_on_complete_balanced_visits() -> None:
    # Complete visits at the same months: the REML interval is the one-sample t interval of the
    # subjects' own slopes, on n − 1 df.
    scenario = Scenario(
        subjects_per_level=4,
        jitter_months=0.0,
        levels={"ALS": LevelTruth(-0.9, 0.4), "CONTROL": LevelTruth(-0.1, 0.3)},
    )
    frame = simulate_study(scenario, seed=3)
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    slopes = own_slopes(frame)
    for slope, detail in zip(answer["slopes"], answer["df"]["slopes"], strict=True):
        own = slopes.loc[slopes["group"] == slope["level"], "slope"]
        assert detail["df"] == pytest.approx(3.0, rel=1e-3)
        assert slope["slope"] == pytest.approx(own.mean(), abs=1e-6)
        # to the optimizer's tolerance on the variance parameters
        assert detail["se"] == pytest.approx(own.std(ddof=1) / 2, rel=1e-4)


def test_informative_dropout_is_counted_and_flagged() -> None:
    # Fast progressors leave early: the log-odds of leaving after a visit rise by 2 per SD of
    # the subject's own decline.
    scenario = Scenario(subjects_per_level=40, dropout_logit=-2.0, dropout_strength=2.0)
    frame = simulate_study(scenario, seed=1)
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    assert_plain_json(answer)
    last = frame.groupby("subject").agg(group=("group", "first"), target=("months", "max"))
    dropped = (last["target"] < LAST_VISIT_MONTHS - 2).groupby(last["group"]).sum()
    per_level = {row["level"]: row for row in answer["dropout"]["per_level"]}
    for level in ("ALS", "CONTROL"):
        assert per_level[level]["n"] == 40
        assert per_level[level]["dropped_out"] == dropped[level] > 5
    association = answer["dropout"]["association"]
    assert association["p"] < 0.05 and association["estimate"] < 0  # dropouts declined faster
    assert any("Dropout is associated" in w for w in answer["warnings"])
    # The pattern-mixture estimate weighs dropouts by their share: it covers the truth.
    sensitivity = {s["level"]: s for s in answer["dropout"]["sensitivity"]["slopes"]}
    for level, truth in scenario.levels.items():
        assert sensitivity[level]["ci_low"] < truth.slope < sensitivity[level]["ci_high"]
        assert sensitivity[level]["dropouts"]["n"] + sensitivity[level]["completers"]["n"] == 40


def test_dropout_unrelated_to_decline_is_counted_but_not_flagged() -> None:
    scenario = Scenario(subjects_per_level=40, dropout_logit=-2.0, dropout_strength=0.0)
    answer = fit_progression(simulate_study(scenario, seed=1), outcome="alsfrs_total", by="group")
    assert sum(row["dropped_out"] for row in answer["dropout"]["per_level"]) > 10
    assert answer["dropout"]["association"]["p"] > 0.05
    assert not any("Dropout" in w for w in answer["warnings"])


def three_level_study() -> pd.DataFrame:
    scenario = Scenario(
        subjects_per_level=12,
        jitter_months=0.0,
        levels={
            "ALS": LevelTruth(-0.9, 0.4),
            "CONTROL": LevelTruth(-0.05, 0.1),
            "PLS": LevelTruth(-0.4, 0.2),
        },
    )
    return simulate_study(scenario, seed=5)


def test_three_levels_give_three_pairwise_differences_and_an_overall_test() -> None:
    frame = three_level_study()
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    assert_plain_json(answer)
    assert answer["model"] == "random_intercept_slope"
    pairs = [d["levels"] for d in answer["slope_differences"]]
    assert pairs == [["ALS", "CONTROL"], ["ALS", "PLS"], ["CONTROL", "PLS"]]
    assert answer["slope_difference"] == {
        key: answer["slope_differences"][0][key]
        for key in ("levels", "estimate", "ci_low", "ci_high", "p")
    }
    # Complete balanced visits: the per-level REML slopes and SEs are those of the subjects' own
    # least-squares slopes, so the comparisons are Welch's t tests and Welch's ANOVA on them.
    slopes = own_slopes(frame)
    by_level = {level: rows["slope"].to_numpy() for level, rows in slopes.groupby("group")}
    for difference in answer["slope_differences"]:
        first, second = difference["levels"]
        t, p, df = ttest_ind(by_level[second], by_level[first], usevar="unequal")
        se = difference["estimate"] / t
        assert difference["estimate"] == pytest.approx(
            by_level[second].mean() - by_level[first].mean(), abs=1e-6
        )
        assert difference["se"] == pytest.approx(se, rel=1e-5)
        assert difference["df"] == pytest.approx(df, rel=1e-3)
        assert difference["p"] == pytest.approx(p, rel=1e-3)
        quantile = stats.t.ppf(0.975, df)
        assert difference["ci_low"] == pytest.approx(difference["estimate"] - quantile * se, 1e-3)
    test = answer["slope_test"]
    reference = anova_oneway(
        [by_level[level] for level in ("ALS", "CONTROL", "PLS")], use_var="unequal"
    )
    assert test["statistic"] == pytest.approx(reference.statistic, rel=1e-4)
    assert test["df"][0] == 2
    assert test["df"][1] == pytest.approx(reference.df_denom, rel=1e-3)
    assert test["p"] == pytest.approx(reference.pvalue, rel=1e-3)
    assert test["p"] < 0.001
    assert "Welch" in test["method"]


def _reml_criterion_at(level: pd.DataFrame, random_effects: dict[str, Any]) -> float:
    """The profiled REML criterion of one level's fit at the reported variance components."""
    from analysis.stats.progression import _SufficientStatistics

    data = level.dropna(subset=["alsfrs_total"])
    months = data["months"].to_numpy(dtype=float)
    design = np.column_stack([np.ones_like(months), months])
    statistics = _SufficientStatistics.build(
        data["alsfrs_total"].to_numpy(dtype=float),
        design,
        design.copy(),
        data["subject"].to_numpy(),
    )
    sd = np.array([random_effects["intercept_sd"], random_effects["slope_sd"]])
    correlation = random_effects["correlation"]
    covariance = (
        np.array(
            [[sd[0] ** 2, correlation * sd[0] * sd[1]], [correlation * sd[0] * sd[1], sd[1] ** 2]]
        )
        / random_effects["residual_sd"] ** 2
    )
    return statistics.criterion(np.linalg.cholesky(covariance)[np.tril_indices(2)])


def test_engines_agree_on_level_specific_fits_df_and_tests() -> None:
    scenario = Scenario(subjects_per_level=150, dropout_logit=-3.0)
    frame = simulate_study(scenario, seed=2)
    fast = fit_progression(frame, outcome="alsfrs_total", by="group", engine="vectorized")
    reference = fit_progression(frame, outcome="alsfrs_total", by="group", engine="statsmodels")
    # Estimates and variance components agree to 1e-6. With dropout (unbalanced visits) the SEs
    # differ by up to about 1.5e-3 relative (the tests' p by a few percent at p ~ 1e-76): statsmodels inverts the observed Hessian, whose fixed/variance cross terms are
    # not zero on unbalanced data, where the vectorized engine uses scale·(X'V⁻¹X)⁻¹.
    for mine, theirs in zip(fast["slopes"], reference["slopes"], strict=True):
        assert mine["slope"] == pytest.approx(theirs["slope"], abs=1e-6)
    for mine, theirs in zip(fast["df"]["slopes"], reference["df"]["slopes"], strict=True):
        assert mine["se"] == pytest.approx(theirs["se"], rel=2e-3)
        assert mine["df"] == pytest.approx(theirs["df"], rel=1e-3)
    for mine, theirs in zip(fast["slope_differences"], reference["slope_differences"], strict=True):
        assert mine["estimate"] == pytest.approx(theirs["estimate"], abs=1e-6)
        for key in ("ci_low", "ci_high", "se", "df"):
            assert mine[key] == pytest.approx(theirs[key], rel=2e-3)
        assert np.log(mine["p"]) == pytest.approx(np.log(theirs["p"]), rel=2e-3)
    for mine, theirs in zip(fast["random_effects"], reference["random_effects"], strict=True):
        # A variance component is determined to the optimizers' tolerance, not beyond: the
        # vectorized engine follows the exact gradient (|grad| ~1e-8 at its optimum), statsmodels
        # stops where its gradient is still ~1e-6, so they agree to about 1e-5, and the
        # vectorized optimum is never the worse one (_reml_criterion_at).
        for key in ("intercept_sd", "slope_sd", "correlation", "residual_sd"):
            assert mine[key] == pytest.approx(theirs[key], rel=2e-5)
        level = frame[frame["group"] == mine["level"]]
        assert _reml_criterion_at(level, mine) <= _reml_criterion_at(level, theirs) + 1e-12
    assert fast["slope_test"]["statistic"] == pytest.approx(
        reference["slope_test"]["statistic"], rel=5e-3
    )
