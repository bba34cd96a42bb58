"""Every model-layer validation rule, with a failing and a passing case; errors name the field."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from cohort import services
from tests.factories import (
    ENROLLED,
    alsfrs_items,
    make_site,
    make_subject,
    make_visit,
    subject_fields,
    umn_items,
)

pytestmark = pytest.mark.django_db


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# --- sites ---


def test_site_code_format():
    with pytest.raises(ValidationError) as exc:
        services.site_create(user=None, code="edm lab", name="x")
    assert "code" in errors_of(exc)
    assert services.site_create(user=None, code="EDM", name="Edmonton").code == "EDM"


# --- subjects ---


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"study_id": "bad id!"}, "study_id", "letters, digits"),
        ({"group": "CONTROL", "onset_date": dt.date(2024, 1, 1)}, "onset_date", "controls"),
        ({"group": "CONTROL", "onset_region": "bulbar"}, "onset_region", "controls"),
        ({"group": "CONTROL", "diagnosis_date": dt.date(2024, 6, 1)}, "diagnosis_date", "controls"),
        ({"group": "ALS", "onset_date": None}, "onset_date", "need a symptom onset"),
        ({"birth_date": dt.date(2015, 1, 1)}, "birth_date", "Age at enrolment"),
        ({"onset_date": dt.date(2025, 6, 1)}, "onset_date", "after enrolment"),
        ({"diagnosis_date": dt.date(2023, 1, 1)}, "diagnosis_date", "before symptom onset"),
        ({"diagnosis_date": dt.date(2026, 6, 1)}, "diagnosis_date", "more than a year"),
        ({"enrolled_on": dt.date.today() + dt.timedelta(days=3)}, "enrolled_on", "future"),
        ({"group": "ALIEN"}, "group", "not a valid choice"),
        ({"sex": "X"}, "sex", "not a valid choice"),
    ],
)
def test_subject_rules(overrides, field, words):
    with pytest.raises(ValidationError) as exc:
        services.subject_create(user=None, **subject_fields(**overrides))
    assert field in errors_of(exc)
    assert words in " ".join(errors_of(exc)[field])


def test_subject_valid_cases():
    assert make_subject(group="ALS").pk
    control = make_subject(group="CONTROL")
    assert control.onset_date is None
    assert make_subject(group="MIMIC", onset_date=None, onset_region=None, diagnosis_date=None).pk


def test_study_id_is_unique():
    make_subject(study_id="EDM-0001")
    with pytest.raises(ValidationError) as exc:
        make_subject(study_id="EDM-0001")
    assert "study_id" in errors_of(exc)


def test_enrolment_cannot_move_after_an_event():
    subject = make_subject()
    services.event_create(
        user=None, subject=subject, kind="niv", date=ENROLLED + dt.timedelta(days=10)
    )
    with pytest.raises(ValidationError) as exc:
        services.subject_update(
            subject, user=None, data={"enrolled_on": ENROLLED + dt.timedelta(days=20)}
        )
    assert "enrolled_on" in errors_of(exc)
    services.subject_update(
        subject, user=None, data={"enrolled_on": ENROLLED + dt.timedelta(days=5)}
    )


def test_subject_with_clinical_events_cannot_become_control():
    subject = make_subject()
    services.event_create(user=None, subject=subject, kind="gastrostomy", date=ENROLLED)
    with pytest.raises(ValidationError) as exc:
        services.subject_update(
            subject,
            user=None,
            data={
                "group": "CONTROL",
                "onset_date": None,
                "onset_region": None,
                "diagnosis_date": None,
            },
        )
    assert "group" in errors_of(exc)


# --- visits ---


def test_visit_code_format():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        services.visit_create(user=None, subject=subject, visit_code="M4", date=ENROLLED)
    assert "visit_code" in errors_of(exc)


def test_completed_visit_needs_date_but_missed_does_not():
    subject = make_subject()
    make_visit(subject, "V1")
    with pytest.raises(ValidationError) as exc:
        services.visit_create(user=None, subject=subject, visit_code="V2", status="completed")
    assert "date" in errors_of(exc)
    assert services.visit_create(user=None, subject=subject, visit_code="V2", status="missed").pk


def test_one_visit_per_code_per_subject():
    subject = make_subject()
    make_visit(subject, "V1")
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V1", date=ENROLLED + dt.timedelta(days=3))
    assert "already has a V1" in " ".join(errors_of(exc)["visit_code"])
    other = make_subject()
    assert make_visit(other, "V1").pk


def test_baseline_not_before_enrolment():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V1", date=ENROLLED - dt.timedelta(days=1))
    assert "enrolment" in " ".join(errors_of(exc)["date"])
    assert make_visit(subject, "V1", date=ENROLLED).pk


def test_follow_up_needs_baseline_and_comes_after_it():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V2")
    assert "baseline" in " ".join(errors_of(exc)["visit_code"])
    make_visit(subject, "V1")
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V2", date=ENROLLED)
    assert "after the baseline" in " ".join(errors_of(exc)["date"])
    assert make_visit(subject, "V2").pk


def test_baseline_cannot_move_after_a_follow_up():
    subject = make_subject()
    v1 = make_visit(subject, "V1")
    make_visit(subject, "V2")
    with pytest.raises(ValidationError) as exc:
        services.visit_update(
            v1, user=None, data={"date": ENROLLED + dt.timedelta(days=200)}, reason="typo"
        )
    assert "date" in errors_of(exc)


def test_no_visit_after_death():
    subject = make_subject()
    make_visit(subject, "V1")
    services.event_create(
        user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=60)
    )
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V2")
    assert "death" in " ".join(errors_of(exc)["date"])
    # A missed visit after death is allowed: it documents the gap.
    assert services.visit_create(user=None, subject=subject, visit_code="V2", status="missed").pk


def test_only_scheduled_visits_in_the_future():
    subject = make_subject()
    make_visit(subject, "V1")
    future = dt.date.today() + dt.timedelta(days=10)
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V2", date=future)
    assert "future" in " ".join(errors_of(exc)["date"])
    assert make_visit(subject, "V2", date=future, status="scheduled").pk


# --- clinical forms ---


def test_umn_items_within_scale():
    visit = make_visit(make_subject(), "V1")
    items = umn_items(3)
    items["right_lower_babinski"] = 2
    with pytest.raises(ValidationError) as exc:
        services.umn_exam_save(user=None, visit=visit, items=items)
    assert "right_lower_babinski" in errors_of(exc)
    items["right_lower_babinski"] = 1
    assert services.umn_exam_save(user=None, visit=visit, items=items).total == 4


def test_alsfrs_items_within_scale():
    visit = make_visit(make_subject(), "V1")
    with pytest.raises(ValidationError) as exc:
        services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q3=5))
    assert "q3" in errors_of(exc)
    assert services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q3=3)).total == 47


def test_unknown_item_is_refused():
    visit = make_visit(make_subject(), "V1")
    with pytest.raises(ValidationError) as exc:
        services.umn_exam_save(user=None, visit=visit, items={"jaw_jerks": 1})
    assert "jaw_jerks" in errors_of(exc)


def test_missed_visit_has_no_forms():
    subject = make_subject()
    make_visit(subject, "V1")
    missed = services.visit_create(user=None, subject=subject, visit_code="V2", status="missed")
    with pytest.raises(ValidationError) as exc:
        services.alsfrs_save(user=None, visit=missed, items=alsfrs_items())
    assert "visit" in errors_of(exc)


# --- events ---


def test_no_event_before_enrolment():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=subject, kind="niv", date=ENROLLED - dt.timedelta(days=1)
        )
    assert "enrolment" in " ".join(errors_of(exc)["date"])
    assert services.event_create(user=None, subject=subject, kind="niv", date=ENROLLED).pk


def test_event_not_in_future():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=subject, kind="niv", date=dt.date.today() + dt.timedelta(days=1)
        )
    assert "future" in " ".join(errors_of(exc)["date"])


def test_controls_only_withdraw():
    control = make_subject(group="CONTROL")
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=control, kind="death", date=ENROLLED + dt.timedelta(days=5)
        )
    assert "kind" in errors_of(exc)
    assert services.event_create(user=None, subject=control, kind="withdrawal", date=ENROLLED).pk


def test_one_event_of_a_kind_and_none_after_death():
    subject = make_subject()
    services.event_create(
        user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=30)
    )
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=31)
        )
    assert "already has a death" in " ".join(errors_of(exc)["kind"])
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=subject, kind="niv", date=ENROLLED + dt.timedelta(days=40)
        )
    assert "death" in " ".join(errors_of(exc)["date"])
    assert services.event_create(
        user=None, subject=subject, kind="niv", date=ENROLLED + dt.timedelta(days=20)
    ).pk


def test_death_cannot_precede_a_visit():
    subject = make_subject()
    make_visit(subject, "V1")
    make_visit(subject, "V2")
    with pytest.raises(ValidationError) as exc:
        services.event_create(
            user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=60)
        )
    assert "visit V2" in " ".join(errors_of(exc)["date"])
    assert services.event_create(
        user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=200)
    ).pk


def test_unknown_event_kind():
    subject = make_subject()
    with pytest.raises(ValidationError) as exc:
        services.event_create(user=None, subject=subject, kind="stroke", date=ENROLLED)
    assert "kind" in errors_of(exc)


def test_make_site_helper_is_idempotent():
    assert make_site("EDM") == make_site("EDM")


def test_visit_not_scheduled_beyond_two_years():
    subject = make_subject()
    make_visit(subject, "V1")
    far = dt.date.today() + dt.timedelta(days=3 * 365)
    with pytest.raises(ValidationError) as exc:
        make_visit(subject, "V2", date=far, status="scheduled")
    assert "two years" in " ".join(errors_of(exc)["date"])
