"""The blocked bootstrap of Fleiss' kappa gives the numbers of the stacked one, bit for bit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.stats import agreement


def _count_table(rng: np.random.Generator, n_items: int, n_raters: int) -> np.ndarray:
    grades = rng.integers(0, 3, size=(n_items, n_raters))
    return np.stack([(grades == g).sum(axis=1) for g in range(3)], axis=1).astype(float)


@pytest.mark.parametrize(
    ("n_items", "n_raters", "block_cells"),
    [(2, 2, 7), (7, 3, 20), (50, 4, 1_000), (333, 2, agreement.RESAMPLE_BLOCK_CELLS)],
)
def test_blocked_resamples_equal_the_stacked_ones(
    monkeypatch: pytest.MonkeyPatch, n_items: int, n_raters: int, block_cells: int
) -> None:
    # Small blocks force several of them, the last one shorter.
    monkeypatch.setattr(agreement, "RESAMPLE_BLOCK_CELLS", block_cells)
    table = _count_table(np.random.default_rng(n_items), n_items, n_raters)
    stacked = agreement._fleiss(
        table[np.random.default_rng(5).integers(0, n_items, size=(301, n_items))]
    )
    blocked = agreement._fleiss_resampled(table, np.random.default_rng(5), 301)
    np.testing.assert_array_equal(blocked, stacked)


def test_agreement_on_every_item_gives_the_same_undefined_resamples() -> None:
    table = np.array([[2.0, 0.0, 0.0]] * 5)
    stacked = agreement._fleiss(table[np.random.default_rng(1).integers(0, 5, size=(40, 5))])
    blocked = agreement._fleiss_resampled(table, np.random.default_rng(1), 40)
    np.testing.assert_array_equal(blocked, stacked)  # NaN where they are NaN


def test_fleiss_kappa_interval_is_the_stacked_bootstrap_one() -> None:
    rng = np.random.default_rng(3)
    reads = pd.DataFrame(
        [
            {"item": f"{item}", "rater": rater, "grade": int(rng.integers(0, 3))}
            for item in range(40)
            for rater in ("a", "b", "c")
        ]
    )
    answer = agreement.fleiss_kappa(reads)
    table = agreement._count_table(reads, agreement.MBS_GRADES)
    picks = np.random.default_rng(agreement.BOOTSTRAP_SEED).integers(
        0, len(table), size=(agreement.BOOTSTRAP_RESAMPLES, len(table))
    )
    bootstrap = agreement._fleiss(table[picks])
    bootstrap = bootstrap[np.isfinite(bootstrap)]
    assert answer["ci_low"] == float(np.quantile(bootstrap, 0.025))
    assert answer["ci_high"] == float(np.quantile(bootstrap, 0.975))
    assert answer["se"] == float(bootstrap.std(ddof=1))


def _reference_count_table(reads: pd.DataFrame, categories: list[int]) -> np.ndarray:
    """The earlier pandas cross-tabulation."""
    data = reads.dropna(subset=["grade"])
    counts = pd.crosstab(data["item"], pd.Categorical(data["grade"], categories=categories))
    counts = counts.reindex(columns=list(categories), fill_value=0)
    totals = counts.sum(axis=1)
    counts = counts[totals == totals.max()] if len(totals) else counts
    return counts.to_numpy(dtype=float)


@pytest.mark.parametrize("seed", range(20))
def test_count_table_equals_the_cross_tabulation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 60))
    # Items as the API names them ("<scan>:<hemisphere>") or as numbers; some reads ungraded
    # (NaN), some items read by fewer raters (left out of the table).
    items: list[Any] = [f"{rng.integers(1, 30)}:{rng.choice(['L', 'R'])}" for _ in range(n)]
    if seed % 2:
        items = [int(rng.integers(0, 25)) for _ in range(n)]
    reads = pd.DataFrame(
        {
            "item": items,
            "rater": [f"r{rng.integers(0, 3)}" for _ in range(n)],
            "grade": rng.choice([0, 1, 2, 1.0, np.nan], n),
        }
    )
    np.testing.assert_array_equal(
        agreement._count_table(reads, list(agreement.MBS_GRADES)),
        _reference_count_table(reads, list(agreement.MBS_GRADES)),
    )
