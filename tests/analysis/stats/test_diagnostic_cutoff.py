"""A continuous marker's cut-off: pre-specified, or chosen on the data with its optimism
corrected (Harrell's bootstrap). Known truth: a marker with no signal has Youden J 0."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.stats.diagnostic import diagnostic_accuracy


def _frame(seed: int, n: int = 60, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    disease = np.repeat([True, False], n // 2)
    marker = rng.normal(0, 1, n) + shift * disease
    return pd.DataFrame({"group": np.where(disease, "ALS", "CONTROL"), "m": marker})


def _accuracy(frame: pd.DataFrame, **kwargs: object) -> dict:
    return diagnostic_accuracy(
        frame,
        marker="m",
        group_col="group",
        positive_groups=["ALS"],
        negative_groups=["CONTROL"],
        continuous=True,
        **kwargs,
    )


def test_optimism_correction_brings_a_useless_marker_back_to_zero():
    apparent, corrected = [], []
    for seed in range(25):
        result = _accuracy(_frame(seed), resamples=100)
        assert result["threshold_source"] == "youden"
        apparent.append(result["optimism_corrected"]["apparent_youden_j"])
        corrected.append(result["optimism_corrected"]["youden_j"])
    # The data-chosen cut-off flatters a marker with no signal (mean J well above 0); the
    # correction removes most of it.
    assert np.mean(apparent) > 0.1, np.mean(corrected)
    assert abs(np.mean(corrected)) < 0.06
    assert np.mean(corrected) < np.mean(apparent) - 0.07


def test_a_real_marker_keeps_most_of_its_accuracy_after_correction():
    result = _accuracy(_frame(1, n=200, shift=2.0), resamples=100)
    corrected = result["optimism_corrected"]
    assert corrected["youden_j"] > 0.55
    assert corrected["youden_j"] <= corrected["apparent_youden_j"] + 1e-12


def test_a_pre_specified_cutoff_is_read_as_given():
    frame = pd.DataFrame(
        {"group": ["ALS"] * 4 + ["CONTROL"] * 4, "m": [0.9, 0.6, 0.4, 0.1, 0.5, 0.3, 0.2, 0.0]}
    )
    result = _accuracy(frame, cutoff=0.45)
    assert result["threshold_source"] == "pre-specified"
    assert result["threshold"] == pytest.approx(0.45)
    assert result["sensitivity"]["estimate"] == pytest.approx(2 / 4)
    assert result["specificity"]["estimate"] == pytest.approx(3 / 4)
    assert result["optimism_corrected"] is None
    assert result["fisher_p"] is not None
    # Lower values pointing to disease: positive at or below the cut-off.
    lower = _accuracy(frame, cutoff=0.45, higher_is_positive=False)
    assert lower["sensitivity"]["estimate"] == pytest.approx(2 / 4)
    assert lower["specificity"]["estimate"] == pytest.approx(1 / 4)


def test_the_correction_is_reproducible():
    frame = _frame(4)
    assert _accuracy(frame)["optimism_corrected"] == _accuracy(frame)["optimism_corrected"]
