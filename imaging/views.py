"""Reading pages: a rater's blinded queue, the reading page (NiiVue viewer and grading form), the
de-identified image, and the investigators' agreement and adjudication pages.

A rater reaches only the scans of their own queue (any other code is a 404) and sees nothing but
the pseudonymous code: no subject, site, visit, date, clinical data, measurement or other read.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from cohort import roles
from imaging import reading
from imaging.band.deidentify import deidentified_nifti
from imaging.forms import CorrectionForm, ImageForm, ReadForm
from imaging.models import Read, Scan

#: minIP slabs offered by the viewer (mm).
MINIP_SLABS_MM = (4, 8, 16)


def _role_required(
    check: Callable[[Any], bool], message: str
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not check(request.user):
                raise PermissionDenied(message)
            return view(request, *args, **kwargs)

        return login_required(wrapped)

    return decorator


rater_required = _role_required(roles.is_rater, "The reading queue belongs to blinded raters.")
reviewer_required = _role_required(
    roles.can_review_reads,
    "Agreement and adjudication are open to investigators, data managers and admins.",
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


@require_GET
@rater_required
@cache_control(private=True, no_store=True)
def image(request: HttpRequest, code: str) -> HttpResponse:
    """The scan's SWI as ``<code>.nii.gz`` with a de-identified header (optionally its minIP)."""
    scan = _queued(request, code)
    form = ImageForm(request.GET)
    if not form.is_valid():
        return HttpResponse(" ".join(form.errors["minip"]), status=400, content_type="text/plain")
    slab = form.cleaned_data.get("minip")
    payload = deidentified_nifti(scan.file.path, minip_slab_mm=slab)
    name = f"{scan.code}.nii.gz" if slab is None else f"{scan.code}_minip.nii.gz"
    return FileResponse(
        io.BytesIO(payload), as_attachment=True, filename=name, content_type="application/gzip"
    )


@reviewer_required
def agreement_page(request: HttpRequest) -> HttpResponse:
    report = reading.agreement_report()
    return render(request, "imaging/agreement.html", {"report": report})


@reviewer_required
def adjudication_page(request: HttpRequest) -> HttpResponse:
    return render(request, "imaging/adjudication.html", {"entries": reading.adjudication_queue()})
