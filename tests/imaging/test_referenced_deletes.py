"""Deleting a record others refer to is refused in JSON with words (409), never a 500 (issue 20)."""

from __future__ import annotations

from typing import Any

import pytest

from imaging import reading
from imaging.models import Scan
from tests.api.conftest import API
from tests.factories import make_subject, make_visit
from tests.imaging.test_api import post_scan

pytestmark = pytest.mark.django_db


@pytest.fixture
def visit_with_scan(sites: Any, api: Any, phantom_files: Any) -> Any:
    visit = make_visit(make_subject(site=sites["EDM"]), "V1")
    response = post_scan(api("coordinator"), visit, "swi", phantom_files["swi"])
    assert response.status_code == 201, response.content
    return visit


def test_deleting_a_visit_that_holds_scans_is_a_409_naming_them(
    api: Any, visit_with_scan: Any
) -> None:
    response = api("coordinator").delete(
        f"{API}visits/{visit_with_scan.pk}/", {"reason": "entered twice"}, format="json"
    )
    assert response.status_code == 409, response.content
    assert response["Content-Type"].startswith("application/json")
    detail = response.json()["detail"]
    assert "1 scan" in detail and "delete" in detail.lower()
    assert visit_with_scan.__class__.objects.filter(pk=visit_with_scan.pk).exists()


def test_deleting_a_subject_whose_scan_was_read_is_a_409(
    api: Any, visit_with_scan: Any, users: dict[str, Any]
) -> None:
    scan = Scan.objects.get(visit=visit_with_scan)
    reading.read_assignments_create(user=None, rater=users["rater"], scans=[scan])
    reading.read_submit(rater=users["rater"], scan=scan, left_grade=1, right_grade=0, confidence=2)
    subject = visit_with_scan.subject
    response = api("coordinator").delete(
        f"{API}subjects/{subject.pk}/", {"reason": "withdrew consent"}, format="json"
    )
    assert response.status_code == 409, response.content
    assert "1 scan" in response.json()["detail"]
    assert subject.__class__.objects.filter(pk=subject.pk).exists()
    assert Scan.objects.filter(pk=scan.pk).exists()
