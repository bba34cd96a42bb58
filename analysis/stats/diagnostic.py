"""Proportions and diagnostic accuracy of the motor band sign; correlation with UMN scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.stats._json import as_float, as_floats
from analysis.stats.errors import InsufficientDataError, ParameterError

#: Bootstrap resamples and seed of the optimism correction of a data-chosen cut-off.
OPTIMISM_RESAMPLES = 200
OPTIMISM_SEED = 20261129
#: Correlation needs at least this many pairs (the Fisher z standard error divides by n − 3).
MIN_CORRELATION_PAIRS = 4


def wilson_ci(k: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Return the Wilson score interval of a proportion ``k / n``.

    Parameters
    ----------
    k : int
        Number of positives, 0 <= k <= n.
    n : int
        Number of trials, n > 0.
    alpha : float
        1 − confidence level (0.05 for 95%).

    Returns
    -------
    (float, float)
        Lower and upper bound, within [0, 1].
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= k <= n:
        raise ValueError(f"k must lie between 0 and n = {n}, got {k}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie between 0 and 1, got {alpha}")
    z = float(stats.norm.ppf(1 - alpha / 2))
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # At k = 0 or k = n a bound is exactly 0 or 1; rounding would leave 0.9999999999999999.
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return low, high


def prevalence_by_group(
    frame: pd.DataFrame,
    *,
    group_col: str,
    positive_col: str,
    groups: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Return the proportion positive per group with Wilson 95% intervals.

    Parameters
    ----------
    frame : DataFrame
        One row per subject (or scan) with ``group_col`` and ``positive_col`` (bool; missing
        rows are dropped).
    groups : sequence, optional
        Groups to report, in order (default: all present, sorted). A listed group without rows
        is reported with ``n = 0`` and None for the proportion and interval.

    Returns
    -------
    list of dict
        ``{group, n, positive, proportion, ci_low, ci_high}``.
    """
    _require_columns(frame, (group_col, positive_col))
    data = frame[[group_col, positive_col]].dropna()
    flags = _as_bool(data[positive_col], positive_col)
    order = sorted(data[group_col].unique()) if groups is None else list(groups)
    result = []
    for group in order:
        members = flags[data[group_col] == group]
        n, positive = len(members), int(members.sum())
        low, high = wilson_ci(positive, n) if n else (None, None)
        result.append(
            {
                "group": _plain(group),
                "n": n,
                "positive": positive,
                "proportion": positive / n if n else None,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return result


def diagnostic_accuracy(
    frame: pd.DataFrame,
    *,
    marker: str,
    group_col: str,
    positive_groups: Sequence[Any],
    negative_groups: Sequence[Any],
    continuous: bool,
    higher_is_positive: bool = True,
    cutoff: float | None = None,
    resamples: int = OPTIMISM_RESAMPLES,
    seed: int = OPTIMISM_SEED,
) -> dict[str, Any]:
    """Return sensitivity, specificity and (for a continuous marker) ROC/AUC of a marker.

    For a continuous marker, ``cutoff`` is a pre-specified positivity threshold (positive at or
    above it when ``higher_is_positive``): sensitivity, specificity and the Fisher test are read
    there (``threshold_source`` "pre-specified"). Without one, the Youden-optimal threshold of
    these data is used (``threshold_source`` "youden"), whose sensitivity and specificity are
    optimistic; ``optimism_corrected`` then gives them corrected by Harrell's bootstrap
    (``resamples`` stratified resamples with ``seed``: the threshold is re-chosen in each
    resample and tested on the original data; Harrell, Lee and Mark, Stat Med 1996;15:361).

    Parameters
    ----------
    frame : DataFrame
        One row per subject with ``group_col`` and ``marker`` (bool for a read such as
        ``mbs_read``; numeric for ``band_contrast``). Rows with a missing marker are dropped.
    positive_groups, negative_groups : sequence
        Groups counted as disease (e.g. ALS, PLS) and as non-disease (e.g. CONTROL).
    continuous : bool
        Whether the marker is continuous.
    higher_is_positive : bool
        For a continuous marker, whether higher values point to disease (true for band
        contrast: a darker band gives a larger contrast).

    Returns
    -------
    dict
        ``{marker, groups, table, sensitivity: {estimate, ci_low, ci_high}, specificity: {...},
        ppv, npv, lr_positive, lr_negative, value_warnings, fisher_p, auc}``; ``groups`` as
        :func:`prevalence_by_group` (positive = marker positive); ``table`` to
        ``value_warnings`` as :func:`accuracy_from_table` (for a continuous marker at the
        Youden threshold), whose predictive values are at the study's own prevalence.
        Binary marker: Wilson 95% intervals, two-sided Fisher exact test, ``auc`` None.
        Continuous marker: extra ``auc_ci_low``/``auc_ci_high`` (DeLong 95%), ``roc: {fpr, tpr,
        thresholds}`` (the first point, threshold None, is "nobody positive"), ``threshold``
        (Youden-optimal, positive means ``marker >= threshold``) with sensitivity, specificity
        and ``groups`` at that threshold, and ``mannwhitney_p``; ``fisher_p`` is None because a
        test on a threshold chosen from the same data would be optimistic. ``warnings`` (list of
        sentences, both kinds of marker) says where an interval is not what DeLong's method
        gives: at AUC 0 or 1 (perfect separation) DeLong's variance is zero and its interval
        [1, 1] would look exact, so Newcombe's score interval (2006, method 5) is reported; for a
        marker constant across subjects, or fewer than two subjects in a side, the AUC interval is
        None.
    """
    _require_columns(frame, (marker, group_col))
    positive_groups, negative_groups = list(positive_groups), list(negative_groups)
    if not positive_groups or not negative_groups:
        raise ParameterError("name at least one positive and one negative group")
    overlap = set(positive_groups) & set(negative_groups)
    if overlap:
        raise ParameterError(f"groups {sorted(overlap)} are both positive and negative")
    data = frame[frame[group_col].isin(positive_groups + negative_groups)]
    data = data[[group_col, marker]].dropna()
    disease = data[group_col].isin(positive_groups).to_numpy()
    if disease.sum() == 0 or (~disease).sum() == 0:
        raise InsufficientDataError(
            "diagnostic accuracy needs subjects with the marker in both the positive groups "
            f"{positive_groups} and the negative groups {negative_groups}"
        )
    result: dict[str, Any] = {"marker": marker}
    notes: list[str] = []
    if continuous:
        values = pd.to_numeric(data[marker], errors="coerce").to_numpy(dtype=float)
        if np.isnan(values).any():
            raise ParameterError(f"marker {marker!r} must be numeric for a continuous analysis")
        scores = values if higher_is_positive else -values
        auc, auc_low, auc_high = _delong_auc(scores[disease], scores[~disease])
        auc_low, auc_high = _degenerate_auc_interval(
            scores[disease], scores[~disease], marker, auc, auc_low, auc_high, notes
        )
        fpr, tpr, thresholds = _roc(scores, disease)
        if cutoff is not None:
            threshold = cutoff if higher_is_positive else -cutoff
        else:
            threshold = _youden_threshold(scores, disease)
        called = scores >= threshold
        reported_threshold = threshold if higher_is_positive else -threshold
        result.update(
            _accuracy(called, disease),
            groups=prevalence_by_group(
                data.assign(_called=called),
                group_col=group_col,
                positive_col="_called",
                groups=positive_groups + negative_groups,
            ),
            fisher_p=(
                as_float(stats.fisher_exact(_table(called, disease)).pvalue)
                if cutoff is not None
                else None
            ),
            threshold_source="pre-specified" if cutoff is not None else "youden",
            optimism_corrected=(
                None
                if cutoff is not None
                else _optimism_corrected(scores, disease, resamples=resamples, seed=seed)
            ),
            auc=auc,
            auc_ci_low=auc_low,
            auc_ci_high=auc_high,
            threshold=as_float(reported_threshold),
            roc={
                "fpr": as_floats(fpr),
                "tpr": as_floats(tpr),
                "thresholds": [
                    None,
                    *as_floats(thresholds[1:] if higher_is_positive else -thresholds[1:]),
                ],
            },
            mannwhitney_p=as_float(
                stats.mannwhitneyu(
                    scores[disease], scores[~disease], alternative="two-sided"
                ).pvalue
            ),
            warnings=notes,
        )
        return result
    called = _as_bool(data[marker], marker).to_numpy()
    table = [
        [int((called & disease).sum()), int((~called & disease).sum())],
        [int((called & ~disease).sum()), int((~called & ~disease).sum())],
    ]
    result.update(
        _accuracy(called, disease),
        groups=prevalence_by_group(
            data, group_col=group_col, positive_col=marker, groups=positive_groups + negative_groups
        ),
        fisher_p=as_float(stats.fisher_exact(table, alternative="two-sided").pvalue),
        auc=None,
        warnings=notes,
    )
    return result


def accuracy_from_table(
    tp: int, fp: int, fn: int, tn: int, *, alpha: float = 0.05
) -> dict[str, Any]:
    """Return the accuracy of a binary test from its 2×2 table against the reference standard.

    Parameters
    ----------
    tp, fp, fn, tn : int
        True positives, false positives, false negatives and true negatives (counts >= 0), with
        at least one patient (``tp + fn``) and one non-patient (``fp + tn``).
    alpha : float
        1 − confidence level of the intervals (0.05 for 95%).

    Returns
    -------
    dict
        ``{table: {tp, fp, fn, tn}, sensitivity, specificity, ppv, npv, lr_positive,
        lr_negative, value_warnings}``, each value ``{estimate, ci_low, ci_high}``:

        - sensitivity TP/(TP + FN), specificity TN/(TN + FP), ppv TP/(TP + FP), npv
          TN/(TN + FN), all with Wilson score intervals. The predictive values are those at the
          study's own prevalence (TP + FN)/N, which in a study that recruits patients and
          controls separately is set by the recruitment, not by the clinic: to carry them to
          another setting use the likelihood ratios with that setting's prevalence.
        - lr_positive Se/(1 − Sp) and lr_negative (1 − Se)/Sp, with the log-method interval of
          Simel, Samsa and Matchar (1991): SE of ln LR+ = √(1/TP − 1/(TP + FN) + 1/FP −
          1/(FP + TN)), of ln LR− = √(1/FN − 1/(TP + FN) + 1/TN − 1/(FP + TN)).

        Zero cells (MotorBand's choice, stated in ``value_warnings``): a predictive value whose
        denominator is 0 (nobody called positive, or nobody called negative) is ``{estimate:
        None, ci_low: None, ci_high: None}``. A likelihood ratio whose numerator or denominator
        cell is 0 (so that it is 0 or infinite and the log interval does not exist) is computed,
        estimate and interval alike, with 0.5 added to every cell of the table (the
        Haldane–Anscombe correction, as common diagnostic calculators do), which keeps the
        estimate inside its interval; when both of its cells are 0 (0/0) it is None.
        ``value_warnings`` lists one sentence per value that is None or corrected.

    Raises
    ------
    ParameterError
        A count that is negative or not a whole number.
    InsufficientDataError
        No patient or no non-patient in the table.
    """
    counts = {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
            raise ParameterError(f"{name} must be a count (a whole number >= 0); got {value!r}")
    tp, fp, fn, tn = (int(counts[name]) for name in ("tp", "fp", "fn", "tn"))
    n_disease, n_healthy = tp + fn, fp + tn
    if n_disease == 0 or n_healthy == 0:
        raise InsufficientDataError(
            f"the 2×2 table has {n_disease} patient(s) and {n_healthy} non-patient(s): "
            "sensitivity and specificity need at least one of each"
        )
    notes: list[str] = []
    return {
        "table": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "sensitivity": _proportion(tp, n_disease, alpha),
        "specificity": _proportion(tn, n_healthy, alpha),
        "ppv": _predictive_value(tp, tp + fp, "positive", alpha, notes),
        "npv": _predictive_value(tn, tn + fn, "negative", alpha, notes),
        "lr_positive": _likelihood_ratio(tp, fp, fn, tn, "positive", alpha, notes),
        "lr_negative": _likelihood_ratio(fn, tn, tp, fp, "negative", alpha, notes),
        "value_warnings": notes,
    }


def _proportion(k: int, n: int, alpha: float) -> dict[str, float | None]:
    """Return ``{estimate, ci_low, ci_high}`` of ``k / n`` with Wilson's interval."""
    low, high = wilson_ci(k, n, alpha)
    return {"estimate": k / n, "ci_low": low, "ci_high": high}


def _predictive_value(
    k: int, n: int, side: str, alpha: float, notes: list[str]
) -> dict[str, float | None]:
    """Return a predictive value, or None entries with a note when nobody is called ``side``."""
    if n == 0:
        short = "PPV" if side == "positive" else "NPV"
        notes.append(
            f"No subject was called {side}, so the {side} predictive value ({short}) is undefined "
            "and is reported as None."
        )
        return {"estimate": None, "ci_low": None, "ci_high": None}
    return _proportion(k, n, alpha)


def _likelihood_ratio(
    in_disease: int,
    in_healthy: int,
    other_disease: int,
    other_healthy: int,
    side: str,
    alpha: float,
    notes: list[str],
) -> dict[str, float | None]:
    """Return LR+ (``side="positive"``: TP, FP, FN, TN) or LR− (FN, TN, TP, FP) with its
    Simel–Samsa–Matchar log interval, continuity-corrected when a cell it uses is 0.

    The likelihood ratio is P(result | disease) / P(result | no disease) for the result
    ``side``: ``in_disease`` and ``in_healthy`` are the patients and non-patients with that
    result, ``other_*`` those with the other one.
    """
    name = f"{side} likelihood ratio (LR{'+' if side == 'positive' else '−'})"
    if in_disease == 0 and in_healthy == 0:
        notes.append(
            f"No subject was called {side}, so the {name} is 0/0, undefined, and is reported as "
            "None."
        )
        return {"estimate": None, "ci_low": None, "ci_high": None}
    a, b = float(in_disease), float(in_healthy)
    n_disease = float(in_disease + other_disease)
    n_healthy = float(in_healthy + other_healthy)
    if in_disease == 0 or in_healthy == 0:
        if in_healthy == 0:
            raw = (
                f"infinite (none of the {in_healthy + other_healthy} non-patients was called "
                f"{side})"
            )
        else:
            raw = f"0 (none of the {in_disease + other_disease} patients was called {side})"
        notes.append(
            f"The {name} is {raw}, and its log interval does not exist: its estimate and "
            f"{100 * (1 - alpha):g}% interval are computed with 0.5 added to every cell of the "
            "2×2 table (Haldane–Anscombe correction)."
        )
        a, b = a + 0.5, b + 0.5
        n_disease, n_healthy = n_disease + 1, n_healthy + 1
    ratio = (a / n_disease) / (b / n_healthy)
    se = math.sqrt(max(0.0, 1 / a - 1 / n_disease + 1 / b - 1 / n_healthy))
    z = float(stats.norm.ppf(1 - alpha / 2))
    return {
        "estimate": ratio,
        "ci_low": math.exp(math.log(ratio) - z * se),
        "ci_high": math.exp(math.log(ratio) + z * se),
    }


def correlation(frame: pd.DataFrame, x: str, y: str, method: str = "spearman") -> dict[str, Any]:
    """Return a correlation with a 95% interval from Fisher's z transform.

    Used e.g. for each hemisphere's band contrast against the contralateral limbs' UMN subscore.

    Parameters
    ----------
    frame : DataFrame
        Rows with ``x`` and ``y`` (numeric; incomplete pairs dropped).
    method : {"spearman", "pearson"}
        Spearman's rho (interval with the Bonett–Wright standard error
        ``sqrt(1 + rho²/2) / sqrt(n − 3)``) or Pearson's r (``1 / sqrt(n − 3)``).

    Returns
    -------
    dict
        ``{n, rho, ci_low, ci_high, p}``; None where undefined (e.g. a constant column).
    """
    if method not in ("spearman", "pearson"):
        raise ParameterError(f"unknown correlation method {method!r}")
    _require_columns(frame, (x, y))
    pairs = frame[[x, y]].apply(pd.to_numeric, errors="coerce").dropna()
    n = len(pairs)
    if n < MIN_CORRELATION_PAIRS:
        raise InsufficientDataError(
            f"{n} complete pair(s) of {x} and {y}; at least {MIN_CORRELATION_PAIRS} are needed"
        )
    if pairs[x].nunique() < 2 or pairs[y].nunique() < 2:
        return {"n": n, "rho": None, "ci_low": None, "ci_high": None, "p": None}
    if method == "spearman":
        test = stats.spearmanr(pairs[x], pairs[y])
        rho, p = float(test.statistic), float(test.pvalue)
        se = math.sqrt(1 + rho * rho / 2) / math.sqrt(n - 3)
    else:
        test = stats.pearsonr(pairs[x], pairs[y])
        rho, p = float(test.statistic), float(test.pvalue)
        se = 1 / math.sqrt(n - 3)
    if abs(rho) >= 1:
        low = high = rho
    else:
        z = math.atanh(rho)
        z_crit = float(stats.norm.ppf(0.975))
        low, high = math.tanh(z - z_crit * se), math.tanh(z + z_crit * se)
    return {
        "n": n,
        "rho": as_float(rho),
        "ci_low": as_float(low),
        "ci_high": as_float(high),
        "p": as_float(p),
    }


def _accuracy(called: np.ndarray, disease: np.ndarray) -> dict[str, Any]:
    """Return :func:`accuracy_from_table` of the calls against the reference standard."""
    return accuracy_from_table(
        tp=int((called & disease).sum()),
        fp=int((called & ~disease).sum()),
        fn=int((~called & disease).sum()),
        tn=int((~called & ~disease).sum()),
    )


def _table(called: np.ndarray, disease: np.ndarray) -> list[list[int]]:
    return [
        [int((called & disease).sum()), int((~called & disease).sum())],
        [int((called & ~disease).sum()), int((~called & ~disease).sum())],
    ]


def _youden_threshold(scores: np.ndarray, disease: np.ndarray) -> float:
    """The threshold maximizing sensitivity + specificity − 1 (the first of equal ones)."""
    fpr, tpr, thresholds = _roc(scores, disease)
    return float(thresholds[int(np.argmax(tpr - fpr))])


def _sens_spec(scores: np.ndarray, disease: np.ndarray, threshold: float) -> tuple[float, float]:
    called = scores >= threshold
    return float(called[disease].mean()), float((~called[~disease]).mean())


def _optimism_corrected(
    scores: np.ndarray, disease: np.ndarray, *, resamples: int, seed: int
) -> dict[str, Any]:
    """Harrell's bootstrap optimism correction of the Youden threshold's sensitivity and
    specificity: apparent value minus the mean over resamples of (value in the resample at its
    own Youden threshold − value on the original data at that threshold). Resamples are
    stratified (patients and non-patients resampled apart), so each has both."""
    apparent = _sens_spec(scores, disease, _youden_threshold(scores, disease))
    rng = np.random.default_rng(seed)
    cases, controls = np.flatnonzero(disease), np.flatnonzero(~disease)
    optimism = np.zeros(2)
    for _ in range(resamples):
        rows = np.concatenate(
            [rng.choice(cases, size=len(cases)), rng.choice(controls, size=len(controls))]
        )
        boot_scores, boot_disease = scores[rows], disease[rows]
        threshold = _youden_threshold(boot_scores, boot_disease)
        in_boot = np.array(_sens_spec(boot_scores, boot_disease, threshold))
        on_original = np.array(_sens_spec(scores, disease, threshold))
        optimism += in_boot - on_original
    optimism /= resamples
    sensitivity = float(np.clip(apparent[0] - optimism[0], 0, 1))
    specificity = float(np.clip(apparent[1] - optimism[1], 0, 1))
    return {
        "sensitivity": sensitivity,
        "specificity": specificity,
        "youden_j": sensitivity + specificity - 1,
        "apparent_youden_j": apparent[0] + apparent[1] - 1,
        "resamples": resamples,
        "seed": seed,
        "method": "Harrell's bootstrap optimism correction (threshold re-chosen in each resample)",
    }


def _roc(scores: np.ndarray, disease: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the ROC curve (fpr, tpr, thresholds) for "positive when score >= threshold".

    The first point (0, 0) has threshold +inf: nobody is called positive.
    """
    thresholds = np.unique(scores)[::-1]
    tpr = _share_at_or_above(scores[disease], thresholds)
    fpr = _share_at_or_above(scores[~disease], thresholds)
    return (
        np.concatenate([[0.0], fpr]),
        np.concatenate([[0.0], tpr]),
        np.concatenate([[np.inf], thresholds]),
    )


def _share_at_or_above(values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, the share of ``values`` at or above it (by sorting: O(n log n))."""
    if len(values) == 0:
        return np.full(len(thresholds), np.nan)
    ordered = np.sort(values)
    below = np.searchsorted(ordered, thresholds, side="left")
    return (len(ordered) - below) / len(ordered)


def _delong_auc(
    cases: np.ndarray, controls: np.ndarray
) -> tuple[float | None, float | None, float | None]:
    """Return the AUC with its DeLong (1988) 95% interval, clipped to [0, 1].

    AUC = P(case > control) + ½ P(tie); variance from the structural components
    ``V10_i`` (cases) and ``V01_j`` (controls): ``var = s10 / m + s01 / n``.
    """
    m, n = len(cases), len(controls)
    # psi(case, control) = 1, ½ or 0. Its row and column means come from midranks (Sun and Xu
    # 2014's fast DeLong), without the m × n matrix: V10_i = (rank of case i among all − its
    # rank among cases) / n, V01_j = 1 − (rank of control j among all − its rank among
    # controls) / m.
    both = stats.rankdata(np.concatenate([cases, controls]))
    v10 = (both[:m] - stats.rankdata(cases)) / n
    v01 = 1.0 - (both[m:] - stats.rankdata(controls)) / m
    auc = float(v10.mean())
    if m < 2 or n < 2:
        return as_float(auc), None, None
    variance = v10.var(ddof=1) / m + v01.var(ddof=1) / n
    if variance <= 0:
        return as_float(auc), as_float(auc), as_float(auc)
    half = float(stats.norm.ppf(0.975)) * math.sqrt(variance)
    return as_float(auc), max(0.0, auc - half), min(1.0, auc + half)


def _degenerate_auc_interval(
    cases: np.ndarray,
    controls: np.ndarray,
    marker: str,
    auc: float | None,
    low: float | None,
    high: float | None,
    notes: list[str],
) -> tuple[float | None, float | None]:
    """Replace a DeLong interval that collapses to a point; append the reason to ``notes``."""
    m, n = len(cases), len(controls)
    if auc is None:
        return None, None
    if m < 2 or n < 2:
        notes.append(
            f"The AUC of {marker} rests on {m} subject(s) in the positive groups and {n} in the "
            "negative groups: an interval needs at least two on each side, so none is reported."
        )
        return None, None
    if low is None or high is None or low < high:
        return low, high
    if np.ptp(np.concatenate([cases, controls])) == 0:
        notes.append(
            f"{marker} has the same value ({cases[0]:g}) for every subject, so it cannot "
            "discriminate: its AUC is 0.5 by construction and has no interval."
        )
        return None, None
    if auc in (0.0, 1.0):
        score_low, score_high = _newcombe_auc_interval(auc, m, n)
        notes.append(
            f"{marker} separates the {m} subjects of the positive groups from the {n} of the "
            f"negative groups perfectly (AUC {auc:g}): DeLong's variance is zero there and its "
            f"interval [{auc:g}, {auc:g}] would look exact, so the 95% interval reported is "
            "Newcombe's score interval (2006, method 5); a perfect AUC in a small sample usually "
            "falls in new subjects."
        )
        return score_low, score_high
    notes.append(
        f"DeLong's variance of the AUC of {marker} is zero, so its interval would be a single "
        "point; no interval is reported."
    )
    return None, None


def _newcombe_auc_interval(auc: float, m: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Return Newcombe's (2006, Stat Med 25:559, method 5) score interval of an AUC.

    The bounds solve ``(auc − θ)² = z² V(θ)`` with the Hanley–McNeil variance in which ``m − 1``
    and ``n − 1`` are both replaced by ``N* − 1 = (m + n)/2 − 1``::

        V(θ) = θ(1 − θ) / (m n) · [1 + (N* − 1) ((1 − θ)/(2 − θ) + θ/(1 + θ))]

    Unlike DeLong's, it does not collapse at AUC 0 or 1 (like Wilson's interval of a proportion).
    """
    z = float(stats.norm.ppf(1 - alpha / 2))
    n_star = (m + n) / 2 - 1

    def excess(theta: float) -> float:
        variance = (
            theta
            * (1 - theta)
            / (m * n)
            * (1 + n_star * ((1 - theta) / (2 - theta) + theta / (1 + theta)))
        )
        return (auc - theta) ** 2 - z * z * variance

    # The root at the estimate itself (where V = 0 at 0 or 1) is stepped over.
    edge = 1e-12
    low = 0.0 if auc <= 0 else float(optimize.brentq(excess, 0.0, max(auc - edge, edge / 2)))
    high = 1.0 if auc >= 1 else float(optimize.brentq(excess, min(auc + edge, 1 - edge / 2), 1.0))
    return low, high


def _as_bool(values: pd.Series, name: str) -> pd.Series:
    """Return a 0/1 or boolean column as bool, refusing anything else."""
    unique = set(pd.unique(values))
    if not unique <= {True, False}:
        raise ParameterError(f"{name!r} must be boolean (or 0/1), found {sorted(map(str, unique))}")
    return values.astype(bool)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    """Raise ParameterError naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"unknown column(s) {missing}")


def _plain(value: Any) -> Any:
    """Return a level as a plain Python value."""
    if isinstance(value, np.generic):
        return value.item()
    return value
