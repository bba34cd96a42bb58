"""last_known_alive: validated on the subject, censors survivors in the survival answers, and the
answer warns when follow-up is asymmetric without it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from analysis import frames
from cohort import services
from tests.factories import ENROLLED, make_subject, make_visit

pytestmark = pytest.mark.django_db


def _followed(study_id: str, *, visits: int) -> object:
    subject = make_subject(study_id=study_id)
    for number in range(visits):
        make_visit(subject, f"V{number + 1}", ENROLLED + dt.timedelta(days=122 * number))
    return subject


def test_last_known_alive_is_validated():
    subject = _followed("EDM-0001", visits=1)
    for date, words in (
        (dt.date.today() + dt.timedelta(days=1), "future"),
        (ENROLLED - dt.timedelta(days=1), "before enrolment"),
    ):
        with pytest.raises(ValidationError) as error:
            services.subject_update(subject, user=None, data={"last_known_alive": date})
        assert words in error.value.message_dict["last_known_alive"][0]
    services.subject_update(
        subject, user=None, data={"last_known_alive": ENROLLED + dt.timedelta(days=300)}
    )
    with pytest.raises(ValidationError, match="known alive on"):
        services.event_create(
            user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=200)
        )


def test_survivors_are_censored_at_the_vital_status_check(users):
    dead = _followed("EDM-0001", visits=2)
    services.event_create(
        user=None, subject=dead, kind="death", date=ENROLLED + dt.timedelta(days=400)
    )
    alive = _followed("EDM-0002", visits=2)
    frame = frames.event_frame(user=users["investigator"], event="death")
    row = frame.set_index("subject").loc["EDM-0002"]
    assert row["months"] == pytest.approx(122 / 30.4375)  # its last visit
    (warning,) = frame.attrs["warnings"]
    assert "1 event(s) were reported after the subject's last visit" in warning

    check = ENROLLED + dt.timedelta(days=500)
    services.subject_update(alive, user=None, data={"last_known_alive": check})
    frame = frames.event_frame(user=users["investigator"], event="death")
    row = frame.set_index("subject").loc["EDM-0002"]
    assert row["months"] == pytest.approx(500 / 30.4375) and not row["observed"]
    assert frame.attrs["warnings"] == []


def test_the_api_carries_last_known_alive(api):
    subject = _followed("EDM-0003", visits=1)
    client = api("coordinator")
    url = f"/api/v1/subjects/{subject.pk}/"
    body = client.get(url).json()
    assert body["last_known_alive"] is None
    response = client.patch(
        url, {"last_known_alive": str(ENROLLED + dt.timedelta(days=30))}, format="json"
    )
    assert response.status_code == 200 and response.json()["last_known_alive"] == "2025-02-09"


def test_a_withdrawn_subject_is_not_an_unchecked_survivor(users):
    """Follow-up of a subject who withdrew ends at the withdrawal by design: no warning."""
    dead = _followed("EDM-0011", visits=2)
    services.event_create(
        user=None, subject=dead, kind="death", date=ENROLLED + dt.timedelta(days=400)
    )
    withdrawn = _followed("EDM-0012", visits=2)
    services.event_create(
        user=None, subject=withdrawn, kind="withdrawal", date=ENROLLED + dt.timedelta(days=130)
    )
    assert frames.event_frame(user=users["investigator"], event="death").attrs["warnings"] == []
