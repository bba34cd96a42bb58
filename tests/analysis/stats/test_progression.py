"""Tests of analysis.stats.progression on synthetic cohorts whose true slopes are known."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from analysis.stats.errors import InsufficientDataError, ParameterError
from analysis.stats.progression import delta_fs, fit_progression
from tests.analysis.stats.plain_json import assert_plain_json

TRUE_SLOPES = {"ALS": -0.9, "CONTROL": -0.1}  # points per month


def cohort(
    n_subjects: int = 60,
    visits: tuple[float, ...] = (0, 4, 8),
    seed: int = 7,
    jitter_months: float = 0.5,
    slope_sd: float = 0.3,
) -> pd.DataFrame:
    """Return a long frame: random intercept SD 3, random slope SD 0.3, residual SD 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for subject in range(n_subjects):
        group = "ALS" if subject % 2 == 0 else "CONTROL"
        intercept = 40 + rng.normal(0, 3)
        slope = TRUE_SLOPES[group] + rng.normal(0, slope_sd)
        for target in visits:
            months = max(0.0, target + rng.normal(0, jitter_months)) if target else 0.0
            rows.append(
                {
                    "subject": f"S{subject:04d}",
                    "group": group,
                    "months": months,
                    "alsfrs_total": intercept + slope * months + rng.normal(0, 1),
                }
            )
    return pd.DataFrame(rows)


def test_three_visit_cohort_converges_with_random_slopes_and_covers_truth() -> None:
    answer = fit_progression(cohort(), outcome="alsfrs_total", by="group")
    assert_plain_json(answer)
    assert answer["model"] == "random_intercept_slope"
    assert answer["converged"] is True
    assert answer["warnings"] == []
    assert answer["n_subjects"] == 60
    assert answer["n_observations"] == 180
    for slope in answer["slopes"]:
        assert slope["ci_low"] < TRUE_SLOPES[slope["level"]] < slope["ci_high"]
    difference = answer["slope_difference"]
    assert difference["levels"] == ["ALS", "CONTROL"]  # sorted: CONTROL − ALS
    true_difference = TRUE_SLOPES["CONTROL"] - TRUE_SLOPES["ALS"]
    assert difference["ci_low"] < true_difference < difference["ci_high"]
    assert difference["p"] < 0.001


def test_matches_a_direct_statsmodels_fit() -> None:
    # The variance parameters are level-specific, so the model is one REML fit per level
    # (fit_progression's Notes); intervals use t quantiles with the reported Satterthwaite df.
    frame = cohort(seed=11)
    answer = fit_progression(frame, outcome="alsfrs_total", by="group", engine="statsmodels")
    df = {s["level"]: s["df"] for s in answer["df"]["slopes"]}
    direct = {}
    for level in ("ALS", "CONTROL"):
        fit = smf.mixedlm(
            "alsfrs_total ~ months",
            frame[frame["group"] == level],
            groups="subject",
            re_formula="~months",
        ).fit(reml=True, method=["powell", "lbfgs"], maxiter=2000, ftol=1e-12)
        # Powell's default ftol stops about 1e-5 short of the optimum, hence the tolerance.
        assert fit.converged
        direct[level] = (fit.fe_params["months"], fit.bse_fe["months"])
        slope = next(s for s in answer["slopes"] if s["level"] == level)
        estimate, se = direct[level]
        quantile = stats.t.ppf(0.975, df[level])
        assert 20 < df[level] < 40  # about 30 subjects − 1 per level
        assert slope["slope"] == pytest.approx(estimate, abs=1e-6)
        assert slope["ci_low"] == pytest.approx(estimate - quantile * se, abs=1e-6)
        assert slope["ci_high"] == pytest.approx(estimate + quantile * se, abs=1e-6)
    difference = direct["CONTROL"][0] - direct["ALS"][0]
    se = np.hypot(direct["CONTROL"][1], direct["ALS"][1])
    welch = se**4 / (direct["CONTROL"][1] ** 4 / df["CONTROL"] + direct["ALS"][1] ** 4 / df["ALS"])
    assert answer["slope_difference"]["estimate"] == pytest.approx(difference, abs=1e-6)
    assert answer["df"]["slope_difference"]["df"] == pytest.approx(welch, rel=1e-6)
    p = 2 * stats.t.sf(abs(difference) / se, welch)
    assert answer["slope_difference"]["p"] == pytest.approx(p, abs=1e-6)


def test_vectorized_engine_agrees_with_statsmodels() -> None:
    frame = cohort(n_subjects=300, seed=3)
    fast = fit_progression(frame, outcome="alsfrs_total", by="group", engine="vectorized")
    reference = fit_progression(frame, outcome="alsfrs_total", by="group", engine="statsmodels")
    assert fast["engine"] == "vectorized" and reference["engine"] == "statsmodels"
    # Estimates agree to the optimizer's tolerance. The intervals differ slightly more because
    # statsmodels inverts the observed Hessian (with fixed/random cross terms) where the
    # vectorized engine uses the REML Wald covariance scale·(X'V⁻¹X)⁻¹: about 2e-6 relative.
    for mine, theirs in zip(fast["slopes"], reference["slopes"], strict=True):
        assert mine["slope"] == pytest.approx(theirs["slope"], abs=1e-6)
        for key in ("ci_low", "ci_high"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-5)
    difference, expected = fast["slope_difference"], reference["slope_difference"]
    assert difference["estimate"] == pytest.approx(expected["estimate"], abs=1e-6)
    for key in ("ci_low", "ci_high", "p"):
        assert difference[key] == pytest.approx(expected[key], rel=1e-5)


def test_mbs_baseline_difference_is_positive_minus_negative() -> None:
    frame = cohort(seed=5)
    frame["mbs_baseline"] = frame["group"].map({"ALS": "positive", "CONTROL": "negative"})
    answer = fit_progression(
        frame, outcome="alsfrs_total", by="mbs_baseline", levels=["negative", "positive"]
    )
    assert answer["slope_difference"]["levels"] == ["negative", "positive"]
    slopes = {s["level"]: s["slope"] for s in answer["slopes"]}
    assert answer["slope_difference"]["estimate"] == pytest.approx(
        slopes["positive"] - slopes["negative"]
    )
    assert answer["slope_difference"]["estimate"] < 0


def test_reference_level_changes_parametrization_only() -> None:
    frame = cohort(seed=5)
    first = fit_progression(frame, outcome="alsfrs_total", by="group")
    second = fit_progression(frame, outcome="alsfrs_total", by="group", reference="CONTROL")
    for a, b in zip(first["slopes"], second["slopes"], strict=True):
        assert a["slope"] == pytest.approx(b["slope"], abs=1e-6)


def test_two_visits_fall_back_to_random_intercept_and_say_so() -> None:
    # No slope varies between subjects: the random-slope variance is estimated at zero.
    frame = cohort(slope_sd=0.0)
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    assert_plain_json(answer)
    assert answer["model"] == "random_intercept"
    assert answer["converged"] is True
    assert any("random intercept model instead" in w for w in answer["warnings"])


def test_missing_outcomes_are_dropped() -> None:
    frame = cohort()
    frame.loc[frame.index[:10], "alsfrs_total"] = np.nan
    answer = fit_progression(frame, outcome="alsfrs_total", by="group")
    assert answer["n_observations"] == 170


def test_one_level_only_is_insufficient() -> None:
    frame = cohort()
    with pytest.raises(InsufficientDataError, match="two levels"):
        fit_progression(frame[frame["group"] == "ALS"], outcome="alsfrs_total", by="group")


def test_requested_level_without_subjects_is_insufficient() -> None:
    with pytest.raises(InsufficientDataError, match="PLS"):
        fit_progression(cohort(), outcome="alsfrs_total", by="group", levels=["ALS", "PLS"])


def test_single_visits_are_insufficient() -> None:
    with pytest.raises(InsufficientDataError, match="repeated"):
        fit_progression(cohort(visits=(0,)), outcome="alsfrs_total", by="group")


def test_unknown_outcome_and_reference_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="outcome"):
        fit_progression(cohort(), outcome="umn_total", by="group")
    with pytest.raises(ParameterError, match="reference"):
        fit_progression(cohort(), outcome="alsfrs_total", by="group", reference="PLS")


def test_level_must_be_constant_within_subject() -> None:
    frame = cohort()
    frame.loc[0, "group"] = "CONTROL"  # subject S0000 is ALS at its other visits
    with pytest.raises(ParameterError, match="constant within a subject"):
        fit_progression(frame, outcome="alsfrs_total", by="group")


def test_delta_fs() -> None:
    assert delta_fs(36, 12.0) == pytest.approx(1.0)
    assert delta_fs(48, 6.0) == 0.0
    assert delta_fs(40, None) is None
    assert delta_fs(40, float("nan")) is None
    assert delta_fs(40, 0.0) is None
    with pytest.raises(ValueError, match="between 0 and 48"):
        delta_fs(50, 12.0)
