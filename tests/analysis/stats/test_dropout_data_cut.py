"""Follow-up ended by the data cut is not dropout (staggered enrolment): only subjects who miss
visits whose window had closed by the cut are dropouts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import progression

INTERVAL = 4.0


def _study(seed: int = 2) -> pd.DataFrame:
    """40 ALS and 40 control subjects enrolled over 24 months before the cut, visits every 4
    months until the cut; subjects 0-4 of each group leave after their second visit."""
    rng = np.random.default_rng(seed)
    rows = []
    for group, slope in (("ALS", -1.0), ("CONTROL", 0.0)):
        for number in range(40):
            enrolled_ago = rng.uniform(0, 24)  # months between V1 and the data cut
            visits = np.arange(0, enrolled_ago + 1e-9, INTERVAL)
            if number < 5:
                visits = visits[:2]  # true dropouts: leave after V2
            own = slope + rng.normal(0, 0.2)
            for month in visits:
                rows.append(
                    {
                        "subject": f"{group}-{number}",
                        "group": group,
                        "months": month,
                        "alsfrs_total": 40 + own * month + rng.normal(0, 1),
                        "possible_months": enrolled_ago,
                    }
                )
    return pd.DataFrame(rows)


def _dropped(result: dict) -> dict[str, int]:
    return {row["level"]: row["dropped_out"] for row in result["dropout"]["per_level"]}


def test_the_data_cut_is_not_dropout() -> None:
    frame = _study()
    with_cut = progression.fit_progression(
        frame, outcome="alsfrs_total", by="group", possible_col="possible_months"
    )
    without = progression.fit_progression(frame, outcome="alsfrs_total", by="group")
    # Only the five true dropouts per group who could have had a third visit count.
    true_dropouts = (
        frame.groupby("subject")
        .agg(last=("months", "max"), possible=("possible_months", "first"))
        .query("last < possible - @INTERVAL / 2 - @INTERVAL + 1e-9")
    )
    expected = true_dropouts.index.str.split("-").str[0].value_counts().to_dict()
    assert _dropped(with_cut) == {level: expected.get(level, 0) for level in ("ALS", "CONTROL")}
    assert all(count <= 5 for count in _dropped(with_cut).values())
    # Without the cut, most recent enrolees are called dropouts.
    assert min(_dropped(without).values()) > 15
    assert "data cut" in with_cut["dropout"]["definition"]


def test_an_unknown_column_is_refused() -> None:
    import pytest

    from analysis.stats.errors import ParameterError

    with pytest.raises(ParameterError, match="possible_col"):
        progression.fit_progression(
            _study(), outcome="alsfrs_total", by="group", possible_col="nope"
        )
