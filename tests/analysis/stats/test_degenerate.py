"""Degenerate fits answer with a DegenerateModelError or a None interval and a reason, never a
number that looks like a finding (issue "Analyses that never mislead").

Each frame is small and simulated so that the degenerate feature is known by construction.
"""

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.exceptions import ConvergenceWarning

from analysis.stats.agreement import agreement_summary, cohen_kappa, fleiss_kappa
from analysis.stats.diagnostic import diagnostic_accuracy
from analysis.stats.errors import DegenerateModelError, InsufficientDataError
from analysis.stats.progression import fit_progression
from analysis.stats.survival import _library_warnings, cox, cox_time_varying, kaplan_meier
from tests.analysis.stats.plain_json import assert_plain_json


def test_degenerate_model_error_is_an_insufficient_data_error() -> None:
    # Callers (reports, API → 422) that catch InsufficientDataError handle it unchanged.
    assert issubclass(DegenerateModelError, InsufficientDataError)


# --- survival ---------------------------------------------------------------------------------


def survival_frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """ALS subjects have events (about 60%); CONTROL subjects are all censored."""
    rng = np.random.default_rng(seed)
    group = np.where(np.arange(n) % 2 == 0, "ALS", "CONTROL")
    return pd.DataFrame(
        {
            "months": rng.uniform(1, 30, n),
            "observed": (group == "ALS") & (rng.uniform(size=n) < 0.6),
            "group": group,
            "age": rng.normal(60, 10, n),
        }
    )


def test_kaplan_meier_single_subject_level_has_no_median() -> None:
    frame = pd.DataFrame(
        {
            "months": [5.0, 1.0, 2.0, 3.0, 4.0, 6.0],
            "observed": [True, True, False, True, True, False],
            "group": ["PLS", "ALS", "ALS", "ALS", "ALS", "ALS"],
        }
    )
    answer = {a["level"]: a for a in kaplan_meier(frame, by="group")}
    assert_plain_json(list(answer.values()))
    single = answer["PLS"]
    # lifelines reports a median of 5.0 with the interval [5, 5] from one subject.
    assert single["median_months"] is None
    assert single["ci_low"] is None and single["ci_high"] is None
    assert any("single subject" in w and "group = PLS" in w for w in single["warnings"])


def test_kaplan_meier_all_censored_level_says_not_reached() -> None:
    answer = {a["level"]: a for a in kaplan_meier(survival_frame(), by="group")}
    control = answer["CONTROL"]
    assert control["events"] == 0
    assert control["median_months"] is None and control["ci_high"] is None
    assert any("No subject at group = CONTROL" in w for w in control["warnings"])


def test_kaplan_meier_missing_upper_bound_is_none_with_reason() -> None:
    frame = pd.DataFrame(
        {
            "months": [1.0, 2.0, 3.0, 4.0, 5.0],
            "observed": [False, True, False, True, False],
            "group": ["ALS"] * 5,
        }
    )
    (level,) = kaplan_meier(frame, by="group")
    assert level["median_months"] == 4.0
    assert level["ci_low"] == 2.0
    assert level["ci_high"] is None
    assert any("upper bound" in w and "not reached" in w for w in level["warnings"])


def test_cox_refuses_a_level_without_events() -> None:
    # Controls never reach the event: lifelines returns HR 1e-8 with p 0.99 and ci_high inf.
    with pytest.raises(DegenerateModelError, match="group = CONTROL") as caught:
        cox(survival_frame(), covariates=["group"], categorical=["group"])
    message = str(caught.value)
    assert "No subject" in message and "Kaplan–Meier" in message
    assert message.endswith(".")


def test_cox_refuses_a_covariate_that_orders_the_events() -> None:
    # Every subject has the event and the older subject always dies first: monotone likelihood.
    frame = survival_frame(n=30).assign(observed=True)
    frame["age"] = 100 - frame["months"]
    with pytest.raises(DegenerateModelError, match="'age' separates the events"):
        cox(frame, covariates=["age"])


def test_cox_refuses_a_covariate_that_predicts_the_event() -> None:
    # Everyone with the event has a marker near 10, everyone censored near 0.
    rng = np.random.default_rng(1)
    frame = survival_frame().assign(observed=lambda d: rng.uniform(size=len(d)) < 0.5)
    frame["marker"] = np.where(frame["observed"], 10.0, 0.0) + rng.normal(0, 0.1, len(frame))
    with pytest.raises(DegenerateModelError, match="'marker'"):
        cox(frame, covariates=["marker"])


def test_cox_warns_about_few_events_per_parameter() -> None:
    frame = survival_frame(n=40, seed=3)
    frame["observed"] = np.arange(40) % 5 == 0  # 8 events, both groups
    frame["group"] = np.where(np.arange(40) % 2 == 0, "ALS", "PLS")
    answer = cox(frame, covariates=["group", "age"], categorical=["group"])
    assert_plain_json(answer)
    assert any("8 event(s) for 2 parameter(s)" in w for w in answer["warnings"])
    assert all(w.endswith(".") for w in answer["warnings"])


def test_lifelines_warnings_become_sentences_naming_the_covariate() -> None:
    # lifelines' own warnings on a level without events name its internal column (x0_0), end
    # in a code example, and used to reach the answer cut at their first line.
    frame = survival_frame()
    design = pd.DataFrame(
        {
            "x0_0": (frame["group"] == "CONTROL").astype(float),
            "months": frame["months"],
            "observed": frame["observed"],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CoxPHFitter().fit(design, duration_col="months", event_col="observed")
    assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    sentences = _library_warnings(caught, {"x0_0": "group: CONTROL vs ALS"}, "Cox model")
    assert any("'group: CONTROL vs ALS'" in s and "separation" in s for s in sentences)
    for sentence in sentences:
        assert "x0_0" not in sentence and "following code" not in sentence
        assert sentence[0].isupper() and sentence.endswith(".")


def test_time_varying_cox_refuses_a_constant_marker() -> None:
    long = pd.DataFrame(
        {
            "subject": np.repeat(np.arange(10), 2),
            "start": np.tile([0.0, 4.0], 10),
            "stop": np.tile([4.0, 8.0], 10),
            "event": np.tile([False, True], 10) & (np.repeat(np.arange(10), 2) % 2 == 0),
            "band": 0.1,
        }
    )
    with pytest.raises(DegenerateModelError, match="'band' has the same value"):
        cox_time_varying(long, covariates=["band"])


# --- progression ------------------------------------------------------------------------------


def progression_frame(
    n_subjects: int, *, between_sd: float = 3.0, constant: bool = False, seed: int = 1
) -> pd.DataFrame:
    """Three visits per subject; subject intercepts with SD ``between_sd``; residual SD 1."""
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(n_subjects), 3)
    months = np.tile([0.0, 4.0, 8.0], n_subjects)
    outcome = 40 - 0.5 * months + rng.normal(0, 1, len(subject))
    outcome += np.repeat(rng.normal(0, between_sd, n_subjects), 3) if between_sd else 0.0
    if constant:
        outcome = np.full(len(subject), 40.0)
    return pd.DataFrame(
        {
            "subject": subject,
            "group": np.where(subject % 2 == 0, "ALS", "CONTROL"),
            "months": months,
            "umn_total": outcome,
        }
    )


@pytest.mark.parametrize("engine", ["statsmodels", "vectorized"])
def test_constant_outcome_is_refused_at_once(engine: str) -> None:
    # The statsmodels engine used to spend about 5 minutes before failing on a singular matrix.
    started = time.perf_counter()
    with pytest.raises(DegenerateModelError, match="same value") as caught:
        fit_progression(
            progression_frame(60, constant=True), outcome="umn_total", by="group", engine=engine
        )
    assert time.perf_counter() - started < 2
    assert "'umn_total'" in str(caught.value)


def test_exact_straight_line_outcome_is_refused() -> None:
    frame = progression_frame(30)
    frame["umn_total"] = 40 - 0.5 * frame["months"]
    with pytest.raises(DegenerateModelError, match="exact straight line"):
        fit_progression(frame, outcome="umn_total", by="group", engine="statsmodels")


def test_constant_level_is_named_in_the_warnings() -> None:
    frame = progression_frame(40, seed=2)
    frame.loc[frame["group"] == "CONTROL", "umn_total"] = 0.0  # floor of the scale
    answer = fit_progression(frame, outcome="umn_total", by="group")
    assert any("group = CONTROL" in w and "by construction" in w for w in answer["warnings"])


def test_no_between_subject_variance_statsmodels_engine() -> None:
    # Used to raise an unhandled numpy LinAlgError (Cholesky of a zero variance).
    with pytest.raises(DegenerateModelError, match="variance between subjects"):
        fit_progression(
            progression_frame(300, between_sd=0.0, seed=2),
            outcome="umn_total",
            by="group",
            engine="statsmodels",
        )


def test_no_between_subject_variance_at_10000_subjects_vectorized() -> None:
    frame = progression_frame(10_000, between_sd=0.0)
    started = time.perf_counter()
    with pytest.raises(DegenerateModelError, match="variance between subjects") as caught:
        fit_progression(frame, outcome="umn_total", by="group", engine="auto")
    assert time.perf_counter() - started < 5
    assert "'umn_total'" in str(caught.value)


# --- diagnostic accuracy ----------------------------------------------------------------------


def marker_frame(values: list[float]) -> pd.DataFrame:
    """Five ALS then five CONTROL subjects with the given marker values."""
    return pd.DataFrame({"group": ["ALS"] * 5 + ["CONTROL"] * 5, "band_contrast": values})


def accuracy(frame: pd.DataFrame) -> dict:
    return diagnostic_accuracy(
        frame,
        marker="band_contrast",
        group_col="group",
        positive_groups=["ALS"],
        negative_groups=["CONTROL"],
        continuous=True,
    )


def test_perfect_marker_gets_a_score_interval_not_one_to_one() -> None:
    answer = accuracy(marker_frame([0.10, 0.11, 0.12, 0.13, 0.14, 0.01, 0.02, 0.03, 0.04, 0.05]))
    assert_plain_json(answer)
    assert answer["auc"] == 1.0
    # DeLong gives [1, 1]; Newcombe's score interval for 5 vs 5 reaches well below 1.
    assert 0.5 < answer["auc_ci_low"] < 0.8
    assert answer["auc_ci_high"] == 1.0
    assert any("perfectly" in w and "Newcombe" in w for w in answer["warnings"])


def test_constant_marker_has_no_auc_interval() -> None:
    answer = accuracy(marker_frame([0.05] * 10))
    assert_plain_json(answer)
    assert answer["auc"] == 0.5
    assert answer["auc_ci_low"] is None and answer["auc_ci_high"] is None
    assert any("same value" in w and "cannot discriminate" in w for w in answer["warnings"])


def test_non_degenerate_marker_has_no_warning() -> None:
    answer = accuracy(marker_frame([0.10, 0.02, 0.12, 0.13, 0.14, 0.01, 0.11, 0.03, 0.04, 0.05]))
    assert answer["warnings"] == []
    assert answer["auc_ci_low"] < answer["auc"] < answer["auc_ci_high"]


# --- agreement --------------------------------------------------------------------------------


def test_cohen_kappa_with_a_one_grade_rater_has_no_zero_width_interval() -> None:
    # Rater A grades every item 1: kappa is 0 by construction; statsmodels' SE is 0 → [0, 0].
    answer = cohen_kappa([1] * 6, [0, 1, 2, 1, 0, 1])
    assert_plain_json(answer)
    assert answer["kappa"] == 0.0
    assert answer["ci_low"] is None and answer["ci_high"] is None
    assert any("first rater" in w and "same grade" in w for w in answer["warnings"])


def test_cohen_kappa_all_one_category_says_why_undefined() -> None:
    answer = cohen_kappa([2, 2, 2], [2, 2, 2])
    assert answer["kappa"] is None and answer["ci_low"] is None
    assert any("Both raters" in w and "undefined" in w for w in answer["warnings"])


def test_cohen_kappa_perfect_agreement_interval_is_not_exact() -> None:
    answer = cohen_kappa([0, 1, 2, 0, 1, 2], [0, 1, 2, 0, 1, 2])
    assert answer["kappa"] == 1.0
    assert answer["ci_low"] is None and answer["ci_high"] is None
    assert any("agree on all 6 items" in w for w in answer["warnings"])


def test_fleiss_kappa_all_items_one_category() -> None:
    answer = fleiss_kappa(np.array([[3, 0, 0]] * 5))
    assert_plain_json(answer)
    assert answer["kappa"] is None and answer["ci_low"] is None
    assert any("same grade" in w for w in answer["warnings"])


def test_one_rater_is_named() -> None:
    reads = pd.DataFrame({"item": range(5), "rater": "r1", "grade": [0, 1, 2, 1, 0]})
    with pytest.raises(InsufficientDataError, match="only one rater"):
        fleiss_kappa(reads)
    summary = agreement_summary(reads)
    assert_plain_json(summary)
    assert summary["fleiss"] is None and summary["pairs"] == []
    assert any("Only one rater (r1)" in w for w in summary["warnings"])
