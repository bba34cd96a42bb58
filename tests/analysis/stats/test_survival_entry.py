"""Delayed entry (time from symptom onset, observed from V1 on): checked against an independent
counting-process fit and against a hand-computed Kaplan–Meier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxTimeVaryingFitter

from analysis.stats import survival


def _cohort(seed: int = 3, n: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    onset_to_v1 = rng.uniform(3, 30, n)
    # Exponential survival from onset with hazard ratio 2 for group 1, observed from V1 on:
    # subjects who died before V1 never enrolled (left truncation).
    rows = []
    while len(rows) < n:
        g = int(rng.integers(0, 2))
        entry = float(rng.uniform(3, 30))
        death = float(rng.exponential(40 / (2 if g else 1)))
        if death <= entry:
            continue
        censor = entry + float(rng.uniform(6, 24))
        rows.append((g, entry, min(death, censor), death <= censor))
    del group, onset_to_v1
    return pd.DataFrame(rows, columns=["group", "entry", "months", "observed"])


def test_cox_with_delayed_entry_matches_the_counting_process_fit():
    data = _cohort()
    ours = survival.cox(data, covariates=["group"], entry="entry")
    independent = CoxTimeVaryingFitter().fit(
        data.reset_index().rename(columns={"index": "id"}),
        id_col="id",
        event_col="observed",
        start_col="entry",
        stop_col="months",
    )
    (term,) = ours["terms"]
    assert np.log(term["hazard_ratio"]) == pytest.approx(independent.params_["group"], abs=1e-4)
    ignored = survival.cox(data, covariates=["group"])
    assert ignored["terms"][0]["hazard_ratio"] != pytest.approx(term["hazard_ratio"], abs=1e-3)


def test_kaplan_meier_with_delayed_entry_counts_only_those_entered():
    # Three subjects: enter at 0, 5 and 8; die at 4, 10; one censored at 12.
    frame = pd.DataFrame(
        {
            "group": ["a"] * 3 + ["a"] * 2,
            "entry": [0.0, 5.0, 8.0, 1.0, 2.0],
            "months": [4.0, 10.0, 12.0, 6.0, 9.0],
            "observed": [True, True, False, False, False],
        }
    )
    (level,) = survival.kaplan_meier(frame, by="group", entry="entry")
    curve = dict(zip(level["curve"]["months"], level["curve"]["survival"], strict=True))
    # At 4: at risk those entered before 4 and still there (entries 0, 1, 2) → 1 - 1/3.
    assert curve[4.0] == pytest.approx(2 / 3)
    # At 10: at risk those with entry < 10 and time >= 10: the subjects at 10 and 12 → × 1/2.
    assert curve[10.0] == pytest.approx(2 / 3 * 1 / 2)


def test_entry_after_the_event_is_refused_in_words():
    frame = pd.DataFrame(
        {
            "group": ["a"] * 5,
            "entry": [0.0, 5.0, 8.0, 1.0, 20.0],
            "months": [4.0, 10.0, 12.0, 6.0, 9.0],
            "observed": [True, True, False, False, False],
        }
    )
    with pytest.raises(ValueError, match="enter observation after"):
        survival.kaplan_meier(frame, by="group", entry="entry")
