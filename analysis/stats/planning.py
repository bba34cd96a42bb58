"""Study planning: subjects for a sensitivity or specificity, events for a hazard ratio, and
subjects per group for a difference in mixed-model slopes (closed form and simulation).

References
----------
- Buderer NMF. Statistical methodology: I. Incorporating the prevalence of disease into the
  sample size calculation for sensitivity and specificity. Acad Emerg Med 1996;3:895-900.
- Hajian-Tilaki K. Sample size estimation in diagnostic test studies of biomedical informatics.
  J Biomed Inform 2014;48:193-204.
- Schoenfeld DA. Sample-size formula for the proportional-hazards regression model. Biometrics
  1983;39:499-503.
- Kish L. Survey Sampling. Wiley 1965 (design effect ``1 + (m − 1) ICC`` of cluster sampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from scipy import stats

from analysis.stats.errors import InsufficientDataError, ParameterError

#: Digits kept before rounding a sample size up, so that floating noise such as
#: 138.00000000000003 does not add a subject.
ROUNDING_DIGITS = 9
#: Seed of the slope simulations unless the caller gives one (a fixed date: reproducible).
DEFAULT_SEED = 20261129
#: Visits of a CALSNIC-style study: baseline, month 4, month 8.
DEFAULT_VISITS_MONTHS = (0.0, 4.0, 8.0)
#: Simulated data sets are generated in blocks of this many, each from its own child seed, and
#: subject-major within a block: the first n subjects of a data set are the same whatever n is, so
#: the simulated power of neighbouring sample sizes differs by the added subjects, not by noise.
SIMULATION_BLOCK = 50
#: Smallest number of subjects per group the slope calculations accept.
MIN_SUBJECTS_PER_GROUP = 2
#: Factor by which the sample-size search steps away from the closed form to bracket the answer.
SEARCH_STEP = 1.25


def design_effect(cluster_size: float, icc: float) -> float:
    """Return the design effect ``1 + (m − 1) ICC`` of sampling in clusters (e.g. sites).

    Parameters
    ----------
    cluster_size : float
        Mean number of subjects per cluster ``m`` (>= 1).
    icc : float
        Intraclass correlation of the outcome within a cluster, 0-1.

    Returns
    -------
    float
        The factor by which clustering inflates the sample size of a simple random sample.
    """
    _require_finite(cluster_size=cluster_size, icc=icc)
    if cluster_size < 1:
        raise ParameterError(
            f"cluster_size is a number of subjects, at least 1; got {cluster_size}"
        )
    if not 0 <= icc <= 1:
        raise ParameterError(f"the intraclass correlation must lie between 0 and 1; got {icc}")
    return 1 + (cluster_size - 1) * icc


def buderer(
    target: Literal["sensitivity", "specificity"],
    expected: float,
    half_width: float,
    prevalence: float,
    alpha: float = 0.05,
    design_effect: float = 1.0,
) -> dict[str, Any]:
    """Return the subjects needed to estimate a sensitivity or specificity (Buderer 1996).

    ``n = z² p (1 − p) / d² × design_effect`` subjects with the condition the proportion is
    estimated in (patients for sensitivity, non-patients for specificity), and ``N = n /
    prevalence`` (sensitivity) or ``n / (1 − prevalence)`` (specificity) subjects to recruit
    consecutively to meet them; both rounded up (the total from the unrounded ``n``, as Buderer's
    tables and Hajian-Tilaki 2014 do).

    Parameters
    ----------
    target : {"sensitivity", "specificity"}
    expected : float
        Anticipated sensitivity or specificity ``p``, strictly between 0 and 1.
    half_width : float
        Half-width ``d`` of the Wald ``1 − alpha`` interval wanted (0.05 for ±5 points).
    prevalence : float
        Proportion of recruited subjects expected to have the disease, strictly between 0 and 1.
    alpha : float
        1 − confidence level.
    design_effect : float
        Inflation for clustering (>= 1), e.g. :func:`design_effect` of the sites.

    Returns
    -------
    dict
        ``{target, expected, half_width, prevalence, alpha, design_effect, n_cases, n_total,
        method}``; ``n_cases`` counts patients for sensitivity and non-patients for specificity.
    """
    if target not in ("sensitivity", "specificity"):
        raise ParameterError(f"target must be 'sensitivity' or 'specificity', not {target!r}")
    _require_finite(
        expected=expected,
        half_width=half_width,
        prevalence=prevalence,
        alpha=alpha,
        design_effect=design_effect,
    )
    _require_open_unit(expected=expected, half_width=half_width, prevalence=prevalence, alpha=alpha)
    if design_effect < 1:
        raise ParameterError(
            f"the design effect is at least 1 (1 without clustering); got {design_effect}"
        )
    z = float(stats.norm.ppf(1 - alpha / 2))
    cases = z * z * expected * (1 - expected) / (half_width * half_width) * design_effect
    share = prevalence if target == "sensitivity" else 1 - prevalence
    who = "patients" if target == "sensitivity" else "non-patients"
    return {
        "target": target,
        "expected": float(expected),
        "half_width": float(half_width),
        "prevalence": float(prevalence),
        "alpha": float(alpha),
        "design_effect": float(design_effect),
        "n_cases": _round_up(cases),
        "n_total": _round_up(cases / share),
        "method": (
            f"Buderer (1996): n = z² p(1 − p)/d² × design effect {who} for a {target} of "
            f"{expected:g} within ±{half_width:g} ({100 * (1 - alpha):g}% Wald interval), "
            f"divided by the expected proportion of {who} ({share:g}) for the total to recruit; "
            "both rounded up."
        ),
    }


def schoenfeld_events(
    hr: float, power: float = 0.8, alpha: float = 0.05, proportion: float = 0.5
) -> dict[str, Any]:
    """Return the events needed to detect a hazard ratio with a two-sided test (Schoenfeld 1983).

    ``D = (z(1 − alpha/2) + z(power))² / (p (1 − p) (ln HR)²)``, rounded up.

    Parameters
    ----------
    hr : float
        Hazard ratio to detect (> 0, not 1); HR and 1/HR need the same number of events.
    power : float
        Probability of rejecting when the hazard ratio is ``hr``.
    alpha : float
        Two-sided significance level.
    proportion : float
        Proportion ``p`` of subjects in one of the two groups.

    Returns
    -------
    dict
        ``{events, events_unrounded, hr, power, alpha, proportion, method}``.
    """
    _require_finite(hr=hr, power=power, alpha=alpha, proportion=proportion)
    if hr <= 0 or hr == 1:
        raise ParameterError(f"the hazard ratio must be positive and different from 1; got {hr}")
    _require_open_unit(power=power, alpha=alpha, proportion=proportion)
    z_alpha = float(stats.norm.ppf(1 - alpha / 2))
    z_power = float(stats.norm.ppf(power))
    events = (z_alpha + z_power) ** 2 / (proportion * (1 - proportion) * math.log(hr) ** 2)
    return {
        "events": _round_up(events),
        "events_unrounded": float(events),
        "hr": float(hr),
        "power": float(power),
        "alpha": float(alpha),
        "proportion": float(proportion),
        "method": (
            "Schoenfeld (1983): D = (z(1 − α/2) + z(1 − β))² / (p(1 − p)(ln HR)²) events "
            "(deaths or other endpoints, both groups together) for a two-sided log-rank or Cox "
            "test; rounded up. The number of subjects follows from the proportion expected to "
            "have the event during follow-up."
        ),
    }


def slope_difference_power_closed_form(
    difference: float,
    n_per_group: int,
    *,
    visits_months: Sequence[float] = DEFAULT_VISITS_MONTHS,
    sd_slope: float,
    sd_residual: float,
    alpha: float = 0.05,
    distribution: Literal["normal", "t"] = "normal",
) -> dict[str, Any]:
    """Return the power to detect a difference in mean slopes, balanced complete data.

    Every subject has all ``visits_months``; a subject's least-squares slope then has variance
    ``V = sd_slope² + sd_residual² / Σ(t − t̄)²`` (the random intercept cancels), the difference
    of the group means has variance ``2V/n``, and the power of the two-sided test is
    ``Φ(|Δ|/√(2V/n) − z(1 − α/2)) + Φ(−|Δ|/√(2V/n) − z(1 − α/2))``. With ``distribution="t"``
    the critical value and the noncentral t distribution have ``2(n − 1)`` degrees of freedom
    (Welch's degrees of freedom for equal groups and variances): better for small n.

    Parameters
    ----------
    difference : float
        Difference in mean slope between the groups (outcome units per month).
    n_per_group : int
        Subjects per group (>= 2).
    visits_months : sequence of float
        Visit times (months from baseline), strictly increasing, at least two.
    sd_slope, sd_residual : float
        Between-subject SD of the slopes (units per month) and residual SD (units).
    alpha : float
        Two-sided significance level.
    distribution : {"normal", "t"}

    Returns
    -------
    dict
        ``{power, n_per_group, difference, slope_variance, method}``; ``slope_variance`` is
        ``V``.
    """
    times = _visits(visits_months)
    _require_slope_parameters(
        difference=difference,
        n_per_group=n_per_group,
        sd_slope=sd_slope,
        sd_residual=sd_residual,
        alpha=alpha,
    )
    if distribution not in ("normal", "t"):
        raise ParameterError(f"distribution must be 'normal' or 't', not {distribution!r}")
    variance = _slope_variance(times, sd_slope, sd_residual)
    shift = abs(difference) / math.sqrt(2 * variance / n_per_group)
    if distribution == "normal":
        z = float(stats.norm.ppf(1 - alpha / 2))
        power = float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))
        how = "normal approximation"
    else:
        df = 2 * (n_per_group - 1)
        critical = float(stats.t.ppf(1 - alpha / 2, df))
        power = float(stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift))
        how = f"noncentral t with {df} degrees of freedom"
    return {
        "power": power,
        "n_per_group": int(n_per_group),
        "difference": float(difference),
        "slope_variance": float(variance),
        "method": (
            "closed form for balanced complete data: each subject's least-squares slope has "
            "variance sd_slope² + sd_residual²/Σ(t − t̄)², and the two-sided test of the "
            f"difference in mean slopes is evaluated with the {how}."
        ),
    }


def slope_difference_power(
    difference: float,
    n_per_group: int,
    *,
    visits_months: Sequence[float] = DEFAULT_VISITS_MONTHS,
    sd_intercept: float,
    sd_slope: float,
    corr_intercept_slope: float = 0.0,
    sd_residual: float,
    alpha: float = 0.05,
    dropout_per_visit: float = 0.0,
    n_sim: int = 1000,
    seed: int = DEFAULT_SEED,
) -> dict[str, Any]:
    """Return the simulated power to detect a difference in mean slopes between two groups.

    Each simulated data set draws ``n_per_group`` subjects per group from the linear mixed
    model ``y_ij = b0_i + (β_g + b1_i) t_j + e_ij`` with ``(b0, b1)`` bivariate normal (SDs
    ``sd_intercept``, ``sd_slope``, correlation ``corr_intercept_slope``), ``e`` normal with SD
    ``sd_residual``, ``β = 0`` in the reference group and ``difference`` in the other. With
    ``dropout_per_visit`` q, a subject still in the study misses each later visit and all after
    it with probability q (monotone dropout; the baseline visit is always observed).

    Each data set is analysed with each subject's least-squares slope (subjects with at least
    two visits), the group means compared by Welch's t test. For balanced complete data this is
    exactly the mixed model's generalized least-squares estimate of the difference; with
    dropout it weights subjects equally, which loses a little power against the mixed model.
    The whole simulation is vectorized over data sets (no model fit per data set).

    Parameters
    ----------
    difference : float
        Difference in mean slope (outcome units per month).
    n_per_group : int
        Subjects per group at baseline (>= 2).
    visits_months : sequence of float
        Visit times (months from baseline), strictly increasing, at least two.
    sd_intercept, sd_slope, sd_residual : float
        Variance components as SDs (units, units per month, units); ``sd_residual`` > 0.
    corr_intercept_slope : float
        Correlation of the random intercept and slope, -1 to 1.
    alpha : float
        Two-sided significance level.
    dropout_per_visit : float
        Probability of dropping out before each visit after baseline, 0 <= q < 1.
    n_sim : int
        Number of simulated data sets.
    seed : int
        Seed of numpy's generator; the same arguments and seed give the same answer.

    Returns
    -------
    dict
        ``{power, mc_error, n_per_group, n_sim, seed, difference, untestable, method}``;
        ``mc_error = √(power (1 − power) / n_sim)``; ``untestable`` counts data sets where a group
        had fewer than two subjects with two visits (counted as not rejecting).
    """
    times = _visits(visits_months)
    _require_slope_parameters(
        difference=difference,
        n_per_group=n_per_group,
        sd_slope=sd_slope,
        sd_residual=sd_residual,
        alpha=alpha,
    )
    _require_simulation_parameters(
        sd_intercept=sd_intercept,
        corr_intercept_slope=corr_intercept_slope,
        dropout_per_visit=dropout_per_visit,
        n_sim=n_sim,
        seed=seed,
    )
    rejections, untestable = 0, 0
    children = np.random.SeedSequence(seed).spawn(math.ceil(n_sim / SIMULATION_BLOCK))
    for block, child in enumerate(children):
        size = min(SIMULATION_BLOCK, n_sim - block * SIMULATION_BLOCK)
        block_rejections, block_untestable = _simulate_block(
            child,
            size,
            n_per_group,
            times,
            difference=difference,
            sd_intercept=sd_intercept,
            sd_slope=sd_slope,
            corr=corr_intercept_slope,
            sd_residual=sd_residual,
            alpha=alpha,
            dropout=dropout_per_visit,
        )
        rejections += block_rejections
        untestable += block_untestable
    power = rejections / n_sim
    dropout_text = (
        f" and monotone dropout of {dropout_per_visit:g} per visit after baseline"
        if dropout_per_visit
        else ""
    )
    return {
        "power": float(power),
        "mc_error": math.sqrt(power * (1 - power) / n_sim),
        "n_per_group": int(n_per_group),
        "n_sim": int(n_sim),
        "seed": int(seed),
        "difference": float(difference),
        "untestable": int(untestable),
        "method": (
            f"Monte Carlo simulation ({n_sim} data sets, seed {seed}) from the linear mixed "
            "model with random intercept and slope at visits "
            f"{', '.join(f'{t:g}' for t in times)} months{dropout_text}; each data set is "
            "analysed with per-subject least-squares slopes (subjects with at least two visits) "
            "compared by Welch's two-sided t test, which for balanced complete data is exactly "
            "the mixed model's estimate of the slope difference. Power = share of data sets "
            "rejecting; mc_error = its Monte Carlo standard error."
        ),
    }


def slope_difference_sample_size(
    difference: float,
    power: float = 0.8,
    *,
    visits_months: Sequence[float] = DEFAULT_VISITS_MONTHS,
    sd_intercept: float,
    sd_slope: float,
    corr_intercept_slope: float = 0.0,
    sd_residual: float,
    alpha: float = 0.05,
    dropout_per_visit: float = 0.0,
    n_sim: int = 1000,
    seed: int = DEFAULT_SEED,
    max_n: int = 5000,
) -> dict[str, Any]:
    """Return the smallest subjects per group whose simulated power reaches ``power``.

    The search starts from the closed form for balanced complete data, ``n = 2V (z(1 − α/2) +
    z(power))² / Δ²``, brackets the answer in steps of 25%, and bisects, simulating every
    candidate with the same ``seed`` (the data sets of a larger n extend those of a smaller one,
    so the simulated power is nearly monotone in n).

    Parameters
    ----------
    difference, visits_months, sd_intercept, sd_slope, corr_intercept_slope, sd_residual, alpha,
    dropout_per_visit, n_sim, seed
        As in :func:`slope_difference_power`.
    power : float
        Power to reach, strictly between alpha and 1.
    max_n : int
        Largest number per group considered.

    Returns
    -------
    dict
        ``{n_per_group, power, mc_error, target_power, closed_form_n_per_group, n_sim, seed,
        method}``: ``power`` and ``mc_error`` are those simulated at ``n_per_group``.

    Raises
    ------
    ParameterError
        Invalid parameters, a zero difference, or a target power not reached with ``max_n``
        subjects per group.
    """
    times = _visits(visits_months)
    _require_slope_parameters(
        difference=difference,
        n_per_group=MIN_SUBJECTS_PER_GROUP,
        sd_slope=sd_slope,
        sd_residual=sd_residual,
        alpha=alpha,
    )
    _require_simulation_parameters(
        sd_intercept=sd_intercept,
        corr_intercept_slope=corr_intercept_slope,
        dropout_per_visit=dropout_per_visit,
        n_sim=n_sim,
        seed=seed,
    )
    _require_finite(power=power)
    if not alpha < power < 1:
        raise ParameterError(
            f"the target power must lie between alpha ({alpha:g}) and 1; got {power}"
        )
    if difference == 0:
        raise ParameterError("no sample size gives power to detect a slope difference of 0")
    if (
        isinstance(max_n, bool)
        or not isinstance(max_n, int | np.integer)
        or max_n < MIN_SUBJECTS_PER_GROUP
    ):
        raise ParameterError(f"max_n must be a whole number of at least 2; got {max_n!r}")
    variance = _slope_variance(times, sd_slope, sd_residual)
    z_sum = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    closed = 2 * variance * z_sum * z_sum / (difference * difference)
    closed_n = max(_round_up(closed), MIN_SUBJECTS_PER_GROUP)
    start = min(closed_n, int(max_n))
    cache: dict[int, dict[str, Any]] = {}

    def simulate(n: int) -> dict[str, Any]:
        if n not in cache:
            cache[n] = slope_difference_power(
                difference,
                n,
                visits_months=tuple(float(t) for t in times),
                sd_intercept=sd_intercept,
                sd_slope=sd_slope,
                corr_intercept_slope=corr_intercept_slope,
                sd_residual=sd_residual,
                alpha=alpha,
                dropout_per_visit=dropout_per_visit,
                n_sim=n_sim,
                seed=seed,
            )
        return cache[n]

    def reaches(n: int) -> bool:
        return bool(simulate(n)["power"] >= power)

    # Bracket the answer: ``low`` does not reach the target (or is below the minimum),
    # ``high`` does; steps of SEARCH_STEP around the closed form, which is usually close.
    low = high = start
    if reaches(start):
        while low > MIN_SUBJECTS_PER_GROUP:
            low = max(MIN_SUBJECTS_PER_GROUP, min(high - 1, math.floor(high / SEARCH_STEP)))
            if not reaches(low):
                break
            high = low
        else:
            low = MIN_SUBJECTS_PER_GROUP - 1
    else:
        while True:
            if high >= max_n:
                raise ParameterError(
                    f"with the largest sample considered ({max_n} per group) the simulated power "
                    f"is {simulate(high)['power']:.3f}, below the target {power:g}: the "
                    f"difference {difference:g} is too small for these variance components"
                )
            low, high = high, min(max(high + 1, math.ceil(high * SEARCH_STEP)), int(max_n))
            if reaches(high):
                break
    while high - low > 1:
        middle = (low + high) // 2
        if reaches(middle):
            high = middle
        else:
            low = middle
    chosen = simulate(high)
    return {
        "n_per_group": int(high),
        "power": chosen["power"],
        "mc_error": chosen["mc_error"],
        "target_power": float(power),
        "closed_form_n_per_group": closed_n,
        "n_sim": int(n_sim),
        "seed": int(seed),
        "method": (
            f"smallest n per group whose simulated power reaches {power:g}, searched from the "
            "closed form for balanced complete data (2V(z(1 − α/2) + z(1 − β))²/Δ²) by "
            "bracketing (steps of 25%) and bisection with the same seed; at that n: "
            + chosen["method"]
        ),
    }


def _simulate_block(
    seed: np.random.SeedSequence,
    size: int,
    n_per_group: int,
    times: np.ndarray,
    *,
    difference: float,
    sd_intercept: float,
    sd_slope: float,
    corr: float,
    sd_residual: float,
    alpha: float,
    dropout: float,
) -> tuple[int, int]:
    """Simulate ``size`` data sets and return (rejections, untestable data sets).

    Arrays are subject-major, shape (subject, data set, group, ...), so that the draws of the
    first n subjects do not depend on ``n_per_group``.
    """
    normal_seed, dropout_seed = seed.spawn(2)
    n_visits = len(times)
    draws = np.random.default_rng(normal_seed).standard_normal((n_per_group, size, 2, 2 + n_visits))
    intercept = sd_intercept * draws[..., 0]
    slope = sd_slope * (corr * draws[..., 0] + math.sqrt(1 - corr * corr) * draws[..., 1])
    slope = slope + np.array([0.0, difference])
    outcome = (
        intercept[..., None] + slope[..., None] * times + sd_residual * draws[..., 2:]
    )  # (subject, data set, group, visit)
    observed = np.ones(outcome.shape, dtype=bool)
    if dropout > 0:
        stays = np.greater_equal(
            np.random.default_rng(dropout_seed).random(observed.shape), dropout
        )
        stays[..., 0] = True
        observed = np.cumprod(stays, axis=-1, dtype=bool)
    weight = observed.astype(float)
    count = weight.sum(axis=-1)
    evaluable = count >= 2
    safe_count = np.where(count > 0, count, 1.0)
    mean_time = (weight * times).sum(axis=-1) / safe_count
    centred = (times - mean_time[..., None]) * weight
    sxx = (centred * centred).sum(axis=-1)
    sxy = (centred * outcome).sum(axis=-1)
    subject_slope = np.where(evaluable, sxy / np.where(evaluable, sxx, 1.0), 0.0)
    # Group summaries over evaluable subjects: axis 0 is the subject.
    n_eval = evaluable.sum(axis=0)  # (data set, group)
    testable = (n_eval >= 2).all(axis=-1)
    safe_n = np.maximum(n_eval, 2)
    mean_slope = subject_slope.sum(axis=0) / np.maximum(n_eval, 1)
    deviation = np.where(evaluable, subject_slope - mean_slope, 0.0)
    variance_mean = (deviation * deviation).sum(axis=0) / (safe_n - 1) / safe_n
    se2 = variance_mean.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_value = (mean_slope[:, 1] - mean_slope[:, 0]) / np.sqrt(se2)
        df = se2 * se2 / (variance_mean * variance_mean / (safe_n - 1)).sum(axis=-1)
        p_value = 2 * stats.t.sf(np.abs(t_value), df)
    reject = testable & np.isfinite(p_value) & (p_value < alpha)
    return int(reject.sum()), int((~testable).sum())


def _slope_variance(times: np.ndarray, sd_slope: float, sd_residual: float) -> float:
    """Return the variance of one subject's least-squares slope with all visits."""
    sxx = float(((times - times.mean()) ** 2).sum())
    return sd_slope * sd_slope + sd_residual * sd_residual / sxx


def _visits(visits_months: Sequence[float]) -> np.ndarray:
    """Return the visit times as an array, refusing fewer than two or unordered times."""
    try:
        times = np.asarray(visits_months, dtype=float)
    except (TypeError, ValueError) as error:
        raise ParameterError(
            f"visits_months must be numbers of months; got {visits_months!r}"
        ) from error
    if times.ndim != 1 or len(times) < 2:
        raise ParameterError(
            "a slope needs at least two visits: give visits_months with two or more times"
        )
    if not np.isfinite(times).all() or (np.diff(times) <= 0).any():
        raise ParameterError(
            f"visits_months must be finite and strictly increasing; got {list(times)}"
        )
    return times


def _require_slope_parameters(
    *, difference: float, n_per_group: int, sd_slope: float, sd_residual: float, alpha: float
) -> None:
    """Validate the parameters shared by the closed form and the simulation."""
    _require_finite(difference=difference, sd_slope=sd_slope, sd_residual=sd_residual, alpha=alpha)
    if isinstance(n_per_group, bool) or not isinstance(n_per_group, int | np.integer):
        raise ParameterError(f"n_per_group must be a whole number; got {n_per_group!r}")
    if n_per_group < MIN_SUBJECTS_PER_GROUP:
        raise ParameterError(
            f"a group's slope variance needs at least {MIN_SUBJECTS_PER_GROUP} subjects per "
            f"group; got {n_per_group}"
        )
    if sd_slope < 0:
        raise ParameterError(
            f"sd_slope is a standard deviation and cannot be negative; got {sd_slope}"
        )
    if sd_residual <= 0:
        raise ParameterError(
            f"sd_residual must be positive (no measurement is free of noise); got {sd_residual}"
        )
    _require_open_unit(alpha=alpha)


def _require_simulation_parameters(
    *,
    sd_intercept: float,
    corr_intercept_slope: float,
    dropout_per_visit: float,
    n_sim: int,
    seed: int,
) -> None:
    """Validate the parameters only the simulation uses."""
    _require_finite(
        sd_intercept=sd_intercept,
        corr_intercept_slope=corr_intercept_slope,
        dropout_per_visit=dropout_per_visit,
    )
    if sd_intercept < 0:
        raise ParameterError(
            f"sd_intercept is a standard deviation and cannot be negative; got {sd_intercept}"
        )
    if not -1 <= corr_intercept_slope <= 1:
        raise ParameterError(
            f"the intercept-slope correlation must lie between -1 and 1; got {corr_intercept_slope}"
        )
    if not 0 <= dropout_per_visit < 1:
        raise ParameterError(
            "dropout_per_visit is a probability of leaving before each visit, 0 <= q < 1; "
            f"got {dropout_per_visit}"
        )
    if isinstance(n_sim, bool) or not isinstance(n_sim, int | np.integer) or n_sim < 1:
        raise ParameterError(f"n_sim must be a positive whole number; got {n_sim!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative whole number; got {seed!r}")


def _require_finite(**values: float) -> None:
    """Raise ParameterError naming the first argument that is not a finite number."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ParameterError(f"{name} must be a number; got {value!r}")
        if not math.isfinite(value):
            raise ParameterError(f"{name} must be a finite number; got {value}")


def _require_open_unit(**values: float) -> None:
    """Raise ParameterError unless every value lies strictly between 0 and 1."""
    for name, value in values.items():
        if not 0 < value < 1:
            raise ParameterError(f"{name} must lie strictly between 0 and 1; got {value}")


def _round_up(value: float) -> int:
    """Return ``value`` rounded up to a whole number, ignoring floating noise."""
    return math.ceil(round(value, ROUNDING_DIGITS))


#: Subjects with at least this many visits inform the variance components (two for a slope and
#: one more for the residual).
MIN_VISITS_FOR_COMPONENTS = 3


def variance_components(frame: Any, *, subject: str, time: str, outcome: str) -> dict[str, Any]:
    """Estimate the random intercept and slope model's variance components from longitudinal data.

    Method of moments from per-subject least squares (Laird and Ware 1982, section 3): each
    subject with at least ``MIN_VISITS_FOR_COMPONENTS`` visits gives an intercept (at time 0)
    and a slope; the residual variance is the pooled residual mean square, and the between-subject
    variances are the variances of the subject estimates minus their mean sampling variances
    (floored at 0, which the answer says). Enough for planning; the analyses fit REML.

    Returns
    -------
    dict
        ``{sd_intercept, sd_slope, corr_intercept_slope, sd_residual, n_subjects, method,
        warnings}``. Raises ``InsufficientDataError`` with fewer than 3 usable subjects.
    """
    data = frame[[subject, time, outcome]].dropna()
    intercepts, slopes, rss, dof = [], [], 0.0, 0
    sampling_i, sampling_s, sampling_c = [], [], []
    for _, rows in data.groupby(subject):
        t = rows[time].to_numpy(dtype=float)
        y = rows[outcome].to_numpy(dtype=float)
        if len(t) < MIN_VISITS_FOR_COMPONENTS or np.ptp(t) == 0:
            continue
        t_bar = t.mean()
        sxx = float(((t - t_bar) ** 2).sum())
        slope = float(((t - t_bar) * (y - y.mean())).sum() / sxx)
        intercept = float(y.mean() - slope * t_bar)
        rss += float(((y - intercept - slope * t) ** 2).sum())
        dof += len(t) - 2
        intercepts.append(intercept)
        slopes.append(slope)
        sampling_i.append(1 / len(t) + t_bar**2 / sxx)
        sampling_s.append(1 / sxx)
        sampling_c.append(-t_bar / sxx)
    if len(slopes) < 3 or dof == 0:
        raise InsufficientDataError(
            f"variance components need at least 3 subjects with {MIN_VISITS_FOR_COMPONENTS} or "
            f"more visits of {outcome}; found {len(slopes)}"
        )
    sigma2 = rss / dof
    a, b = np.asarray(intercepts), np.asarray(slopes)
    var_i = float(np.var(a, ddof=1) - sigma2 * np.mean(sampling_i))
    var_s = float(np.var(b, ddof=1) - sigma2 * np.mean(sampling_s))
    cov = float(np.cov(a, b, ddof=1)[0, 1] - sigma2 * np.mean(sampling_c))
    warnings = []
    if var_i <= 0:
        warnings.append("The between-subject intercept variance estimate was not positive: 0 used.")
    if var_s <= 0:
        warnings.append("The between-subject slope variance estimate was not positive: 0 used.")
    sd_i, sd_s = math.sqrt(max(var_i, 0.0)), math.sqrt(max(var_s, 0.0))
    corr = float(np.clip(cov / (sd_i * sd_s), -1, 1)) if sd_i > 0 and sd_s > 0 else 0.0
    return {
        "sd_intercept": sd_i,
        "sd_slope": sd_s,
        "corr_intercept_slope": corr,
        "sd_residual": math.sqrt(sigma2),
        "n_subjects": len(slopes),
        "mean_slope": float(b.mean()),
        "method": "method of moments from per-subject least squares",
        "warnings": warnings,
    }
