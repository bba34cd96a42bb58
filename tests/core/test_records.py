"""The one audited write path (core.records): validation, version, audit user and reason, stale
versions refused, on real rows of the study's models."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from cohort import services
from cohort.models import ClinicalEvent, Site, Subject
from core import records
from core.records import ConcurrencyError
from core.roles import SYSTEM, actor_of
from tests.factories import make_subject


@pytest.mark.django_db
def test_create_starts_at_version_one_with_user_and_reason(users):
    site = Site(code="MTL", name="Montreal")
    records.save(site, user=users["admin"], reason="new centre")
    row = site.history.get()
    assert site.version == 1
    assert row.history_user == users["admin"] and row.history_change_reason == "new centre"


@pytest.mark.django_db
def test_update_bumps_version_and_records_who_and_why(users):
    subject = make_subject()
    subject.handedness = "L"
    records.save(subject, user=users["coordinator"], reason="CRF corrected")
    subject.refresh_from_db()
    latest = subject.history.latest()
    assert subject.version == 2
    assert latest.history_user == users["coordinator"]
    assert latest.history_change_reason == "CRF corrected"


@pytest.mark.django_db
def test_an_actor_and_a_user_are_recorded_alike(users):
    subject = make_subject()
    subject.handedness = "L"
    records.save(subject, user=actor_of(users["coordinator"]))
    assert subject.history.latest().history_user == users["coordinator"]
    subject.handedness = "A"
    records.save(subject, user=SYSTEM)
    assert subject.history.latest().history_user is None


@pytest.mark.django_db
def test_invalid_row_is_refused_before_anything_is_written():
    subject = make_subject()
    subject.study_id = "bad id!"
    with pytest.raises(ValidationError) as error:
        records.save(subject, user=None)
    assert "study_id" in error.value.message_dict
    assert Subject.objects.get(pk=subject.pk).version == 1
    assert subject.history.count() == 1


@pytest.mark.django_db
def test_stale_expected_version_is_refused():
    subject = make_subject()
    subject.handedness = "L"
    with pytest.raises(ConcurrencyError, match="your version 7, now 1"):
        records.save(subject, user=None, expected_version=7)
    assert Subject.objects.get(pk=subject.pk).handedness == "R"


@pytest.mark.django_db
def test_instance_read_before_someone_else_changed_the_row_is_refused():
    """Without an expected version, the version the instance was read at is the one checked:
    a stale copy cannot silently overwrite a newer row."""
    subject = make_subject()
    stale = Subject.objects.get(pk=subject.pk)
    services.subject_update(subject, user=None, data={"handedness": "L"})
    stale.comment = "late edit"
    with pytest.raises(ConcurrencyError, match="changed by someone else"):
        records.save(stale, user=None)
    fresh = Subject.objects.get(pk=subject.pk)
    assert (fresh.version, fresh.handedness, fresh.comment) == (2, "L", "")


@pytest.mark.django_db
def test_delete_records_who_and_why_and_refuses_a_stale_version(users):
    subject = make_subject()
    event = services.event_create(user=None, subject=subject, kind="niv", date=dt.date(2025, 3, 1))
    with pytest.raises(ConcurrencyError):
        records.delete(event, user=users["coordinator"], reason="typo", expected_version=3)
    assert ClinicalEvent.objects.filter(pk=event.pk).exists()
    event_id = event.pk
    records.delete(event, user=users["coordinator"], reason="typo", expected_version=1)
    deleted = ClinicalEvent.history.get(id=event_id, history_type="-")
    assert deleted.history_user == users["coordinator"] and deleted.history_change_reason == "typo"


@pytest.mark.django_db
def test_assign_refuses_fields_the_service_does_not_offer():
    subject = make_subject()
    with pytest.raises(ValidationError) as error:
        records.assign(subject, {"version": 9, "handedness": "L"}, ("handedness",))
    assert error.value.message_dict == {"version": ["This field cannot be set here."]}
