"""Analysis pages for investigators: a dashboard and one page per figure, plus Plotly.js served locally.

Each page validates its filter form, runs the analysis through ``analysis.reports`` (the same code
as the API), and shows the figure beside a table of its numbers; ``?format=csv`` downloads the data
behind the figure.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import plotly
import plotly.offline
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import etag, require_GET, require_POST

from analysis import cache, forms, planning, reads, reports, stard
from analysis.exports import cells
from analysis.stats.errors import InsufficientDataError, ParameterError
from core import roles
from core.access import record_access
from core.models import AccessAction
from imaging import reading
from imaging.models import Read, Scan, ScanKind

#: Seconds browsers may keep Plotly.js (it changes only with the installed plotly package).
PLOTLY_MAX_AGE = 7 * 24 * 3600

PAGES = (
    (
        "analysis:progression",
        "Progression",
        "Spaghetti plot of an outcome with group means; slopes per month from a mixed model.",
    ),
    (
        "analysis:survival",
        "Survival",
        "Kaplan–Meier curves with numbers at risk; log-rank and Cox forest plot.",
    ),
    (
        "analysis:diagnostic",
        "Diagnostic accuracy",
        "ROC curve of band contrast or MBS reads; prevalence per group.",
    ),
    (
        "analysis:band-umn",
        "Band vs UMN",
        "Band contrast of each hemisphere against the contralateral limbs' UMN score.",
    ),
    ("analysis:harmonization", "Harmonization", "Band contrast per site before and after ComBat."),
    (
        "analysis:sample-size",
        "Sample size",
        "Patients and controls, events or subjects per group for the next study.",
    ),
    (
        "analysis:stard",
        "STARD flow",
        "Participant flow of the diagnostic study and the STARD 2015 checklist from the data.",
    ),
)


def analyst_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, then an ANALYSTS role (investigator, data manager, admin); others get 403."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if roles.role_of(request.user) not in roles.ANALYSTS:
            raise PermissionDenied("Analyses are open to investigators, data managers and admins.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@functools.cache
def _plotly_source() -> str:
    return plotly.offline.get_plotlyjs()


@require_GET
@cache_control(public=True, max_age=PLOTLY_MAX_AGE)
@etag(lambda request: f'"plotly-{plotly.__version__}"')
def plotly_js(request: HttpRequest) -> HttpResponse:
    """The Plotly.js bundled with the installed plotly package: the pages never need a CDN."""
    return HttpResponse(_plotly_source(), content_type="text/javascript; charset=utf-8")


@analyst_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "analysis/dashboard.html", {"pages": PAGES})


def _csv(request: HttpRequest, report: reports.Report, name: str) -> HttpResponse:
    """The data behind a page as CSV (text cells that read as formulas neutralized), recorded in
    the access log: it is subject-level study data leaving the application."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="motorband-{name}.csv"'
    cells.neutralized(report.data).to_csv(response, index=False)
    record_access(
        request,
        AccessAction.EXPORT,
        f"analysis:{name}",
        format="csv",
        rows=len(report.data),
        query={key: request.GET.getlist(key) for key in sorted(request.GET)},
    )
    return response


def _page(
    request: HttpRequest,
    *,
    name: str,
    title: str,
    template: str,
    form_class: type[forms.FiltersForm],
    run: Callable[[dict[str, Any], reports.Filters], reports.Report],
) -> HttpResponse:
    """Validate the filters, run the analysis (or take its kept answer), answer the page or CSV."""
    form = forms.bound(form_class, request.GET)
    context: dict[str, Any] = {"form": form, "title": title, "name": name, "pages": PAGES}
    status = 200
    report = None
    if form.is_valid():
        data, filters = form.cleaned_data, form.filters()
        try:
            report = cache.answer(
                f"page.{name}",
                user=request.user,
                params={"data": data, "filters": filters},
                compute=lambda: run(data, filters),
            )
        except (InsufficientDataError, ParameterError, ValueError) as exc:
            context["error"] = str(exc)
    else:
        status = 400
    if report is not None and request.GET.get("format") == "csv":
        return _csv(request, report, name)
    if report is not None:
        context["result"] = reports.json_ready(report.result)
        context["figures"] = _figures(name, title, report)
        context["csv_url"] = "?" + _with_csv(request)
    return render(request, template, context, status=status)


def _with_csv(request: HttpRequest) -> str:
    query = request.GET.copy()
    query["format"] = "csv"
    return query.urlencode()


def _figures(name: str, title: str, report: reports.Report) -> list[dict[str, Any]]:
    figures = []
    if report.figure is not None:
        figures.append({"id": f"plot-{name}", "figure": report.figure, "title": title})
    for extra, figure in report.extra_figures.items():
        figures.append({"id": f"plot-{name}-{extra}", "figure": figure, "title": extra})
    for item in figures:
        item["json_id"] = f"{item['id']}-data"
    return figures


@analyst_required
def progression(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        name="progression",
        title="Progression",
        template="analysis/progression.html",
        form_class=forms.ProgressionForm,
        run=lambda data, filters: reports.progression_report(
            user=request.user,
            outcome=data["outcome"],
            by=data["by"],
            filters=filters,
            figure=True,
            time=data.get("time", "v1"),
        ),
    )


@analyst_required
def survival(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        name="survival",
        title="Survival",
        template="analysis/survival.html",
        form_class=forms.SurvivalForm,
        run=lambda data, filters: reports.survival_report(
            user=request.user,
            event=data["event"],
            by=data["by"],
            covariates=data.get("covariates") or (),
            filters=filters,
            figure=True,
            time=data.get("time", "v1"),
        ),
    )


@analyst_required
def diagnostic(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        name="diagnostic",
        title="Diagnostic accuracy",
        template="analysis/diagnostic.html",
        form_class=forms.DiagnosticForm,
        run=lambda data, filters: reports.diagnostic_report(
            user=request.user,
            marker=data["marker"],
            positive=data["positive"],
            negative=data["negative"],
            filters=filters,
            figure=True,
            reference=data["reference"],
            population=data["population"],
            cutoff=data.get("cutoff"),
        ),
    )


@analyst_required
def stard_page(request: HttpRequest) -> HttpResponse:
    """The STARD flow diagram and checklist, with the diagram (SVG), the checklist (Markdown) and
    the subject-level data (CSV) as downloads."""
    form = forms.bound(forms.StardForm, request.GET)
    title = "STARD participant flow"
    context: dict[str, Any] = {"form": form, "title": title, "pages": PAGES}
    if not form.is_valid():
        return render(request, "analysis/stard.html", context, status=400)
    data = form.cleaned_data
    params = {
        "marker": data["marker"],
        "population": data["population"],
        "cutoff": data.get("cutoff"),
        "filters": form.filters(),
    }
    try:
        report = cache.answer(
            "page.stard",
            user=request.user,
            params=params,
            compute=lambda: reports.stard_report(user=request.user, **params),
        )
    except (InsufficientDataError, ParameterError, ValueError) as exc:
        context["error"] = str(exc)
        return render(request, "analysis/stard.html", context)
    download = request.GET.get("download")
    if download == "svg":
        return _attachment(report.result["svg"], "motorband-stard-flow.svg", "image/svg+xml")
    if download == "md":
        text = stard.report_markdown(
            report.result["checklist"], title="STARD 2015 report (MotorBand)"
        )
        return _attachment(text, "motorband-stard-report.md", "text/markdown; charset=utf-8")
    if request.GET.get("format") == "csv":
        return _csv(request, report, "stard")
    query = request.GET.copy()
    links = {}
    for key, value in (("download", "svg"), ("download", "md"), ("format", "csv")):
        linked = query.copy()
        linked.pop("download", None)
        linked.pop("format", None)
        linked[key] = value
        links[value] = "?" + linked.urlencode()
    context.update(result=reports.json_ready(report.result), links=links)
    return render(request, "analysis/stard.html", context)


@analyst_required
def sample_size_page(request: HttpRequest) -> HttpResponse:
    """The planner: the answer with every default the study supplied and its source."""
    form = forms.SampleSizeForm(request.GET if "target" in request.GET else None)
    context: dict[str, Any] = {"form": form, "title": "Sample size and power", "pages": PAGES}
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                params = form.cleaned_data
                context["result"] = cache.answer(
                    "page.sample-size",
                    user=request.user,
                    params=params,
                    compute=lambda: reports.json_ready(
                        planning.plan(user=request.user, params=params)
                    ),
                )
            except (InsufficientDataError, ParameterError, ValueError) as exc:
                context["error"] = str(exc)
        else:
            status = 400
    return render(request, "analysis/sample_size.html", context, status=status)


def _attachment(text: str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(text, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@analyst_required
def band_umn(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        name="band-umn",
        title="Band contrast vs contralateral UMN",
        template="analysis/band_umn.html",
        form_class=forms.FiltersForm,
        run=lambda data, filters: reports.band_umn_report(
            user=request.user, filters=filters, figure=True
        ),
    )


@analyst_required
def harmonization(request: HttpRequest) -> HttpResponse:
    return _page(
        request,
        name="harmonization",
        title="Harmonization across scanners",
        template="analysis/harmonization.html",
        form_class=forms.FiltersForm,
        run=lambda data, filters: reports.harmonization_report(
            user=request.user, filters=filters, figure=True
        ),
    )


@analyst_required
def subject_timeline(request: HttpRequest, study_id: str) -> HttpResponse:
    form = forms.SubjectForm(request.GET)
    harmonize = bool(form.is_valid() and form.cleaned_data["harmonize"])
    try:
        report = cache.answer(
            "page.subject",
            user=request.user,
            params={"study_id": study_id, "harmonize": harmonize},
            compute=lambda: reports.subject_report(
                user=request.user, study_id=study_id, harmonize=harmonize
            ),
        )
    except (InsufficientDataError, ParameterError, ValueError) as exc:
        return render(
            request,
            "analysis/subject.html",
            {"title": f"Subject {study_id}", "error": str(exc), "pages": PAGES, "form": form},
        )
    if report is None:
        raise Http404("No such subject with completed visits.")
    if request.GET.get("format") == "csv":
        return _csv(request, report, f"subject-{study_id}")
    name = f"subject-{study_id}"
    return render(
        request,
        "analysis/subject.html",
        {
            "title": f"Subject {study_id}",
            "name": name,
            "form": form,
            "result": reports.json_ready(report.result),
            "figures": _figures("timeline", f"Subject {study_id}", report),
            "csv_url": "?" + _with_csv(request),
            "pages": PAGES,
            "harmonize": harmonize,
        },
    )


# --- reviewers of the blinded reads (under /reading/, beside the raters' pages) ----------------


def reviewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, then a READ_REVIEWERS role (investigator, data manager, admin); others get 403."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.can_review_reads(request.user):
            raise PermissionDenied(
                "Agreement and adjudication are open to investigators, data managers and admins."
            )
        return view(request, *args, **kwargs)

    return login_required(wrapped)


@reviewer_required
def agreement_page(request: HttpRequest) -> HttpResponse:
    report = cache.answer(
        "page.agreement", user=request.user, params={}, compute=reads.agreement_report
    )
    return render(request, "analysis/agreement.html", {"report": report})


@reviewer_required
def adjudication_page(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "analysis/adjudication.html",
        {
            "entries": reads.adjudication_queue(),
            "adjudicated": [c for c in reads.consensus_list() if c.adjudication],
            "grades": Read.GRADE_CHOICES,
        },
    )


@reviewer_required
@require_POST
def adjudicate(request: HttpRequest, code: str) -> HttpResponse:
    """Record the final read of a scan from the adjudication page."""
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.shortcuts import get_object_or_404, redirect

    scan = get_object_or_404(Scan, code=code, kind=ScanKind.SWI)
    try:
        reading.adjudication_save(
            user=request.user,
            scan=scan,
            left_grade=_grade(request.POST.get("left_grade")),
            right_grade=_grade(request.POST.get("right_grade")),
            comment=request.POST.get("comment", ""),
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, f"{scan.code}: {message}")
    else:
        messages.success(request, f"Final read of {scan.code} recorded; it replaces the consensus.")
    return redirect("review:adjudication")


def _grade(value: str | None) -> Any:
    """A posted grade as an integer (anything else is left for the service to refuse)."""
    return int(value) if value is not None and value.isdigit() else value


# --- exports (data managers and admins) ----------------------------------------------------------


def exporter_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login, then an EXPORTERS role (data manager, admin); others get 403."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if roles.role_of(request.user) not in roles.EXPORTERS:
            raise PermissionDenied("Exports are open to data managers and administrators.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


#: Export jobs being built (queued, running) shown on the exports page, latest first.
JOBS_SHOWN = 20
#: Finished export jobs (done, failed) shown in the page's job history, latest first.
JOB_HISTORY_SHOWN = 50


@exporter_required
def exports(request: HttpRequest) -> HttpResponse:
    """The export form (POST asks for a frozen release, built in the background), the jobs being
    built (their progress polled by static/analysis/exports.js), the history of finished jobs
    and the releases to download."""
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.shortcuts import redirect

    from analysis.exports import releases
    from analysis.models import JobStatus

    status = 200
    if request.method == "POST":
        form = forms.ReleaseForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                job = releases.job_request(
                    user=request.user,
                    fmt=data["format"],
                    deidentify=data["deidentify"],
                    date_mode=data["date_mode"],
                    site_mode=data["site_mode"],
                    sites=data["sites"],
                    groups=data["groups"],
                    request=request,
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                status = 400
            else:
                if job.release is not None:
                    messages.success(
                        request,
                        f"Release {job.release.pk} is frozen (sha256 {job.release.sha256[:12]}…).",
                    )
                elif job.status == JobStatus.FAILED:
                    messages.error(request, job.error)
                else:
                    messages.info(
                        request, "The release is being built; this page shows its progress."
                    )
                return redirect("analysis:exports")
        else:
            status = 400
    else:
        form = forms.ReleaseForm()
    all_jobs = releases.job_list(user=request.user)
    jobs = all_jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])[:JOBS_SHOWN]
    history = all_jobs.filter(status__in=[JobStatus.DONE, JobStatus.FAILED])
    context = {
        "form": form,
        "releases": releases.release_list(user=request.user)[:200],
        "jobs": jobs,
        "job_history": history[:JOB_HISTORY_SHOWN],
        "job_history_count": history.count(),
    }
    return render(request, "analysis/exports.html", context, status=status)
