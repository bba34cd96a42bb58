"""Diagnostic accuracy against the reference standard (final diagnosis) over suspected ALS."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from analysis import diagnostic_study, reports
from cohort import services
from tests.analysis.conftest import add_band, add_read
from tests.factories import ENROLLED, make_subject, make_visit

API = "/api/v1/"
FINAL = ENROLLED + dt.timedelta(days=380)

#: (final phenotype or None, reads (left, right) per rater or None, band contrast or None,
#: field strength, site)
SUSPECTS = [
    ("ALS", [(2, 1), (2, 2)], 0.09, 3.0, "EDM"),  # TP
    ("ALS", [(1, 1), (1, 0)], 0.07, 3.0, "TOR"),  # TP
    ("PLS", [(2, 2), (2, 1)], 0.11, 1.5, "EDM"),  # TP
    ("ALS", [(0, 0), (0, 0)], 0.02, 1.5, "TOR"),  # FN
    ("MIMIC", [(0, 0), (0, 0)], 0.01, 3.0, "EDM"),  # TN
    ("MIMIC", [(1, 0), (1, 1)], 0.05, 3.0, "TOR"),  # FP
    ("PMA", [(0, 0), (0, 1)], 0.00, 3.0, "EDM"),  # TN (PMA: no UMN involvement)
    ("ALS", [(0, 0), (2, 0)], 0.06, 3.0, "TOR"),  # indeterminate read (0 vs 2)
    (None, [(2, 2), (2, 2)], 0.10, 3.0, "EDM"),  # no reference standard yet
    ("ALS", None, None, 3.0, "TOR"),  # no read, no band value
]


@pytest.fixture
def suspected_study(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    raters = [users["rater"], services.study_user_save(username="rater2", role="rater", sites=[])]
    subjects = []
    for number, (final, reads, contrast, tesla, site) in enumerate(SUSPECTS, start=1):
        subject = make_subject(
            study_id=f"{site}-{number:04d}",
            group="SUSPECTED",
            site=sites[site],
            diagnosis_date=None,
        )
        visit = make_visit(subject, "V1", ENROLLED)
        if contrast is not None:
            run = add_band(visit, contrast, contrast, field_strength=tesla)
            for rater, (left, right) in zip(raters, reads or [], strict=False):
                add_read(run.scan, rater, left, right)
        if final is not None:
            services.diagnosis_create(
                user=users["assessor"],
                subject=subject,
                date=FINAL,
                gold_coast="met" if final in ("ALS", "PLS", "PMA") else "not_met",
                el_escorial="probable" if final == "ALS" else None,
                phenotype=final,
                alternative="multifocal motor neuropathy" if final == "MIMIC" else "",
                reference_standard=True,
            )
        subjects.append(subject)
    # An ALS patient enrolled as such and a control: outside the suspected population.
    als = make_subject(study_id="EDM-0099", group="ALS", site=sites["EDM"])
    add_band(make_visit(als, "V1", ENROLLED), 0.2, 0.2)
    control = make_subject(study_id="EDM-0098", group="CONTROL", site=sites["EDM"])
    add_band(make_visit(control, "V1", ENROLLED), 0.0, 0.0)
    return {"subjects": subjects}


def test_the_read_against_the_final_diagnosis_counts_every_subject(suspected_study, users):
    report = reports.diagnostic_report(
        user=users["investigator"],
        marker="mbs_read",
        positive=(),
        negative=(),
        filters=reports.Filters(),
        reference="final_diagnosis",
        population="suspected",
    )
    result = report.result
    assert result["table"] == {"tp": 3, "fp": 1, "fn": 1, "tn": 2}
    assert result["sensitivity"]["estimate"] == pytest.approx(3 / 4)
    assert result["specificity"]["estimate"] == pytest.approx(2 / 3)
    assert result["ppv"]["estimate"] == pytest.approx(3 / 4)
    assert result["npv"]["estimate"] == pytest.approx(2 / 3)
    assert result["lr_positive"]["estimate"] == pytest.approx((3 / 4) / (1 - 2 / 3))
    assert result["lr_negative"]["estimate"] == pytest.approx((1 / 4) / (2 / 3))
    assert result["indeterminate"] == 1
    reasons = {r["reason"]: r["count"] for r in result["excluded"]["reasons"]}
    assert result["excluded"]["count"] == 3
    assert reasons["reference standard missing: no reference-standard diagnosis yet"] == 1
    assert sum(n for r, n in reasons.items() if r.startswith("index test indeterminate")) == 1
    assert reasons["index test missing: no blinded read at V1"] == 1
    by_strength = {row["level"]: row for row in result["subgroups"]["field_strength"]}
    assert by_strength[1.5]["table"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 0}
    assert by_strength[1.5]["specificity"]["estimate"] is None
    by_site = {row["level"]: row["n"] for row in result["subgroups"]["site"]}
    assert by_site == {"EDM": 4, "TOR": 3}
    categories = {row["level"]: row["n"] for row in result["subgroups"]["el_escorial"]}
    assert categories == {"probable": 3, "not recorded": 4}
    assert "ALS or PLS" in result["target_condition"]


def test_band_contrast_against_the_final_diagnosis_and_the_whole_cohort(suspected_study, users):
    suspected = reports.diagnostic_report(
        user=users["investigator"],
        marker="band_contrast",
        positive=(),
        negative=(),
        filters=reports.Filters(),
        reference="final_diagnosis",
    ).result
    # 8 subjects have both a band value and a reference standard.
    assert sum(g["n"] for g in suspected["groups"]) == 8
    assert suspected["auc"] is not None
    everyone = reports.diagnostic_report(
        user=users["investigator"],
        marker="band_contrast",
        positive=(),
        negative=(),
        filters=reports.Filters(),
        reference="final_diagnosis",
        population="all",
    ).result
    # The control counts as without the target condition; the ALS patient enrolled as such has no
    # reference diagnosis and is left out, with the reason.
    assert sum(g["n"] for g in everyone["groups"]) == 9
    assert any("Healthy controls" in w for w in everyone["warnings"])
    reasons = {r["reason"]: r["count"] for r in everyone["excluded"]["reasons"]}
    assert reasons["reference standard missing: no reference-standard diagnosis yet"] == 2


def test_the_api_answers_the_contract_fields_and_refuses_mixed_references(suspected_study, api):
    client = api("investigator")
    response = client.get(
        f"{API}analysis/diagnostic/", {"marker": "mbs_read", "reference": "final_diagnosis"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    for name in ("ppv", "npv", "lr_positive", "lr_negative"):
        assert set(body[name]) == {"estimate", "ci_low", "ci_high"}
    assert body["indeterminate"] == 1
    refused = client.get(
        f"{API}analysis/diagnostic/",
        {"reference": "final_diagnosis", "positive": "ALS"},
    )
    assert refused.status_code == 400
    assert "leave positive and negative empty" in str(refused.json())
    enrolment = client.get(f"{API}analysis/diagnostic/", {"marker": "band_contrast"}).json()
    assert enrolment["reference"] == "enrolment"
    assert "ppv" in enrolment


def test_the_frame_names_each_subjects_state(suspected_study, users):
    frame = diagnostic_study.diagnostic_frame(user=users["investigator"], marker="mbs_read")
    assert len(frame) == len(SUSPECTS)
    states = frame.set_index("subject")[["index_status", "reference_status"]]
    assert states.loc["EDM-0009"].tolist() == ["done", "missing"]
    assert states.loc["TOR-0010"].tolist() == ["missing", "done"]
    assert states.loc["TOR-0008"].tolist() == ["indeterminate", "done"]
    assert set(frame["days_index_to_reference"].dropna()) == {380}
    # Nobody outside the analysts gets rows.
    for name in ("coordinator", "rater", "assessor"):
        assert diagnostic_study.diagnostic_frame(user=users[name], marker="mbs_read").empty


def add_non_diagnostic_read(scan: Any, rater: Any, reason: str) -> Any:
    from imaging.models import Read

    return Read.objects.create(
        scan=scan, rater=rater, outcome="non_diagnostic", non_diagnostic_reason=reason
    )


def test_non_diagnostic_reads_make_the_index_test_indeterminate(suspected_study, users, sites):
    rater, rater2 = users["rater"], get_user_model().objects.get(username="rater2")
    rater3 = services.study_user_save(username="rater3", role="rater", sites=[])
    # Per subject, each rater's read: grades, or the reason of a non-diagnostic read. All
    # non-diagnostic; one graded beside one non-diagnostic (no graded majority); two graded
    # beside one non-diagnostic (the graded consensus stands).
    for study_id, reads in (
        ("EDM-0011", [(rater, "motion"), (rater2, "coverage")]),
        ("TOR-0012", [(rater, (2, 2)), (rater2, "coverage")]),
        ("EDM-0013", [(rater, (1, 1)), (rater2, (2, 1)), (rater3, "motion")]),
    ):
        subject = make_subject(
            study_id=study_id, group="SUSPECTED", site=sites[study_id[:3]], diagnosis_date=None
        )
        run = add_band(make_visit(subject, "V1", ENROLLED), 0.08, 0.08)
        for who, read in reads:
            if isinstance(read, str):
                add_non_diagnostic_read(run.scan, who, read)
            else:
                add_read(run.scan, who, *read)
        services.diagnosis_create(
            user=users["assessor"],
            subject=subject,
            date=FINAL,
            gold_coast="met",
            el_escorial="probable",
            phenotype="ALS",
            alternative="",
            reference_standard=True,
        )
    frame = diagnostic_study.diagnostic_frame(user=users["investigator"], marker="mbs_read")
    rows = frame.set_index("subject")
    assert rows.loc["EDM-0011", "index_status"] == "indeterminate"
    assert rows.loc["EDM-0011", "index_reason"] == "non-diagnostic read (coverage, motion)"
    assert rows.loc["TOR-0012", "index_status"] == "indeterminate"
    assert rows.loc["TOR-0012", "index_reason"] == "non-diagnostic read (coverage)"
    assert rows.loc["EDM-0013", "index_status"] == "done"
    assert rows.loc["EDM-0013", "index_value"] is True
    result = reports.diagnostic_report(
        user=users["investigator"],
        marker="mbs_read",
        positive=(),
        negative=(),
        filters=reports.Filters(),
        reference="final_diagnosis",
        population="suspected",
    ).result
    # The 0-versus-2 disagreement of the fixture plus the two non-diagnostic subjects.
    assert result["indeterminate"] == 3
    reasons = {r["reason"]: r["count"] for r in result["excluded"]["reasons"]}
    assert reasons["index test indeterminate: non-diagnostic read (coverage, motion)"] == 1
    assert reasons["index test indeterminate: non-diagnostic read (coverage)"] == 1
    assert result["table"] == {"tp": 4, "fp": 1, "fn": 1, "tn": 2}


def test_the_page_shows_the_two_by_two_table(suspected_study, client, users):
    client.force_login(users["investigator"])
    page = client.get(
        "/analysis/diagnostic/", {"marker": "mbs_read", "reference": "final_diagnosis"}
    )
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="two-by-two"' in text
    assert "Positive predictive value" in text
    assert "Indeterminate index tests" in text


def test_the_stard_flow_counts_every_subject_once_per_row(suspected_study, api):
    client = api("investigator")
    response = client.get(f"{API}analysis/stard/")
    assert response.status_code == 200, response.content
    body = response.json()
    n = {node["id"]: node["n"] for node in body["nodes"]}
    assert n["enrolled"] == 10
    assert (n["index_missing"], n["index_done"]) == (1, 9)
    assert (n["index_positive"], n["index_indeterminate"], n["index_negative"]) == (5, 1, 3)
    assert (n["positive_reference"], n["positive_no_reference"]) == (4, 1)
    assert (n["negative_reference"], n["negative_no_reference"]) == (3, 0)
    assert (n["tp"], n["fp"], n["fn"], n["tn"]) == (3, 1, 1, 2)
    assert (n["indeterminate_present"], n["indeterminate_absent"]) == (1, 0)
    # The first rows of the diagram hold every subject (the third those with an index test).
    from analysis.stard import ROWS

    assert [sum(n[node] for node in row) for row in ROWS[:3]] == [10, 10, 9]
    reasons = {(e["to"], e["reason"]): e["n"] for e in body["edges"] if e["reason"]}
    assert reasons == {
        ("index_missing", "no blinded read at V1"): 1,
        ("positive_no_reference", "no reference-standard diagnosis yet"): 1,
    }
    assert body["svg"].startswith("<svg") and 'id="node-tp"' in body["svg"]
    answered = {item["item"]: item["answer"] for item in body["checklist"]}
    assert len(answered) == 34  # 30 items, 4 of them in two parts
    assert len({item.rstrip("ab") for item in answered}) == 30
    assert answered["23"] == "TP 3, FP 1, FN 1, TN 2."
    assert "Median 380 days" in answered["22"]
    assert "MIMIC: 2" in answered["21b"] and "PMA: 1" in answered["21b"]
    assert answered["1"] is None and answered["28"] is None  # for the authors

    refused = client.get(f"{API}analysis/stard/", {"marker": "band_contrast"})
    assert refused.status_code == 400
    assert "pre-specified" in str(refused.json()["cutoff"])
    band = client.get(f"{API}analysis/stard/", {"marker": "band_contrast", "cutoff": 0.05})
    assert band.status_code == 200
    band_n = {node["id"]: node["n"] for node in band.json()["nodes"]}
    assert band_n["index_missing"] == 1 and band_n["index_indeterminate"] == 0
    assert api("assessor").get(f"{API}analysis/stard/").status_code == 403


def test_the_stard_page_draws_the_flow_and_offers_the_report(suspected_study, client, users):
    client.force_login(users["investigator"])
    page = client.get("/analysis/stard/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "<svg" in text and 'id="stard-checklist"' in text
    svg = client.get("/analysis/stard/", {"download": "svg"})
    assert svg["Content-Type"] == "image/svg+xml"
    assert b"n = 10" in svg.content
    report = client.get("/analysis/stard/", {"download": "md"}).content.decode()
    assert "| 23 | Results: test results | TP 3, FP 1, FN 1, TN 2. |" in report
    assert "Items for the authors to complete" in report


def test_a_release_carries_the_stard_report_of_its_data(suspected_study, api, users):
    from analysis.exports import releases

    release = releases.release_create(user=users["data_manager"], fmt="csv", deidentify=True)
    paths = {f["path"] for f in release.manifest["files"]}
    assert {releases.STARD_REPORT, releases.STARD_FLOW, releases.STARD_JSON} <= paths
    response = api("data_manager").get(f"{API}exports/{release.pk}/stard/")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    assert "| 23 | Results: test results | TP 3, FP 1, FN 1, TN 2. |" in text
    assert "enrolment dates withheld" in text  # a de-identified release names no dates or sites
    assert "EDM" not in text and "TOR" not in text
    assert api("investigator").get(f"{API}exports/{release.pk}/stard/").status_code == 403


def test_a_study_without_suspected_patients_has_no_stard_report(users, api, cohort):
    from analysis.exports import releases

    release = releases.release_create(user=users["data_manager"], fmt="csv")
    assert not any(f["path"].startswith("stard/") for f in release.manifest["files"])
    assert api("data_manager").get(f"{API}exports/{release.pk}/stard/").status_code == 404


def test_the_studys_pre_specified_cutoff_is_used_by_default(users, cohort):
    from analysis import reports
    from cohort import services

    youden = reports.diagnostic_report(
        user=users["investigator"],
        marker="band_contrast",
        positive=("ALS",),
        negative=("CONTROL",),
        filters=reports.Filters(),
    ).result
    assert youden["threshold_source"] == "youden"
    assert any("optimistic" in w for w in youden["warnings"])
    services.study_update(user=users["admin"], data={"band_contrast_cutoff": 0.05}, reason="SAP")
    planned = reports.diagnostic_report(
        user=users["investigator"],
        marker="band_contrast",
        positive=("ALS",),
        negative=("CONTROL",),
        filters=reports.Filters(),
    ).result
    assert planned["threshold_source"] == "pre-specified"
    assert planned["threshold"] == pytest.approx(0.05)
    assert not any("optimistic" in w for w in planned["warnings"])
