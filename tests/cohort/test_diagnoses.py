"""Suspected-ALS intake and the diagnosis history: rules, the reference standard and its assessor."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from cohort import services
from cohort.models import Diagnosis, Study
from tests.factories import ENROLLED, make_subject

API = "/api/v1/"
FOLLOW_UP = ENROLLED + dt.timedelta(days=400)  # past the default 12 months


@pytest.fixture
def suspected(sites: dict[str, Any]) -> Any:
    return make_subject(
        study_id="EDM-0101", group="SUSPECTED", site=sites["EDM"], diagnosis_date=None
    )


def diagnosis(**overrides: Any) -> dict[str, Any]:
    data = {
        "subject": "EDM-0101",
        "date": str(ENROLLED + dt.timedelta(days=30)),
        "gold_coast": "met",
        "el_escorial": "possible",
        "phenotype": "ALS",
    }
    data.update(overrides)
    return data


def test_a_suspected_subject_has_no_diagnosis_date(sites):
    with pytest.raises(ValidationError) as caught:
        make_subject(group="SUSPECTED", site=sites["EDM"], diagnosis_date=dt.date(2024, 9, 1))
    assert "diagnosis history" in str(caught.value)


def test_the_coordinator_records_the_history_and_the_assessor_the_reference(suspected, api):
    coordinator, assessor = api("coordinator"), api("assessor")
    first = coordinator.post(f"{API}diagnoses/", diagnosis(), format="json")
    assert first.status_code == 201, first.content
    assert first.json()["assessor"] == "coordinator"
    assert first.json()["reference_standard"] is False

    # Only the blinded assessor sets the reference standard.
    refused = coordinator.post(
        f"{API}diagnoses/",
        diagnosis(date=str(FOLLOW_UP), reference_standard=True),
        format="json",
    )
    assert refused.status_code == 400
    assert "reference-standard assessor" in refused.json()["reference_standard"][0]

    # Not before the study's pre-specified follow-up.
    early = assessor.post(
        f"{API}diagnoses/",
        diagnosis(date=str(ENROLLED + dt.timedelta(days=200)), reference_standard=True),
        format="json",
    )
    assert early.status_code == 400
    assert "12 months after enrolment" in early.json()["reference_standard"][0]

    final = assessor.post(
        f"{API}diagnoses/",
        diagnosis(date=str(FOLLOW_UP), el_escorial="probable", reference_standard=True),
        format="json",
    )
    assert final.status_code == 201, final.content
    assert final.json()["assessor"] == "assessor"

    second = assessor.post(
        f"{API}diagnoses/",
        diagnosis(date=str(FOLLOW_UP + dt.timedelta(days=5)), reference_standard=True),
        format="json",
    )
    assert second.status_code == 400
    assert "already has a reference-standard diagnosis" in str(second.json())

    listed = coordinator.get(f"{API}diagnoses/", {"subject": "EDM-0101"}).json()
    assert [d["date"] for d in listed["results"]] == [
        str(ENROLLED + dt.timedelta(days=30)),
        str(FOLLOW_UP),
    ]
    only = coordinator.get(f"{API}diagnoses/", {"reference_standard": "true"}).json()
    assert [d["id"] for d in only["results"]] == [final.json()["id"]]

    # The coordinator cannot change or remove the reference standard either.
    ref_id = final.json()["id"]
    assert (
        coordinator.patch(
            f"{API}diagnoses/{ref_id}/", {"phenotype": "PLS", "reason": "x"}, format="json"
        ).status_code
        == 400
    )
    assert coordinator.delete(f"{API}diagnoses/{ref_id}/?reason=x").status_code == 400
    # A correction needs a reason, and is audited with it.
    no_reason = assessor.patch(f"{API}diagnoses/{ref_id}/", {"phenotype": "PLS"}, format="json")
    assert no_reason.status_code == 400
    fixed = assessor.patch(
        f"{API}diagnoses/{ref_id}/",
        {"phenotype": "PLS", "el_escorial": None, "gold_coast": "met", "reason": "typo"},
        format="json",
    )
    assert fixed.status_code == 200, fixed.content
    history = Diagnosis.history.filter(id=ref_id).order_by("-history_date").first()
    assert history.history_change_reason == "typo"
    assert history.history_user.username == "assessor"


def test_coordinators_record_diagnoses_only_at_their_sites(suspected, api, sites):
    make_subject(study_id="TOR-0101", group="SUSPECTED", site=sites["TOR"], diagnosis_date=None)
    response = api("coordinator").post(
        f"{API}diagnoses/", diagnosis(subject="TOR-0101"), format="json"
    )
    assert response.status_code == 400  # another site's subject does not exist for them
    assert api("rater").get(f"{API}diagnoses/").status_code == 403
    assert (
        api("investigator").post(f"{API}diagnoses/", diagnosis(), format="json").status_code == 403
    )


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        (
            {"phenotype": "MIMIC", "gold_coast": "not_met", "el_escorial": None},
            "alternative",
            "Name",
        ),
        (
            {"phenotype": "MIMIC", "alternative": "MMN", "gold_coast": "met", "el_escorial": None},
            "gold_coast",
            "cannot be met",
        ),
        (
            {"phenotype": "OTHER", "alternative": "CSM", "gold_coast": "not_met"},
            "el_escorial",
            "leave it empty",
        ),
        ({"date": "2023-01-01"}, "date", "precede symptom onset"),
        ({"date": str(dt.date.today() + dt.timedelta(days=3))}, "date", "future"),
        ({"phenotype": "ALS", "gold_coast": "maybe"}, "gold_coast", "valid choice"),
    ],
)
def test_a_diagnosis_is_checked_with_clear_words(suspected, api, overrides, field, words):
    response = api("coordinator").post(f"{API}diagnoses/", diagnosis(**overrides), format="json")
    assert response.status_code == 400, response.content
    assert words in str(response.json()[field])


def test_controls_have_no_diagnosis_and_one_per_date(suspected, api, sites):
    make_subject(study_id="EDM-0102", group="CONTROL", site=sites["EDM"])
    control = api("coordinator").post(
        f"{API}diagnoses/", diagnosis(subject="EDM-0102"), format="json"
    )
    assert control.status_code == 400
    assert "Healthy controls" in str(control.json())
    client = api("coordinator")
    assert client.post(f"{API}diagnoses/", diagnosis(), format="json").status_code == 201
    twice = client.post(f"{API}diagnoses/", diagnosis(), format="json")
    assert twice.status_code == 400
    assert "already has a diagnosis on this date" in str(twice.json())


def test_the_last_diagnosis_is_the_reference_when_follow_up_ended_early(suspected, users):
    services.diagnosis_create(
        user=users["coordinator"],
        subject=suspected,
        date=ENROLLED + dt.timedelta(days=60),
        gold_coast="not_met",
        phenotype="PLS",
    )
    services.event_create(
        user=None, subject=suspected, kind="withdrawal", date=ENROLLED + dt.timedelta(days=150)
    )
    last = services.diagnosis_create(
        user=users["assessor"],
        subject=suspected,
        date=ENROLLED + dt.timedelta(days=140),
        gold_coast="met",
        el_escorial="probable",
        phenotype="ALS",
        reference_standard=True,
    )
    assert last.reference_standard
    with pytest.raises(ValidationError, match="last diagnosis, and a later one exists"):
        services.diagnosis_update(
            Diagnosis.objects.get(date=ENROLLED + dt.timedelta(days=60)),
            user=users["assessor"],
            data={"reference_standard": True},
            reason="wrong one",
        )


def test_the_follow_up_rule_is_the_studys(suspected, users):
    services.study_update(user=users["admin"], data={"reference_standard_months": 6}, reason="SAP")
    assert Study.current().reference_standard_months == 6
    made = services.diagnosis_create(
        user=users["assessor"],
        subject=suspected,
        date=ENROLLED + dt.timedelta(days=200),
        gold_coast="met",
        el_escorial="definite",
        phenotype="ALS",
        reference_standard=True,
    )
    assert made.reference_standard


def test_deleting_a_subject_removes_its_diagnoses_with_the_reason(suspected, users):
    made = services.diagnosis_create(
        user=users["coordinator"],
        subject=suspected,
        date=ENROLLED + dt.timedelta(days=20),
        gold_coast="met",
        phenotype="ALS",
    )
    services.subject_delete(suspected, user=users["admin"], reason="consent withdrawn")
    assert not Diagnosis.objects.filter(pk=made.pk).exists()
    deleted = Diagnosis.history.filter(id=made.pk, history_type="-").get()
    assert deleted.history_change_reason == "consent withdrawn"
