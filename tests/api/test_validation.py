"""Validation errors from the model and service layer come back as 400 {field: [messages]}."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from cohort.models import UmnExam, Visit
from core.api.viewsets import validation_error_detail
from tests.api.conftest import API, SiteWorld
from tests.factories import ENROLLED, make_subject, make_visit, subject_fields, umn_items

pytestmark = pytest.mark.django_db


def test_out_of_range_umn_item_names_the_item(api: Any, world: dict[str, SiteWorld]) -> None:
    visit = world["EDM"].v2
    response = api("coordinator").post(
        f"{API}umn-exams/", {"visit": visit.pk, **umn_items(0), "jaw_jerk": 2}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert list(body) == ["jaw_jerk"]
    assert isinstance(body["jaw_jerk"], list) and body["jaw_jerk"]
    assert not UmnExam.objects.filter(visit=visit).exists()


def test_visit_before_baseline_names_the_date(api: Any, sites: Any) -> None:
    subject = make_subject(site=sites["EDM"])
    make_visit(subject, "V1", date=ENROLLED + dt.timedelta(days=10))
    response = api("coordinator").post(
        f"{API}visits/",
        {
            "subject": subject.study_id,
            "visit_code": "V2",
            "date": str(ENROLLED + dt.timedelta(days=5)),
            "status": "completed",
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "date": [f"Must be after the baseline visit (V1 on {ENROLLED + dt.timedelta(days=10)})."]
    }
    assert not Visit.objects.filter(subject=subject, visit_code="V2").exists()


def test_control_with_onset_date_names_the_field(api: Any, sites: Any) -> None:
    fields = {k: str(v) for k, v in subject_fields(group="CONTROL").items() if k != "site"}
    payload = {**fields, "site": "EDM", "onset_date": "2024-05-01"}
    response = api("data_manager").post(f"{API}subjects/", payload, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "onset_date": ["Healthy controls have no onset or diagnosis: leave it empty."]
    }


def test_duplicate_study_id_is_a_field_error(api: Any, world: dict[str, SiteWorld]) -> None:
    fields = {k: str(v) for k, v in subject_fields().items() if k != "site"}
    payload = {**fields, "site": "EDM", "study_id": world["EDM"].subject.study_id}
    response = api("admin").post(f"{API}subjects/", payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["study_id"]


def test_second_form_on_a_visit_is_refused(api: Any, world: dict[str, SiteWorld]) -> None:
    response = api("admin").post(
        f"{API}umn-exams/", {"visit": world["EDM"].v1.pk, **umn_items(1)}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()) == ["visit"]


def test_moving_a_visit_to_another_subject_is_refused(
    api: Any, world: dict[str, SiteWorld]
) -> None:
    other = make_subject(site=world["EDM"].site)
    response = api("admin").patch(
        f"{API}visits/{world['EDM'].v2.pk}/",
        {"subject": other.study_id, "reason": "moved"},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["subject"]


def test_errors_of_no_one_field_are_non_field_errors() -> None:
    assert validation_error_detail(ValidationError("Whole record is wrong.")) == {
        "non_field_errors": ["Whole record is wrong."]
    }
    assert validation_error_detail(ValidationError({"__all__": ["x"], "date": ["y"]})) == {
        "non_field_errors": ["x"],
        "date": ["y"],
    }


def test_dates_at_the_end_of_the_calendar_are_a_400_not_a_500(api: Any, sites: Any) -> None:
    payload = {
        "study_id": "EDM-9999",
        "site": "EDM",
        "group": "ALS",
        "sex": "F",
        "birth_date": "9950-01-01",
        "onset_date": "9990-01-01",
        "diagnosis_date": "9995-01-01",
        "enrolled_on": "9999-12-31",
    }
    response = api("admin").post(f"{API}subjects/", payload, format="json")
    assert response.status_code == 400
    assert "enrolled_on" in response.json()


def test_a_scheduled_visit_at_the_end_of_the_calendar_is_a_400(api: Any, sites: Any) -> None:
    subject = make_subject(site=sites["EDM"])
    client = api("admin")
    for code, date in (("V1", "9999-11-01"), ("V2", "9999-12-20")):
        response = client.post(
            f"{API}visits/",
            {"subject": subject.study_id, "visit_code": code, "date": date, "status": "scheduled"},
            format="json",
        )
        assert response.status_code in (201, 400)


@pytest.mark.parametrize(
    "field", ["study_id", "site", "group", "sex", "handedness", "onset_region"]
)
def test_nul_characters_are_a_400_on_every_database(api: Any, sites: Any, field: str) -> None:
    # PostgreSQL cannot store NUL in text: it must be refused as bad input, never reach the database.
    body = {
        "study_id": "EDM-0901",
        "site": "EDM",
        "group": "ALS",
        "sex": "F",
        "birth_date": "1960-01-01",
        "onset_date": "2024-01-01",
        "onset_region": "bulbar",
        "enrolled_on": "2025-01-01",
        "handedness": "R",
    }
    body[field] = "A\x00B"
    response = api("admin").post(f"{API}subjects/", body, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize("date", ["0001-01-01", "9999-12-31"])
def test_extreme_dates_are_a_400(api: Any, sites: Any, date: str) -> None:
    body = {
        "study_id": "EDM-0902",
        "site": "EDM",
        "group": "ALS",
        "sex": "F",
        "birth_date": "1960-01-01",
        "onset_date": date,
        "onset_region": "bulbar",
        "diagnosis_date": date,
        "enrolled_on": date,
        "handedness": "R",
    }
    response = api("admin").post(f"{API}subjects/", body, format="json")
    assert response.status_code == 400


def test_nul_in_filters_and_paths_is_refused(api: Any, sites: Any) -> None:
    client = api("admin")
    assert client.get(f"{API}subjects/", {"study_id": "A\x00"}).status_code == 400
    assert client.get(f"{API}sites/ED%00M/").status_code == 404
