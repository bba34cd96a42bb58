"""Query pages: the list (with its CSV), a query with its answer, close and reopen forms, and the
"Raise a query" form reached from a record's page.

Views stay thin: selectors read (scoped, so another site's query is a 404), services write and
decide who may (a PermissionDenied is a 403), forms parse; a service's ValidationError goes back
onto the form, a ConcurrencyError becomes a form-level message.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cohort.forms import add_service_errors
from cohort.selectors import site_list
from core import roles
from core.access import record_access
from core.models import AccessAction
from core.records import ConcurrencyError
from queries import forms, selectors, services
from queries.filters import QueryFilterSet
from queries.models import DataQuery, QueryStatus
from queries.records import RecordType, describe, find_record, page_url

QUERIES_PER_PAGE = 25
CSV_COLUMNS = (
    "id",
    "status",
    "site",
    "subject",
    "visit",
    "record_type",
    "record_id",
    "record",
    "field",
    "message",
    "answer",
    "opened_by",
    "opened_at",
    "answered_by",
    "answered_at",
    "closed_by",
    "closed_at",
    "auto",
    "check",
)

#: Text a spreadsheet would read as a formula ("CSV injection"): such cells get a leading quote,
#: as analysis.exports.cells does for every spreadsheet MotorBand writes for people.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

View = Callable[..., HttpResponse]


def _cell(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def query_reader_required(view: View) -> View:
    """Login, then a role that reads queries (raters and the blinded assessors: 403)."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.has_role(request.user, roles.CLINICAL_READERS):
            raise PermissionDenied("Your study role does not show data queries.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _query(request: HttpRequest, query_id: int) -> DataQuery:
    return get_object_or_404(selectors.query_list(user=request.user), pk=query_id)


def _filtered(request: HttpRequest) -> QueryFilterSet:
    return QueryFilterSet(request.GET or None, queryset=selectors.query_list(user=request.user))


@query_reader_required
@require_http_methods(["GET"])
def query_list(request: HttpRequest) -> HttpResponse:
    filterset = _filtered(request)
    page = Paginator(filterset.qs, QUERIES_PER_PAGE).get_page(request.GET.get("page"))
    query_string = request.GET.copy()
    query_string.pop("page", None)
    return render(
        request,
        "queries/query_list.html",
        {
            "filter": filterset,
            "page": page,
            "rows": selectors.rows(page.object_list),
            "statuses": QueryStatus.choices,
            "record_types": RecordType.choices,
            "sites": _sites(request),
            "can_run_checks": services.may_open(request.user),
            "csv_query": query_string.urlencode(),
        },
    )


def _sites(request: HttpRequest) -> Any:
    return site_list(user=request.user)


@query_reader_required
@require_http_methods(["GET"])
def query_export(request: HttpRequest) -> HttpResponse:
    """The list's queries (same filters, every page) as CSV; the download is in the access log."""
    filterset = _filtered(request)
    queries = list(filterset.qs)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="motorband-queries.csv"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in selectors.rows(queries):
        q = row.query
        cells = [
            q.pk,
            q.status,
            q.site.code,
            q.subject.study_id if q.subject else "",
            q.visit.visit_code if q.visit else "",
            q.record_type,
            q.record_id,
            row.label,
            q.field,
            q.message,
            q.answer,
            q.opened_by.get_username() if q.opened_by else "",
            q.opened_at.isoformat(),
            q.answered_by.get_username() if q.answered_by else "",
            q.answered_at.isoformat() if q.answered_at else "",
            q.closed_by.get_username() if q.closed_by else "",
            q.closed_at.isoformat() if q.closed_at else "",
            "true" if q.auto else "false",
            q.check_name,
        ]
        writer.writerow([_cell(value) for value in cells])
    record_access(
        request,
        AccessAction.EXPORT,
        target="data queries (CSV)",
        rows=len(queries),
        filters={k: v for k, v in request.GET.items() if k != "page"},
    )
    return response


@query_reader_required
@require_http_methods(["GET", "POST"])
def query_create(request: HttpRequest) -> HttpResponse:
    """Raise a query on a field of one record (``?record_type=visit&record_id=12``)."""
    if not services.may_open(request.user):
        raise PermissionDenied("Only data managers and admins raise data queries.")
    record_type = request.GET.get("record_type", "")
    try:
        record_id = int(request.GET.get("record_id", ""))
    except ValueError:
        raise Http404("No such record.") from None
    if record_type not in RecordType.values:
        raise Http404("No such record type.")
    record = find_record(record_type, record_id, user=request.user)
    if record is None:
        raise Http404("No such record.")
    form = forms.QueryOpenForm(
        request.POST or None, record_type=record_type, initial={"field": request.GET.get("field")}
    )
    if request.method == "POST" and form.is_valid():
        try:
            query = services.query_open(
                user=request.user,
                record_type=record_type,
                record_id=record_id,
                field=form.cleaned_data["field"],
                message=form.cleaned_data["message"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(
                request, f"Query {query.pk} opened; the site sees it on its home page."
            )
            return redirect("query-detail", query_id=query.pk)
    return render(
        request,
        "queries/query_form.html",
        {
            "form": form,
            "record_label": describe(record_type, record),
            "record_url": page_url(record_type, record),
            "record_type_label": RecordType(record_type).label,
        },
        status=400 if form.errors else 200,
    )


def _detail(
    request: HttpRequest, query: DataQuery, status: int = 200, **forms_: Any
) -> HttpResponse:
    user = request.user
    row = selectors.rows([query])[0]
    initial = {"version": query.version}
    answered = query.status == QueryStatus.ANSWERED
    # The author reviews the answer: the page offers them closing and reopening, not answering.
    answering = services.may_answer(user, query) and query.opened_by_id != user.pk
    context = {
        "row": row,
        "query": query,
        "trail": selectors.query_trail(query),
        "answer_form": forms_.get("answer_form")
        or (forms.AnswerForm(initial=initial) if answering else None),
        "close_form": forms_.get("close_form")
        or (
            forms.CloseForm(initial=initial, answered=answered)
            if services.may_close(user, query)
            else None
        ),
        "reopen_form": forms_.get("reopen_form")
        or (forms.ReopenForm(initial=initial) if services.may_reopen(user, query) else None),
        "can_correct": row.edit_url is not None and roles.can_write_site(user, query.site_id),
    }
    return render(request, "queries/query_detail.html", context, status=status)


@query_reader_required
@require_http_methods(["GET"])
def query_detail(request: HttpRequest, query_id: int) -> HttpResponse:
    return _detail(request, _query(request, query_id))


def _step(
    request: HttpRequest,
    query_id: int,
    form_class: type[forms.VersionedForm],
    name: str,
    do: Callable[[DataQuery, forms.VersionedForm], DataQuery],
    done: str,
) -> HttpResponse:
    query = _query(request, query_id)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            query = do(query, form)
        except ValidationError as error:
            add_service_errors(form, error)
        except ConcurrencyError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, done.format(id=query.pk))
            return redirect("query-detail", query_id=query.pk)
    query.refresh_from_db()
    return _detail(request, query, status=400, **{name: form})


@query_reader_required
@require_POST
def query_answer(request: HttpRequest, query_id: int) -> HttpResponse:
    return _step(
        request,
        query_id,
        forms.AnswerForm,
        "answer_form",
        lambda query, form: services.query_answer(
            query,
            user=request.user,
            answer=form.cleaned_data["answer"],
            expected_version=form.expected_version(),
        ),
        "Query {id} answered; its author will review the answer.",
    )


@query_reader_required
@require_POST
def query_close(request: HttpRequest, query_id: int) -> HttpResponse:
    return _step(
        request,
        query_id,
        forms.CloseForm,
        "close_form",
        lambda query, form: services.query_close(
            query,
            user=request.user,
            reason=form.cleaned_data.get("reason", ""),
            expected_version=form.expected_version(),
        ),
        "Query {id} closed.",
    )


@query_reader_required
@require_POST
def query_reopen(request: HttpRequest, query_id: int) -> HttpResponse:
    return _step(
        request,
        query_id,
        forms.ReopenForm,
        "reopen_form",
        lambda query, form: services.query_reopen(
            query,
            user=request.user,
            message=form.cleaned_data["message"],
            expected_version=form.expected_version(),
        ),
        "Query {id} reopened; the site sees it again.",
    )


@query_reader_required
@require_POST
def run_checks(request: HttpRequest) -> HttpResponse:
    opened = services.run_checks(request.user)
    if opened:
        messages.success(
            request,
            f"The automatic checks opened {len(opened)} quer{'y' if len(opened) == 1 else 'ies'}.",
        )
    else:
        messages.info(request, "The automatic checks found nothing new to ask.")
    return redirect(reverse("query-list") + "?status=open&auto=true")
