"""Cohort services: the only writers of cohort data.

Each service decides what changes and checks the rules across rows, owns its transaction and keeps
derived fields (visit timing, subscores, ΔFS) in step; every row is written through
``core.records`` (validation, row lock, version check and bump, audit user and reason).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from cohort import scales, staging
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Diagnosis,
    EventKind,
    Site,
    SiteMembership,
    Study,
    Subject,
    UmnExam,
    Visit,
    VisitStatus,
)
from core import records, roles
from core.roles import Acting, StudyUser

SUBJECT_FIELDS = (
    "study_id",
    "site",
    "group",
    "sex",
    "birth_date",
    "handedness",
    "onset_date",
    "onset_region",
    "diagnosis_date",
    "enrolled_on",
    "last_known_alive",
    "comment",
)
VISIT_FIELDS = ("visit_code", "date", "status", "comment")
EVENT_FIELDS = ("kind", "date", "comment")
DIAGNOSIS_FIELDS = (
    "date",
    "gold_coast",
    "el_escorial",
    "phenotype",
    "alternative",
    "reference_standard",
    "comment",
)


def _require_reason_for_completed(visit: Visit, reason: str) -> None:
    if visit.status == VisitStatus.COMPLETED and not (reason or "").strip():
        raise ValidationError(
            {"reason": f"Visit {visit} is completed: give a reason for changing it (audit trail)."}
        )


# --- study and sites --------------------------------------------------------------------------


@transaction.atomic
def study_update(*, user: Acting, data: Mapping[str, Any], reason: str = "") -> Study:
    study = Study.current()
    records.assign(
        study,
        data,
        (
            "name",
            "interval_months",
            "window_days",
            "planned_visits",
            "reference_standard_months",
            "band_contrast_cutoff",
        ),
    )
    records.save(study, user=user, reason=reason)
    for subject in Subject.objects.all():
        refresh_visit_timing(subject)
    return study


@transaction.atomic
def site_create(*, user: Acting, code: str, name: str) -> Site:
    site = Site(code=code, name=name)
    records.save(site, user=user)
    return site


@transaction.atomic
def site_update(
    site: Site, *, user: Acting, data: Mapping[str, Any], expected_version: int | None = None
) -> Site:
    site = records.lock(site, expected_version=expected_version)
    records.assign(site, data, ("code", "name"))
    records.save(site, user=user)
    return site


@transaction.atomic
def site_delete(site: Site, *, user: Acting, expected_version: int | None = None) -> None:
    if site.subjects.exists():
        raise ValidationError({"site": f"Site {site.code} still has subjects; move them first."})
    records.delete(site, user=user, expected_version=expected_version)


# --- subjects ---------------------------------------------------------------------------------


@transaction.atomic
def subject_create(*, user: Acting, reason: str = "", **fields: Any) -> Subject:
    subject = Subject()
    records.assign(subject, fields, SUBJECT_FIELDS)
    records.save(subject, user=user, reason=reason)
    return subject


@transaction.atomic
def subject_update(
    subject: Subject,
    *,
    user: Acting,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Subject:
    subject = records.lock(subject, expected_version=expected_version)
    records.assign(subject, data, SUBJECT_FIELDS)
    records.save(subject, user=user, reason=reason)
    refresh_visit_timing(subject)
    return subject


@transaction.atomic
def subject_delete(
    subject: Subject, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    """Delete a subject with every visit, form, event and diagnosis: a clinical writer of the
    subject's site (a coordinator their own sites; the system too) and always a reason."""
    actor = roles.actor_of(user)
    if actor.user is not None and not actor.may_write_site(subject.site_id):
        raise PermissionDenied("Your study role cannot delete this subject.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {
                "reason": f"Give a reason for deleting subject {subject.study_id}: it removes "
                "every visit, form, event and diagnosis (the reason stays in the audit trail)."
            }
        )
    subject = records.lock(subject, expected_version=expected_version)
    for visit in subject.visits.all():
        visit_delete(visit, user=user, reason=reason, force=True)
    for event in subject.events.all():
        records.delete(event, user=user, reason=reason)
    for diagnosis in subject.diagnoses.all():
        records.delete(diagnosis, user=user, reason=reason)
    records.delete(subject, user=user, reason=reason)


# --- visits -----------------------------------------------------------------------------------


def refresh_visit_timing(subject: Subject) -> None:
    """Recompute every visit's days from baseline, months from onset, target date and window.

    Also refreshes the baseline ΔFS, which depends on the months from onset to V1.
    """
    schedule = Study.current().schedule
    visits = list(subject.visits.all())
    baseline = next((v.date for v in visits if v.visit_code == "V1"), None)
    for visit in visits:
        before = (
            visit.days_from_baseline,
            visit.months_from_onset,
            visit.target_date,
            visit.in_window,
        )
        visit.days_from_baseline = (
            (visit.date - baseline).days if (visit.date and baseline) else None
        )
        visit.months_from_onset = (
            round(scales.months_between(subject.onset_date, visit.date), 4)
            if (visit.date and subject.onset_date)
            else None
        )
        visit.target_date = schedule.target_date(baseline, visit.visit_code) if baseline else None
        visit.in_window = (
            schedule.in_window(baseline, visit.visit_code, visit.date)
            if (baseline and visit.date)
            else None
        )
        after = (
            visit.days_from_baseline,
            visit.months_from_onset,
            visit.target_date,
            visit.in_window,
        )
        if after != before:
            # Derived fields only: no version bump and no audit row of their own.
            Visit.objects.filter(pk=visit.pk).update(
                days_from_baseline=visit.days_from_baseline,
                months_from_onset=visit.months_from_onset,
                target_date=visit.target_date,
                in_window=visit.in_window,
            )
        if visit.visit_code == "V1":
            alsfrs = AlsfrsR.objects.filter(visit=visit).first()
            if alsfrs is not None:
                alsfrs.visit = visit
                old = alsfrs.delta_fs
                alsfrs.derive()
                if alsfrs.delta_fs != old:
                    AlsfrsR.objects.filter(pk=alsfrs.pk).update(delta_fs=alsfrs.delta_fs)
    refresh_staging(subject)


def refresh_staging(subject: Subject) -> None:
    """Recompute King's and MiToS stages of every visit from its ALSFRS-R and the subject's
    gastrostomy, NIV and death events on or before the visit (cohort.staging)."""
    events = dict(
        ClinicalEvent.objects.filter(
            subject=subject,
            kind__in=(EventKind.GASTROSTOMY, EventKind.NIV, EventKind.DEATH),
        ).values_list("kind", "date")
    )
    forms = {a.visit_id: a for a in AlsfrsR.objects.filter(visit__subject=subject)}
    for visit in subject.visits.all():
        alsfrs = forms.get(visit.pk)
        staged = staging.visit_stages(
            alsfrs.items() if alsfrs else None,
            q5_gastrostomy=bool(alsfrs and alsfrs.q5_gastrostomy),
            visit_date=visit.date,
            events=events,
        )
        current = {name: getattr(visit, name) for name in staged}
        if current != staged:
            # Derived fields only: no version bump and no audit row of their own.
            Visit.objects.filter(pk=visit.pk).update(**staged)


@transaction.atomic
def visit_create(*, user: Acting, subject: Subject, reason: str = "", **fields: Any) -> Visit:
    visit = Visit(subject=subject)
    records.assign(visit, fields, VISIT_FIELDS)
    records.save(visit, user=user, reason=reason)
    refresh_visit_timing(subject)
    visit.refresh_from_db()
    return visit


@transaction.atomic
def visit_update(
    visit: Visit,
    *,
    user: Acting,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Visit:
    visit = records.lock(visit, expected_version=expected_version)
    _require_reason_for_completed(visit, reason)
    records.assign(visit, data, VISIT_FIELDS)
    if visit.status == VisitStatus.MISSED and (
        UmnExam.objects.filter(visit=visit).exists() or AlsfrsR.objects.filter(visit=visit).exists()
    ):
        raise ValidationError({"status": "This visit has clinical forms; it cannot be missed."})
    records.save(visit, user=user, reason=reason)
    refresh_visit_timing(visit.subject)
    visit.refresh_from_db()
    return visit


@transaction.atomic
def visit_delete(
    visit: Visit,
    *,
    user: Acting,
    reason: str = "",
    force: bool = False,
    expected_version: int | None = None,
) -> None:
    visit = records.lock(visit, expected_version=expected_version)
    if not force:
        _require_reason_for_completed(visit, reason)
        if visit.visit_code == "V1" and visit.subject.visits.exclude(pk=visit.pk).exists():
            raise ValidationError(
                {"visit_code": "Delete the follow-up visits before the baseline visit."}
            )
    for form in (UmnExam, AlsfrsR):
        existing = form.objects.filter(visit=visit).first()
        if existing is not None:
            records.delete(existing, user=user, reason=reason)
    subject = visit.subject
    records.delete(visit, user=user, reason=reason)
    refresh_visit_timing(subject)


# --- clinical forms ---------------------------------------------------------------------------


ClinicalForm = TypeVar("ClinicalForm", UmnExam, AlsfrsR)


def _form_save(
    model: type[ClinicalForm],
    *,
    user: Acting,
    visit: Visit,
    items: Mapping[str, Any],
    allowed: Iterable[str],
    expected_version: int | None,
    reason: str,
) -> ClinicalForm:
    existing = model.objects.select_for_update().filter(visit=visit).first()
    if existing is None:
        form = model(visit=visit)
    else:
        form = existing
        records.check_version(form, expected_version)
        _require_reason_for_completed(visit, reason)
    records.assign(form, items, allowed)
    form.visit = visit
    form.full_clean()
    form.derive()
    records.save(form, user=user, reason=reason)
    return form


@transaction.atomic
def umn_exam_save(
    *,
    user: Acting,
    visit: Visit,
    items: Mapping[str, int | None],
    expected_version: int | None = None,
    reason: str = "",
) -> UmnExam:
    """Create or update the visit's Penn UMN exam from its items; subscores are derived."""
    return _form_save(
        UmnExam,
        user=user,
        visit=visit,
        items=items,
        allowed=scales.UMN_ITEMS,
        expected_version=expected_version,
        reason=reason,
    )


@transaction.atomic
def alsfrs_save(
    *,
    user: Acting,
    visit: Visit,
    items: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
    require_every_item: bool = False,
) -> AlsfrsR:
    """Create or update the visit's ALSFRS-R from its items; subscores, total and ΔFS are derived.

    ``items`` may carry, besides the scores, each item's missing-data code (``q7_missing``:
    ``not_done`` or ``unknown``), the form's ``form_status`` and its ``not_done_reason``. An item
    with a code, or a form not done, has no score, so its domain, the total and ΔFS stay empty.
    ``require_every_item`` (the coordinator page) refuses an item with neither score nor code.
    """
    items = dict(items)
    if items.get("not_done_reason") is None and "not_done_reason" in items:
        items["not_done_reason"] = ""
    form = _form_save(
        AlsfrsR,
        user=user,
        visit=visit,
        items=items,
        allowed=(
            *scales.ALSFRS_ITEMS,
            "q5_gastrostomy",
            *scales.ALSFRS_MISSING_FIELDS.values(),
            "form_status",
            "not_done_reason",
        ),
        expected_version=expected_version,
        reason=reason,
    )
    if require_every_item:
        errors = scales.alsfrs_missing_errors(
            form.items(),
            form.missing(),
            form_status=form.form_status,
            not_done_reason=form.not_done_reason,
            require_every_item=True,
        )
        if errors:
            raise ValidationError(errors)
    refresh_staging(visit.subject)
    return form


@transaction.atomic
def umn_exam_delete(
    exam: UmnExam, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    exam = records.lock(exam, expected_version=expected_version)
    _require_reason_for_completed(exam.visit, reason)
    records.delete(exam, user=user, reason=reason)


@transaction.atomic
def alsfrs_delete(
    alsfrs: AlsfrsR, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    alsfrs = records.lock(alsfrs, expected_version=expected_version)
    _require_reason_for_completed(alsfrs.visit, reason)
    records.delete(alsfrs, user=user, reason=reason)
    refresh_staging(alsfrs.visit.subject)


# --- clinical events --------------------------------------------------------------------------


@transaction.atomic
def event_create(
    *, user: Acting, subject: Subject, reason: str = "", **fields: Any
) -> ClinicalEvent:
    event = ClinicalEvent(subject=subject)
    records.assign(event, fields, EVENT_FIELDS)
    records.save(event, user=user, reason=reason)
    refresh_staging(subject)
    return event


@transaction.atomic
def event_update(
    event: ClinicalEvent,
    *,
    user: Acting,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> ClinicalEvent:
    event = records.lock(event, expected_version=expected_version)
    records.assign(event, data, EVENT_FIELDS)
    records.save(event, user=user, reason=reason)
    refresh_staging(event.subject)
    return event


@transaction.atomic
def event_delete(
    event: ClinicalEvent, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    records.delete(event, user=user, reason=reason, expected_version=expected_version)
    refresh_staging(event.subject)


# --- diagnoses --------------------------------------------------------------------------------


def _check_reference_assessor(user: Acting, diagnosis: Diagnosis, *, was_reference: bool) -> None:
    """Only a blinded reference-standard assessor sets, changes or removes the reference standard
    (the system, importing a study, may too)."""
    if not (diagnosis.reference_standard or was_reference):
        return
    actor = roles.actor_of(user)
    if actor.user is None or actor.role in roles.REFERENCE_ASSESSORS:
        return
    raise ValidationError(
        {
            "reference_standard": "Only a reference-standard assessor, who sees no MBS read or "
            "band value, may set or change the reference-standard diagnosis."
        }
    )


@transaction.atomic
def diagnosis_create(
    *, user: Acting, subject: Subject, reason: str = "", **fields: Any
) -> Diagnosis:
    diagnosis = Diagnosis(subject=subject, assessor=roles.history_user(user))
    records.assign(diagnosis, fields, DIAGNOSIS_FIELDS)
    _check_reference_assessor(user, diagnosis, was_reference=False)
    records.save(diagnosis, user=user, reason=reason)
    return diagnosis


@transaction.atomic
def diagnosis_update(
    diagnosis: Diagnosis,
    *,
    user: Acting,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Diagnosis:
    diagnosis = records.lock(diagnosis, expected_version=expected_version)
    was_reference = diagnosis.reference_standard
    records.assign(diagnosis, data, DIAGNOSIS_FIELDS)
    _check_reference_assessor(user, diagnosis, was_reference=was_reference)
    if not (reason or "").strip():
        raise ValidationError(
            {"reason": "Give a reason for correcting a diagnosis (it stays in the audit trail)."}
        )
    records.save(diagnosis, user=user, reason=reason)
    return diagnosis


@transaction.atomic
def diagnosis_delete(
    diagnosis: Diagnosis, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> None:
    _check_reference_assessor(user, diagnosis, was_reference=diagnosis.reference_standard)
    if not (reason or "").strip():
        raise ValidationError(
            {"reason": "Give a reason for deleting a diagnosis (it stays in the audit trail)."}
        )
    records.delete(diagnosis, user=user, reason=reason, expected_version=expected_version)


# --- users ------------------------------------------------------------------------------------


def ensure_role_groups() -> None:
    for role in roles.ROLES:
        AuthGroup.objects.get_or_create(name=role)


@transaction.atomic
def study_user_save(
    *,
    username: str,
    role: str,
    sites: Iterable[str] = (),
    password: str | None = None,
    is_active: bool = True,
) -> StudyUser:
    """Create or update a user with exactly one study role and its site memberships."""
    if role not in roles.ROLES:
        raise ValidationError(
            {"role": f"Unknown role '{role}'; choose one of {', '.join(roles.ROLES)}."}
        )
    site_codes = list(dict.fromkeys(sites))
    found = {s.code: s for s in Site.objects.filter(code__in=site_codes)}
    missing = [code for code in site_codes if code not in found]
    if missing:
        raise ValidationError({"site": f"Unknown site code(s): {', '.join(missing)}."})
    if role == roles.COORDINATOR and not site_codes:
        raise ValidationError({"site": "A coordinator needs at least one site."})
    ensure_role_groups()
    user, _ = StudyUser.objects.get_or_create(username=username)
    if password:
        user.set_password(password)
    elif not user.has_usable_password():
        user.set_unusable_password()
    user.is_active = is_active
    user.is_staff = role == roles.ADMIN
    user.is_superuser = role == roles.ADMIN
    user.save()
    user.groups.set([AuthGroup.objects.get(name=role)])
    user.site_memberships.exclude(site__code__in=site_codes).delete()
    for code in site_codes:
        SiteMembership.objects.get_or_create(user=user, site=found[code])
    return user
