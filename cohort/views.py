"""Cohort pages: the study at a glance, subjects, visits and their clinical forms, events, and the
data completeness dashboard (the visit page with its scans is imaging's, above this app).

Views stay thin: selectors read (scoped to the caller's sites, so another site's subject is a 404),
``core.roles`` decides who may write (403 otherwise), forms parse, services write; a service's
ValidationError is put back onto the form, a ConcurrencyError becomes a form-level message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Model
from django.forms import Form
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cohort import forms, scales, selectors, services
from cohort.filters import SubjectSearchFilterSet
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Group,
    Study,
    Subject,
    UmnExam,
    Visit,
    VisitStatus,
)
from core import roles
from core.access import record_access
from core.models import AccessAction
from core.records import ConcurrencyError

SUBJECTS_PER_PAGE = 25

View = Callable[..., HttpResponse]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"role": roles.role_of(request.user)}
    if roles.has_role(request.user, roles.CLINICAL_READERS):
        context["overview"] = selectors.study_overview(user=request.user)
    return render(request, "cohort/home.html", context)


def clinical_reader_required(view: View) -> View:
    """Login, then a role that reads clinical data (raters read scans blinded: 403)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.has_role(request.user, roles.CLINICAL_READERS):
            raise PermissionDenied("Your study role does not show clinical data.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _subject(request: HttpRequest, study_id: str) -> Subject:
    """The subject within the caller's sites; any other answers 404, existing or not."""
    return get_object_or_404(selectors.subject_list(user=request.user), study_id=study_id)


def visit_in_scope(request: HttpRequest, study_id: str, visit_code: str) -> Visit:
    return get_object_or_404(
        selectors.visit_list(user=request.user),
        subject__study_id=study_id,
        visit_code=visit_code,
    )


def require_write(request: HttpRequest, subject: Subject) -> None:
    if not roles.can_write_site(request.user, subject.site_id):
        raise PermissionDenied("Your study role can read but not change this subject.")


def is_xhr(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "XMLHttpRequest"


# --- subjects ---------------------------------------------------------------------------------


@clinical_reader_required
@require_http_methods(["GET"])
def subject_list(request: HttpRequest) -> HttpResponse:
    filterset = SubjectSearchFilterSet(
        request.GET or None,
        queryset=selectors.subject_list(user=request.user).prefetch_related("visits"),
    )
    paginator = Paginator(filterset.qs, SUBJECTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "cohort/subject_list.html",
        {
            "filter": filterset,
            "page": page,
            "sites": selectors.site_list(user=request.user),
            "groups": Group.choices,
            "can_create": _writable_sites(request).exists(),
        },
    )


def _writable_sites(request: HttpRequest) -> Any:
    if not roles.has_role(request.user, roles.CLINICAL_WRITERS):
        return selectors.site_list(user=request.user).none()
    return selectors.site_list(user=request.user)


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def subject_create(request: HttpRequest) -> HttpResponse:
    sites = _writable_sites(request)
    if not sites.exists():
        raise PermissionDenied("Your study role cannot add subjects.")
    form = forms.SubjectForm(request.POST or None, sites=sites)
    if request.method == "POST" and form.is_valid():
        try:
            subject = services.subject_create(user=request.user, **form.service_fields())
        except ValidationError as error:
            forms.add_service_errors(form, error)
        else:
            messages.success(request, f"Subject {subject.study_id} added.")
            return redirect("subject-detail", study_id=subject.study_id)
    return render(request, "cohort/subject_form.html", {"form": form})


def _subject_context(request: HttpRequest, subject: Subject, **extra: Any) -> dict[str, Any]:
    can_write = roles.can_write_site(request.user, subject.site_id)
    timeline = selectors.subject_timeline(subject=subject)
    existing = {e.visit_code for e in timeline if e.visit is not None}
    return {
        "subject": subject,
        "timeline": timeline,
        "events": subject.events.all(),
        "can_write": can_write,
        "can_analyse": roles.has_role(request.user, roles.ANALYSTS),
        "next_code": next((e.visit_code for e in timeline if e.visit_code not in existing), None),
        "event_form": extra.pop("event_form", None) or (forms.EventForm() if can_write else None),
        **extra,
    }


@clinical_reader_required
@require_http_methods(["GET"])
def subject_detail(request: HttpRequest, study_id: str) -> HttpResponse:
    subject = _subject(request, study_id)
    record_access(
        request, AccessAction.VIEW_IDENTIFIABLE, f"subject:{subject.study_id}", page="subject"
    )
    return render(request, "cohort/subject_detail.html", _subject_context(request, subject))


@clinical_reader_required
@require_POST
def event_create(request: HttpRequest, study_id: str) -> HttpResponse:
    subject = _subject(request, study_id)
    require_write(request, subject)
    form = forms.EventForm(request.POST)
    if form.is_valid():
        try:
            event = services.event_create(user=request.user, subject=subject, **form.cleaned_data)
        except ValidationError as error:
            forms.add_service_errors(form, error)
        else:
            messages.success(request, f"{event.get_kind_display()} on {event.date} recorded.")
            return redirect(reverse("subject-detail", args=[subject.study_id]) + "#events")
    context = _subject_context(request, subject, event_form=form)
    return render(request, "cohort/subject_detail.html", context, status=400)


# --- visits -----------------------------------------------------------------------------------


def _codes_to_create(subject: Subject) -> list[str]:
    existing = set(subject.visits.values_list("visit_code", flat=True))
    planned = Study.current().schedule.codes()
    after = max((int(c[1:]) for c in existing | set(planned)), default=0) + 1
    return [c for c in [*planned, f"V{after}"] if c not in existing]


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def visit_create(request: HttpRequest, study_id: str) -> HttpResponse:
    subject = _subject(request, study_id)
    require_write(request, subject)
    codes = _codes_to_create(subject)
    initial = {"visit_code": request.GET.get("code") if request.GET.get("code") in codes else None}
    form = forms.VisitForm(request.POST or None, codes=codes, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            visit = services.visit_create(
                user=request.user, subject=subject, **form.service_fields()
            )
        except ValidationError as error:
            forms.add_service_errors(form, error)
        else:
            messages.success(request, f"Visit {visit.visit_code} saved.")
            return redirect("visit-detail", study_id=subject.study_id, visit_code=visit.visit_code)
    return render(
        request, "cohort/visit_form.html", {"form": form, "subject": subject, "visit": None}
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def visit_edit(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    subject = visit.subject
    require_write(request, subject)
    reason_required = visit.status == VisitStatus.COMPLETED
    initial = {
        "visit_code": visit.visit_code,
        "date": visit.date,
        "status": visit.status,
        "comment": visit.comment,
        "version": visit.version,
    }
    form = forms.VisitForm(
        request.POST or None,
        codes=[visit.visit_code],
        reason_required=reason_required,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            visit = services.visit_update(
                visit,
                user=request.user,
                data=form.service_fields(),
                expected_version=form.expected_version(),
                reason=form.cleaned_data.get("reason", ""),
            )
        except ValidationError as error:
            forms.add_service_errors(form, error)
        except ConcurrencyError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, f"Visit {visit.visit_code} saved.")
            return redirect("visit-detail", study_id=subject.study_id, visit_code=visit.visit_code)
    return render(
        request, "cohort/visit_form.html", {"form": form, "subject": subject, "visit": visit}
    )


def _umn_summary(exam: UmnExam | None) -> list[dict[str, Any]]:
    return [
        {
            "label": forms.UMN_REGION_LABELS[region],
            "value": getattr(exam, region) if exam else None,
            "max": scales.UMN_REGION_MAX[region],
        }
        for region in scales.UMN_REGIONS
    ]


def _alsfrs_summary(alsfrs: AlsfrsR | None) -> list[dict[str, Any]]:
    return [
        {
            "label": forms.ALSFRS_DOMAIN_LABELS[domain],
            "value": getattr(alsfrs, domain) if alsfrs else None,
            "max": scales.ALSFRS_ITEM_MAX * len(items),
        }
        for domain, items in scales.ALSFRS_DOMAINS.items()
    ]


def visit_context(request: HttpRequest, visit: Visit) -> dict[str, Any]:
    """The clinical part of the visit page: subject, timeline entry, UMN exam and ALSFRS-R."""
    subject = visit.subject
    umn = UmnExam.objects.filter(visit=visit).first()
    alsfrs = AlsfrsR.objects.filter(visit=visit).first()
    entry = next(
        (
            e
            for e in selectors.subject_timeline(subject=subject)
            if e.visit_code == visit.visit_code
        ),
        None,
    )
    return {
        "subject": subject,
        "visit": visit,
        "entry": entry,
        "umn": umn,
        "umn_regions": _umn_summary(umn),
        "alsfrs": alsfrs,
        "alsfrs_domains": _alsfrs_summary(alsfrs),
        "can_write": roles.can_write_site(request.user, subject.site_id),
    }


def _clinical_form(
    request: HttpRequest,
    study_id: str,
    visit_code: str,
    *,
    model: type[UmnExam] | type[AlsfrsR],
    form_class: type[forms.UmnExamForm] | type[forms.AlsfrsForm],
    save: Callable[..., Any],
    template: str,
    saved_message: Callable[[Any], str],
) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    existing = model.objects.filter(visit=visit).first()
    reason_required = existing is not None and visit.status == VisitStatus.COMPLETED
    initial: dict[str, Any] = {}
    if existing is not None:
        initial = {
            name: getattr(existing, name) for name in form_class(reason_required=False).fields
        }
        initial["version"] = existing.version
    form = form_class(request.POST or None, initial=initial, reason_required=reason_required)
    if request.method == "POST" and form.is_valid():
        try:
            record = save(
                user=request.user,
                visit=visit,
                items=form.items(),
                expected_version=form.expected_version(),
                reason=form.cleaned_data.get("reason", ""),
            )
        except ValidationError as error:
            forms.add_service_errors(form, error)
        except ConcurrencyError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, saved_message(record))
            return redirect("visit-detail", study_id=study_id, visit_code=visit_code)
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "subject": visit.subject, "visit": visit, "existing": existing}
    return render(request, template, context, status=status)


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def umn_exam(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    def saved(exam: UmnExam) -> str:
        total = "incomplete" if exam.total is None else f"{exam.total}/{scales.UMN_TOTAL_MAX}"
        return f"Penn UMN exam saved: total {total}."

    return _clinical_form(
        request,
        study_id,
        visit_code,
        model=UmnExam,
        form_class=forms.UmnExamForm,
        save=services.umn_exam_save,
        template="cohort/umn_form.html",
        saved_message=saved,
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def alsfrs(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    def saved(record: AlsfrsR) -> str:
        if record.total is None:
            return f"ALSFRS-R saved. {record.total_note}"
        return f"ALSFRS-R saved: total {record.total}/{scales.ALSFRS_TOTAL_MAX}."

    def save(**kwargs: Any) -> AlsfrsR:
        # The page is the case report form: every item gets a score or a missing-data code.
        return services.alsfrs_save(**kwargs, require_every_item=True)

    return _clinical_form(
        request,
        study_id,
        visit_code,
        model=AlsfrsR,
        form_class=forms.AlsfrsForm,
        save=save,
        template="cohort/alsfrs_form.html",
        saved_message=saved,
    )


# --- completeness -----------------------------------------------------------------------------


@clinical_reader_required
@require_http_methods(["GET"])
def completeness(request: HttpRequest) -> HttpResponse:
    rows = selectors.site_completeness(user=request.user)
    return render(request, "cohort/completeness.html", {"rows": rows})


# --- diagnoses and the reference standard -------------------------------------------------------


def clinical_record_reader_required(view: View) -> View:
    """Login, then a role that reads the clinical record (the blinded reference-standard assessors
    too: these pages show no scan, read or band value)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.has_role(request.user, roles.CLINICAL_RECORD_READERS):
            raise PermissionDenied("Your study role does not show clinical records.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@clinical_record_reader_required
@require_http_methods(["GET"])
def diagnosis_worklist(request: HttpRequest) -> HttpResponse:
    """Subjects and the state of their reference standard: who is due for the final diagnosis."""
    which = request.GET.get("group") or Group.SUSPECTED
    subjects = (
        selectors.subject_list(user=request.user)
        .exclude(group=Group.CONTROL)
        .prefetch_related("diagnoses", "events")
    )
    if which != "all":
        subjects = subjects.filter(group=which)
    paginator = Paginator(subjects, SUBJECTS_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = [selectors.reference_state(subject) for subject in page.object_list]
    return render(
        request,
        "cohort/diagnosis_worklist.html",
        {
            "page": page,
            "rows": rows,
            "which": which,
            "groups": [(v, label) for v, label in Group.choices if v != Group.CONTROL],
            "months": Study.current().reference_standard_months,
        },
    )


@clinical_record_reader_required
@require_http_methods(["GET", "POST"])
def subject_diagnoses(request: HttpRequest, study_id: str) -> HttpResponse:
    """A subject's clinical course (visits, scores, stages, events) and diagnosis history, and the
    form to record a diagnosis (the final one only for the assessor)."""
    subject = get_object_or_404(selectors.subject_list(user=request.user), study_id=study_id)
    assessor = roles.is_reference_assessor(request.user)
    may_record = assessor or roles.can_write_site(request.user, subject.site_id)
    form = None
    if may_record:
        form = forms.DiagnosisForm(request.POST or None, may_set_reference=assessor)
    elif request.method == "POST":
        raise PermissionDenied("Your study role cannot record diagnoses for this subject.")
    if request.method == "POST" and form is not None and form.is_valid():
        try:
            made = services.diagnosis_create(
                user=request.user, subject=subject, **form.service_fields()
            )
        except ValidationError as error:
            forms.add_service_errors(form, error)
        else:
            what = "Final diagnosis" if made.reference_standard else "Diagnosis"
            messages.success(request, f"{what} of {made.date} recorded.")
            return redirect("subject-diagnoses", study_id=subject.study_id)
    context = {
        "subject": subject,
        "course": selectors.clinical_course(subject),
        "events": subject.events.all(),
        "diagnoses": subject.diagnoses.select_related("assessor"),
        "state": selectors.reference_state(subject),
        "form": form,
        "assessor": assessor,
    }
    status = 400 if request.method == "POST" else 200
    record_access(
        request, AccessAction.VIEW_IDENTIFIABLE, f"subject:{subject.study_id}", page="diagnoses"
    )
    return render(request, "cohort/subject_diagnoses.html", context, status=status)


# --- corrections and deletions ----------------------------------------------------------------
#
# Every correction and deletion on these pages carries a reason (kept in the audit trail) and the
# version the user opened (a record changed by someone else in between is not overwritten).


def stale_message(error: ConcurrencyError) -> str:
    """What a user reads when the record moved on since they opened it."""
    return (
        f"Someone else changed this record since you opened it: you opened version "
        f"{error.expected}, it is at version {error.current} now. What you typed is kept below; "
        "check the record's history, then save again to apply it over their change."
    )


def keep_after_stale(form: Form, error: ConcurrencyError) -> None:
    """Show the stale-version message and carry the current version in the hidden field, so that
    saving again (after checking) applies the user's change."""
    form.add_error(None, stale_message(error))
    data = QueryDict(mutable=True)
    data.update(form.data)
    data[form.add_prefix("version")] = str(error.current)
    form.data = data


def confirm_delete(
    request: HttpRequest,
    *,
    subject: Subject,
    visit: Visit | None,
    record: Model,
    what: str,
    consequences: list[str],
    delete: Callable[[str, int | None], None],
    done_url: str,
    cancel_url: str,
) -> HttpResponse:
    """The confirmation page of a deletion (GET) and the deletion itself (POST, with a reason and
    the version the user saw); the service decides and writes."""
    version = record.version  # type: ignore[attr-defined]
    form = forms.ReasonForm(request.POST or None, initial={"version": version})
    if request.method == "POST" and form.is_valid():
        try:
            delete(form.cleaned_data["reason"], form.expected_version())
        except ValidationError as error:
            forms.add_service_errors(form, error)
        except ConcurrencyError as error:
            keep_after_stale(form, error)
        else:
            messages.success(request, f"{what[:1].upper()}{what[1:]} deleted.")
            return redirect(done_url)
    status = 400 if form.is_bound and form.errors else 200
    context = {
        "form": form,
        "subject": subject,
        "visit": visit,
        "what": what,
        "consequences": consequences,
        "cancel_url": cancel_url,
    }
    return render(request, "cohort/confirm_delete.html", context, status=status)


def _save_correction(
    request: HttpRequest, form: Any, record: Any, update: Callable[..., Any]
) -> Any | None:
    """Save what a correction form changed through the record's update service, with the reason
    and the version the user opened; None (with the refusal on the form) when nothing changed,
    a rule refused it, or someone else changed the record first."""
    changed = {
        name: value
        for name, value in form.service_fields().items()
        if getattr(record, name) != value
    }
    if not changed:
        form.add_error(None, "You changed nothing: there is nothing to save.")
        return None
    try:
        return update(
            record,
            user=request.user,
            data=changed,
            expected_version=form.expected_version(),
            reason=form.cleaned_data["reason"],
        )
    except ValidationError as error:
        forms.add_service_errors(form, error)
    except ConcurrencyError as error:
        keep_after_stale(form, error)
    return None


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def subject_edit(request: HttpRequest, study_id: str) -> HttpResponse:
    """Correct a subject's record (demographics, dates, group, site within the caller's sites)."""
    subject = _subject(request, study_id)
    require_write(request, subject)
    initial: dict[str, Any] = {name: getattr(subject, name) for name in services.SUBJECT_FIELDS}
    initial["onset_region"] = subject.onset_region or ""
    initial["version"] = subject.version
    form = forms.SubjectEditForm(
        request.POST or None, sites=_writable_sites(request), initial=initial
    )
    if request.method == "POST" and form.is_valid():
        saved = _save_correction(request, form, subject, services.subject_update)
        if saved is not None:
            messages.success(request, f"Subject {saved.study_id} corrected.")
            return redirect("subject-detail", study_id=saved.study_id)
    record_access(
        request, AccessAction.VIEW_IDENTIFIABLE, f"subject:{subject.study_id}", page="subject-edit"
    )
    status = 400 if form.is_bound and form.errors else 200
    return render(
        request, "cohort/subject_edit.html", {"form": form, "subject": subject}, status=status
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def subject_delete(request: HttpRequest, study_id: str) -> HttpResponse:
    subject = _subject(request, study_id)
    require_write(request, subject)

    def delete(reason: str, version: int | None) -> None:
        services.subject_delete(subject, user=request.user, reason=reason, expected_version=version)

    return confirm_delete(
        request,
        subject=subject,
        visit=None,
        record=subject,
        what=f"subject {subject.study_id}",
        consequences=[
            f"{subject.visits.count()} visit(s) with their UMN exams and ALSFRS-R forms",
            f"{subject.events.count()} clinical event(s)",
            f"{subject.diagnoses.count()} diagnosis record(s)",
        ],
        delete=delete,
        done_url=reverse("subject-list"),
        cancel_url=reverse("subject-detail", args=[subject.study_id]),
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def visit_delete(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    forms_held = [
        name
        for name, model in (("Penn UMN exam", UmnExam), ("ALSFRS-R", AlsfrsR))
        if model.objects.filter(visit=visit).exists()
    ]

    def delete(reason: str, version: int | None) -> None:
        services.visit_delete(visit, user=request.user, reason=reason, expected_version=version)

    return confirm_delete(
        request,
        subject=visit.subject,
        visit=visit,
        record=visit,
        what=f"visit {visit.visit_code} of {visit.subject.study_id}",
        consequences=[f"its {name}" for name in forms_held],
        delete=delete,
        done_url=reverse("subject-detail", args=[study_id]),
        cancel_url=reverse("visit-detail", args=[study_id, visit_code]),
    )


def _visit_form_delete(
    request: HttpRequest,
    study_id: str,
    visit_code: str,
    *,
    model: type[UmnExam] | type[AlsfrsR],
    title: str,
    service: Callable[..., None],
) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    record = get_object_or_404(model, visit=visit)

    def delete(reason: str, version: int | None) -> None:
        service(record, user=request.user, reason=reason, expected_version=version)

    return confirm_delete(
        request,
        subject=visit.subject,
        visit=visit,
        record=record,
        what=f"the {title} of visit {visit.visit_code}",
        consequences=[],
        delete=delete,
        done_url=reverse("visit-detail", args=[study_id, visit_code]),
        cancel_url=reverse("visit-detail", args=[study_id, visit_code]),
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def umn_exam_delete(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    return _visit_form_delete(
        request,
        study_id,
        visit_code,
        model=UmnExam,
        title="Penn UMN exam",
        service=services.umn_exam_delete,
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def alsfrs_delete(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    return _visit_form_delete(
        request,
        study_id,
        visit_code,
        model=AlsfrsR,
        title="ALSFRS-R",
        service=services.alsfrs_delete,
    )


def _event(request: HttpRequest, study_id: str, event_id: int) -> tuple[Subject, ClinicalEvent]:
    subject = _subject(request, study_id)
    return subject, get_object_or_404(ClinicalEvent, subject=subject, pk=event_id)


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, study_id: str, event_id: int) -> HttpResponse:
    subject, event = _event(request, study_id, event_id)
    require_write(request, subject)
    initial = {
        "kind": event.kind,
        "date": event.date,
        "comment": event.comment,
        "version": event.version,
    }
    form = forms.EventEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = _save_correction(request, form, event, services.event_update)
        if saved is not None:
            messages.success(request, f"{saved.get_kind_display()} on {saved.date} corrected.")
            return redirect(reverse("subject-detail", args=[subject.study_id]) + "#events")
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "subject": subject, "event": event}
    return render(request, "cohort/event_form.html", context, status=status)


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def event_delete(request: HttpRequest, study_id: str, event_id: int) -> HttpResponse:
    subject, event = _event(request, study_id, event_id)
    require_write(request, subject)

    def delete(reason: str, version: int | None) -> None:
        services.event_delete(event, user=request.user, reason=reason, expected_version=version)

    return confirm_delete(
        request,
        subject=subject,
        visit=None,
        record=event,
        what=f"the {event.get_kind_display().lower()} event of {event.date:%Y-%m-%d}",
        consequences=[],
        delete=delete,
        done_url=reverse("subject-detail", args=[study_id]) + "#events",
        cancel_url=reverse("subject-detail", args=[study_id]) + "#events",
    )
