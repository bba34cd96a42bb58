"""Kappa intervals over scans: the two hemispheres of a scan are read together, so the bootstrap
resamples scans. Known truth: duplicating every item as a second "hemisphere" with the same
grades must not narrow the interval, as it does when items are taken as independent."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats.agreement import cohen_kappa, fleiss_kappa, pairwise_agreement


def _reads(seed: int = 5, scans: int = 40, twins: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, scans)
    rows = []
    for scan in range(scans):
        for rater in ("r1", "r2", "r3"):
            grade = int(np.clip(truth[scan] + rng.choice([-1, 0, 0, 1]), 0, 2))
            for hemisphere in ("L", "R") if twins else ("L",):
                # The same grade on both hemispheres: perfectly dependent items.
                rows.append((f"{scan}:{hemisphere}", scan, rater, grade))
    return pd.DataFrame(rows, columns=["item", "scan", "rater", "grade"])


def test_a_scans_two_hemispheres_do_not_count_as_two_independent_items():
    single = _reads(twins=False)
    doubled = _reads(twins=True)
    one = pairwise_agreement(single)[0]
    two = pairwise_agreement(doubled)[0]
    assert two["kappa"] == one["kappa"]
    width_one = one["ci_high"] - one["ci_low"]
    width_two = two["ci_high"] - two["ci_low"]
    # Resampling scans: the duplicated hemispheres add no information, the width stays (within
    # bootstrap noise); treating them as independent would shrink it by about 1/sqrt(2).
    assert width_two > 0.85 * width_one
    assert "clusters" in two["ci_method"]
    naive = cohen_kappa(
        doubled[doubled["rater"] == "r1"]["grade"].tolist(),
        doubled[doubled["rater"] == "r2"]["grade"].tolist(),
    )
    assert naive["ci_high"] - naive["ci_low"] < 0.8 * width_two


def test_fleiss_interval_resamples_scans_too():
    single = fleiss_kappa(_reads(twins=False))
    doubled = fleiss_kappa(_reads(twins=True))
    assert abs(doubled["kappa"] - single["kappa"]) < 1e-12
    width_one = single["ci_high"] - single["ci_low"]
    width_two = doubled["ci_high"] - doubled["ci_low"]
    assert width_two > 0.85 * width_one
