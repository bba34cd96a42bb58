"""Services: derived fields, optimistic concurrency, audit trail and the reason rule."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from cohort import services
from cohort.models import AlsfrsR, Study, Subject, Visit
from core.records import ConcurrencyError
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = pytest.mark.django_db


def test_visit_timing_is_derived_from_baseline_and_onset():
    subject = make_subject(onset_date=dt.date(2024, 1, 10))
    v1 = make_visit(subject, "V1", date=dt.date(2025, 1, 10))
    v2 = make_visit(subject, "V2", date=dt.date(2025, 5, 12))
    v3 = make_visit(subject, "V3", date=dt.date(2025, 10, 1))
    v1.refresh_from_db()
    assert v1.days_from_baseline == 0 and v1.in_window is True
    assert v1.months_from_onset == pytest.approx(366 / 30.4375, abs=1e-4)
    assert v2.days_from_baseline == 122 and v2.in_window is True
    assert v2.target_date == dt.date(2025, 1, 10) + dt.timedelta(days=243 - 121)
    assert v3.days_from_baseline == 264 and v3.in_window is True
    # Out of window (target day 243, window 30): 274+ days.
    services.visit_update(
        v3, user=None, data={"date": dt.date(2025, 10, 12)}, reason="date corrected"
    )
    v3.refresh_from_db()
    assert v3.in_window is False


def test_window_is_configurable_per_study():
    subject = make_subject()
    make_visit(subject, "V1")
    v2 = make_visit(subject, "V2", date=ENROLLED + dt.timedelta(days=122 + 40))
    assert v2.in_window is False
    services.study_update(user=None, data={"window_days": 45})
    v2.refresh_from_db()
    assert v2.in_window is True
    assert Study.current().window_days == 45


def test_moving_baseline_updates_follow_ups_and_delta_fs():
    subject = make_subject(onset_date=dt.date(2024, 1, 10))
    v1 = make_visit(subject, "V1", date=ENROLLED)
    v2 = make_visit(subject, "V2")
    alsfrs = services.alsfrs_save(
        user=None, visit=v1, items=alsfrs_items(q1=0, q2=0, q3=0)
    )  # total 36
    months = (ENROLLED - dt.date(2024, 1, 10)).days / 30.4375
    assert alsfrs.delta_fs == pytest.approx(12 / months, abs=1e-3)
    services.visit_update(
        v1, user=None, data={"date": ENROLLED + dt.timedelta(days=10)}, reason="date corrected"
    )
    v2.refresh_from_db()
    assert v2.days_from_baseline == 112
    alsfrs.refresh_from_db()
    assert alsfrs.delta_fs == pytest.approx(12 / (months + 10 / 30.4375), abs=1e-3)


def test_delta_fs_only_at_baseline_and_not_for_controls():
    control = make_subject(group="CONTROL")
    v1 = make_visit(control, "V1")
    assert services.alsfrs_save(user=None, visit=v1, items=alsfrs_items()).delta_fs is None
    subject = make_subject()
    make_visit(subject, "V1")
    v2 = make_visit(subject, "V2")
    assert services.alsfrs_save(user=None, visit=v2, items=alsfrs_items(q8=2)).delta_fs is None


def test_subscores_follow_items_on_update():
    visit = make_visit(make_subject(), "V1")
    exam = services.umn_exam_save(user=None, visit=visit, items=umn_items(5))
    assert (exam.bulbar, exam.right_upper, exam.total) == (4, 1, 5)
    assert exam.contralateral == {"L": 1, "R": 0}
    exam = services.umn_exam_save(
        user=None, visit=visit, items={"jaw_jerk": 0}, expected_version=1, reason="re-examined"
    )
    assert (exam.bulbar, exam.total, exam.version) == (3, 4, 2)


def test_stale_version_is_refused():
    subject = make_subject()
    services.subject_update(subject, user=None, data={"handedness": "L"}, expected_version=1)
    with pytest.raises(ConcurrencyError, match="changed by someone else"):
        services.subject_update(subject, user=None, data={"handedness": "A"}, expected_version=1)
    assert Subject.objects.get(pk=subject.pk).handedness == "L"


def test_changing_a_completed_visit_needs_a_reason():
    visit = make_visit(make_subject(), "V1")
    services.umn_exam_save(user=None, visit=visit, items=umn_items(2))
    with pytest.raises(ValidationError) as exc:
        services.umn_exam_save(user=None, visit=visit, items={"jaw_jerk": 0})
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.visit_update(visit, user=None, data={"comment": "x"})
    services.visit_update(visit, user=None, data={"comment": "x"}, reason="note added")


def test_audit_trail_records_who_what_and_why(users):
    user = users["coordinator"]
    subject = services.subject_create(
        user=user, **__import__("tests.factories", fromlist=["x"]).subject_fields()
    )
    services.subject_update(subject, user=user, data={"handedness": "L"}, reason="CRF corrected")
    history = list(subject.history.order_by("history_date"))
    assert [h.history_type for h in history] == ["+", "~"]
    assert history[-1].history_user == user
    assert history[-1].history_change_reason == "CRF corrected"
    delta = history[-1].diff_against(history[0])
    assert [(c.field, c.old, c.new) for c in delta.changes if c.field == "handedness"] == [
        ("handedness", "R", "L")
    ]


def test_delete_visit_removes_forms_and_is_audited():
    subject = make_subject()
    make_visit(subject, "V1")
    v2 = make_visit(subject, "V2")
    services.alsfrs_save(user=None, visit=v2, items=alsfrs_items())
    visit_id = v2.pk
    with pytest.raises(ValidationError):
        services.visit_delete(v2, user=None)  # completed: reason needed
    services.visit_delete(v2, user=None, reason="entered for the wrong subject")
    assert not Visit.objects.filter(pk=visit_id).exists()
    assert not AlsfrsR.objects.filter(visit_id=visit_id).exists()
    assert Visit.history.filter(id=visit_id, history_type="-").get().history_change_reason == (
        "entered for the wrong subject"
    )


def test_baseline_cannot_be_deleted_before_follow_ups():
    subject = make_subject()
    v1 = make_visit(subject, "V1")
    make_visit(subject, "V2")
    with pytest.raises(ValidationError):
        services.visit_delete(v1, user=None, reason="x")


def test_study_user_roles_and_sites(sites):
    user = services.study_user_save(
        username="c", role="coordinator", sites=["EDM"], password="pw-Test-123!"
    )
    assert list(user.groups.values_list("name", flat=True)) == ["coordinator"]
    user = services.study_user_save(username="c", role="investigator", sites=[], password=None)
    assert list(user.groups.values_list("name", flat=True)) == ["investigator"]
    assert not user.site_memberships.exists()
    with pytest.raises(ValidationError) as exc:
        services.study_user_save(username="d", role="coordinator", sites=[])
    assert "site" in exc.value.message_dict
    with pytest.raises(ValidationError):
        services.study_user_save(username="d", role="coordinator", sites=["XXX"])
    with pytest.raises(ValidationError):
        services.study_user_save(username="d", role="boss")
