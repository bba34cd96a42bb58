"""Cohort services: the only writers of cohort data.

Each service validates through the model layer, owns its transaction, keeps derived fields (visit
timing, subscores, ΔFS) in step, bumps the row's ``version`` for optimistic concurrency and records
who changed what (and why) in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group as AuthGroup
from django.core.exceptions import ValidationError
from django.db import models, transaction

from cohort import roles, scales
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Site,
    SiteMembership,
    Study,
    Subject,
    UmnExam,
    Visit,
    VisitStatus,
)

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
    "comment",
)
VISIT_FIELDS = ("visit_code", "date", "status", "comment")
EVENT_FIELDS = ("kind", "date", "comment")


class ConcurrencyError(Exception):
    """The record changed since the caller read it (its version moved on)."""

    def __init__(self, instance: models.Model, expected: int) -> None:
        self.instance = instance
        self.expected = expected
        self.current = instance.version  # type: ignore[attr-defined]
        super().__init__(
            f"This {instance._meta.verbose_name} was changed by someone else since you opened it "
            f"(your version {expected}, now {self.current}). Reload it and apply your change again."
        )


def _lock(instance: models.Model) -> models.Model:
    """Re-read the row under a row lock so version checks and updates are atomic."""
    return type(instance).objects.select_for_update().get(pk=instance.pk)


def _check_version(current: models.Model, expected_version: int | None) -> None:
    if expected_version is not None and current.version != expected_version:  # type: ignore[attr-defined]
        raise ConcurrencyError(current, expected_version)


def _save(instance: models.Model, *, user: Any, reason: str = "", creating: bool = False) -> None:
    instance.full_clean()
    if not creating:
        instance.version += 1  # type: ignore[attr-defined]
    instance._history_user = user if getattr(user, "is_authenticated", False) else None  # type: ignore[attr-defined]
    instance._change_reason = reason or None  # type: ignore[attr-defined]
    instance.save()


def _delete(instance: models.Model, *, user: Any, reason: str = "") -> None:
    instance._history_user = user if getattr(user, "is_authenticated", False) else None  # type: ignore[attr-defined]
    instance._change_reason = reason or None  # type: ignore[attr-defined]
    instance.delete()


def _apply(instance: models.Model, data: Mapping[str, Any], allowed: Iterable[str]) -> None:
    allowed = set(allowed)
    unknown = set(data) - allowed
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in sorted(unknown)})
    for name, value in data.items():
        setattr(instance, name, value)


def _require_reason_for_completed(visit: Visit, reason: str) -> None:
    if visit.status == VisitStatus.COMPLETED and not (reason or "").strip():
        raise ValidationError(
            {"reason": f"Visit {visit} is completed: give a reason for changing it (audit trail)."}
        )


# --- study and sites --------------------------------------------------------------------------


@transaction.atomic
def study_update(*, user: Any, data: Mapping[str, Any], reason: str = "") -> Study:
    study = Study.current()
    _apply(study, data, ("name", "interval_months", "window_days", "planned_visits"))
    study.full_clean()
    study._history_user = user if getattr(user, "is_authenticated", False) else None  # type: ignore[attr-defined]
    study.save()
    for subject in Subject.objects.all():
        refresh_visit_timing(subject)
    return study


@transaction.atomic
def site_create(*, user: Any, code: str, name: str) -> Site:
    site = Site(code=code, name=name)
    _save(site, user=user, creating=True)
    return site


@transaction.atomic
def site_update(
    site: Site, *, user: Any, data: Mapping[str, Any], expected_version: int | None = None
) -> Site:
    site = _lock(site)  # type: ignore[assignment]
    _check_version(site, expected_version)
    _apply(site, data, ("code", "name"))
    _save(site, user=user)
    return site


@transaction.atomic
def site_delete(site: Site, *, user: Any) -> None:
    if site.subjects.exists():
        raise ValidationError({"site": f"Site {site.code} still has subjects; move them first."})
    _delete(site, user=user)


# --- subjects ---------------------------------------------------------------------------------


@transaction.atomic
def subject_create(*, user: Any, reason: str = "", **fields: Any) -> Subject:
    subject = Subject()
    _apply(subject, fields, SUBJECT_FIELDS)
    _save(subject, user=user, reason=reason, creating=True)
    return subject


@transaction.atomic
def subject_update(
    subject: Subject,
    *,
    user: Any,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Subject:
    subject = _lock(subject)  # type: ignore[assignment]
    _check_version(subject, expected_version)
    _apply(subject, data, SUBJECT_FIELDS)
    _save(subject, user=user, reason=reason)
    refresh_visit_timing(subject)
    return subject


@transaction.atomic
def subject_delete(subject: Subject, *, user: Any, reason: str = "") -> None:
    for visit in subject.visits.all():
        visit_delete(visit, user=user, reason=reason or "subject deleted", force=True)
    for event in subject.events.all():
        _delete(event, user=user, reason=reason)
    _delete(subject, user=user, reason=reason)


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


@transaction.atomic
def visit_create(*, user: Any, subject: Subject, reason: str = "", **fields: Any) -> Visit:
    visit = Visit(subject=subject)
    _apply(visit, fields, VISIT_FIELDS)
    _save(visit, user=user, reason=reason, creating=True)
    refresh_visit_timing(subject)
    visit.refresh_from_db()
    return visit


@transaction.atomic
def visit_update(
    visit: Visit,
    *,
    user: Any,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Visit:
    visit = _lock(visit)  # type: ignore[assignment]
    _check_version(visit, expected_version)
    _require_reason_for_completed(visit, reason)
    _apply(visit, data, VISIT_FIELDS)
    if visit.status == VisitStatus.MISSED and (
        UmnExam.objects.filter(visit=visit).exists() or AlsfrsR.objects.filter(visit=visit).exists()
    ):
        raise ValidationError({"status": "This visit has clinical forms; it cannot be missed."})
    _save(visit, user=user, reason=reason)
    refresh_visit_timing(visit.subject)
    visit.refresh_from_db()
    return visit


@transaction.atomic
def visit_delete(visit: Visit, *, user: Any, reason: str = "", force: bool = False) -> None:
    if not force:
        _require_reason_for_completed(visit, reason)
        if visit.visit_code == "V1" and visit.subject.visits.exclude(pk=visit.pk).exists():
            raise ValidationError(
                {"visit_code": "Delete the follow-up visits before the baseline visit."}
            )
    for form in (UmnExam, AlsfrsR):
        existing = form.objects.filter(visit=visit).first()
        if existing is not None:
            _delete(existing, user=user, reason=reason)
    subject = visit.subject
    _delete(visit, user=user, reason=reason)
    refresh_visit_timing(subject)


# --- clinical forms ---------------------------------------------------------------------------


def _form_save(
    model: type[UmnExam] | type[AlsfrsR],
    *,
    user: Any,
    visit: Visit,
    items: Mapping[str, Any],
    allowed: Iterable[str],
    expected_version: int | None,
    reason: str,
) -> Any:
    existing = model.objects.select_for_update().filter(visit=visit).first()
    if existing is None:
        form = model(visit=visit)
        creating = True
    else:
        form = existing
        creating = False
        _check_version(form, expected_version)
        _require_reason_for_completed(visit, reason)
    _apply(form, items, allowed)
    form.visit = visit
    form.full_clean()
    form.derive()
    _save(form, user=user, reason=reason, creating=creating)
    return form


@transaction.atomic
def umn_exam_save(
    *,
    user: Any,
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
    user: Any,
    visit: Visit,
    items: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> AlsfrsR:
    """Create or update the visit's ALSFRS-R from its items; subscores, total and ΔFS are derived."""
    return _form_save(
        AlsfrsR,
        user=user,
        visit=visit,
        items=items,
        allowed=(*scales.ALSFRS_ITEMS, "q5_gastrostomy"),
        expected_version=expected_version,
        reason=reason,
    )


@transaction.atomic
def umn_exam_delete(exam: UmnExam, *, user: Any, reason: str = "") -> None:
    _require_reason_for_completed(exam.visit, reason)
    _delete(exam, user=user, reason=reason)


@transaction.atomic
def alsfrs_delete(alsfrs: AlsfrsR, *, user: Any, reason: str = "") -> None:
    _require_reason_for_completed(alsfrs.visit, reason)
    _delete(alsfrs, user=user, reason=reason)


# --- clinical events --------------------------------------------------------------------------


@transaction.atomic
def event_create(*, user: Any, subject: Subject, reason: str = "", **fields: Any) -> ClinicalEvent:
    event = ClinicalEvent(subject=subject)
    _apply(event, fields, EVENT_FIELDS)
    _save(event, user=user, reason=reason, creating=True)
    return event


@transaction.atomic
def event_update(
    event: ClinicalEvent,
    *,
    user: Any,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> ClinicalEvent:
    event = _lock(event)  # type: ignore[assignment]
    _check_version(event, expected_version)
    _apply(event, data, EVENT_FIELDS)
    _save(event, user=user, reason=reason)
    return event


@transaction.atomic
def event_delete(event: ClinicalEvent, *, user: Any, reason: str = "") -> None:
    _delete(event, user=user, reason=reason)


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
) -> Any:
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
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
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
