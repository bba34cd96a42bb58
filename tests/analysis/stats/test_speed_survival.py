"""The vectorized start/stop frame equals the one built subject by subject."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.stats import survival


def _reference_start_stop(
    visits_frame: pd.DataFrame, tte_frame: pd.DataFrame, value_col: str
) -> pd.DataFrame:
    """The earlier loop over subjects."""
    visits = visits_frame.dropna(subset=["months", value_col]).sort_values(["subject", "months"])
    ends = tte_frame.set_index("subject")
    rows: list[dict[str, Any]] = []
    for subject, subject_visits in visits.groupby("subject", sort=False):
        if subject not in ends.index:
            continue
        end = float(ends.at[subject, "months"])
        happened = bool(ends.at[subject, "observed"])
        times = subject_visits["months"].to_numpy(dtype=float)
        values = subject_visits[value_col].to_numpy()
        keep = times < end
        times, values = times[keep], values[keep]
        for index, (start, value) in enumerate(zip(times, values, strict=True)):
            last = index == len(times) - 1
            stop = end if last else float(times[index + 1])
            if stop <= start:
                continue
            rows.append(
                {
                    "subject": subject,
                    "start": float(start),
                    "stop": stop,
                    "event": happened and last,
                    value_col: value,
                }
            )
    return pd.DataFrame(rows, columns=["subject", "start", "stop", "event", value_col])


def _random_study(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    subjects = [f"S{i:03d}" for i in range(int(rng.integers(1, 25)))]
    rows = [
        (
            subject,
            float(rng.choice([0.0, 4.0, 8.0, 8.0, 12.0, 3.5, np.nan])),
            rng.choice([np.nan, 0.1, 0.25, 0.3]),
        )
        for subject in subjects
        for _ in range(int(rng.integers(0, 5)))
    ]
    visits = pd.DataFrame(rows, columns=["subject", "months", "band_contrast"])
    if seed % 2:
        visits = visits.sample(frac=1.0, random_state=seed)  # any row order
    followed = [s for s in subjects if rng.random() < 0.8]  # some without an end: left out
    tte = pd.DataFrame(
        {
            "subject": followed,
            "months": rng.choice([0.0, 5.0, 8.0, 20.0, np.nan], len(followed)),
            "observed": rng.random(len(followed)) < 0.5,
        }
    )
    return visits, tte


@pytest.mark.parametrize("seed", range(60))
def test_start_stop_equals_the_loop(seed: int) -> None:
    visits, tte = _random_study(seed)
    pd.testing.assert_frame_equal(
        survival.to_start_stop(visits, tte, "band_contrast"),
        _reference_start_stop(visits, tte, "band_contrast"),
    )


def test_two_visits_at_one_time_keep_the_later_value_and_the_event_ends_the_last() -> None:
    visits = pd.DataFrame(
        {"subject": ["A", "A", "A", "B"], "months": [0.0, 4.0, 4.0, 0.0], "x": [1.0, 2.0, 3.0, 5.0]}
    )
    tte = pd.DataFrame({"subject": ["A", "B"], "months": [10.0, 6.0], "observed": [True, False]})
    long = survival.to_start_stop(visits, tte, "x")
    assert long.to_dict("records") == [
        {"subject": "A", "start": 0.0, "stop": 4.0, "event": False, "x": 1.0},
        {"subject": "A", "start": 4.0, "stop": 10.0, "event": True, "x": 3.0},
        {"subject": "B", "start": 0.0, "stop": 6.0, "event": False, "x": 5.0},
    ]


def test_a_subject_twice_in_the_times_to_event_is_refused() -> None:
    visits = pd.DataFrame({"subject": ["A"], "months": [0.0], "x": [1.0]})
    tte = pd.DataFrame({"subject": ["A", "A"], "months": [5.0, 6.0], "observed": [True, False]})
    with pytest.raises(ValueError, match="one row per subject"):
        survival.to_start_stop(visits, tte, "x")
