"""Progression over visits: linear mixed models of an outcome on months, and the ΔFS rate."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats
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
#: Two-sided 95% normal quantile for Wald intervals.
Z_95 = float(stats.norm.ppf(0.975))
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
) -> dict[str, Any]:
    """Fit ``outcome ~ months * level`` with a random intercept and slope per subject (REML).

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
        ``levels[1] − levels[0]`` (with more than two levels it compares the first two). Default:
        all levels with at least 3 subjects, sorted; so for ``mbs_baseline`` with levels
        ``"negative"``/``"positive"`` the default order already gives positive minus negative,
        and passing ``levels=["negative", "positive"]`` makes it explicit.
    reference : optional
        Reference level of the treatment coding of the fixed effects (default ``levels[0]``). It
        changes the parametrization only: slopes and the difference do not depend on it beyond
        the optimizer's tolerance.
    engine : {"auto", "statsmodels", "vectorized"}
        ``"statsmodels"`` fits with statsmodels MixedLM; ``"vectorized"`` optimizes the same
        profiled REML criterion on batched per-subject algebra (same optimum, Wald covariance
        ``scale · (X'V⁻¹X)⁻¹``). ``"auto"`` uses statsmodels up to 2,000 subjects and the
        vectorized engine above, where statsmodels' per-subject loop takes many seconds.

    Returns
    -------
    dict
        ``{outcome, by, n_subjects, n_observations, slopes: [{level, slope, ci_low, ci_high}],
        slope_difference: {levels: [a, b], estimate, ci_low, ci_high, p}, model, converged,
        engine, warnings}``. Slopes are in outcome units per month with Wald 95% intervals from the
        fixed-effects covariance; ``p`` is the two-sided Wald test of the difference. ``model`` is
        ``"random_intercept_slope"`` or, when that fit does not converge cleanly,
        ``"random_intercept"``, and ``warnings`` then says why. ``converged`` is always True: a
        fit that converges with neither structure raises.

    Raises
    ------
    ParameterError
        If a named column or level or the reference is unknown, or a subject has several levels.
    InsufficientDataError
        If fewer than two levels have 3 subjects with data, a requested level has fewer, most
        subjects have a single observation, or neither model converges.
    DegenerateModelError
        (a subclass of InsufficientDataError) before any fit when the outcome is constant or an
        exact linear function of months and level (no residual variance); after the fits when the
        between-subject variance is zero even with a random intercept alone, or the linear algebra
        of the fit fails (a singular matrix). A level whose outcome is constant is kept and named
        in ``warnings``.

    Notes
    -----
    Convergence rule (domain.md, Statistics): the optimizers are passed explicitly
    (``OPTIMIZERS``, ``MAXITER``), ``result.converged`` is checked together with statsmodels'
    convergence warnings and the positive definiteness of the fixed-effects covariance and of the
    random-effects covariance; a failed random-slope fit falls back to a random intercept only.
    statsmodels starts from the vectorized engine's optimum, so it only confirms it.
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
    _check_level_constant_within_subject(data, by)

    notes: list[str] = []
    chosen = _choose_levels(data, levels, by, notes)
    data = data[data["level"].isin(chosen)]
    if reference is None:
        reference = chosen[0]
    elif reference not in chosen:
        raise ParameterError(f"reference level {reference!r} is not among the levels {chosen!r}")
    _check_repeated_observations(data, chosen)

    exog, contrasts = _design(data, chosen, reference, by)
    _check_outcome_variance(data, exog, outcome, by, notes)
    endog = data["y"].to_numpy(dtype=float)
    groups = data["subject"].to_numpy()
    months = data["months"].to_numpy(dtype=float)

    model_name = MODEL_RANDOM_SLOPE
    exog_re = np.column_stack([np.ones_like(months), months])
    fit, problems = _fit_mixed(endog, exog, groups, exog_re, engine)
    if problems:
        notes.append(
            "the random intercept and slope model did not converge cleanly ("
            + "; ".join(problems)
            + "); fitted a random intercept model instead, which assumes the same rate of change "
            "for every subject of a level"
        )
        model_name = MODEL_RANDOM_INTERCEPT
        fit, problems = _fit_mixed(endog, exog, groups, exog_re[:, :1], engine)
        if problems:
            raise _not_estimable(outcome, problems)
    assert fit is not None  # for mypy: no problems means a fit
    beta, cov_fe = fit.fe_params, fit.cov_fe

    slopes = []
    for level in chosen:
        estimate, ci_low, ci_high, _ = _wald(contrasts[level], beta, cov_fe)
        slopes.append(
            {
                "level": _plain(level),
                "slope": estimate,
                "ci_low": ci_low,
                "ci_high": ci_high,
            }
        )
    first, second = chosen[0], chosen[1]
    estimate, ci_low, ci_high, p = _wald(contrasts[second] - contrasts[first], beta, cov_fe)
    return {
        "outcome": outcome,
        "by": by,
        "n_subjects": int(data["subject"].nunique()),
        "n_observations": len(data),
        "slopes": slopes,
        "slope_difference": {
            "levels": [_plain(first), _plain(second)],
            "estimate": estimate,
            "ci_low": ci_low,
            "ci_high": ci_high,
            "p": p,
        },
        "model": model_name,
        "converged": fit.converged,
        "engine": fit.engine,
        "warnings": notes,
    }


def _check_outcome_variance(
    data: pd.DataFrame, exog: pd.DataFrame, outcome: str, by: str, notes: list[str]
) -> None:
    """Refuse an outcome without variance to model; note levels whose outcome is constant.

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
    for level, rows in data.groupby("level", sort=True):
        level_values = rows["y"].to_numpy(dtype=float)
        if float(level_values.std()) <= CONSTANT_TOLERANCE * magnitude:
            notes.append(
                f"The outcome {outcome!r} is {level_values[0]:g} in every observation at "
                f"{by} = {level}, so its slope is 0 by construction and its interval only "
                "reflects the variance of the other levels; read it as a ceiling or floor of the "
                "scale, not as a measured absence of change."
            )


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
    converged: bool
    engine: str


def _fit_mixed(
    endog: np.ndarray,
    exog: pd.DataFrame,
    groups: np.ndarray,
    exog_re: np.ndarray,
    engine: str,
) -> tuple[_MixedFit | None, list[str]]:
    """Fit one REML mixed model; return the fit and the reasons it cannot be trusted."""
    design = exog.to_numpy(dtype=float)
    statistics = _SufficientStatistics.build(endog, design, exog_re, groups)
    standardized, to_original = _standardized(endog, exog, exog_re, groups)
    if engine == "auto":
        n_subjects = statistics.ztz.shape[0]
        engine = ENGINE_STATSMODELS if n_subjects <= STATSMODELS_MAX_SUBJECTS else ENGINE_VECTORIZED
    try:
        standard_packed, converged = _optimize_reml(standardized)
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
        return cls(
            xtx=exog.T @ exog,
            xty=exog.T @ endog,
            yty=float(endog @ endog),
            ztz=ztz,
            ztx=ztx,
            zty=zty,
            n_obs=len(endog),
            k_fe=k_fe,
        )

    def _terms(self, packed: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
        """Return X'V⁻¹X, X'V⁻¹y, y'V⁻¹y and Σ log|V_i| for the packed Cholesky factor of Ψ."""
        k_re = self.ztz.shape[1]
        factor = np.zeros((k_re, k_re))
        factor[np.tril_indices(k_re)] = packed
        psi = factor @ factor.T
        inner = np.eye(k_re) + psi @ self.ztz  # (G, q, q)
        adjust = np.linalg.solve(inner, np.broadcast_to(psi, inner.shape))  # (I + ΨZ'Z)⁻¹Ψ
        adjust_zx = adjust @ self.ztx
        adjust_zy = np.einsum("gij,gj->gi", adjust, self.zty)
        xtvix = self.xtx - np.einsum("gqp,gqr->pr", self.ztx, adjust_zx)
        xtviy = self.xty - np.einsum("gqp,gq->p", self.ztx, adjust_zy)
        ytviy = self.yty - float(np.einsum("gq,gq->", self.zty, adjust_zy))
        sign, logdet = np.linalg.slogdet(inner)
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
        try:
            xtvix, xtviy, ytviy, logdet = self._terms(packed)
            beta = np.linalg.solve(xtvix, xtviy)
        except np.linalg.LinAlgError:
            return INFEASIBLE
        quadratic = ytviy - beta @ xtviy
        sign, logdet_xtvix = np.linalg.slogdet(xtvix)
        if quadratic <= 0 or sign <= 0:
            return INFEASIBLE
        value = (self.n_obs - self.k_fe) * math.log(quadratic) + logdet + logdet_xtvix
        return float(0.5 * value / self.n_obs)


def _optimize_reml(statistics: _SufficientStatistics) -> tuple[np.ndarray | None, bool]:
    """Minimize the REML criterion over statsmodels' packed Cholesky factor of Ψ.

    Returns the optimum (None when none is finite) and whether the last optimizer converged.
    Optimizers are tried in turn, each from where the previous one stopped.
    """
    k_re = statistics.ztz.shape[1]
    packed = np.eye(k_re)[np.tril_indices(k_re)]
    converged = False
    for method in VECTORIZED_OPTIMIZERS:
        options: dict[str, Any] = {"maxiter": MAXITER}
        if method == "L-BFGS-B":
            options.update(ftol=1e-15, gtol=1e-10)
        else:
            options.update(xtol=1e-10, ftol=1e-14)
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


def _numerical_gradient(function: Any, point: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Return the central-difference gradient of a scalar function."""
    basis = np.eye(len(point)) * step
    return np.array(
        [(function(point + e) - function(point - e)) / (2 * step) for e in basis], dtype=float
    )


def _numerical_hessian(function: Any, point: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Return the central-difference Hessian of a scalar function (a handful of parameters)."""
    size = len(point)
    hessian = np.zeros((size, size))
    basis = np.eye(size) * step
    for i in range(size):
        for j in range(i, size):
            value = (
                function(point + basis[i] + basis[j])
                - function(point + basis[i] - basis[j])
                - function(point - basis[i] + basis[j])
                + function(point - basis[i] - basis[j])
            ) / (4 * step * step)
            hessian[i, j] = hessian[j, i] = value
    return hessian


def _norm(vector: np.ndarray) -> float:
    """Euclidean norm as a float."""
    return float(np.sqrt(np.sum(vector**2)))


def _wald(
    contrast: np.ndarray, beta: np.ndarray, cov: np.ndarray
) -> tuple[float | None, float | None, float | None, float | None]:
    """Return estimate, 95% Wald interval and two-sided p of a linear combination of effects."""
    estimate = float(contrast @ beta)
    variance = float(contrast @ cov @ contrast)
    if not math.isfinite(variance) or variance <= 0:
        return as_float(estimate), None, None, None
    se = math.sqrt(variance)
    p = 2 * stats.norm.sf(abs(estimate) / se)
    return (
        as_float(estimate),
        as_float(estimate - Z_95 * se),
        as_float(estimate + Z_95 * se),
        as_float(p),
    )


def _plain(value: Any) -> Any:
    """Return a level as a plain Python value (numpy scalars are not JSON-serializable)."""
    if isinstance(value, np.generic):
        return value.item()
    return value
