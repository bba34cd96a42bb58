"""Blinded reads of the motor band sign: consensus grades and inter-rater agreement (kappa)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa

from analysis.stats._json import as_float
from analysis.stats.errors import InsufficientDataError, ParameterError

#: MBS grades per hemisphere (domain.md, Blinded reads): 0 none, 1 partial, 2 definite.
MBS_GRADES = (0, 1, 2)
#: A hemisphere is MBS-positive where its consensus grade is at least this.
MBS_POSITIVE_GRADE = 1
#: Bootstrap resamples of items for the Fleiss kappa interval, and their fixed seed (a report
#: must give the same interval every time it is run).
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20240501
#: Items × resamples drawn at once in a bootstrap of Fleiss' kappa (memory, not the answer).
RESAMPLE_BLOCK_CELLS = 2_000_000
Z_95 = 1.959963984540054


def consensus_grade(grades: Iterable[float | None]) -> float | None:
    """Return the consensus grade of one hemisphere: the median over raters.

    Missing grades (None or NaN) are ignored; None when no rater graded it. With an even number
    of raters the median may be a half grade (1 and 2 give 1.5).
    """
    present = [float(g) for g in grades if g is not None and not math.isnan(float(g))]
    if not present:
        return None
    # statistics.median: the same value as numpy's, without numpy's per-call overhead (the
    # analysis table calls this twice per visit).
    return float(statistics.median(present))


#: A hemisphere whose raters' grades differ by more than this waits for adjudication.
ADJUDICATION_SPREAD = 1


def settled_grade(grades: Iterable[float | None], adjudicated: float | None = None) -> float | None:
    """Return the grade of one hemisphere that counts: the adjudicator's, or the raters' median.

    Raters more than ``ADJUDICATION_SPREAD`` grades apart (0 and 2) have no consensus: their
    median (1) would call the hemisphere positive with nobody having seen a partial band, so the
    hemisphere waits for adjudication (None) unless an adjudicated grade is given.
    """
    if adjudicated is not None:
        return float(adjudicated)
    present = [float(g) for g in grades if g is not None and not math.isnan(float(g))]
    if present and max(present) - min(present) > ADJUDICATION_SPREAD:
        return None
    return consensus_grade(present)


def graded_reads_suffice(n_graded: int, n_non_diagnostic: int) -> bool:
    """Return whether a scan's graded reads are enough for a consensus.

    MotorBand's rule: more graded reads than non-diagnostic ones (a strict majority of the
    scan's current reads). A scan every rater found non-diagnostic, or one graded and one
    non-diagnostic read, has no consensus: the first is non-diagnostic, the second waits for an
    adjudicator's final read.
    """
    if n_graded < 0 or n_non_diagnostic < 0:
        raise ValueError("read counts are never negative")
    return n_graded > n_non_diagnostic


def settled_scan_grades(
    left: Sequence[float | None],
    right: Sequence[float | None],
    *,
    n_non_diagnostic: int = 0,
    adjudicated: tuple[float, float] | None = None,
) -> tuple[float | None, float | None]:
    """Return the (left, right) grades of one scan that count.

    Parameters
    ----------
    left, right : sequence
        Grades of the scan's current graded reads (non-diagnostic reads have none), one per
        rater, in the same order.
    n_non_diagnostic : int
        Current non-diagnostic reads of the scan.
    adjudicated : (left, right), optional
        An adjudicator's final read, which replaces the consensus.

    Returns
    -------
    tuple
        The adjudicated grades; else (None, None) when the graded reads do not suffice
        (:func:`graded_reads_suffice`); else :func:`settled_grade` of each hemisphere.
    """
    if adjudicated is not None:
        return float(adjudicated[0]), float(adjudicated[1])
    if not graded_reads_suffice(len(left), n_non_diagnostic):
        return None, None
    return settled_grade(left), settled_grade(right)


def mbs_positive(left_consensus: float | None, right_consensus: float | None) -> bool | None:
    """Return whether a scan is MBS-positive: a hemisphere's consensus grade at least 1.

    True as soon as one hemisphere is positive; False when both are graded and below 1; None
    when one hemisphere is ungraded and the other is below 1 (undetermined).
    """
    known = [g for g in (left_consensus, right_consensus) if g is not None]
    if any(g >= MBS_POSITIVE_GRADE for g in known):
        return True
    if len(known) == 2:
        return False
    return None


def cohen_kappa(
    a: Sequence[Any],
    b: Sequence[Any],
    *,
    categories: Sequence[Any] = MBS_GRADES,
    weights: str | None = "linear",
    clusters: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Return Cohen's kappa of two raters on the same items.

    With ``clusters`` (one label per item, e.g. the scan of each hemisphere) the items of a
    cluster are not independent: the interval is then a percentile bootstrap over clusters
    (``BOOTSTRAP_RESAMPLES`` resamples, fixed seed) with its standard error in ``se_bootstrap``
    (``ci_method`` says which interval); ``se`` stays the large-sample one.

    Parameters
    ----------
    a, b : sequence
        Grades of rater A and rater B, paired by position; pairs with a missing grade dropped.
    categories : sequence
        Ordered categories; the weight of a disagreement uses their positions.
    weights : {"linear", "quadratic", None}
        Linear weights ``|i − j| / (k − 1)`` (the default, for ordered grades), quadratic, or
        unweighted kappa.

    Returns
    -------
    dict
        ``{kappa, ci_low, ci_high, se, n, percent_agreement, warnings}`` where ``se`` is the
        large-sample standard error of statsmodels' ``cohens_kappa`` (Fleiss, Cohen & Everitt
        1969), the interval is ``kappa ± 1.96 se`` and ``percent_agreement`` the share of exact
        agreement (0-100). Kappa is None where it is undefined (both raters use one and the same
        category). Where that standard error is zero (a rater who gives every item the same
        grade: kappa is 0 by construction; or agreement on every item: kappa 1) the interval
        would be a single point such as [0, 0]: ``se``, ``ci_low`` and ``ci_high`` are then None
        and ``warnings`` (list of sentences) says why.
    """
    if weights not in ("linear", "quadratic", None):
        raise ParameterError(f"unknown kappa weights {weights!r}")
    if len(a) != len(b):
        raise ValueError(f"the raters' grades differ in length ({len(a)} and {len(b)})")
    categories = list(categories)
    kept = [
        i for i, (x, y) in enumerate(zip(a, b, strict=True)) if not (_missing(x) or _missing(y))
    ]
    pairs = [(a[i], b[i]) for i in kept]
    n = len(pairs)
    if n == 0:
        raise InsufficientDataError("no item was graded by both raters")
    index = {category: i for i, category in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in pairs:
        if x not in index or y not in index:
            raise ParameterError(f"grade outside the categories {categories}: {(x, y)}")
        table[index[x], index[y]] += 1
    agreement = 100 * float(np.trace(table)) / n
    wt = {"linear": "linear", "quadratic": "quadratic", None: None}[weights]
    with np.errstate(divide="ignore", invalid="ignore"):
        result = sm_cohens_kappa(table, wt=wt)
    kappa, se = as_float(result.kappa), as_float(result.std_kappa)
    notes = _cohen_degenerate_reasons(table, categories, kappa, se, n)
    low = high = se_bootstrap = None
    method = "large-sample (Fleiss, Cohen and Everitt 1969)"
    if notes:
        se = None
    elif clusters is not None and kappa is not None:
        labels = [clusters[i] for i in kept]
        low, high, se_bootstrap = _cluster_bootstrap_kappa(pairs, labels, index, wt)
        method = f"percentile bootstrap over {len(set(labels))} clusters (scans)"
    elif kappa is not None and se is not None:
        low, high = kappa - Z_95 * se, kappa + Z_95 * se
    return {
        "kappa": kappa,
        "ci_low": low,
        "ci_high": high,
        "se": se,
        "se_bootstrap": se_bootstrap,
        "ci_method": method if low is not None else None,
        "n": n,
        "percent_agreement": agreement,
        "warnings": notes,
    }


def _kappa_weights(k: int, wt: str | None) -> np.ndarray:
    """Agreement weights: 1 on the diagonal, falling with the distance between categories."""
    distance = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / max(k - 1, 1)
    if wt == "linear":
        return 1 - distance
    if wt == "quadratic":
        return 1 - distance**2
    return np.eye(k)


def _cluster_bootstrap_kappa(
    pairs: Sequence[tuple[Any, Any]],
    labels: Sequence[Any],
    index: dict[Any, int],
    wt: str | None,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float | None, float | None, float | None]:
    """Percentile interval and SE of weighted kappa, resampling whole clusters."""
    k = len(index)
    order = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    tables = np.zeros((len(order), k, k))
    for (x, y), label in zip(pairs, labels, strict=True):
        tables[order[label], index[x], index[y]] += 1
    if len(order) < 2:
        return None, None, None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(order), size=(resamples, len(order)))
    counts = np.zeros((resamples, len(order)))
    np.add.at(counts, (np.arange(resamples)[:, None], picks), 1)
    totals = np.tensordot(counts, tables, axes=1)  # resamples × k × k
    weights = _kappa_weights(k, wt)
    n = totals.sum(axis=(1, 2))
    observed = (totals * weights).sum(axis=(1, 2)) / n
    rows, cols = totals.sum(axis=2) / n[:, None], totals.sum(axis=1) / n[:, None]
    expected = np.einsum("ri,ij,rj->r", rows, weights, cols)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappas = (observed - expected) / (1 - expected)
    kappas = kappas[np.isfinite(kappas)]
    if len(kappas) < resamples / 2:
        return None, None, None
    low, high = np.percentile(kappas, [2.5, 97.5])
    return float(low), float(high), float(np.std(kappas, ddof=1))


def _cohen_degenerate_reasons(
    table: np.ndarray, categories: list[Any], kappa: float | None, se: float | None, n: int
) -> list[str]:
    """Return why Cohen's kappa or its interval is not estimable (empty when it is)."""
    used_a = [categories[i] for i in np.flatnonzero(table.sum(axis=1))]
    used_b = [categories[j] for j in np.flatnonzero(table.sum(axis=0))]
    if kappa is None and used_a == used_b and len(used_a) == 1:
        return [
            f"Both raters gave all {n} items the same grade ({_plain(used_a[0])}), so chance "
            "agreement is complete and kappa is undefined; agreement needs items of more than "
            "one grade."
        ]
    for rater, used in (("the first rater", used_a), ("the second rater", used_b)):
        if len(used) == 1:
            return [
                f"{rater.capitalize()} gave all {n} items the same grade ({_plain(used[0])}), so "
                "kappa is 0 by construction whatever the other rater did, and its interval would "
                "be the single point [0, 0]; no interval is reported."
            ]
    if kappa is not None and (se is None or se <= 0):
        return [
            f"The raters agree on all {n} items (kappa {kappa:g}); the large-sample standard "
            f"error is zero there and the interval would be the single point [{kappa:g}, "
            f"{kappa:g}], so no interval is reported: with {n} items the true agreement may be "
            "lower."
        ]
    return []


def fleiss_kappa(
    ratings: pd.DataFrame | np.ndarray, *, categories: Sequence[Any] = MBS_GRADES
) -> dict[str, Any]:
    """Return Fleiss' kappa of several raters.

    Parameters
    ----------
    ratings : DataFrame or ndarray
        Either a count table (items × categories: how many raters put each item in each
        category; every row sums to the number of raters) or a long frame with columns
        ``item``, ``rater``, ``grade``. From a long frame, only items graded by the largest number
        of raters are used, since Fleiss' kappa needs the same number of ratings per item.
    categories : sequence
        Categories of a long frame, in order.

    Returns
    -------
    dict
        ``{kappa, ci_low, ci_high, se, n_items, n_raters, percent_agreement, warnings}``: the
        interval is the percentile interval of 2,000 bootstrap resamples of items (fixed seed),
        ``se`` their standard deviation, ``percent_agreement`` the mean share of agreeing rater
        pairs per item (0-100). Kappa agrees with ``statsmodels.stats.inter_rater.fleiss_kappa``.
        Kappa is None when every rating falls in one category; the interval and ``se`` are None
        when the bootstrap interval collapses to a point (e.g. agreement on every item); the
        reason is then a sentence in ``warnings``.

    Raises
    ------
    InsufficientDataError
        With fewer than two items or fewer than two raters (one rater cannot agree with anyone).
    """
    table = _count_table(ratings, categories)
    n_items = table.shape[0]
    totals = table.sum(axis=1)
    n_raters = int(totals[0]) if n_items else 0
    if n_raters == 1 and n_items:
        raise InsufficientDataError(
            "Fleiss' kappa needs two or more raters per item, but only one rater graded these "
            "items: agreement cannot be measured until a second rater reads them."
        )
    if n_items < 2 or n_raters < 2:
        raise InsufficientDataError(
            f"Fleiss' kappa needs two or more items and raters, found {n_items} and {n_raters}"
        )
    if not np.all(totals == n_raters):
        raise ValueError("every item must have the same number of ratings")
    kappa = _fleiss(table[None, :, :])[0]
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    clusters = _item_clusters(ratings)
    if clusters is not None and len(set(clusters)) >= 2:
        # Hemispheres of one scan are read together: resample scans, each with its items.
        order = {label: i for i, label in enumerate(dict.fromkeys(clusters))}
        member = np.array([order[c] for c in clusters])
        picks = rng.integers(0, len(order), size=(BOOTSTRAP_RESAMPLES, len(order)))
        per_cluster = np.zeros((BOOTSTRAP_RESAMPLES, len(order)))
        np.add.at(per_cluster, (np.arange(BOOTSTRAP_RESAMPLES)[:, None], picks), 1)
        bootstrap = _fleiss_weighted(table, per_cluster[:, member])
    else:
        bootstrap = _fleiss_resampled(table, rng, BOOTSTRAP_RESAMPLES)
    bootstrap = bootstrap[np.isfinite(bootstrap)]
    low = high = se = None
    if len(bootstrap) > 1:
        low = as_float(np.quantile(bootstrap, 0.025))
        high = as_float(np.quantile(bootstrap, 0.975))
        se = as_float(bootstrap.std(ddof=1))
    notes: list[str] = []
    used = np.flatnonzero(table.sum(axis=0))
    if as_float(kappa) is None and len(used) == 1:
        notes.append(
            f"All {n_raters} raters gave all {n_items} items the same grade, so chance agreement "
            "is complete and Fleiss' kappa is undefined; agreement needs items of more than one "
            "grade."
        )
        low = high = se = None
    elif low is None or high is None or low >= high:
        notes.append(
            f"The bootstrap interval of Fleiss' kappa (kappa {as_float(kappa)}) collapses to a "
            f"single point over {n_items} items, as when the raters agree on every item, and "
            "would look exact; no interval is reported: more items are needed to measure its "
            "precision."
        )
        low = high = se = None
    pair_agreement = (np.sum(table * table, axis=1) - n_raters) / (n_raters * (n_raters - 1))
    return {
        "kappa": as_float(kappa),
        "ci_low": low,
        "ci_high": high,
        "se": se,
        "n_items": int(n_items),
        "n_raters": n_raters,
        "percent_agreement": 100 * float(pair_agreement.mean()),
        "warnings": notes,
    }


def pairwise_agreement(
    reads: pd.DataFrame,
    *,
    categories: Sequence[Any] = MBS_GRADES,
    weights: str | None = "linear",
) -> list[dict[str, Any]]:
    """Return Cohen's kappa for every pair of raters over the items both graded.

    Parameters
    ----------
    reads : DataFrame
        Long frame ``item``, ``rater``, ``grade`` (an item is e.g. a scan hemisphere), and
        optionally ``scan``: the interval then resamples scans (see :func:`cohen_kappa`).

    Returns
    -------
    list of dict
        ``{rater_a, rater_b}`` plus the fields of :func:`cohen_kappa`, for each pair of raters
        with at least one common item, raters sorted.
    """
    wide = _wide(reads)
    # Two hemispheres of one scan are read together: resample scans, not hemispheres.
    scan_of = reads.drop_duplicates("item").set_index("item")["scan"] if "scan" in reads else None
    result = []
    for rater_a, rater_b in itertools.combinations(sorted(wide.columns), 2):
        both = wide[[rater_a, rater_b]].dropna()
        if both.empty:
            continue
        kappa = cohen_kappa(
            both[rater_a].tolist(),
            both[rater_b].tolist(),
            categories=categories,
            weights=weights,
            clusters=None if scan_of is None else scan_of.loc[both.index].tolist(),
        )
        result.append({"rater_a": _plain(rater_a), "rater_b": _plain(rater_b), **kappa})
    return result


def agreement_summary(
    reads: pd.DataFrame, *, categories: Sequence[Any] = MBS_GRADES
) -> dict[str, Any]:
    """Return the overall agreement: Fleiss' kappa, the pairwise kappas and their mean.

    Returns
    -------
    dict
        ``{fleiss: <fleiss_kappa answer or None when fewer than two items share all raters>,
        pairs: <pairwise_agreement>, mean_pairwise_kappa, n_items, n_raters, warnings}``;
        ``warnings`` (sentences) says why Fleiss' kappa or every pair is missing, e.g. a single
        rater.
    """
    pairs = pairwise_agreement(reads, categories=categories)
    notes: list[str] = []
    try:
        fleiss: dict[str, Any] | None = fleiss_kappa(reads, categories=categories)
    except InsufficientDataError as exc:
        fleiss = None
        notes.append(str(exc))
    kappas = [p["kappa"] for p in pairs if p["kappa"] is not None]
    wide = _wide(reads)
    if wide.shape[1] == 1:
        notes = [
            f"Only one rater ({_plain(wide.columns[0])}) graded these {wide.shape[0]} items: "
            "agreement needs two or more raters, so no kappa is reported."
        ]
    return {
        "fleiss": fleiss,
        "pairs": pairs,
        "mean_pairwise_kappa": float(np.mean(kappas)) if kappas else None,
        "n_items": int(wide.shape[0]),
        "n_raters": int(wide.shape[1]),
        "warnings": notes,
    }


def _fleiss(tables: np.ndarray) -> np.ndarray:
    """Return Fleiss' kappa of each count table in a stack (tables × items × categories)."""
    n_raters = tables[0, 0].sum()
    n_items = tables.shape[1]
    shares = tables.sum(axis=1) / (n_items * n_raters)
    observed = (np.sum(tables * tables, axis=2) - n_raters) / (n_raters * (n_raters - 1))
    p_bar = observed.mean(axis=1)
    p_expected = np.sum(shares * shares, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((p_bar - p_expected) / (1 - p_expected), dtype=float)


def _fleiss_resampled(table: np.ndarray, rng: np.random.Generator, resamples: int) -> np.ndarray:
    """Fleiss' kappa of ``resamples`` bootstrap resamples of the items (rows) of ``table``.

    The same numbers, bit for bit, as ``_fleiss(table[rng.integers(0, n, (resamples, n))])``
    (tests/analysis/stats/test_speed_agreement.py): the draws come in blocks of resamples, which
    continue the generator's stream unchanged, and each resample's category totals are counts
    (whole numbers, summed exactly in any order) while the per-item agreement is averaged in the
    same order as there. The stacked tables (resamples × items × categories) would take about a
    gigabyte and eight seconds at 20,000 items; a block takes a few tens of megabytes.
    """
    n_items = table.shape[0]
    n_raters = table[0].sum()
    observed = (np.sum(table * table, axis=1) - n_raters) / (n_raters * (n_raters - 1))
    block = max(1, RESAMPLE_BLOCK_CELLS // max(n_items, 1))
    kappas = []
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        picks = rng.integers(0, n_items, size=(size, n_items))
        # How often each item is drawn in each resample of the block.
        drawn = np.bincount(
            (picks + n_items * np.arange(size)[:, None]).ravel(), minlength=size * n_items
        ).reshape(size, n_items)
        shares = (drawn.astype(float) @ table) / (n_items * n_raters)
        p_bar = np.take(observed, picks).mean(axis=1)
        p_expected = np.sum(shares * shares, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            kappas.append(np.asarray((p_bar - p_expected) / (1 - p_expected), dtype=float))
    return np.concatenate(kappas) if kappas else np.zeros(0)


def _fleiss_weighted(table: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Fleiss' kappa of one items × categories table under each row of item ``weights``
    (resamples × items: how often each item is drawn)."""
    n_raters = table[0].sum()
    totals = weights.sum(axis=1)
    shares = (weights @ table) / (totals[:, None] * n_raters)
    observed = (np.sum(table * table, axis=1) - n_raters) / (n_raters * (n_raters - 1))
    p_bar = (weights @ observed) / totals
    p_expected = np.sum(shares * shares, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray((p_bar - p_expected) / (1 - p_expected), dtype=float)


def _item_clusters(ratings: Any) -> list[Any] | None:
    """The scan of each row of ``_count_table(ratings)`` (None without a ``scan`` column)."""
    if not isinstance(ratings, pd.DataFrame) or "scan" not in ratings.columns:
        return None
    data = ratings.dropna(subset=["grade"])
    totals = data.groupby("item").size().sort_index()
    kept = totals[totals == totals.max()].index if len(totals) else totals.index
    scan_of = data.drop_duplicates("item").set_index("item")["scan"]
    return scan_of.loc[kept].tolist()


def _count_table(ratings: pd.DataFrame | np.ndarray, categories: Sequence[Any]) -> np.ndarray:
    """Return an items × categories count table from a table or a long frame of reads."""
    if isinstance(ratings, pd.DataFrame) and {"item", "rater", "grade"} <= set(ratings.columns):
        data = ratings.dropna(subset=["grade"])
        unknown = set(data["grade"]) - set(categories)
        if unknown:
            raise ParameterError(f"grades outside the categories {list(categories)}: {unknown}")
        # Items in sorted order, as pd.crosstab gives them (which took half a second for
        # 40,000 reads); each grade counted in its category's column.
        items, item_index = np.unique(data["item"].to_numpy(), return_inverse=True)
        code = {category: column for column, category in enumerate(categories)}
        grade_index = np.array([code[grade] for grade in data["grade"]], dtype=np.intp)
        table = np.zeros((len(items), len(categories)))
        np.add.at(table, (item_index.reshape(-1), grade_index), 1.0)
        totals = table.sum(axis=1)
        return table[totals == totals.max()] if len(totals) else table
    table = np.asarray(ratings, dtype=float)
    if table.ndim != 2:
        raise ValueError("a count table must be two-dimensional (items × categories)")
    if np.any(table < 0):
        raise ValueError("a count table must not hold negative counts")
    return table


def _wide(reads: pd.DataFrame) -> pd.DataFrame:
    """Return items × raters grades from a long frame of reads."""
    missing = {"item", "rater", "grade"} - set(reads.columns)
    if missing:
        raise ParameterError(f"reads lack the column(s) {sorted(missing)}")
    if reads.duplicated(["item", "rater"]).any():
        raise ValueError("a rater graded an item more than once")
    return reads.pivot(index="item", columns="rater", values="grade")


def _missing(value: Any) -> bool:
    """Return whether a grade is missing (None or NaN)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _plain(value: Any) -> Any:
    """Return a value as a plain Python value."""
    if isinstance(value, np.generic):
        return value.item()
    return value
