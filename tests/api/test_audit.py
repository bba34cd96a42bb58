"""Audit trail through the API: who, when, what changed and why, for create, update and delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cohort.models import Subject, Visit
from tests.api.conftest import API, SiteWorld
from tests.factories import ENROLLED, subject_fields

pytestmark = pytest.mark.django_db


def test_create_update_delete_leave_history_with_user_and_reason(
    api: Any, users: dict[str, Any], sites: Any
) -> None:
    client = api("coordinator")
    fields = {k: str(v) for k, v in subject_fields().items() if k != "site"}
    created = client.post(
        f"{API}subjects/", {**fields, "site": "EDM", "reason": "enrolled today"}, format="json"
    )
    assert created.status_code == 201
    subject_id = created.json()["id"]
    assert "reason" not in created.json()  # write-only

    updated = client.patch(
        f"{API}subjects/{subject_id}/",
        {"handedness": "L", "reason": "handedness misread"},
        format="json",
    )
    assert updated.status_code == 200

    history = client.get(f"{API}subjects/{subject_id}/history/")
    assert history.status_code == 200
    change, creation = history.json()
    assert creation["type"] == "created"
    assert creation["user"] == "coordinator"
    assert creation["reason"] == "enrolled today"
    assert {"field": "handedness", "old": None, "new": "R"} in creation["changes"]
    assert change["type"] == "changed"
    assert change["user"] == "coordinator"
    assert change["reason"] == "handedness misread"
    assert change["changes"] == [{"field": "handedness", "old": "R", "new": "L"}]
    assert change["history_id"] > creation["history_id"]

    deleted = client.delete(
        f"{API}subjects/{subject_id}/", HTTP_X_CHANGE_REASON="consent withdrawn, data removed"
    )
    assert deleted.status_code == 204
    assert not Subject.objects.filter(pk=subject_id).exists()
    rows = Subject.history.filter(id=subject_id).order_by("history_date")
    assert [r.history_type for r in rows] == ["+", "~", "-"]
    assert [r.history_user.username for r in rows] == ["coordinator"] * 3
    assert rows.last().history_change_reason == "consent withdrawn, data removed"
    # The history of a deleted record is gone from the API (it 404s like any missing record)...
    assert client.get(f"{API}subjects/{subject_id}/history/").status_code == 404


def test_reason_from_the_body_wins_over_the_header(api: Any, world: dict[str, SiteWorld]) -> None:
    event = world["EDM"].event
    response = api("admin").patch(
        f"{API}events/{event.pk}/",
        {"date": str(ENROLLED + dt.timedelta(days=40)), "reason": "body"},
        format="json",
        HTTP_X_CHANGE_REASON="header",
    )
    assert response.status_code == 200
    assert event.history.latest().history_change_reason == "body"


def test_changing_a_completed_visit_needs_a_reason(api: Any, world: dict[str, SiteWorld]) -> None:
    visit = world["EDM"].v2
    client = api("coordinator")
    new_date = str(ENROLLED + dt.timedelta(days=126))
    refused = client.patch(f"{API}visits/{visit.pk}/", {"date": new_date}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == ["reason"]
    assert "reason" in refused.json()["reason"][0]
    visit.refresh_from_db()
    assert visit.date == ENROLLED + dt.timedelta(days=122) and visit.version == 1

    accepted = client.patch(
        f"{API}visits/{visit.pk}/", {"date": new_date}, format="json", HTTP_X_CHANGE_REASON="typo"
    )
    assert accepted.status_code == 200
    entry = client.get(f"{API}visits/{visit.pk}/history/").json()[0]
    assert entry["reason"] == "typo" and entry["user"] == "coordinator"
    assert entry["changes"] == [{"field": "date", "old": str(visit.date), "new": new_date}]


def test_deleting_a_completed_visit_needs_a_reason(api: Any, world: dict[str, SiteWorld]) -> None:
    visit = world["EDM"].v2
    client = api("coordinator")
    refused = client.delete(f"{API}visits/{visit.pk}/")
    assert refused.status_code == 400 and list(refused.json()) == ["reason"]
    assert Visit.objects.filter(pk=visit.pk).exists()
    accepted = client.delete(f"{API}visits/{visit.pk}/", {"reason": "entered twice"}, format="json")
    assert accepted.status_code == 204
    assert Visit.history.filter(id=visit.pk, history_type="-").get().history_change_reason == (
        "entered twice"
    )


def test_history_of_other_sites_records_is_not_found(api: Any, world: dict[str, SiteWorld]) -> None:
    assert api("coordinator").get(f"{API}visits/{world['TOR'].v1.pk}/history/").status_code == 404
    assert api("rater").get(f"{API}visits/{world['TOR'].v1.pk}/history/").status_code == 403
