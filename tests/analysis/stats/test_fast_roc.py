"""The ROC curve and the DeLong AUC by sorting and midranks equal their definitions (brute force
over every pair and threshold), ties included: the fast forms made a 10,000-subject diagnostic
answer take seconds instead of a minute."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.stats import diagnostic


@pytest.mark.parametrize("seed", range(40))
def test_roc_and_delong_equal_the_definitions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 25)), int(rng.integers(1, 25))
    levels = int(rng.integers(2, 8))  # few levels: many ties
    cases = rng.integers(0, levels, m).astype(float)
    controls = rng.integers(0, levels, n).astype(float)
    psi = (cases[:, None] > controls[None, :]) + 0.5 * (cases[:, None] == controls[None, :])
    auc, low, high = diagnostic._delong_auc(cases, controls)
    assert auc == pytest.approx(psi.mean(), abs=1e-12)
    if m >= 2 and n >= 2:
        variance = psi.mean(axis=1).var(ddof=1) / m + psi.mean(axis=0).var(ddof=1) / n
        if variance > 0:
            half = stats.norm.ppf(0.975) * math.sqrt(variance)
            assert low == pytest.approx(max(0.0, psi.mean() - half), abs=1e-12)
            assert high == pytest.approx(min(1.0, psi.mean() + half), abs=1e-12)
    scores = np.concatenate([cases, controls])
    disease = np.arange(m + n) < m
    fpr, tpr, thresholds = diagnostic._roc(scores, disease)
    assert np.isinf(thresholds[0]) and fpr[0] == tpr[0] == 0
    for threshold, false_positive, true_positive in zip(
        thresholds[1:], fpr[1:], tpr[1:], strict=True
    ):
        assert true_positive == pytest.approx((cases >= threshold).mean())
        assert false_positive == pytest.approx((controls >= threshold).mean())
