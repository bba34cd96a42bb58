"""Tests of analysis.stats.survival: event times, Kaplan–Meier, log-rank and Cox models."""

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test

from analysis.stats.errors import InsufficientDataError, ParameterError
from analysis.stats.survival import (
    cox,
    cox_time_varying,
    kaplan_meier,
    logrank_p,
    time_to_event,
    to_start_stop,
)
from tests.analysis.stats.plain_json import assert_plain_json

TRUE_HAZARD_RATIO = 2.0


def exponential_cohort(n: int = 400, seed: int = 1) -> pd.DataFrame:
    """Exponential event times (median 24 months at baseline hazard), uniform censoring."""
    rng = np.random.default_rng(seed)
    positive = rng.integers(0, 2, n).astype(bool)
    rate = np.log(2) / 24 * np.where(positive, TRUE_HAZARD_RATIO, 1.0)
    event_months = rng.exponential(1 / rate)
    censor_months = rng.uniform(6, 60, n)
    return pd.DataFrame(
        {
            "subject": [f"S{i:04d}" for i in range(n)],
            "months": np.minimum(event_months, censor_months),
            "observed": event_months <= censor_months,
            "mbs_baseline": np.where(positive, "positive", "negative"),
            "age": rng.normal(60, 10, n),
        }
    )


def test_time_to_event_composite_takes_the_first_and_censors_at_last_date() -> None:
    v1 = pd.Timestamp("2024-01-01")
    subjects = pd.DataFrame(
        {
            "subject": ["A", "B", "C", "D"],
            "v1_date": [v1] * 4,
            "last_date": pd.to_datetime(["2024-07-19", "2024-12-31", "2025-01-01", "2024-11-01"]),
        }
    )
    events = pd.DataFrame(
        {
            "subject": ["A", "A", "B", "C", "D"],
            "kind": ["death", "pav", "niv", "tracheostomy", "withdrawal"],
            "date": pd.to_datetime(
                ["2024-07-19", "2024-04-10", "2024-03-01", "2024-10-28", "2024-11-01"]
            ),
        }
    )
    frame = time_to_event(subjects, events, event="death_or_tracheostomy_or_pav")
    assert list(frame.columns) == ["subject", "months", "observed"]
    by_subject = frame.set_index("subject")
    assert by_subject.loc["A", "months"] == pytest.approx(100 / 30.4375)  # pav before death
    assert by_subject.loc["A", "observed"]
    assert not by_subject.loc["B", "observed"]  # NIV is not part of the composite
    assert by_subject.loc["B", "months"] == pytest.approx(365 / 30.4375)
    assert by_subject.loc["C", "months"] == pytest.approx(301 / 30.4375)
    assert not by_subject.loc["D", "observed"]
    assert by_subject.loc["D", "months"] == pytest.approx(305 / 30.4375)

    niv = time_to_event(subjects, events, event="niv").set_index("subject")
    assert niv.loc["B", "observed"] and niv.loc["B", "months"] == pytest.approx(60 / 30.4375)
    # A died without NIV: censored at death (no longer at risk)
    assert not niv.loc["A", "observed"]
    assert niv.loc["A", "months"] == pytest.approx(200 / 30.4375)


def test_time_to_event_leaves_out_events_before_v1() -> None:
    subjects = pd.DataFrame(
        {"subject": ["A", "B"], "v1_date": ["2024-01-01"] * 2, "last_date": ["2024-06-01"] * 2}
    )
    events = pd.DataFrame({"subject": ["A"], "kind": ["gastrostomy"], "date": ["2023-12-01"]})
    frame = time_to_event(subjects, events, event="gastrostomy")
    assert frame["subject"].tolist() == ["B"]
    assert frame.attrs["excluded_before_v1"] == ["A"]


def test_unknown_event_and_kind_are_parameter_errors() -> None:
    subjects = pd.DataFrame(
        {"subject": ["A"], "v1_date": ["2024-01-01"], "last_date": ["2024-06-01"]}
    )
    events = pd.DataFrame({"subject": ["A"], "kind": ["death"], "date": ["2024-05-01"]})
    with pytest.raises(ParameterError, match="unknown event"):
        time_to_event(subjects, events, event="stroke")
    events.loc[0, "kind"] = "stroke"
    with pytest.raises(ParameterError, match="unknown event kind"):
        time_to_event(subjects, events, event="death")


def test_kaplan_meier_medians_match_lifelines_and_the_truth() -> None:
    frame = exponential_cohort()
    answer = kaplan_meier(frame, by="mbs_baseline")
    assert_plain_json(answer)
    assert [a["level"] for a in answer] == ["negative", "positive"]
    for level in answer:
        subset = frame[frame["mbs_baseline"] == level["level"]]
        direct = KaplanMeierFitter().fit(subset["months"], subset["observed"])
        assert level["median_months"] == pytest.approx(direct.median_survival_time_, abs=1e-9)
        assert level["n"] == len(subset)
        assert level["events"] == int(subset["observed"].sum())
        assert level["curve"]["survival"][0] == 1.0
        assert level["at_risk"]["n"][0] == len(subset)
    true_medians = {"negative": 24.0, "positive": 12.0}
    for level in answer:
        assert level["ci_low"] < true_medians[level["level"]] < level["ci_high"]


def test_kaplan_meier_by_hand_and_median_not_reached() -> None:
    frame = pd.DataFrame(
        {
            "months": [1, 2, 3, 4, 5, 1, 2, 3, 4, 5],
            "observed": [True] * 5 + [False, False, True, False, False],
            "group": ["a"] * 5 + ["b"] * 5,
        }
    )
    answer = {a["level"]: a for a in kaplan_meier(frame, by="group")}
    assert_plain_json(list(answer.values()))
    assert answer["a"]["median_months"] == 3.0  # S(3) = 2/5 ≤ 0.5 first at 3 months
    assert answer["b"]["median_months"] is None  # S stays at 2/3 · ... > 0.5
    assert answer["b"]["curve"]["survival"][-1] == pytest.approx(2 / 3)


def test_logrank_matches_lifelines() -> None:
    frame = exponential_cohort()
    negative = frame[frame["mbs_baseline"] == "negative"]
    positive = frame[frame["mbs_baseline"] == "positive"]
    direct = logrank_test(
        negative["months"], positive["months"], negative["observed"], positive["observed"]
    )
    assert logrank_p(frame, by="mbs_baseline") == pytest.approx(direct.p_value, rel=1e-9)
    frame["site"] = np.arange(len(frame)) % 3
    direct3 = multivariate_logrank_test(frame["months"], frame["site"], frame["observed"])
    assert logrank_p(frame, by="site") == pytest.approx(direct3.p_value, rel=1e-9)


def test_cox_covers_the_true_hazard_ratio_and_matches_lifelines() -> None:
    frame = exponential_cohort()
    answer = cox(
        frame,
        covariates=["mbs_baseline", "age"],
        categorical=["mbs_baseline"],
        reference={"mbs_baseline": "negative"},
    )
    assert_plain_json(answer)
    terms = {t["term"]: t for t in answer["terms"]}
    mbs = terms["mbs_baseline: positive vs negative"]
    assert mbs["ci_low"] < TRUE_HAZARD_RATIO < mbs["ci_high"]
    assert terms["age"]["ci_low"] < 1.0 < terms["age"]["ci_high"]
    direct = CoxPHFitter().fit(
        frame.assign(positive=(frame["mbs_baseline"] == "positive").astype(float))[
            ["months", "observed", "positive", "age"]
        ],
        duration_col="months",
        event_col="observed",
    )
    assert mbs["hazard_ratio"] == pytest.approx(direct.hazard_ratios_["positive"], rel=1e-6)
    assert mbs["p"] == pytest.approx(direct.summary.loc["positive", "p"], rel=1e-6)
    assert answer["concordance"] == pytest.approx(direct.concordance_index_, rel=1e-9)
    assert {c["term"] for c in answer["ph_check"]} == set(terms)
    assert all(0 <= c["p"] <= 1 for c in answer["ph_check"])


def test_all_censored_is_insufficient() -> None:
    frame = exponential_cohort(n=40).assign(observed=False)
    with pytest.raises(InsufficientDataError, match="censored"):
        cox(frame, covariates=["age"])
    with pytest.raises(InsufficientDataError, match="censored"):
        logrank_p(frame, by="mbs_baseline")


def test_one_level_is_insufficient_for_logrank_and_cox() -> None:
    frame = exponential_cohort(n=40).assign(mbs_baseline="negative")
    with pytest.raises(InsufficientDataError):
        logrank_p(frame, by="mbs_baseline")
    with pytest.raises(InsufficientDataError, match="one level"):
        cox(frame, covariates=["mbs_baseline"], categorical=["mbs_baseline"])


def test_start_stop_and_time_varying_cox() -> None:
    rng = np.random.default_rng(4)
    tte = exponential_cohort(n=200, seed=4)
    visits = pd.DataFrame(
        [
            {"subject": s, "months": m, "band_contrast": rng.normal(0.05, 0.02)}
            for s in tte["subject"]
            for m in (0.0, 4.0, 8.0)
        ]
    )
    long = to_start_stop(visits, tte, "band_contrast")
    first = tte.iloc[0]
    rows = long[long["subject"] == first["subject"]]
    assert rows["start"].iloc[0] == 0.0
    assert rows["stop"].iloc[-1] == pytest.approx(first["months"])
    assert rows["event"].sum() == int(first["observed"])
    assert (long["stop"] > long["start"]).all()
    assert long.groupby("subject")["event"].sum().max() <= 1
    answer = cox_time_varying(long, covariates=["band_contrast"])
    assert_plain_json(answer)
    assert answer["terms"][0]["term"] == "band_contrast"
    assert answer["events"] == int(tte["observed"].sum())
