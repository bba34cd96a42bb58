"""Tests of analysis.stats.agreement: consensus and kappa by hand and against statsmodels."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import cohens_kappa as sm_cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from analysis.stats.agreement import (
    agreement_summary,
    cohen_kappa,
    consensus_grade,
    fleiss_kappa,
    mbs_positive,
    pairwise_agreement,
)
from analysis.stats.errors import InsufficientDataError
from tests.analysis.stats.plain_json import assert_plain_json

RATER_A = [0, 0, 1, 1, 2, 2, 1, 0]
RATER_B = [0, 1, 1, 2, 2, 1, 1, 0]


def test_consensus_and_positivity() -> None:
    assert consensus_grade([0, 1, 2]) == 1.0
    assert consensus_grade([0, 1]) == 0.5
    assert consensus_grade([None, float("nan")]) is None
    assert mbs_positive(0.0, 1.0) is True
    assert mbs_positive(0.5, 0.0) is False
    assert mbs_positive(None, 2.0) is True
    assert mbs_positive(None, 0.0) is None


def test_linear_weighted_cohen_kappa_by_hand() -> None:
    # Table (rows A, columns B): [[2, 1, 0], [0, 2, 1], [0, 1, 1]], n = 8.
    # Agreement weights 1 − |i − j| / 2.
    # Observed: (5 · 1 + 3 · 0.5) / 8 = 6.5 / 8 = 0.8125.
    # Marginals A = [3, 3, 2] / 8, B = [2, 4, 2] / 8; expected:
    #   diagonal 6 + 12 + 4 = 22, one apart (12 + 6 + 6 + 8) · 0.5 = 16 → 38 / 64 = 0.59375.
    # kappa = (0.8125 − 0.59375) / (1 − 0.59375) = (7/32) / (13/32) = 7/13.
    answer = cohen_kappa(RATER_A, RATER_B)
    assert_plain_json(answer)
    assert answer["kappa"] == pytest.approx(7 / 13, abs=1e-12)
    assert answer["n"] == 8
    assert answer["percent_agreement"] == 62.5
    assert answer["ci_low"] < answer["kappa"] < answer["ci_high"]


def test_cohen_kappa_matches_statsmodels() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 3, 120)
    b = np.clip(a + rng.integers(-1, 2, 120), 0, 2)
    answer = cohen_kappa(a.tolist(), b.tolist())
    table = np.zeros((3, 3))
    np.add.at(table, (a, b), 1)
    expected = sm_cohens_kappa(table, wt="linear")
    assert answer["kappa"] == pytest.approx(expected.kappa, abs=1e-9)
    assert answer["se"] == pytest.approx(expected.std_kappa, abs=1e-9)
    unweighted = cohen_kappa(a.tolist(), b.tolist(), weights=None)
    assert unweighted["kappa"] == pytest.approx(sm_cohens_kappa(table).kappa, abs=1e-9)


def test_cohen_kappa_undefined_is_none_not_nan() -> None:
    answer = cohen_kappa([1, 1, 1], [1, 1, 1])
    assert_plain_json(answer)
    assert answer["kappa"] is None and answer["percent_agreement"] == 100.0


def test_fleiss_kappa_by_hand() -> None:
    # 3 raters, 4 items: counts [3,0,0], [0,3,0], [1,2,0], [0,1,2].
    # P_i = 1, 1, 1/3, 1/3 → P̄ = 2/3; p_j = [4, 6, 2] / 12 → P̄e = 1/9 + 1/4 + 1/36 = 7/18.
    # kappa = (2/3 − 7/18) / (1 − 7/18) = 5/11.
    table = np.array([[3, 0, 0], [0, 3, 0], [1, 2, 0], [0, 1, 2]])
    answer = fleiss_kappa(table)
    assert_plain_json(answer)
    assert answer["kappa"] == pytest.approx(5 / 11, abs=1e-12)
    assert answer["kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    assert answer["n_items"] == 4 and answer["n_raters"] == 3
    assert answer["percent_agreement"] == pytest.approx(100 * 2 / 3)


def test_fleiss_from_long_reads_matches_statsmodels_and_pairs() -> None:
    rng = np.random.default_rng(5)
    truth = rng.integers(0, 3, 80)
    rows = [
        {"item": i, "rater": rater, "grade": int(np.clip(t + rng.integers(-1, 2), 0, 2))}
        for i, t in enumerate(truth)
        for rater in ("r1", "r2", "r3")
    ]
    long = pd.DataFrame(rows)
    wide = long.pivot(index="item", columns="rater", values="grade").to_numpy()
    table, _ = aggregate_raters(wide, n_cat=3)
    answer = fleiss_kappa(long)
    assert answer["kappa"] == pytest.approx(sm_fleiss_kappa(table), abs=1e-9)
    assert answer["ci_low"] < answer["kappa"] < answer["ci_high"]
    pairs = pairwise_agreement(long)
    assert [(p["rater_a"], p["rater_b"]) for p in pairs] == [
        ("r1", "r2"),
        ("r1", "r3"),
        ("r2", "r3"),
    ]
    t12 = np.zeros((3, 3))
    np.add.at(t12, (wide[:, 0].astype(int), wide[:, 1].astype(int)), 1)
    assert pairs[0]["kappa"] == pytest.approx(sm_cohens_kappa(t12, wt="linear").kappa, abs=1e-9)
    summary = agreement_summary(long)
    assert_plain_json(summary)
    assert summary["n_items"] == 80 and summary["n_raters"] == 3


def test_no_common_items_is_insufficient() -> None:
    with pytest.raises(InsufficientDataError):
        cohen_kappa([None, 1], [2, None])
