"""A long reason is kept whole in the audit trail (it once overflowed a 100-character column on
PostgreSQL after the form and the API had accepted up to 500 characters)."""

from __future__ import annotations

from typing import Any

import pytest

from cohort import services
from cohort.forms import AUDIT_REASON_MAX_LENGTH
from core.api.viewsets import REASON_MAX_LENGTH
from tests.api.conftest import API
from tests.factories import make_subject

pytestmark = pytest.mark.django_db


def test_the_pages_and_the_api_accept_the_same_length() -> None:
    assert AUDIT_REASON_MAX_LENGTH == REASON_MAX_LENGTH


def test_a_500_character_reason_is_kept_whole(api: Any, sites: Any) -> None:
    subject = make_subject(site=sites["EDM"])
    reason = ("Corrected after the source document was checked with the site monitor. " * 8)[
        :REASON_MAX_LENGTH
    ]
    response = api("coordinator").patch(
        f"{API}subjects/{subject.pk}/",
        {"sex": "M", "reason": reason},
        format="json",
    )
    assert response.status_code == 200, response.content
    subject.refresh_from_db()
    assert subject.history.first().history_change_reason == reason
    services.subject_update(subject, user=None, data={"sex": "F"}, reason=reason + " again")
    assert subject.history.first().history_change_reason == reason + " again"
