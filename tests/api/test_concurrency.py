"""No lost updates: a stale If-Match answers 412, a stale `version` in the body 409."""

from __future__ import annotations

from typing import Any

import pytest

from cohort.models import ClinicalEvent, Subject
from tests.api.conftest import API, SiteWorld

pytestmark = pytest.mark.django_db


def test_detail_answers_carry_the_version_as_etag(api: Any, world: dict[str, SiteWorld]) -> None:
    subject = world["EDM"].subject
    response = api("admin").get(f"{API}subjects/{subject.pk}/")
    assert response.headers["ETag"] == '"1"'
    assert response.json()["version"] == 1
    changed = api("admin").patch(
        f"{API}subjects/{subject.pk}/", {"handedness": "A"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert changed.status_code == 200
    assert changed.headers["ETag"] == '"2"'


def test_second_writer_with_old_etag_gets_412(api: Any, world: dict[str, SiteWorld]) -> None:
    subject = world["EDM"].subject
    first, second = api("coordinator"), api("data_manager")
    etag = first.get(f"{API}subjects/{subject.pk}/").headers["ETag"]
    assert second.get(f"{API}subjects/{subject.pk}/").headers["ETag"] == etag

    ok = first.patch(
        f"{API}subjects/{subject.pk}/", {"handedness": "L"}, format="json", HTTP_IF_MATCH=etag
    )
    assert ok.status_code == 200
    stale = second.patch(
        f"{API}subjects/{subject.pk}/", {"handedness": "A"}, format="json", HTTP_IF_MATCH=etag
    )
    assert stale.status_code == 412
    body = stale.json()
    assert "changed by someone else" in body["detail"]
    assert "Reload" in body["detail"]
    assert body["current_version"] == 2
    subject.refresh_from_db()
    assert (subject.handedness, subject.version) == ("L", 2)


def test_stale_version_in_the_body_gets_409(api: Any, world: dict[str, SiteWorld]) -> None:
    event = world["EDM"].event
    client = api("coordinator")
    read = client.get(f"{API}events/{event.pk}/").json()
    assert (
        client.patch(
            f"{API}events/{event.pk}/",
            {"date": "2025-02-15", "version": read["version"]},
            format="json",
        ).status_code
        == 200
    )
    stale = client.patch(
        f"{API}events/{event.pk}/",
        {"date": "2025-02-20", "version": read["version"]},
        format="json",
    )
    assert stale.status_code == 409
    assert "changed by someone else" in stale.json()["detail"]
    event.refresh_from_db()
    assert str(event.date) == "2025-02-15" and event.version == 2


def test_stale_delete_is_refused_and_the_record_kept(api: Any, world: dict[str, SiteWorld]) -> None:
    event = world["EDM"].event
    client = api("admin")
    client.patch(f"{API}events/{event.pk}/", {"date": "2025-02-15"}, format="json")
    stale = client.delete(f"{API}events/{event.pk}/", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert ClinicalEvent.objects.filter(pk=event.pk).exists()
    assert client.delete(f"{API}events/{event.pk}/", HTTP_IF_MATCH='"2"').status_code == 204


def test_stale_put_of_a_form_gets_412(api: Any, world: dict[str, SiteWorld]) -> None:
    exam = world["EDM"].umn
    client = api("admin")
    current = client.get(f"{API}umn-exams/{exam.pk}/").json()
    payload = {**current, "jaw_jerk": 0, "reason": "re-examined"}
    assert (
        client.put(
            f"{API}umn-exams/{exam.pk}/", payload, format="json", HTTP_IF_MATCH='"1"'
        ).status_code
        == 200
    )
    stale = client.put(
        f"{API}umn-exams/{exam.pk}/", {**payload, "jaw_jerk": 1}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert stale.status_code == 412
    exam.refresh_from_db()
    assert exam.jaw_jerk == 0 and exam.version == 2


def test_if_match_that_names_no_version_fails_the_precondition(
    api: Any, world: dict[str, SiteWorld]
) -> None:
    subject = world["EDM"].subject
    response = api("admin").patch(
        f"{API}subjects/{subject.pk}/", {"handedness": "L"}, format="json", HTTP_IF_MATCH="bogus"
    )
    assert response.status_code == 412
    assert Subject.objects.get(pk=subject.pk).version == 1
    star = api("admin").patch(
        f"{API}subjects/{subject.pk}/", {"handedness": "L"}, format="json", HTTP_IF_MATCH="*"
    )
    assert star.status_code == 200
