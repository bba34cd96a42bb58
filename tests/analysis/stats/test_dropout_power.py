"""Dropout that may go with decline is flagged even when the small study's test cannot show it;
a large study whose dropout is at random is not flagged."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import progression

RULED_OUT = "Informative dropout cannot be ruled out"
ASSOCIATED = "Dropout is associated"


def _study(n: int, informative: bool, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for group, mean_slope in (("ALS", -1.0), ("CONTROL", -0.05)):
        for number in range(n):
            slope = mean_slope + rng.normal(0, 0.4 if group == "ALS" else 0.15)
            intercept = 40 + rng.normal(0, 4)
            times = np.arange(0, 28, 4.0)
            leaves = (
                slope < mean_slope - 0.2 and rng.random() < 0.8
                if informative
                else rng.random() < 0.3
            )
            if leaves:
                times = times[:3]
            for month in times:
                rows.append(
                    {
                        "subject": f"{group}-{number}",
                        "group": group,
                        "months": month,
                        "alsfrs_total": intercept + slope * month + rng.normal(0, 2.0),
                    }
                )
    return pd.DataFrame(rows)


def _warnings(frame: pd.DataFrame) -> list[str]:
    return progression.fit_progression(frame, outcome="alsfrs_total", by="group")["warnings"]


def test_a_small_study_with_informative_dropout_is_flagged() -> None:
    flagged = 0
    for seed in range(12):
        warnings = _warnings(_study(8, informative=True, seed=seed))
        flagged += any(RULED_OUT in w or ASSOCIATED in w for w in warnings)
    assert flagged >= 10


def test_a_large_study_with_dropout_at_random_is_not_flagged() -> None:
    warnings = _warnings(_study(80, informative=False, seed=1))
    assert not any(RULED_OUT in w for w in warnings), warnings


def test_no_dropout_no_flag() -> None:
    rng_frame = _study(8, informative=False, seed=3)
    complete = rng_frame.groupby("subject")["months"].transform("max") == 24
    frame = rng_frame[complete]
    warnings = _warnings(frame)
    assert not any(RULED_OUT in w or ASSOCIATED in w for w in warnings)
