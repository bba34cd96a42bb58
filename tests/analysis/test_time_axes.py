"""Progression and survival on the time axis from symptom onset (delayed entry at V1), and King's
stage as an outcome and an event."""

from __future__ import annotations

from typing import Any

from analysis import frames, reports

API = "/api/v1/analysis/"


def test_progression_from_onset_leaves_out_subjects_without_onset(cohort: Any, api: Any) -> None:
    client = api("investigator")
    from_onset = client.get(
        f"{API}progression/", {"outcome": "umn_total", "time": "onset", "by": "site"}
    )
    assert from_onset.status_code == 200, from_onset.content
    body = from_onset.json()
    assert body["time"] == "onset"
    # Controls have no onset: their 18 visits leave, with the reason.
    reasons = {r["reason"]: r["count"] for r in body["excluded"]["reasons"]}
    assert reasons == {"no months from onset": 18}
    # By group, only ALS is left: refused in words rather than a model of one level.
    by_group = client.get(f"{API}progression/", {"outcome": "umn_total", "time": "onset"})
    assert by_group.status_code == 422


def test_the_onset_axis_is_what_the_model_sees(cohort: Any, users: dict[str, Any]) -> None:
    report = reports.progression_report(
        user=users["investigator"],
        outcome="umn_total",
        by="site",
        filters=reports.Filters(groups=("ALS",)),
        time="onset",
    )
    frame = frames.analysis_frame(user=users["investigator"], groups=["ALS"])
    expected = frame.set_index(["subject", "visit_code"])["months_from_onset"]
    got = report.data.set_index(["subject", "visit_code"])["months"]
    assert (got - expected.loc[got.index]).abs().max() < 1e-9
    assert all(s["slope"] > 0 for s in report.result["slopes"])  # UMN rises in the cohort


def pytest_approx(value: float, rel: float) -> Any:
    import pytest

    return pytest.approx(value, rel=rel)


def test_survival_from_onset_enters_at_v1(cohort: Any, api: Any, users: dict[str, Any]) -> None:
    client = api("investigator")
    response = client.get(f"{API}survival/", {"event": "death", "time": "onset", "by": "site"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["time"] == "onset"
    assert body["logrank_p"] is None
    assert any("delayed entry" in w for w in body["warnings"])
    report = reports.survival_report(
        user=users["investigator"],
        event="death",
        by="site",
        filters=reports.Filters(groups=("ALS",)),
        time="onset",
        figure=True,
    )
    assert "symptom onset" in str(report.figure["layout"])
    # The times are from onset: at least the months from onset to V1.
    assert (report.data["months"] > 10).all()


def test_kings_stage_is_an_outcome_and_stage_four_an_event(cohort: Any, users: dict[str, Any]):
    from cohort import services
    from cohort.models import Subject

    subject = Subject.objects.get(study_id="EDM-0003")
    v2 = subject.visits.get(visit_code="V2")
    services.event_create(user=None, subject=subject, kind="gastrostomy", date=v2.date)
    frame = frames.analysis_frame(user=users["investigator"])
    stages = frame.set_index(["subject", "visit_code"])["kings_stage"]
    assert stages.loc[("EDM-0003", "V2")] == 4
    assert frame["mitos_stage"].notna().any()
    tte = frames.event_frame(user=users["investigator"], event="kings_stage_4", groups=["ALS"])
    row = tte.set_index("subject").loc["EDM-0003"]
    assert bool(row["observed"]) is True
    assert row["months"] == pytest_approx(
        (v2.date - subject.baseline_visit().date).days / 30.4375, rel=1e-6
    )


def test_the_survival_page_shows_the_ph_check_and_the_time_varying_model(cohort, client, users):
    client.force_login(users["investigator"])
    page = client.get("/analysis/survival/", {"event": "death", "by": "site", "groups": "ALS"})
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="ph-check"' in text
    assert 'id="time-varying"' in text and "band_contrast_per_0.1" in text


def test_an_empty_forest_plot_says_the_model_was_not_estimated():
    from analysis import plots

    figure = plots.forest([])
    assert "not estimated" in figure["layout"]["annotations"][0]["text"]


def test_band_vs_umn_says_what_it_pooled(cohort, users):
    default = reports.band_umn_report(user=users["investigator"], filters=reports.Filters())
    assert default.data.groupby(["subject", "hemisphere"]).size().max() == 1
    assert set(default.data["group"]) == {"ALS"}
    assert any("at V1 by default" in w for w in default.result["warnings"])
    pooled = reports.band_umn_report(
        user=users["investigator"], filters=reports.Filters(groups=("ALS", "CONTROL"))
    )
    warnings = " ".join(pooled.result["warnings"])
    assert "not independent" in warnings and "confounding by diagnosis" in warnings
