"""Imaging pages: the visit page with its scans (upload, quantify) and the reading pages (a rater's
blinded queue, the reading page with its NiiVue viewer and grading form, the de-identified image,
and the reading coordinator's assignment page). The reviewers' agreement and adjudication pages
are analysis's.

A rater reaches only the scans of their own queue (any other code is a 404) and sees nothing but
the pseudonymous code: no subject, site, visit, date, clinical data, measurement or other read.
"""

from __future__ import annotations

import functools
import io
import secrets
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cohort import history
from cohort import selectors as cohort_selectors
from cohort import views as cohort_views
from cohort.forms import add_service_errors
from cohort.models import Visit, VisitStatus
from cohort.views import clinical_reader_required, is_xhr, require_write, visit_in_scope
from core import roles
from core.access import record_access
from core.models import AccessAction
from core.records import ConcurrencyError
from imaging import reading, selectors, services
from imaging.band.deidentify import deidentified_nifti
from imaging.forms import (
    CorrectionForm,
    ImageForm,
    ReadAssignmentForm,
    ReadForm,
    ScanReplaceForm,
    ScanScannerForm,
    ScanUploadForm,
)
from imaging.models import QUANTIFIABLE_KINDS, QcStatus, Read, Scan, ScanKind

#: minIP slabs offered by the viewer (mm).
MINIP_SLABS_MM = (4, 8, 16)
#: Seeds drawn for an assignment asked for without one (shown, so it can be repeated).
SEED_RANGE = 1_000_000


def _role_required(
    check: Callable[[Any], bool], message: str
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if not check(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


rater_required = _role_required(roles.is_rater, "The reading queue belongs to blinded raters.")
assigner_required = _role_required(
    roles.can_assign_reads, "Reads are assigned by data managers and administrators."
)


def _queued(request: HttpRequest, code: str) -> Scan:
    try:
        return reading.queued_scan(rater=request.user, code=code)
    except Scan.DoesNotExist as exc:
        raise Http404("No such scan in your reading queue.") from exc


def _apply_errors(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@rater_required
def queue(request: HttpRequest) -> HttpResponse:
    items = reading.reading_queue(rater=request.user)
    pending = [i for i in items if i.status == reading.ReadStatus.PENDING]
    return render(
        request,
        "imaging/queue.html",
        {"items": items, "next_item": pending[0] if pending else None, "n_pending": len(pending)},
    )


@rater_required
def read_page(request: HttpRequest, code: str) -> HttpResponse:
    scan = _queued(request, code)
    current = reading.current_read(rater=request.user, scan=scan)
    form: ReadForm | None = None
    correction: CorrectionForm | None = None
    if request.method == "POST" and request.POST.get("action") == "correct" and current:
        correction = CorrectionForm(request.POST, prefix="correct")
        if correction.is_valid():
            try:
                reading.read_correct(rater=request.user, read=current, **correction.cleaned_data)
            except ValidationError as exc:
                _apply_errors(correction, exc)
            else:
                messages.success(request, f"Your corrected read of {scan.code} is recorded.")
                return redirect("imaging:read", code=scan.code)
    elif request.method == "POST" and current is None:
        form = ReadForm(request.POST)
        if form.is_valid():
            try:
                reading.read_submit(rater=request.user, scan=scan, **form.cleaned_data)
            except ValidationError as exc:
                _apply_errors(form, exc)
            else:
                messages.success(request, f"Your read of {scan.code} is submitted and locked.")
                return redirect("imaging:read", code=scan.code)
    elif request.method not in ("GET", "HEAD"):
        return redirect("imaging:read", code=scan.code)
    if current is None and form is None:
        form = ReadForm()
    if current is not None and correction is None:
        correction = CorrectionForm(
            prefix="correct",
            initial={
                "outcome": current.outcome,
                "non_diagnostic_reason": current.non_diagnostic_reason,
                "non_diagnostic_detail": current.non_diagnostic_detail,
                "left_grade": current.left_grade,
                "right_grade": current.right_grade,
                "confidence": current.confidence,
                "comment": current.comment,
            },
        )
    items = reading.reading_queue(rater=request.user)
    later = [i for i in items if i.status == reading.ReadStatus.PENDING and i.scan_id != scan.pk]
    status = (
        400
        if (form is not None and form.is_bound) or (correction is not None and correction.is_bound)
        else 200
    )
    return render(
        request,
        "imaging/read.html",
        {
            "scan_code": scan.code,
            "current": current,
            "form": form,
            "correction": correction,
            "next_item": later[0] if later else None,
            "minip_slabs": MINIP_SLABS_MM,
            "grade_labels": dict(Read.GRADE_CHOICES),
            "confidence_labels": dict(Read.CONFIDENCE_CHOICES),
        },
        status=status,
    )


@assigner_required
@require_http_methods(["GET", "POST"])
def assign_reads(request: HttpRequest) -> HttpResponse:
    """The reading coordinator's page: give scans k raters each, balanced and in a seeded random
    order, through the service the ``assign_reads`` command uses; then show every queue's size."""
    form = ReadAssignmentForm(request.POST or None)
    result: dict[str, Any] | None = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            seed = form.cleaned_data["seed"]
            if seed is None:
                seed = secrets.randbelow(SEED_RANGE)
            raters = list(form.cleaned_data["raters"]) or None
            scans = list(form.cleaned_data["scans"]) or None
            try:
                created = reading.read_assignments_auto(
                    user=request.user,
                    k=form.cleaned_data["k"],
                    seed=seed,
                    scans=scans,
                    raters=raters,
                )
            except ValidationError as exc:
                _apply_errors(form, exc)
                status = 400
            else:
                result = {
                    "seed": seed,
                    "k": form.cleaned_data["k"],
                    "created": len(created),
                    "scans": len({a.scan_id for a in created}),
                    "sizes": reading.queue_sizes(raters=raters, added=created),
                }
        else:
            status = 400
    k = form.cleaned_data["k"] if form.is_bound and form.is_valid() else form.fields["k"].initial
    return render(
        request,
        "imaging/assign.html",
        {
            "form": form,
            "result": result,
            "sizes": result["sizes"] if result else reading.queue_sizes(),
            "n_candidates": reading.assignable_scans(fewer_than=k).count(),
            "k": k,
        },
        status=status,
    )


@require_GET
@rater_required
@cache_control(private=True, no_store=True)
def image(request: HttpRequest, code: str) -> HttpResponseBase:
    """The scan's SWI as ``<code>.nii.gz`` with a de-identified header (optionally its minIP)."""
    scan = _queued(request, code)
    form = ImageForm(request.GET)
    if not form.is_valid():
        message = " ".join(str(error) for error in form.errors["minip"])
        return HttpResponse(message, status=400, content_type="text/plain")
    slab = form.cleaned_data.get("minip")
    payload = deidentified_nifti(scan.file.path, minip_slab_mm=slab)
    name = f"{scan.code}.nii.gz" if slab is None else f"{scan.code}_minip.nii.gz"
    record_access(
        request, AccessAction.DOWNLOAD, f"scan:{scan.code}", deidentified=True, minip_mm=slab
    )
    return FileResponse(
        io.BytesIO(payload), as_attachment=True, filename=name, content_type="application/gzip"
    )


# --- the visit page: clinical forms (cohort) and scans --------------------------------------


def _scans(request: HttpRequest, visit: Visit) -> list[dict[str, Any]]:
    """The visit's scans, each with its latest quantification run and whether it can run."""
    scans = list(selectors.scan_list(user=request.user).filter(visit=visit))
    latest: dict[int, Any] = {}
    for run in selectors.run_list(user=request.user).filter(scan__visit=visit):
        latest.setdefault(run.scan_id, run)  # runs come newest first
    has_labels = any(s.kind == ScanKind.LABELS for s in scans)
    return [
        {
            "scan": scan,
            "run": latest.get(scan.pk),
            "quantifiable": has_labels and scan.kind in QUANTIFIABLE_KINDS,
        }
        for scan in scans
    ]


def _upload_kinds(existing: set[str]) -> list[tuple[str, str]]:
    return [(value, label) for value, label in ScanKind.choices if value not in existing]


def _visit_context(
    request: HttpRequest, visit: Visit, upload_form: ScanUploadForm | None = None
) -> dict[str, Any]:
    context = cohort_views.visit_context(request, visit)
    can_write = context["can_write"]
    if upload_form is None and can_write:
        existing_kinds = set(visit.scans.values_list("kind", flat=True))
        upload_form = ScanUploadForm(kinds=_upload_kinds(existing_kinds))
    return {
        **context,
        "qc_choices": QcStatus.choices,
        "scans": _scans(request, visit),
        "upload_form": upload_form,
        "can_upload": can_write and visit.status == VisitStatus.COMPLETED,
    }


@clinical_reader_required
@require_http_methods(["GET"])
def visit_detail(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    record_access(
        request,
        AccessAction.VIEW_IDENTIFIABLE,
        f"visit:{visit.subject.study_id}/{visit.visit_code}",
        page="visit",
    )
    return render(request, "cohort/visit_detail.html", _visit_context(request, visit))


def _scan_json(scan: Scan) -> dict[str, Any]:
    return {
        "code": scan.code,
        "kind": scan.kind,
        "kind_label": scan.get_kind_display(),
        "original_name": scan.original_name,
        "shape": scan.shape,
        "voxel_size": scan.voxel_size,
        "field_strength": scan.field_strength,
        "manufacturer": scan.manufacturer,
        "echo_time": scan.echo_time,
        "qc_status": scan.qc_status,
        "qc_status_label": scan.get_qc_status_display(),
        "qc_notes": scan.qc_notes,
    }


@clinical_reader_required
@require_POST
def scan_upload(request: HttpRequest, study_id: str, visit_code: str) -> HttpResponse:
    """Upload one scan: JSON for the page's progress-bar upload, a page for a plain form post."""
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    existing = set(visit.scans.values_list("kind", flat=True))
    form = ScanUploadForm(request.POST, request.FILES, kinds=list(ScanKind.choices))
    scan = None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            scan = services.scan_upload(
                user=request.user,
                visit=visit,
                kind=form.cleaned_data["kind"],
                upload=upload,
                name=upload.name,
                echo=form.cleaned_data["echo"],
                field_strength=form.cleaned_data["field_strength"],
                manufacturer=form.cleaned_data["manufacturer"],
                scanner_model=form.cleaned_data["scanner_model"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
    if is_xhr(request):
        if scan is None:
            errors = {name: list(messages_) for name, messages_ in form.errors.items()}
            return JsonResponse({"errors": errors}, status=400)
        # The whole list again: a new label map makes the visit's intensity scans quantifiable.
        html = render_to_string(
            "cohort/_scan_list.html",
            {"scans": _scans(request, visit), "can_write": True, "qc_choices": QcStatus.choices},
            request=request,
        )
        return JsonResponse({"scan": _scan_json(scan), "html": html}, status=201)
    if scan is not None:
        notes = f" ({scan.qc_notes})" if scan.qc_notes else ""
        messages.success(
            request, f"Scan {scan.code} ({scan.kind}) uploaded{notes}; QC pending review."
        )
        return redirect("visit-detail", study_id=study_id, visit_code=visit_code)
    form.fields["kind"].choices = _upload_kinds(existing)  # type: ignore[attr-defined]
    context = _visit_context(request, visit, upload_form=form)
    return render(request, "cohort/visit_detail.html", context, status=400)


@clinical_reader_required
@require_POST
def scan_quantify(
    request: HttpRequest, study_id: str, visit_code: str, scan_code: str
) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    scan = get_object_or_404(selectors.scan_list(user=request.user), visit=visit, code=scan_code)
    try:
        run, queued = services.run_request(user=request.user, scan=scan)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        run.refresh_from_db()
        if not queued:
            messages.info(request, f"Scan {scan.code} already has this run ({run.status}).")
        elif run.status == "failed":
            messages.error(request, f"Quantification of {scan.code} failed: {run.error}")
        else:
            messages.success(request, f"Quantification of {scan.code}: {run.status}.")
    return redirect(reverse("visit-detail", args=[study_id, visit_code]) + f"#scan-{scan.code}")


def _scan_in_visit(request: HttpRequest, visit: Visit, scan_code: str) -> Scan:
    return get_object_or_404(selectors.scan_list(user=request.user), visit=visit, code=scan_code)


def _qc_post(
    request: HttpRequest, study_id: str, visit_code: str, decide: Callable[[Visit], str]
) -> HttpResponse:
    """Apply a QC decision from the visit page; the service's words become the page's message."""
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    try:
        done = decide(visit)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    except ConcurrencyError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, done)
    return redirect(reverse("visit-detail", args=[study_id, visit_code]))


@clinical_reader_required
@require_POST
def scan_qc(request: HttpRequest, study_id: str, visit_code: str, scan_code: str) -> HttpResponse:
    def decide(visit: Visit) -> str:
        scan = services.scan_qc_set(
            _scan_in_visit(request, visit, scan_code),
            user=request.user,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
        return f"Scan {scan.code}: QC {scan.get_qc_status_display().lower()}."

    return _qc_post(request, study_id, visit_code, decide)


@clinical_reader_required
@require_POST
def run_qc(
    request: HttpRequest, study_id: str, visit_code: str, scan_code: str, run_id: int
) -> HttpResponse:
    def decide(visit: Visit) -> str:
        scan = _scan_in_visit(request, visit, scan_code)
        run = get_object_or_404(selectors.run_list(user=request.user), scan=scan, pk=run_id)
        run = services.run_qc_set(
            run,
            user=request.user,
            status=request.POST.get("status", ""),
            reason=request.POST.get("reason", ""),
        )
        return f"Run {run.pk} of {scan.code}: QC {run.get_qc_status_display().lower()}."

    return _qc_post(request, study_id, visit_code, decide)


# --- correcting a scan: delete, replace -------------------------------------------------------


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def scan_delete(
    request: HttpRequest, study_id: str, visit_code: str, scan_code: str
) -> HttpResponse:
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    scan = _scan_in_visit(request, visit, scan_code)

    def delete(reason: str, version: int | None) -> None:
        services.scan_delete(scan, user=request.user, reason=reason, expected_version=version)

    return cohort_views.confirm_delete(
        request,
        subject=visit.subject,
        visit=visit,
        record=scan,
        what=f"scan {scan.code} ({scan.get_kind_display()})",
        consequences=["its quantification runs and their measurements"],
        delete=delete,
        done_url=reverse("visit-detail", args=[study_id, visit_code]) + "#scans-h",
        cancel_url=reverse("visit-detail", args=[study_id, visit_code]) + f"#scan-{scan.code}",
    )


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def scan_replace(
    request: HttpRequest, study_id: str, visit_code: str, scan_code: str
) -> HttpResponse:
    """Replace a scan's file in one step: the new file with a reason; the old scan is deleted with
    that reason only once the new file is accepted."""
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    scan = _scan_in_visit(request, visit, scan_code)
    form = ScanReplaceForm(
        request.POST or None,
        request.FILES or None,
        initial={"version": scan.version, "field_strength": scan.field_strength},
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            new = services.scan_replace(
                scan,
                user=request.user,
                upload=upload,
                name=upload.name,
                reason=form.cleaned_data["reason"],
                echo=form.cleaned_data["echo"],
                field_strength=form.cleaned_data["field_strength"],
                expected_version=form.cleaned_data["version"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except ConcurrencyError as error:
            cohort_views.keep_after_stale(form, error)
        else:
            notes = f" ({new.qc_notes})" if new.qc_notes else ""
            messages.success(
                request,
                f"Scan {scan.code} replaced by {new.code} ({new.kind}){notes}; QC pending review.",
            )
            return redirect(
                reverse("visit-detail", args=[study_id, visit_code]) + f"#scan-{new.code}"
            )
    if form.is_bound and form.errors and "file" not in form.errors:
        form.add_error(None, "Choose the new file again: a browser never keeps a chosen file.")
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "subject": visit.subject, "visit": visit, "scan": scan}
    return render(request, "cohort/scan_replace.html", context, status=status)


@clinical_reader_required
@require_http_methods(["GET", "POST"])
def scan_scanner(
    request: HttpRequest, study_id: str, visit_code: str, scan_code: str
) -> HttpResponse:
    """Confirm or correct the scanner of a stored scan (manufacturer, model, field strength)."""
    visit = visit_in_scope(request, study_id, visit_code)
    require_write(request, visit.subject)
    scan = _scan_in_visit(request, visit, scan_code)
    form = ScanScannerForm(
        request.POST or None,
        initial={
            "manufacturer": scan.manufacturer,
            "scanner_model": scan.scanner_model,
            "field_strength": scan.field_strength,
            "version": scan.version,
        },
    )
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in services.SCANNER_FIELDS}
        try:
            services.scan_scanner_set(
                scan,
                user=request.user,
                data=data,
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        except ConcurrencyError as error:
            cohort_views.keep_after_stale(form, error)
        else:
            messages.success(request, f"Scanner of scan {scan.code} corrected.")
            return redirect(
                reverse("visit-detail", args=[study_id, visit_code]) + f"#scan-{scan.code}"
            )
    status = 400 if form.is_bound and form.errors else 200
    context = {"form": form, "subject": visit.subject, "visit": visit, "scan": scan}
    return render(request, "cohort/scan_scanner.html", context, status=status)


# --- the audit trail: a subject's records, present and deleted --------------------------------


HISTORY_PER_PAGE = 50


def _history_sources(subject_id: int) -> dict[str, history.Source]:
    """The subject's clinical records (cohort.history) and its visits' scans, deleted ones too."""
    codes = history.visit_codes(subject_id)
    sources = history.subject_sources(subject_id, codes)
    sources.append(
        history.Source(
            "scan",
            lambda row: (
                f"Scan {row.code} ({row.get_kind_display()}) of "
                f"{codes.get(row.visit_id, 'a deleted visit')}"
            ),
            Scan.history.filter(visit_id__in=list(codes)),
            # The stored file's path says nothing the original name and the code do not.
            frozenset({"visit", "file"}),
        )
    )
    return {source.kind: source for source in sources}


@clinical_reader_required
@require_GET
def subject_history(
    request: HttpRequest, study_id: str, kind: str | None = None, record_id: int | None = None
) -> HttpResponse:
    """Who changed what, when and why: every record of the subject (``kind`` and ``record_id``
    absent) or one record, deleted ones included. An audited view of identifiable data."""
    subject = get_object_or_404(cohort_selectors.subject_list(user=request.user), study_id=study_id)
    sources = _history_sources(subject.pk)
    if kind is None:
        entries = history.trail(sources.values())
    else:
        source = sources.get(kind)
        if source is None or record_id is None:
            raise Http404("No such kind of record.")
        entries = history.trail([source.only(record_id)])
        if not entries:
            raise Http404("No such record of this subject.")
    target = f"subject:{subject.study_id}"
    record_access(
        request,
        AccessAction.VIEW_IDENTIFIABLE,
        target,
        page="history",
        record=f"{kind}:{record_id}" if kind else "all",
    )
    page = Paginator(entries, HISTORY_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "cohort/history.html",
        {
            "subject": subject,
            "page": page,
            "record": entries[0].record if kind else None,
            "kind": kind,
        },
    )
