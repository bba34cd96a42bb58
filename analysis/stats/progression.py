"""Progression over visits: linear mixed models of an outcome on months, and the ΔFS rate."""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.regression.linear_model import OLS
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from analysis.stats._json import as_float
from analysis.stats.errors import DegenerateModelError, InsufficientDataError, ParameterError

#: Length of a study month in days (domain.md: month = 30.4375 days).
DAYS_PER_MONTH = 30.4375
#: Highest ALSFRS-R total (12 items scored 0-4).
ALSFRS_R_MAX = 48
#: A level needs at least this many subjects with data to get a slope.
MIN_SUBJECTS_PER_LEVEL = 3
#: At least this share of subjects must have two or more observations (a slope needs two points).
MIN_SHARE_WITH_REPEATS = 0.5
#: Optimizers tried in turn by statsmodels. L-BFGS comes first because it starts at the REML
#: optimum of the vectorized engine (``_optimize_reml``) and then needs one or two passes over the
#: subjects, where Powell needs dozens even from the optimum (2,000 subjects: 25 s with
#: ["powell", "lbfgs"] from statsmodels' default start, 1.2 s this way). Powell remains the
#: fallback optimizer.
OPTIMIZERS = ("lbfgs", "powell")
#: Iteration limit per optimizer; generous because an early stop is a failed fit.
MAXITER = 2000
#: Two-sided level of the intervals (95%) and tests.
ALPHA = 0.05
#: Degrees of freedom of the slopes (see fit_progression's Notes).
DF_METHOD = (
    "Satterthwaite per level slope (observed REML information of the level's variance "
    "parameters); Welch-Satterthwaite for differences of independent level slopes"
)
#: Fixed effects of one level's model (intercept and slope): the conservative df is the number of
#: subjects of the level minus these.
SLOPE_FIXED_EFFECTS = 2
#: Smallest df used for a t quantile (Satterthwaite can fall below 1 on a near-boundary fit).
MIN_DF = 1.0
#: Relative step of the numerical derivatives of the Satterthwaite df (per variance parameter).
SATTERTHWAITE_STEP = 1e-4
#: A dropout association with p below this adds a warning.
DROPOUT_ALPHA = 0.05
#: The dropout association needs at least this many dropouts and completers with a slope.
MIN_PER_PATTERN = 2
#: Without a significant association, dropout is still called possibly informative when the
#: association's 95% interval allows dropouts to change faster or slower than completers by at
#: least this share of the fastest level's mean rate of change (the test lacked the power to
#: rule it out: at 8 subjects per level it found an association in 14% of simulated studies
#: whose dropout did go with decline, bench/bench_coverage.py).
DROPOUT_RULE_OUT_SHARE = 0.5
#: A random-effects correlation closer to ±1 than this (or a variance this small relative to the
#: residual variance) is a degenerate covariance: the random-slope model is not identified.
DEGENERATE_TOLERANCE = 1e-6

#: An outcome whose standard deviation is below this fraction of its magnitude (or 1) is treated
#: as constant, and a fixed-effects fit whose residual standard deviation is below this fraction
#: of the outcome's is treated as exact: neither leaves a variance for a mixed model to split.
CONSTANT_TOLERANCE = 1e-10
#: Reason given by the fits when a random-effect variance sits on its zero boundary.
ZERO_VARIANCE_REASON = "a random-effect variance is estimated as zero"

#: Optimizers of the vectorized engine, tried in turn like statsmodels' list.
VECTORIZED_OPTIMIZERS = ("L-BFGS-B", "Powell")
#: Largest gradient (criterion per observation) accepted at an optimum of the vectorized engine.
GRADIENT_TOLERANCE = 1e-5
#: Value of the criterion outside the parameter space (non-positive-definite covariance).
INFEASIBLE = 1e300
#: Above this many subjects the vectorized engine replaces statsmodels: statsmodels' Python loop
#: over subjects costs about 0.9 ms per subject for one likelihood, score and Hessian, i.e. about
#: 9 s at 10,000 subjects even when started at the optimum (measured, bench/bench_models.py).
STATSMODELS_MAX_SUBJECTS = 2000
ENGINE_STATSMODELS = "statsmodels"
ENGINE_VECTORIZED = "vectorized"

MODEL_RANDOM_SLOPE = "random_intercept_slope"
MODEL_RANDOM_INTERCEPT = "random_intercept"
#: A level whose outcome is constant: no model is fitted, its slope is 0 by construction.
MODEL_CONSTANT = "constant"


def delta_fs(total_at_v1: float | None, months_from_onset_to_v1: float | None) -> float | None:
    """Return the ALSFRS-R progression rate at baseline, ΔFS.

    ΔFS = (48 − ALSFRS-R total at V1) / months from symptom onset to V1.

    Parameters
    ----------
    total_at_v1 : float or None
        ALSFRS-R total at V1 (points, 0-48).
    months_from_onset_to_v1 : float or None
        Months (of 30.4375 days) from symptom onset to V1; None where the onset date is unknown
        (controls have none).

    Returns
    -------
    float or None
        Points per month; None when the total or onset is missing or the interval is not positive.

    Raises
    ------
    ValueError
        If the total lies outside 0-48.
    """
    if total_at_v1 is None or months_from_onset_to_v1 is None:
        return None
    total = float(total_at_v1)
    months = float(months_from_onset_to_v1)
    if math.isnan(total) or math.isnan(months):
        return None
    if not 0 <= total <= ALSFRS_R_MAX:
        raise ValueError(f"ALSFRS-R total must lie between 0 and {ALSFRS_R_MAX}, got {total:g}")
    if months <= 0:
        return None
    return (ALSFRS_R_MAX - total) / months


def fit_progression(
    frame: pd.DataFrame,
    *,
    outcome: str,
    by: str,
    subject_col: str = "subject",
    time_col: str = "months",
    levels: Sequence[Any] | None = None,
    reference: Any | None = None,
    engine: str = "auto",
    possible_col: str | None = None,
) -> dict[str, Any]:
    """Fit ``outcome ~ months * level`` with a random intercept and slope per subject (REML).

    The random-effects covariance and the residual variance are specific to each level (ALS
    slopes vary far more between subjects than controls'), intervals use t quantiles with
    Satterthwaite degrees of freedom, every pair of levels is compared, equal slopes are tested
    jointly, and dropout is described and checked for an association with the rate of change.

    Parameters
    ----------
    frame : DataFrame
        Long frame, one row per subject-visit, with columns ``subject_col`` (subject id),
        ``time_col`` (months from V1, month = 30.4375 days), ``by`` (the subject's level, constant
        within a subject) and ``outcome`` (numeric, in the outcome's units). Rows with a missing
        outcome, time or level are dropped.
    outcome : str
        Column holding the outcome, e.g. ``umn_total`` (points) or ``band_contrast`` (unitless).
    by : str
        Column holding the grouping level, e.g. ``group``, ``site``, ``mbs_baseline``.
    subject_col, time_col : str
        Column names of the subject id and of the time in months.
    levels : sequence, optional
        Levels to analyse, in order. Rows at other levels are left out. ``slope_difference`` is
        ``levels[1] − levels[0]``; ``slope_differences`` holds every pair ``levels[j] −
        levels[i]`` (i < j). Default: all levels with at least 3 subjects, sorted; so for
        ``mbs_baseline`` with levels ``"negative"``/``"positive"`` the default order already
        gives positive minus negative, and passing ``levels=["negative", "positive"]`` makes it
        explicit.
    reference : optional
        Reference level of the treatment coding (default ``levels[0]``). Validated and kept for
        callers; since the variance parameters are level-specific the fixed effects of each
        level are estimated from that level's subjects, so it does not change any number.
    engine : {"auto", "statsmodels", "vectorized"}
        ``"statsmodels"`` fits each level with statsmodels MixedLM; ``"vectorized"`` optimizes
        the same profiled REML criterion on batched per-subject algebra (same optimum, Wald
        covariance ``scale · (X'V⁻¹X)⁻¹``). ``"auto"`` uses statsmodels up to 2,000 subjects
        (all levels together) and the vectorized engine above.

    Returns
    -------
    dict
        ``{outcome, by, n_subjects, n_observations,
        slopes: [{level, slope, ci_low, ci_high}],
        slope_difference: {levels: [a, b], estimate, ci_low, ci_high, p},
        slope_differences: [{levels: [a, b], estimate, ci_low, ci_high, p, se, df}],
        slope_test: {statistic, df: [numerator, denominator], p, method},
        df: {method, slopes: [{level, se, df}], slope_difference: {levels, se, df}},
        random_effects: [{level, model, n_subjects, n_observations, intercept_sd, slope_sd,
        correlation, residual_sd}],
        dropout: {definition, per_level: [{level, n, dropped_out}], association: {...},
        sensitivity: {...}},
        model, converged, engine, warnings}``.
        Slopes are in outcome units per month with 95% intervals ``slope ± t(df) · SE``; the
        differences' ``p`` are two-sided t tests with Welch–Satterthwaite df. ``model`` is
        ``"random_intercept_slope"`` when every level kept its random slope, else
        ``"random_intercept"`` with ``warnings`` naming the level and the reason
        (``random_effects`` gives each level's structure). ``converged`` is always True: a level
        that converges with neither structure raises. See Notes for ``slope_test`` and
        ``dropout``.

    Raises
    ------
    ParameterError
        If a named column or level or the reference is unknown, or a subject has several levels.
    InsufficientDataError
        If fewer than two levels have 3 subjects with data, a requested level has fewer, most
        subjects have a single observation, or neither model converges for a level.
    DegenerateModelError
        (a subclass of InsufficientDataError) before any fit when the outcome is constant or an
        exact linear function of months and level (no residual variance); after the fits when the
        between-subject variance of a level is zero even with a random intercept alone, or the
        linear algebra of the fit fails (a singular matrix). A level whose outcome is constant is
        kept (slope 0, no interval) and named in ``warnings``.

    Notes
    -----
    Variance model. Subjects are nested in levels and the fixed effects are fully interacted,
    so letting the random-effects covariance and the residual variance differ by level makes
    the REML likelihood a product of one REML likelihood per level: each level is fitted alone
    (``outcome ~ months``, random intercept and slope). A single shared covariance pools the
    slope variance of all levels and understates the ALS slope's SE when ALS slopes vary more
    than controls' (coverage 85% in the trial statistician's simulation). Cluster-robust
    (sandwich) SEs would fix the pooling too, but are biased downward with a handful of subjects
    per level and are only valid under completely-random dropout once the working covariance is
    wrong, whereas the likelihood with the right covariance stays valid when dropout depends on
    observed values. On complete balanced data the per-level REML interval is exactly the
    one-sample t interval of the subjects' own least-squares slopes.

    Degrees of freedom. Satterthwaite's approximation for each slope: ``df = 2 V² / (∇V' A ∇V)``
    with ``V`` the slope's variance as a function of the variance parameters and ``A`` the
    inverse observed REML information of those parameters (numerical derivatives on the
    standardized problem); on complete balanced data it gives ``n − 1`` (n subjects of the
    level). It is capped at ``n − 1``: a level's slope is learnt from its n subjects, and without
    the cap a slope variance estimated at or near zero (or a level that fell back to a random
    intercept) would borrow the many within-subject df of the residual variance; in simulation
    (8 subjects per level, bench/bench_coverage.py) the uncapped df gave controls, whose slopes
    barely vary, 84% coverage in the studies where their slope variance hit zero. Where it cannot
    be computed (a non-positive-definite information), the conservative ``n − 2`` (subjects of
    the level minus its two fixed effects) is used and said in ``warnings``. Slopes of different levels are independent, so a difference uses the
    Welch–Satterthwaite df ``(V_a + V_b)² / (V_a²/df_a + V_b²/df_b)``, and ``slope_test`` is
    Welch's (1951) heteroscedastic F test of equal slopes (the joint Wald test on the per-level
    slopes with small-sample df; with two levels it is the square of the difference's t).

    Dropout. Times are put on the grid of the median interval between a subject's visits; a
    subject ``dropped_out`` when its last observation lies on an earlier grid point than the
    latest follow-up observed in the analysis. With ``possible_col`` (per row: the follow-up
    the subject could have had by the data cut, on the same time axis), a subject enrolled
    recently is not a dropout for having fewer visits: only one whose last observation lies
    before the last grid point whose visit window (half an interval either side) had closed by
    the data cut (administrative censoring is not dropout). ``association`` regresses each subject's own least-squares slope
    (subjects with two or more times) on the level and a dropout indicator, with HC3 standard
    errors and a t test: ``estimate`` is how much faster (in outcome units per month)
    dropouts changed than completers of the same level. A p below 0.05 adds a sentence to
    ``warnings``: the mixed model weighs completers more and assumes dropout at random given the
    observed values, so it is biased when fast progressors leave. ``sensitivity`` is a
    pattern-mixture estimate by dropout pattern (completers, dropouts): the mean of the
    subjects' own slopes per pattern, weighted by the pattern's share of the level's subjects
    with a slope, with a t interval.

    Convergence rule (domain.md, Statistics): the optimizers are passed explicitly
    (``OPTIMIZERS``, ``MAXITER``), ``result.converged`` is checked together with statsmodels'
    convergence warnings and the positive definiteness of the fixed-effects covariance and of the
    random-effects covariance; a failed random-slope fit of a level falls back to a random
    intercept only for that level. statsmodels starts from the vectorized engine's optimum, so it
    only confirms it.
    """
    if engine not in ("auto", ENGINE_STATSMODELS, ENGINE_VECTORIZED):
        raise ParameterError(f"unknown engine {engine!r}")
    for role, column in (
        ("outcome", outcome),
        ("by", by),
        ("subject_col", subject_col),
        ("time_col", time_col),
    ):
        if column not in frame.columns:
            raise ParameterError(f"unknown {role} {column!r}: the frame has no such column")
    data = pd.DataFrame(
        {
            "subject": frame[subject_col],
            "months": pd.to_numeric(frame[time_col], errors="coerce"),
            "level": frame[by],
            "y": _numeric_outcome(frame[outcome], outcome),
        }
    ).dropna()
    if possible_col is not None:
        if possible_col not in frame.columns:
            raise ParameterError(f"unknown possible_col {possible_col!r}: no such column")
        data["possible"] = pd.to_numeric(frame.loc[data.index, possible_col], errors="coerce")
    _check_level_constant_within_subject(data, by)

    notes: list[str] = []
    chosen = _choose_levels(data, levels, by, notes)
    data = data[data["level"].isin(chosen)]
    if reference is None:
        reference = chosen[0]
    elif reference not in chosen:
        raise ParameterError(f"reference level {reference!r} is not among the levels {chosen!r}")
    _check_repeated_observations(data, chosen)

    exog, _ = _design(data, chosen, reference, by)
    constant_levels = _check_outcome_variance(data, exog, outcome, by, notes)
    if engine == "auto":
        n_subjects = data["subject"].nunique()
        engine = ENGINE_STATSMODELS if n_subjects <= STATSMODELS_MAX_SUBJECTS else ENGINE_VECTORIZED

    fits = [
        _fit_level(
            data[data["level"] == level],
            level,
            constant=level in constant_levels,
            outcome=outcome,
            by=by,
            engine=engine,
            notes=notes,
        )
        for level in chosen
    ]

    slopes = []
    df_slopes = []
    for fit in fits:
        estimate, ci_low, ci_high, _ = _t_interval(fit.slope, fit.variance, fit.df)
        slopes.append(
            {"level": _plain(fit.level), "slope": estimate, "ci_low": ci_low, "ci_high": ci_high}
        )
        df_slopes.append(
            {
                "level": _plain(fit.level),
                "se": None if fit.variance is None else as_float(math.sqrt(fit.variance)),
                "df": as_float(fit.df),
            }
        )
    differences = [
        _difference(fits[i], fits[j]) for i in range(len(fits)) for j in range(i + 1, len(fits))
    ]
    first = differences[0]
    dropout = _dropout(data, chosen, by, outcome, notes)
    return {
        "outcome": outcome,
        "by": by,
        "n_subjects": int(data["subject"].nunique()),
        "n_observations": len(data),
        "slopes": slopes,
        "slope_difference": {
            key: first[key] for key in ("levels", "estimate", "ci_low", "ci_high", "p")
        },
        "slope_differences": differences,
        "slope_test": _equal_slopes_test(fits),
        "df": {
            "method": DF_METHOD,
            "slopes": df_slopes,
            "slope_difference": {key: first[key] for key in ("levels", "se", "df")},
        },
        "random_effects": [fit.random_effects() for fit in fits],
        "dropout": dropout,
        "model": (
            MODEL_RANDOM_SLOPE
            if all(fit.model in (MODEL_RANDOM_SLOPE, MODEL_CONSTANT) for fit in fits)
            else MODEL_RANDOM_INTERCEPT
        ),
        "converged": True,
        "engine": engine,
        "warnings": notes,
    }


@dataclass(frozen=True)
class _LevelFit:
    """One level's REML fit: its slope, the slope's variance and Satterthwaite df."""

    level: Any
    model: str
    slope: float
    variance: float | None  # of the slope estimate, (outcome units per month)²
    df: float | None
    n_subjects: int
    n_observations: int
    cov_re: np.ndarray | None  # random-effects covariance in outcome units and months
    residual_variance: float | None

    def random_effects(self) -> dict[str, Any]:
        """Return the level's variance structure as plain JSON values."""
        intercept_sd = slope_sd = correlation = None
        if self.cov_re is not None:
            intercept_sd = as_float(math.sqrt(max(self.cov_re[0, 0], 0.0)))
            if self.cov_re.shape[0] > 1:
                slope_sd = as_float(math.sqrt(max(self.cov_re[1, 1], 0.0)))
                denominator = math.sqrt(max(self.cov_re[0, 0] * self.cov_re[1, 1], 0.0))
                if denominator > 0:
                    correlation = as_float(self.cov_re[0, 1] / denominator)
        residual_sd = None
        if self.residual_variance is not None:
            residual_sd = as_float(math.sqrt(max(self.residual_variance, 0.0)))
        return {
            "level": _plain(self.level),
            "model": self.model,
            "n_subjects": self.n_subjects,
            "n_observations": self.n_observations,
            "intercept_sd": intercept_sd,
            "slope_sd": slope_sd,
            "correlation": correlation,
            "residual_sd": residual_sd,
        }


def _fit_level(
    rows: pd.DataFrame,
    level: Any,
    *,
    constant: bool,
    outcome: str,
    by: str,
    engine: str,
    notes: list[str],
) -> _LevelFit:
    """Fit ``outcome ~ months`` with a random intercept and slope to one level's subjects."""
    n_subjects = int(rows["subject"].nunique())
    if constant:
        return _LevelFit(level, MODEL_CONSTANT, 0.0, None, None, n_subjects, len(rows), None, None)
    months = rows["months"].to_numpy(dtype=float)
    exog = pd.DataFrame({"Intercept": np.ones_like(months), "months": months}, index=rows.index)
    endog = rows["y"].to_numpy(dtype=float)
    groups = rows["subject"].to_numpy()
    exog_re = np.column_stack([np.ones_like(months), months])
    model_name = MODEL_RANDOM_SLOPE
    fit, problems = _fit_mixed(endog, exog, groups, exog_re, engine)
    if problems:
        notes.append(
            f"At {by} = {level} the random intercept and slope model did not converge cleanly ("
            + "; ".join(problems)
            + "); fitted a random intercept model instead, which assumes the same rate of change "
            "for every subject of that level"
        )
        model_name = MODEL_RANDOM_INTERCEPT
        fit, problems = _fit_mixed(endog, exog, groups, exog_re[:, :1], engine)
        if problems:
            raise _not_estimable(outcome, [f"{by} = {level}: {p}" for p in problems])
    assert fit is not None  # for mypy: no problems means a fit
    df = fit.slope_df
    if df is None:
        df = float(n_subjects - SLOPE_FIXED_EFFECTS)
        notes.append(
            f"At {by} = {level} the Satterthwaite degrees of freedom could not be computed (the "
            "information of the variance parameters is not positive definite); the slope's "
            f"interval uses the conservative {df:g} (subjects minus fixed effects of the level)"
        )
    # The slope is learnt from the level's subjects: never more df than between subjects, even
    # where the random-slope variance sits at or near its boundary (or was dropped there), when
    # Satterthwaite borrows the many within-subject df of the residual variance.
    df = min(df, float(n_subjects - 1))
    return _LevelFit(
        level=level,
        model=model_name,
        slope=float(fit.fe_params[1]),
        variance=float(fit.cov_fe[1, 1]),
        df=max(df, MIN_DF),
        n_subjects=n_subjects,
        n_observations=len(rows),
        cov_re=fit.cov_re_unscaled * fit.scale,
        residual_variance=fit.scale,
    )


def _t_interval(
    estimate: float | None, variance: float | None, df: float | None
) -> tuple[float | None, float | None, float | None, float | None]:
    """Return estimate, 95% t interval and two-sided t-test p of an estimate with its variance."""
    if estimate is None or variance is None or df is None:
        return as_float(estimate), None, None, None
    if not math.isfinite(variance) or variance <= 0 or not df > 0:
        return as_float(estimate), None, None, None
    se = math.sqrt(variance)
    quantile = float(stats.t.ppf(1 - ALPHA / 2, df))
    p = 2 * stats.t.sf(abs(estimate) / se, df)
    return (
        as_float(estimate),
        as_float(estimate - quantile * se),
        as_float(estimate + quantile * se),
        as_float(p),
    )


def _welch_df(variances: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch–Satterthwaite df of a sum of independent variance estimates."""
    return float(sum(variances) ** 2 / sum(v * v / d for v, d in zip(variances, dfs, strict=True)))


def _difference(first: _LevelFit, second: _LevelFit) -> dict[str, Any]:
    """Return ``second − first`` with a Welch–Satterthwaite t interval and p."""
    estimate = second.slope - first.slope
    variance = df = None
    if None not in (first.variance, second.variance, first.df, second.df):
        assert first.variance is not None and second.variance is not None  # for mypy
        assert first.df is not None and second.df is not None
        variance = first.variance + second.variance
        df = _welch_df([first.variance, second.variance], [first.df, second.df])
    value, ci_low, ci_high, p = _t_interval(estimate, variance, df)
    return {
        "levels": [_plain(first.level), _plain(second.level)],
        "estimate": value,
        "ci_low": ci_low,
        "ci_high": ci_high,
        "p": p,
        "se": None if variance is None else as_float(math.sqrt(variance)),
        "df": as_float(df),
    }


def _equal_slopes_test(fits: Sequence[_LevelFit]) -> dict[str, Any]:
    """Welch's (1951) heteroscedastic F test that all levels share one slope.

    ``F = [Σ w_g (b_g − b̄)² / (k − 1)] / [1 + 2 (k − 2) / (k² − 1) · Σ h_g]`` with
    ``w_g = 1 / V_g``, ``b̄`` the ``w``-weighted mean slope, ``h_g = (1 − w_g / Σw)² / df_g``,
    on ``k − 1`` and ``(k² − 1) / (3 Σ h_g)`` df: the joint Wald test of the ``k − 1`` slope
    contrasts (which is ``Σ w_g (b_g − b̄)²``) with a small-sample F reference.
    """
    answer: dict[str, Any] = {
        "statistic": None,
        "df": None,
        "p": None,
        "method": "Welch heteroscedastic F test of equal slopes (joint Wald test of the slope "
        "contrasts with Satterthwaite-type denominator df)",
    }
    if any(fit.variance is None or fit.df is None for fit in fits):
        answer["reason"] = "a level has no slope variance (constant outcome)"
        return answer
    slopes = np.array([fit.slope for fit in fits])
    weights = 1 / np.array([fit.variance for fit in fits], dtype=float)
    dfs = np.array([fit.df for fit in fits], dtype=float)
    k = len(fits)
    mean = float(weights @ slopes / weights.sum())
    wald = float(weights @ (slopes - mean) ** 2)
    h = float(np.sum((1 - weights / weights.sum()) ** 2 / dfs))
    statistic = wald / (k - 1) / (1 + 2 * (k - 2) / (k * k - 1) * h)
    df_denominator = (k * k - 1) / (3 * h)
    answer.update(
        statistic=as_float(statistic),
        df=[k - 1, as_float(df_denominator)],
        p=as_float(stats.f.sf(statistic, k - 1, df_denominator)),
    )
    return answer


def _subject_summary(data: pd.DataFrame) -> pd.DataFrame:
    """Per subject: level, number of distinct times, last time (months) and own OLS slope."""
    grouped = data.groupby("subject", sort=True)
    summary = pd.DataFrame(
        {
            "level": grouped["level"].first(),
            "n_times": grouped["months"].nunique(),
            "last": grouped["months"].max(),
        }
    )
    centred = data.assign(
        t=data["months"] - grouped["months"].transform("mean"),
        u=data["y"] - grouped["y"].transform("mean"),
    )
    sums = (
        centred.assign(tt=centred["t"] ** 2, tu=centred["t"] * centred["u"])
        .groupby("subject", sort=True)[["tt", "tu"]]
        .sum()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        summary["slope"] = np.where(sums["tt"] > 0, sums["tu"] / sums["tt"], np.nan)
    return summary


def _dropout(
    data: pd.DataFrame, levels: list[Any], by: str, outcome: str, notes: list[str]
) -> dict[str, Any]:
    """Count dropouts per level and test whether dropping out goes with the rate of change."""
    subjects = _subject_summary(data)
    ordered = data.sort_values(["subject", "months"])
    gaps = ordered.groupby("subject")["months"].diff()
    gaps = gaps[gaps > 0]
    interval = float(gaps.median()) if len(gaps) else float("nan")
    administrative = "possible" in data.columns
    if math.isfinite(interval) and interval > 0:
        grid_last = np.round(subjects["last"].to_numpy(dtype=float) / interval)
        expected = np.full(len(subjects), grid_last.max())
        if administrative:
            possible = data.groupby("subject", sort=True)["possible"].max()
            due = np.floor(
                (possible.reindex(subjects.index).to_numpy(float) - interval / 2) / interval
            )
            expected = np.where(np.isfinite(due), np.minimum(expected, due), expected)
        subjects["dropped"] = grid_last < expected
    else:
        subjects["dropped"] = False
    per_level = []
    for level in levels:
        rows = subjects[subjects["level"] == level]
        per_level.append(
            {"level": _plain(level), "n": len(rows), "dropped_out": int(rows["dropped"].sum())}
        )
    association = _dropout_association(subjects, levels)
    if association["p"] is not None and association["p"] < DROPOUT_ALPHA:
        notes.append(
            f"Dropout is associated with the rate of change of {outcome!r}: subjects who dropped "
            f"out changed by {association['estimate']:+.3g} per month relative to completers of "
            f"the same {by} (p = {association['p']:.2g}). The mixed model assumes dropout at "
            "random given the observed values and gives completers more weight, so its slopes "
            "and their difference may be biased; compare with dropout.sensitivity (pattern "
            "mixture by dropout pattern)."
        )
    elif association["ci_low"] is not None and association["ci_high"] is not None:
        rates = subjects.loc[subjects["slope"].notna()].groupby("level")["slope"].mean().abs()
        fastest = float(rates.max()) if len(rates) else 0.0
        bound = max(abs(association["ci_low"]), abs(association["ci_high"]))
        if fastest > 0 and bound >= DROPOUT_RULE_OUT_SHARE * fastest:
            dropped = int(subjects["dropped"].sum())
            notes.append(
                f"Informative dropout cannot be ruled out for {outcome!r}: {dropped} of "
                f"{len(subjects)} subjects dropped out, and although the test found no "
                f"association with the rate of change (p = {association['p']:.2g}), its 95% "
                f"interval ({association['ci_low']:+.3g} to {association['ci_high']:+.3g} per "
                f"month) allows dropouts to change by {bound / fastest:.0%} of the fastest "
                f"{by}'s mean rate relative to completers: too few subjects to tell. Compare the "
                "slopes with dropout.sensitivity (pattern mixture by dropout pattern)."
            )
    return {
        "definition": (
            "dropped_out: the subject's last observation lies on an earlier point of the visit "
            f"grid (median interval between visits, {interval:.3g} months) than "
            + (
                "the last visit the subject could have had by the data cut (whose window had "
                "closed), at most the latest follow-up observed: follow-up ended by the data cut "
                "is not dropout"
                if administrative
                else "the latest follow-up observed in the analysis"
            )
            if math.isfinite(interval)
            else "dropped_out: no subject has two distinct visit times"
        ),
        "visit_interval_months": as_float(interval),
        "per_level": per_level,
        "association": association,
        "sensitivity": _pattern_mixture(subjects, levels),
    }


def _dropout_association(subjects: pd.DataFrame, levels: list[Any]) -> dict[str, Any]:
    """Regress subjects' own slopes on level and dropout (HC3 errors, t test)."""
    with_slope = subjects[subjects["slope"].notna()]
    dropped = with_slope["dropped"].to_numpy(dtype=bool)
    answer: dict[str, Any] = {
        "method": "OLS of each subject's own least-squares slope on the level and a dropout "
        "indicator, HC3 standard errors, t test",
        "estimate": None,
        "ci_low": None,
        "ci_high": None,
        "p": None,
        "n_dropped_with_slope": int(dropped.sum()),
        "n_completers_with_slope": int((~dropped).sum()),
        "reason": None,
    }
    if dropped.sum() < MIN_PER_PATTERN or (~dropped).sum() < MIN_PER_PATTERN:
        answer["reason"] = (
            f"fewer than {MIN_PER_PATTERN} dropouts or completers with two or more visits"
        )
        return answer
    columns = [np.ones(len(with_slope))]
    columns += [(with_slope["level"] == level).to_numpy(dtype=float) for level in levels[1:]]
    columns.append(dropped.astype(float))
    design = np.column_stack(columns)
    if np.linalg.matrix_rank(design) < design.shape[1] or len(design) <= design.shape[1] + 1:
        answer["reason"] = "dropout cannot be separated from the level (all or none per level)"
        return answer
    result = OLS(with_slope["slope"].to_numpy(dtype=float), design).fit(cov_type="HC3", use_t=True)
    estimate = float(result.params[-1])
    ci_low, ci_high = (float(v) for v in np.asarray(result.conf_int(alpha=ALPHA))[-1])
    answer.update(
        estimate=as_float(estimate),
        ci_low=as_float(ci_low),
        ci_high=as_float(ci_high),
        p=as_float(result.pvalues[-1]),
    )
    return answer


def _pattern_mixture(subjects: pd.DataFrame, levels: list[Any]) -> dict[str, Any]:
    """Pattern-mixture slope per level: pattern means of own slopes weighted by pattern shares."""
    rows_out = []
    estimates: dict[Any, tuple[float, float | None, int]] = {}
    for level in levels:
        rows = subjects[(subjects["level"] == level) & subjects["slope"].notna()]
        patterns = {}
        for name, member in (("completers", ~rows["dropped"]), ("dropouts", rows["dropped"])):
            chosen = rows.loc[member, "slope"]
            patterns[name] = {
                "n": len(chosen),
                "slope": as_float(chosen.mean()) if len(chosen) else None,
            }
        values = rows["slope"].to_numpy(dtype=float)
        n = len(values)
        # Pattern means weighted by the patterns' shares = the mean of the subjects' slopes.
        slope = float(values.mean()) if n else float("nan")
        variance = float(values.var(ddof=1)) / n if n > 1 else None
        estimate, ci_low, ci_high, _ = _t_interval(slope, variance, n - 1 if n > 1 else None)
        estimates[level] = (slope, variance, n)
        rows_out.append(
            {
                "level": _plain(level),
                **patterns,
                "slope": estimate,
                "ci_low": ci_low,
                "ci_high": ci_high,
            }
        )
    (a, (slope_a, var_a, n_a)), (b, (slope_b, var_b, n_b)) = list(estimates.items())[:2]
    variance = df = None
    if var_a is not None and var_b is not None and var_a + var_b > 0:
        variance = var_a + var_b
        df = _welch_df([var_a, var_b], [n_a - 1, n_b - 1])
    estimate, ci_low, ci_high, p = _t_interval(slope_b - slope_a, variance, df)
    return {
        "method": "pattern mixture by dropout pattern (completers, dropouts): mean of the "
        "subjects' own least-squares slopes per pattern, weighted by the pattern's share of the "
        "level's subjects with two or more visits; t interval (n − 1 df), Welch for the difference",
        "slopes": rows_out,
        "slope_difference": {
            "levels": [_plain(a), _plain(b)],
            "estimate": estimate,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "p": p,
        },
    }


def _satterthwaite_df(
    statistics: _SufficientStatistics, psi: np.ndarray, contrast: np.ndarray
) -> float | None:
    """Satterthwaite df of ``contrast' β̂`` at the REML optimum with relative covariance ``psi``.

    The variance parameters are ``θ = (σ², lower triangle of D = σ² Ψ)``; ``df = 2 f² /
    (∇f' H⁻¹ ∇f)`` with ``f(θ) = σ² c' (X'V⁻¹X)⁻¹ c`` and ``H`` the Hessian of the negative REML
    log-likelihood in θ. Invariant to the parametrization at an interior optimum, so it is
    computed on the standardized problem. Returns None where H is not positive definite.
    """
    q = psi.shape[0]
    rows, cols = np.tril_indices(q)
    n_free = statistics.n_obs - statistics.k_fe
    try:
        xtvix, xtviy, ytviy, _ = statistics.terms(psi)
        beta = np.linalg.solve(xtvix, xtviy)
    except np.linalg.LinAlgError:
        return None
    sigma2 = float(ytviy - beta @ xtviy) / n_free
    if not sigma2 > 0:
        return None
    covariance = sigma2 * psi
    theta = np.concatenate([[sigma2], covariance[rows, cols]])

    def unpack(values: np.ndarray) -> tuple[float, np.ndarray]:
        lower = np.zeros((q, q))
        lower[rows, cols] = values[1:]
        full = lower + np.tril(lower, -1).T
        return float(values[0]), full / values[0]

    def negative_loglik(values: np.ndarray) -> float:
        s2, relative = unpack(values)
        xtvix, xtviy, ytviy, logdet = statistics.terms(relative)
        beta = np.linalg.solve(xtvix, xtviy)
        _, logdet_xtvix = np.linalg.slogdet(xtvix)
        quadratic = float(ytviy - beta @ xtviy)
        return 0.5 * (n_free * math.log(s2) + logdet + float(logdet_xtvix) + quadratic / s2)

    def variance(values: np.ndarray) -> float:
        s2, relative = unpack(values)
        xtvix = statistics.terms(relative)[0]
        return s2 * float(contrast @ np.linalg.solve(xtvix, contrast))

    diagonal = np.concatenate([[sigma2], np.diag(covariance)[rows]])
    other = np.concatenate([[sigma2], np.diag(covariance)[cols]])
    steps = SATTERTHWAITE_STEP * np.maximum(np.sqrt(np.abs(diagonal * other)), 1e-8 * sigma2)
    try:
        hessian = _numerical_hessian(negative_loglik, theta, steps)
        gradient = _numerical_gradient(variance, theta, steps)
        eigenvalues = np.linalg.eigvalsh(hessian)
        if not np.all(np.isfinite(hessian)) or eigenvalues.min() <= 0:
            return None
        spread = float(gradient @ np.linalg.solve(hessian, gradient))
    except (np.linalg.LinAlgError, ValueError, ZeroDivisionError):
        return None
    value = variance(theta)
    if not spread > 0 or not math.isfinite(spread):
        return None
    return float(min(2 * value * value / spread, n_free))


def _check_outcome_variance(
    data: pd.DataFrame, exog: pd.DataFrame, outcome: str, by: str, notes: list[str]
) -> set[Any]:
    """Refuse an outcome without variance to model; note and return levels whose outcome is
    constant.

    Checked before any fit because both engines otherwise spend from milliseconds (vectorized) to
    minutes (statsmodels, measured: 5 minutes on 60 subjects) before failing on a singular matrix.
    """
    values = data["y"].to_numpy(dtype=float)
    magnitude = max(1.0, float(np.abs(values).max()))
    spread = float(values.std())
    if spread <= CONSTANT_TOLERANCE * magnitude:
        raise DegenerateModelError(
            f"The outcome {outcome!r} has the same value ({values[0]:g}) in all "
            f"{len(values)} observations, so there is no variance for a mixed model to describe "
            "and no rate of change to estimate; check that the right outcome was chosen and that "
            "it was recorded at each visit."
        )
    design = exog.to_numpy(dtype=float)
    coefficients, *_ = np.linalg.lstsq(design, values, rcond=None)
    residual_sd = float((values - design @ coefficients).std())
    if residual_sd <= CONSTANT_TOLERANCE * spread:
        raise DegenerateModelError(
            f"The outcome {outcome!r} is an exact straight line in months within every level of "
            f"{by!r} (no residual variance), so subjects do not differ and a mixed model is not "
            "identified; such values are usually computed or imputed rather than measured: check "
            "how they were entered."
        )
    constant = set()
    for level, rows in data.groupby("level", sort=True):
        level_values = rows["y"].to_numpy(dtype=float)
        if float(level_values.std()) <= CONSTANT_TOLERANCE * magnitude:
            constant.add(level)
            notes.append(
                f"The outcome {outcome!r} is {level_values[0]:g} in every observation at "
                f"{by} = {level}, so its slope is 0 by construction, without an interval, and "
                "its differences from other levels have no interval or p either; read it as a "
                "ceiling or floor of the scale, not as a measured absence of change."
            )
    return constant


def _not_estimable(outcome: str, problems: list[str]) -> InsufficientDataError:
    """Return the error for a model that failed with both random-effects structures."""
    reasons = "; ".join(problems)
    if any(ZERO_VARIANCE_REASON in problem for problem in problems):
        return DegenerateModelError(
            f"The mixed model of {outcome!r} is degenerate: the variance between subjects is "
            "estimated as zero even with a random intercept alone, so subjects do not differ "
            "beyond the residual noise and the model's slopes and intervals cannot be trusted. "
            "Check that each subject's visits carry that subject's own measurements (not copies "
            "or level averages), or compare the levels with an ordinary regression "
            f"({reasons})."
        )
    if any(problem.startswith("the linear algebra") for problem in problems):
        return DegenerateModelError(
            f"The mixed model of {outcome!r} is degenerate: a matrix of the fit is singular, "
            "which happens when the design or the outcome leaves a parameter undetermined (for "
            "example all visits of a level at the same month). Check the visit months and the "
            f"outcome of each level ({reasons})."
        )
    return InsufficientDataError(
        f"The mixed model of {outcome!r} did not converge with a random intercept and slope nor "
        f"with a random intercept alone ({reasons}); more subjects or visits are needed."
    )


def _numeric_outcome(values: pd.Series, outcome: str) -> pd.Series:
    """Return the outcome as floats, refusing a non-numeric column rather than guessing."""
    if pd.api.types.is_bool_dtype(values) or not (
        pd.api.types.is_numeric_dtype(values) or values.dropna().empty
    ):
        converted = pd.to_numeric(values, errors="coerce")
        if converted.notna().sum() < values.notna().sum():
            raise ParameterError(f"outcome {outcome!r} must be numeric")
        return converted.astype(float)
    return values.astype(float)


def _check_level_constant_within_subject(data: pd.DataFrame, by: str) -> None:
    """Raise when a subject carries several levels: the model needs one level per subject."""
    per_subject = data.groupby("subject")["level"].nunique()
    mixed = per_subject[per_subject > 1]
    if not mixed.empty:
        examples = ", ".join(str(s) for s in mixed.index[:5])
        raise ParameterError(f"{by!r} must be constant within a subject; it varies for {examples}")


def _choose_levels(
    data: pd.DataFrame, levels: Sequence[Any] | None, by: str, notes: list[str]
) -> list[Any]:
    """Return the analysed levels in order, enforcing the minimum number of subjects."""
    subjects_per_level = data.groupby("level")["subject"].nunique()
    if levels is not None:
        chosen = list(levels)
        if len(chosen) < 2:
            raise ParameterError(f"at least two levels of {by!r} are needed, got {chosen!r}")
        if len(set(chosen)) != len(chosen):
            raise ParameterError(f"levels of {by!r} are repeated: {chosen!r}")
        for level in chosen:
            n = int(subjects_per_level.get(level, 0))
            if n < MIN_SUBJECTS_PER_LEVEL:
                raise InsufficientDataError(
                    f"{by} = {level}: {n} subject(s) with data, at least "
                    f"{MIN_SUBJECTS_PER_LEVEL} are needed for a slope"
                )
        return chosen
    chosen = []
    for level in sorted(subjects_per_level.index):
        n = int(subjects_per_level[level])
        if n >= MIN_SUBJECTS_PER_LEVEL:
            chosen.append(level)
        else:
            notes.append(
                f"{by} = {level} left out: {n} subject(s) with data, at least "
                f"{MIN_SUBJECTS_PER_LEVEL} are needed"
            )
    if len(chosen) < 2:
        raise InsufficientDataError(
            f"at least two levels of {by!r} with {MIN_SUBJECTS_PER_LEVEL} or more subjects with "
            f"data are needed; found {len(chosen)}"
        )
    return chosen


def _check_repeated_observations(data: pd.DataFrame, levels: list[Any]) -> None:
    """Raise unless most subjects, and some in every level, have two or more time points."""
    distinct_times = data.groupby("subject")["months"].nunique()
    repeated = distinct_times >= 2
    if repeated.mean() < MIN_SHARE_WITH_REPEATS:
        raise InsufficientDataError(
            f"only {int(repeated.sum())} of {len(repeated)} subjects have two or more visits with "
            "the outcome; a rate of change needs repeated observations"
        )
    level_of = data.groupby("subject")["level"].first()
    for level in levels:
        if not repeated[level_of == level].any():
            raise InsufficientDataError(
                f"no subject of level {level} has two or more visits with the outcome"
            )


def _design(
    data: pd.DataFrame, levels: list[Any], reference: Any, by: str
) -> tuple[pd.DataFrame, dict[Any, np.ndarray]]:
    """Return the fixed-effects design (treatment coding) and each level's slope contrast."""
    months = data["months"].to_numpy(dtype=float)
    columns: dict[str, np.ndarray] = {
        "Intercept": np.ones_like(months),
        "months": months,
    }
    others = [level for level in levels if level != reference]
    for level in others:
        indicator = (data["level"] == level).to_numpy(dtype=float)
        columns[f"{by}[{level}]"] = indicator
        columns[f"months:{by}[{level}]"] = indicator * months
    exog = pd.DataFrame(columns, index=data.index)
    k_fe = exog.shape[1]
    contrasts = {}
    for level in levels:
        vector = np.zeros(k_fe)
        vector[1] = 1.0  # the reference level's slope
        if level != reference:
            vector[exog.columns.get_loc(f"months:{by}[{level}]")] = 1.0
        contrasts[level] = vector
    return exog, contrasts


@dataclass(frozen=True)
class _MixedFit:
    """What the answer needs from a converged REML fit, whichever engine produced it."""

    fe_params: np.ndarray
    cov_fe: np.ndarray
    cov_re_unscaled: np.ndarray
    scale: float  # residual variance
    converged: bool
    engine: str
    slope_df: float | None = None  # Satterthwaite df of fe_params[slope_column]


def _fit_mixed(
    endog: np.ndarray,
    exog: pd.DataFrame,
    groups: np.ndarray,
    exog_re: np.ndarray,
    engine: str,
    slope_column: int = 1,
) -> tuple[_MixedFit | None, list[str]]:
    """Fit one REML mixed model; return the fit and the reasons it cannot be trusted.

    The fit carries the Satterthwaite df of the fixed effect in ``slope_column`` (the months
    column, whose standardized version is the same effect times a constant)."""
    design = exog.to_numpy(dtype=float)
    statistics = _SufficientStatistics.build(endog, design, exog_re, groups)
    standardized, to_original = _standardized(endog, exog, exog_re, groups)
    if engine == "auto":
        n_subjects = statistics.ztz.shape[0]
        engine = ENGINE_STATSMODELS if n_subjects <= STATSMODELS_MAX_SUBJECTS else ENGINE_VECTORIZED
    try:
        standard_packed, converged = _optimize_reml(
            standardized, exact_gradient=engine == ENGINE_VECTORIZED
        )
        if standard_packed is not None:
            # Both engines share this optimum: at a zero variance (or a perfect correlation) the
            # random-effects structure is not identified, and statsmodels would spend seconds
            # and then fail on a singular matrix; the vectorized engine's Cholesky would fail.
            boundary = _degenerate_random_effects(_psi(standard_packed, to_original), exog_re)
            if boundary and (converged or engine == ENGINE_VECTORIZED):
                return None, boundary
        if engine == ENGINE_STATSMODELS:
            start = None
            if standard_packed is not None:
                with contextlib.suppress(np.linalg.LinAlgError):
                    start = _convert_packed(standard_packed, to_original)
            fit, problems = _fit_statsmodels(endog, exog, groups, exog_re, start)
        else:
            fit, problems = _fit_vectorized(
                statistics, standardized, standard_packed, converged, to_original
            )
        if fit is not None:
            if not np.all(np.isfinite(fit.cov_fe)) or np.linalg.eigvalsh(fit.cov_fe).min() <= 0:
                problems.append("the fixed-effects covariance is not positive definite")
            problems.extend(_degenerate_random_effects(fit.cov_re_unscaled, exog_re))
            if not problems:
                inverse = np.linalg.inv(to_original)
                psi_standard = inverse @ fit.cov_re_unscaled @ inverse.T
                contrast = np.zeros(exog.shape[1])
                contrast[slope_column] = 1.0
                fit = replace(fit, slope_df=_satterthwaite_df(standardized, psi_standard, contrast))
    except np.linalg.LinAlgError as exc:
        return None, [f"the linear algebra of the fit failed ({exc})"]
    return fit, list(dict.fromkeys(problems))


def _fit_statsmodels(
    endog: np.ndarray,
    exog: pd.DataFrame,
    groups: np.ndarray,
    exog_re: np.ndarray,
    start: np.ndarray | None,
) -> tuple[_MixedFit | None, list[str]]:
    """Fit with statsmodels MixedLM, started at the vectorized REML optimum ``start``."""
    model = MixedLM(endog, exog, groups=groups, exog_re=exog_re)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = model.fit(
                start_params=start, reml=True, method=list(OPTIMIZERS), maxiter=MAXITER
            )
        except np.linalg.LinAlgError as exc:
            return None, [f"the linear algebra of the fit failed ({exc})"]
        except ValueError as exc:
            return None, [f"the fit failed: {exc}"]
    problems: list[str] = []
    if not result.converged:
        problems.append("the optimizer stopped before convergence")
    for caught_warning in caught:
        message = str(caught_warning.message)
        # The boundary warning compares variances with 0.01 in the outcome's own units, so it
        # fires for any small-valued outcome; degeneracy is judged on a relative scale instead
        # (_degenerate_random_effects). "Retrying" only announces the next optimizer, whose own
        # outcome is checked.
        if (
            issubclass(caught_warning.category, ConvergenceWarning)
            and not ("boundary" in message or message.startswith("Retrying"))
        ) or "singular" in message.lower():
            problems.append(message.rstrip("."))
    k_fe = exog.shape[1]
    fit = _MixedFit(
        fe_params=np.asarray(result.fe_params, dtype=float),
        cov_fe=np.asarray(result.cov_params(), dtype=float)[:k_fe, :k_fe],
        cov_re_unscaled=np.asarray(result.cov_re_unscaled, dtype=float),
        scale=float(result.scale),
        converged=bool(result.converged),
        engine=ENGINE_STATSMODELS,
    )
    return fit, problems


def _fit_vectorized(
    statistics: _SufficientStatistics,
    standardized: _SufficientStatistics,
    standard_packed: np.ndarray | None,
    converged: bool,
    to_original: np.ndarray,
) -> tuple[_MixedFit | None, list[str]]:
    """Fit by optimizing statsmodels' profiled REML criterion on batched per-subject algebra.

    The same convergence rule as the statsmodels engine: optimizers in turn (L-BFGS-B, then
    Powell), convergence checked on the optimizer's report and on the gradient, and the Hessian of
    the criterion at the optimum must be positive definite. The fixed-effects covariance is the
    REML Wald covariance ``scale · (X' V⁻¹ X)⁻¹``; statsmodels inverts the full observed Hessian
    instead, which agrees to about 1e-7 relative at the optimum (tests/analysis/stats).
    ``standard_packed`` and ``converged`` are :func:`_optimize_reml`'s answer on ``standardized``.
    """
    if standard_packed is None:
        return None, ["the optimizer found no finite optimum"]
    problems: list[str] = []
    if not converged:
        problems.append("the optimizer stopped before convergence")
    gradient = _numerical_gradient(standardized.criterion, standard_packed)
    if not np.all(np.isfinite(gradient)) or np.abs(gradient).max() > GRADIENT_TOLERANCE:
        problems.append(f"the gradient at the optimum is not zero (|grad| = {_norm(gradient):g})")
    hessian = _numerical_hessian(standardized.criterion, standard_packed)
    if not np.all(np.isfinite(hessian)) or np.linalg.eigvalsh(hessian).min() <= 0:
        problems.append(
            "The Hessian matrix at the estimated parameter values is not positive definite"
        )
    packed = _convert_packed(standard_packed, to_original)
    beta, xtvix, quadratic = statistics.profile(packed)
    scale = quadratic / (statistics.n_obs - statistics.k_fe)
    k_re = statistics.ztz.shape[1]
    factor = np.zeros((k_re, k_re))
    factor[np.tril_indices(k_re)] = packed
    fit = _MixedFit(
        fe_params=beta,
        cov_fe=scale * np.linalg.inv(xtvix),
        cov_re_unscaled=factor @ factor.T,
        scale=scale,
        converged=converged,
        engine=ENGINE_VECTORIZED,
    )
    return fit, problems


def _degenerate_random_effects(cov_re_unscaled: np.ndarray, exog_re: np.ndarray) -> list[str]:
    """Return reasons the random-effects covariance is degenerate, judged relative to its scale."""
    if not np.all(np.isfinite(cov_re_unscaled)):
        return ["the random-effects covariance is not finite"]
    # Variance each random effect adds to an observation, in units of the residual variance.
    spread = np.mean(exog_re**2, axis=0)
    contribution = np.diag(cov_re_unscaled) * spread
    if contribution.min() < DEGENERATE_TOLERANCE:
        return [ZERO_VARIANCE_REASON]
    if cov_re_unscaled.shape[0] > 1:
        sd = np.sqrt(np.diag(cov_re_unscaled))
        correlation = cov_re_unscaled / np.outer(sd, sd)
        if np.linalg.eigvalsh(correlation).min() < DEGENERATE_TOLERANCE:
            return ["the random intercept and slope are perfectly correlated"]
    return []


@dataclass(frozen=True)
class _SufficientStatistics:
    """Per-subject cross-products from which the REML criterion is evaluated without a loop.

    With ``V_i = I + Z_i Ψ Z_i'`` (Ψ = random-effects covariance / residual variance), Woodbury
    gives ``V_i⁻¹ = I − Z_i (I + Ψ Z_i'Z_i)⁻¹ Ψ Z_i'`` and ``|V_i| = |I + Ψ Z_i'Z_i|``, so every
    term needs only the q×q, q×p and q×1 products below (q random effects, p fixed effects).
    statsmodels loops over subjects in Python instead (about 0.1 ms per subject and pass).
    """

    xtx: np.ndarray  # (p, p) summed over subjects
    xty: np.ndarray  # (p,)
    yty: float
    ztz: np.ndarray  # (G, q, q) per subject
    ztx: np.ndarray  # (G, q, p)
    zty: np.ndarray  # (G, q)
    n_obs: int
    k_fe: int
    # Subjects often share their Z_i'Z_i and Z_i'X_i (the same visit schedule): the distinct
    # pairs ((U, q, q) and (U, q, p)) and each subject's index among them (G,), or None where
    # nearly every subject differs.
    ztz_distinct: np.ndarray | None = None
    ztx_distinct: np.ndarray | None = None
    ztz_index: np.ndarray | None = None

    @classmethod
    def build(
        cls, endog: np.ndarray, exog: np.ndarray, exog_re: np.ndarray, groups: np.ndarray
    ) -> _SufficientStatistics:
        """Compute the cross-products from the long arrays (one row per observation)."""
        _, codes = np.unique(groups, return_inverse=True)
        n_groups = int(codes.max()) + 1
        k_re, k_fe = exog_re.shape[1], exog.shape[1]

        def per_subject(values: np.ndarray) -> np.ndarray:
            """Sum rows of ``values`` (n, ...) within subjects → (G, ...)."""
            summed = np.zeros((n_groups, *values.shape[1:]))
            np.add.at(summed, codes, values)
            return summed

        ztz = per_subject(exog_re[:, :, None] * exog_re[:, None, :]).reshape(n_groups, k_re, k_re)
        ztx = per_subject(exog_re[:, :, None] * exog[:, None, :]).reshape(n_groups, k_re, k_fe)
        zty = per_subject(exog_re * endog[:, None])
        # Distinct by their bits (not by value: 0.0 and -0.0 stay apart), so that each subject
        # gets exactly the numbers its own matrix would give.
        bits = np.ascontiguousarray(
            np.concatenate([ztz.reshape(n_groups, -1), ztx.reshape(n_groups, -1)], axis=1)
        ).view(np.int64)
        _, first, index = np.unique(bits, axis=0, return_index=True, return_inverse=True)
        shared = len(first) <= n_groups // 2
        return cls(
            xtx=exog.T @ exog,
            xty=exog.T @ endog,
            yty=float(endog @ endog),
            ztz=ztz,
            ztx=ztx,
            zty=zty,
            n_obs=len(endog),
            k_fe=k_fe,
            ztz_distinct=np.ascontiguousarray(ztz[first]) if shared else None,
            ztx_distinct=np.ascontiguousarray(ztx[first]) if shared else None,
            ztz_index=index.reshape(-1) if shared else None,
        )

    def _terms(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Return X'V⁻¹X, X'V⁻¹y, y'V⁻¹y and Σ log|V_i| for the packed Cholesky factor of Ψ."""
        return self.terms(self._covariance(packed))

    def terms(self, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Return X'V⁻¹X, X'V⁻¹y, y'V⁻¹y and Σ log|V_i| for Ψ itself (q × q, symmetric)."""
        k_re = self.ztz.shape[1]
        # Subjects with the same Z'Z and Z'X share (I + ΨZ'Z), its inverse and their products:
        # each distinct one is computed once and handed to its subjects (the same numbers, bit
        # for bit, as computing every subject's own: the batched solve, determinant and matrix
        # product treat each matrix on its own).
        index = self.ztz_index
        if index is not None and self.ztz_distinct is not None and self.ztx_distinct is not None:
            ztz, ztx = self.ztz_distinct, self.ztx_distinct
        else:
            ztz, ztx, index = self.ztz, self.ztx, None
        inner = np.eye(k_re) + psi @ ztz  # (G or U, q, q)
        adjust = np.linalg.solve(inner, np.broadcast_to(psi, inner.shape))  # (I + ΨZ'Z)⁻¹Ψ
        sign, logdet = np.linalg.slogdet(inner)
        adjust_zx = adjust @ ztx
        if index is not None:
            # Every distinct matrix belongs to some subject: its sign is checked below as is.
            adjust = np.take(adjust, index, axis=0)
            adjust_zx = np.take(adjust_zx, index, axis=0)
            logdet = np.take(logdet, index)
        adjust_zy = np.einsum("gij,gj->gi", adjust, self.zty)
        xtvix = self.xtx - np.einsum("gqp,gqr->pr", self.ztx, adjust_zx)
        xtviy = self.xty - np.einsum("gqp,gq->p", self.ztx, adjust_zy)
        ytviy = self.yty - float(np.einsum("gq,gq->", self.zty, adjust_zy))
        if np.any(sign <= 0):
            raise np.linalg.LinAlgError("a subject's covariance is not positive definite")
        return xtvix, xtviy, ytviy, float(logdet.sum())

    def profile(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """Return the GLS fixed effects, X'V⁻¹X and the residual quadratic form r'V⁻¹r."""
        xtvix, xtviy, ytviy, _ = self._terms(packed)
        beta = np.linalg.solve(xtvix, xtviy)
        return beta, xtvix, float(ytviy - beta @ xtviy)

    def criterion(self, packed: np.ndarray) -> float:
        """Negative profiled REML log-likelihood per observation, constants dropped."""
        return self._criterion(self._covariance(packed))[0]

    def _covariance(self, packed: np.ndarray) -> np.ndarray:
        """Ψ = LL' of the packed lower triangle L."""
        k_re = self.ztz.shape[1]
        factor = np.zeros((k_re, k_re))
        factor[_tril_indices(k_re)] = packed
        return factor @ factor.T

    def _criterion(
        self, psi: np.ndarray
    ) -> tuple[float, tuple[np.ndarray, np.ndarray, float] | None]:
        """The criterion at Ψ, with X'V⁻¹X, β̂ and r'V⁻¹r where it is feasible."""
        try:
            xtvix, xtviy, ytviy, logdet = self.terms(psi)
            beta = np.linalg.solve(xtvix, xtviy)
        except np.linalg.LinAlgError:
            return INFEASIBLE, None
        quadratic = ytviy - beta @ xtviy
        sign, logdet_xtvix = np.linalg.slogdet(xtvix)
        if quadratic <= 0 or sign <= 0:
            return INFEASIBLE, None
        value = (self.n_obs - self.k_fe) * math.log(quadratic) + logdet + logdet_xtvix
        return float(0.5 * value / self.n_obs), (xtvix, beta, float(quadratic))

    def criterion_and_gradient(self, packed: np.ndarray) -> tuple[float, np.ndarray]:
        """:meth:`criterion` and its exact gradient with respect to ``packed``.

        With ``B_i = I + Z_i'Z_i Ψ``, ``Z_i'V_i⁻¹Z_i = B_i⁻¹Z_i'Z_i``, ``Z_i'V_i⁻¹X_i = B_i⁻¹Z_i'X_i``
        and ``Z_i'V_i⁻¹r_i = B_i⁻¹Z_i'r_i`` (r the GLS residual); the derivative of the criterion
        with respect to Ψ is ``G = (Σ B_i⁻¹Z_i'Z_i − (n−p)/Q Σ u_i u_i' − Σ W_i A⁻¹ W_i') / 2n`` with
        ``u_i = B_i⁻¹Z_i'r_i``, ``W_i = B_i⁻¹Z_i'X_i``, ``A = X'V⁻¹X`` and ``Q = r'V⁻¹r`` (β̂ is
        profiled, so it does not move the derivative), and ``Ψ = LL'`` gives ``2GL`` for the
        lower triangle of L. Where the criterion is infeasible the gradient is zero.
        """
        k_re = self.ztz.shape[1]
        rows, columns = _tril_indices(k_re)
        factor = np.zeros((k_re, k_re))
        factor[rows, columns] = packed
        psi = factor @ factor.T
        value, fitted = self._criterion(psi)
        if fitted is None:
            return value, np.zeros_like(packed)
        xtvix, beta, quadratic = fitted
        # As in terms(): each distinct schedule's matrices once, handed to its subjects, then
        # summed over subjects in the same order either way (the same bits as unshared).
        index = self.ztz_index
        if index is not None and self.ztz_distinct is not None and self.ztx_distinct is not None:
            ztz, ztx = self.ztz_distinct, self.ztx_distinct
        else:
            ztz, ztx, index = self.ztz, self.ztx, None
        inverse = np.linalg.solve(
            np.eye(k_re) + ztz @ psi, np.broadcast_to(np.eye(k_re), ztz.shape)
        )  # B⁻¹
        ztv_z = inverse @ ztz
        ztv_x = inverse @ ztx
        if index is not None:
            inverse = np.take(inverse, index, axis=0)
            ztv_z = np.take(ztv_z, index, axis=0)
            ztv_x = np.take(ztv_x, index, axis=0)
        # Thousands of q×q products: as flat 2-D products and broadcasts, not batched matmuls.
        n_groups, k_fe = len(self.ztx), self.k_fe
        residual_z = self.zty - (self.ztx.reshape(-1, k_fe) @ beta).reshape(n_groups, k_re)
        ztv_r = np.einsum("gij,gj->gi", inverse, residual_z)
        a_inverse = np.linalg.inv(xtvix)
        weighted = (ztv_x.reshape(-1, k_fe) @ a_inverse).reshape(n_groups, k_re, k_fe)
        derivative = (
            ztv_z.sum(axis=0)
            - (self.n_obs - self.k_fe) / quadratic * (ztv_r.T @ ztv_r)
            - np.tensordot(weighted, ztv_x, axes=([0, 2], [0, 2]))
        )
        derivative = (derivative + derivative.T) / (4.0 * self.n_obs)
        return value, (2.0 * derivative @ factor)[rows, columns]


@functools.cache
def _tril_indices(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.tril_indices(size)``, built once per size (the criterion packs Ψ at every call)."""
    rows, columns = np.tril_indices(size)
    rows.flags.writeable = columns.flags.writeable = False
    return rows, columns


def _optimize_reml(
    statistics: _SufficientStatistics, *, exact_gradient: bool = False
) -> tuple[np.ndarray | None, bool]:
    """Minimize the REML criterion over statsmodels' packed Cholesky factor of Ψ.

    Returns the optimum (None when none is finite) and whether the last optimizer converged.
    Optimizers are tried in turn, each from where the previous one stopped. With
    ``exact_gradient`` L-BFGS-B gets :meth:`_SufficientStatistics.criterion_and_gradient`
    (the vectorized engine, for large studies: with finite differences it often stops on their
    noise, "ABNORMAL", and Powell has to finish, at over a thousand evaluations of the
    criterion); otherwise finite differences, as the start that statsmodels refines. Where the
    criterion has no interior optimum (no residual variance left) the exact gradient follows it
    much further towards the boundary, so small studies keep the start they always had.
    """
    k_re = statistics.ztz.shape[1]
    packed = np.eye(k_re)[np.tril_indices(k_re)]
    converged = False
    for method in VECTORIZED_OPTIMIZERS:
        options: dict[str, Any] = {"maxiter": MAXITER}
        if method == "L-BFGS-B":
            # With the exact gradient, stop on the gradient (its noise is far below finite
            # differences'), not on a relative change of the criterion near machine precision.
            options.update(ftol=0.0 if exact_gradient else 1e-15, gtol=1e-10)
        else:
            options.update(xtol=1e-10, ftol=1e-14)
        if method == "L-BFGS-B" and exact_gradient:
            fitted = optimize.minimize(
                statistics.criterion_and_gradient,
                packed,
                method=method,
                jac=True,
                options=options,
            )
        else:
            fitted = optimize.minimize(statistics.criterion, packed, method=method, options=options)
        if not np.all(np.isfinite(fitted.x)) or fitted.fun >= INFEASIBLE:
            continue
        packed = np.asarray(fitted.x, dtype=float)
        converged = bool(fitted.success)
        if converged:
            break
    if statistics.criterion(packed) >= INFEASIBLE:
        return None, False
    return packed, converged


def _standardized(
    endog: np.ndarray, exog: pd.DataFrame, exog_re: np.ndarray, groups: np.ndarray
) -> tuple[_SufficientStatistics, np.ndarray]:
    """Return statistics of a standardized copy of the problem and the map back to months.

    The outcome is centred and scaled and months are centred and scaled. The REML criterion is
    unchanged up to a constant (the design spans the centring, and Ψ is relative to the residual
    variance), but the cross-products lose far fewer digits to cancellation; on raw data (outcome
    about 30, 10,000 subjects) the criterion is noisy at 1e-11 and the optimizer stops on noise.
    Returns the statistics and the matrix ``B`` with ``Z_std = Z B``, so that ``Ψ = B Ψ_std B'``.
    """
    k_re = exog_re.shape[1]
    months = exog["months"].to_numpy(dtype=float)
    centre = float(months.mean())
    spread = float(months.std()) or 1.0
    standard_months = (months - centre) / spread
    design = exog.to_numpy(dtype=float).copy()
    for j, name in enumerate(exog.columns):
        if name == "months":
            design[:, j] = standard_months
        elif name.startswith("months:"):
            # the level indicator precedes its interaction column (see _design)
            design[:, j] = design[:, j - 1] * standard_months
    # Z_std = Z @ B with B mapping [1, months] to [1, (months - centre) / spread].
    mapping = np.eye(k_re)
    if k_re > 1:
        mapping[0, 1], mapping[1, 1] = -centre / spread, 1 / spread
    y_sd = float(endog.std()) or 1.0
    statistics = _SufficientStatistics.build(
        (endog - endog.mean()) / y_sd, design, exog_re @ mapping, groups
    )
    # Z_std Ψ_std Z_std' = Z (B Ψ_std B') Z', so Ψ = B Ψ_std B'.
    return statistics, mapping


def _psi(standard_packed: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Return Ψ (random-effects covariance / residual variance) in months from the standardized
    problem's packed Cholesky factor; unlike :func:`_convert_packed` it never fails at a zero
    variance."""
    k_re = mapping.shape[0]
    factor = np.zeros((k_re, k_re))
    factor[np.tril_indices(k_re)] = standard_packed
    return np.asarray(mapping @ factor @ factor.T @ mapping.T, dtype=float)


def _convert_packed(standard_packed: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """Return statsmodels' packed Cholesky factor of Ψ from the standardized problem's.

    Raises ``np.linalg.LinAlgError`` where Ψ is singular (a variance at zero).
    """
    tril = np.tril_indices(mapping.shape[0])
    return np.asarray(np.linalg.cholesky(_psi(standard_packed, mapping))[tril], dtype=float)


def _numerical_gradient(
    function: Any, point: np.ndarray, step: float | np.ndarray = 1e-6
) -> np.ndarray:
    """Return the central-difference gradient of a scalar function (one step per coordinate)."""
    steps = np.broadcast_to(np.asarray(step, dtype=float), (len(point),))
    basis = np.diag(steps)
    return np.array(
        [
            (function(point + e) - function(point - e)) / (2 * h)
            for e, h in zip(basis, steps, strict=True)
        ],
        dtype=float,
    )


def _numerical_hessian(
    function: Any, point: np.ndarray, step: float | np.ndarray = 1e-4
) -> np.ndarray:
    """Return the central-difference Hessian of a scalar function (a handful of parameters)."""
    size = len(point)
    steps = np.broadcast_to(np.asarray(step, dtype=float), (size,))
    hessian = np.zeros((size, size))
    basis = np.diag(steps)
    for i in range(size):
        for j in range(i, size):
            value = (
                function(point + basis[i] + basis[j])
                - function(point + basis[i] - basis[j])
                - function(point - basis[i] + basis[j])
                + function(point - basis[i] - basis[j])
            ) / (4 * steps[i] * steps[j])
            hessian[i, j] = hessian[j, i] = value
    return hessian


def _norm(vector: np.ndarray) -> float:
    """Euclidean norm as a float."""
    return float(np.sqrt(np.sum(vector**2)))


def _plain(value: Any) -> Any:
    """Return a level as a plain Python value (numpy scalars are not JSON-serializable)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
