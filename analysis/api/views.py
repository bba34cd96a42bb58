"""Analysis API views: validate the query, run the analysis (analysis.reports), answer JSON.

Answers are kept (``analysis.cache``) while the data, the caller's scope and the parameters stay
the same. ``InsufficientDataError`` answers 422 ``{"detail": reason}``; an unknown choice answers 400
``{param: ["... choose one of ..."]}``; only investigators, data managers and admins may call them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from analysis import cache, parameters, planning, reports
from analysis.api import serializers as s
from analysis.stats.errors import InsufficientDataError, ParameterError
from core import roles
from core.api.schema import DetailSerializer
from core.api.viewsets import AUTHENTICATION_CLASSES
from core.roles import Acting

log = logging.getLogger(__name__)

ERRORS = {
    400: OpenApiResponse(description="Unknown choice or invalid parameter: {param: [message]}."),
    403: OpenApiResponse(DetailSerializer, description="Your role cannot run analyses."),
    422: OpenApiResponse(DetailSerializer, description="Too few subjects, events or levels."),
}


class AnalystPermission(BasePermission):
    """Investigators, data managers and admins (core.roles.ANALYSTS)."""

    message = "Analyses are open to investigators, data managers and administrators."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.role_of(request.user) in roles.ANALYSTS


class AnalysisView(APIView):
    """Base view: analyst permission, query validation and the statistics' errors as HTTP."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [AnalystPermission]
    query_serializer: type[parameters.FiltersQuery] = parameters.FiltersQuery

    def query(self, request: Request, **context: Any) -> parameters.FiltersQuery:
        serializer = self.query_serializer(
            data=parameters.query_data(request.query_params), context=context
        )
        serializer.is_valid(raise_exception=True)
        return serializer

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, InsufficientDataError):
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        if isinstance(exc, ParameterError):
            return Response(
                {api_settings.NON_FIELD_ERRORS_KEY: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST
            )
        if type(exc) is ValueError:
            # The statistics refuse data they cannot analyse with a plain ValueError too
            # (e.g. inconsistent dates); that is a data problem, never a server error.
            log.warning("Analysis refused the data: %s", exc)
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return super().handle_exception(exc)

    def answer(self, result: dict[str, Any]) -> Response:
        return Response(reports.json_ready(result))

    def cached_answer(
        self, request: Request, name: str, params: dict[str, Any], compute: Callable[[], Any]
    ) -> Any:
        """The JSON-ready answer of ``compute()``, kept while data, scope and params stay the same."""
        return cache.answer(
            f"api.{name}",
            user=request.user,
            params=params,
            compute=lambda: reports.json_ready(compute()),
        )


class ProgressionView(AnalysisView):
    query_serializer = parameters.ProgressionQuery

    @extend_schema(
        summary="Progression slopes per level (linear mixed model)",
        description="`outcome ~ months * level` with a random intercept and slope per subject "
        "(REML); months = days from V1 / 30.4375. For `by=mbs_baseline` the difference is "
        "positive minus negative; otherwise the second level minus the first (levels sorted, or "
        "in the order given by `groups`/`site`).",
        parameters=[parameters.ProgressionQuery],
        responses={200: s.ProgressionAnswer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        params = {
            "outcome": query.validated_data["outcome"],
            "by": query.validated_data["by"],
            "filters": query.filters(),
            "time": query.validated_data["time"],
        }
        return Response(
            self.cached_answer(
                request,
                "progression",
                params,
                lambda: reports.progression_report(user=request.user, **params).result,
            )
        )


class SurvivalView(AnalysisView):
    query_serializer = parameters.SurvivalQuery

    @extend_schema(
        summary="Time to a clinical event: Kaplan–Meier, log-rank and Cox",
        description="Time from the V1 date in months; subjects without the event are censored at "
        "their last visit or event. The Cox model (Efron ties) holds `by` alone unless "
        "`covariates` adds more; for `mbs_baseline` the term compares positive with negative.",
        parameters=[parameters.SurvivalQuery],
        responses={200: s.SurvivalAnswer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        data = query.validated_data
        params = {
            "event": data["event"],
            "by": data["by"],
            "covariates": data.get("covariates", ()),
            "filters": query.filters(),
            "time": data["time"],
        }
        return Response(
            self.cached_answer(
                request,
                "survival",
                params,
                lambda: reports.survival_report(user=request.user, **params).result,
            )
        )


class DiagnosticView(AnalysisView):
    query_serializer = parameters.DiagnosticQuery

    @extend_schema(
        summary="Diagnostic accuracy of the motor band sign",
        description="One row per subject at `visit_code` (default V1). Wilson 95% intervals; "
        "Fisher's exact test for `mbs_read`; ROC/AUC (DeLong 95% CI) and the Youden threshold "
        "for `band_contrast`.",
        parameters=[parameters.DiagnosticQuery],
        responses={200: s.DiagnosticAnswer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        data = query.validated_data
        params = {
            "marker": data["marker"],
            "positive": data["positive"],
            "negative": data["negative"],
            "filters": query.filters(),
            "reference": data["reference"],
            "population": data["population"],
            "cutoff": data.get("cutoff"),
        }
        return Response(
            self.cached_answer(
                request,
                "diagnostic",
                params,
                lambda: reports.diagnostic_report(user=request.user, **params).result,
            )
        )


class StardView(AnalysisView):
    query_serializer = parameters.StardQuery

    @extend_schema(
        summary="STARD 2015 participant flow of the diagnostic study",
        description="The flow of the subjects enrolled as suspected ALS (or the whole cohort) "
        "through the index test at `visit_code` (default V1) and the reference standard (the "
        "final diagnosis): `nodes` [{id, label, n}] and `edges` [{from, to, n, reason}], with "
        "`checklist` (the 30 STARD items, `answer` null where the authors must write it) and "
        "`svg` (the diagram).",
        parameters=[parameters.StardQuery],
        responses={200: s.StardAnswer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = self.query(request)
        data = query.validated_data
        params = {
            "marker": data["marker"],
            "population": data["population"],
            "cutoff": data.get("cutoff"),
            "filters": query.filters(),
        }
        return Response(
            self.cached_answer(
                request,
                "stard",
                params,
                lambda: reports.stard_report(user=request.user, **params).result,
            )
        )


class SampleSizeView(AnalysisView):
    @extend_schema(
        summary="Sample size and power for the next study",
        description="`target=sensitivity|specificity`: Buderer 1996 (`n_cases`, `n_total`); "
        "`target=hazard_ratio`: Schoenfeld 1983 (`events`); `target=slope_difference`: subjects "
        "per group for a difference in band-contrast slopes, simulated from the variance "
        "components (seeded, with its Monte Carlo error). Values left out come from the study's "
        "data or a stated convention, listed in `defaults` with their source.",
        parameters=[parameters.SampleSizeQuery],
        responses={200: s.SampleSizeAnswer, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        query = parameters.SampleSizeQuery(data=parameters.query_data(request.query_params))
        query.is_valid(raise_exception=True)
        params = dict(query.validated_data)
        return Response(
            self.cached_answer(
                request,
                "sample-size",
                params,
                lambda: planning.plan(user=request.user, params=params),
            )
        )


def build_plot(name: str, *, user: Acting, data: dict[str, Any], filters: reports.Filters) -> Any:
    """Return the Report holding the figure ``name`` (None for an unknown subject)."""
    if name == "timeline":
        return reports.subject_report(
            user=user, study_id=data.get("subject", ""), harmonize=filters.harmonize
        )
    if name == "spaghetti":
        return reports.progression_report(
            user=user,
            outcome=data["outcome"],
            by=data["by"],
            filters=filters,
            figure=True,
            time=data.get("time", "v1"),
        )
    if name in ("km", "forest"):
        report = reports.survival_report(
            user=user,
            event=data["event"],
            by=data["by"],
            covariates=data.get("covariates", ()),
            filters=filters,
            figure=True,
            time=data.get("time", "v1"),
        )
        if name == "forest":
            report.figure = report.extra_figures["forest"]
        return report
    if name == "roc":
        return reports.diagnostic_report(
            user=user,
            marker=data["marker"],
            positive=data["positive"],
            negative=data["negative"],
            filters=filters,
            figure=True,
            reference=data.get("reference", "enrolment"),
            population=data.get("population", "suspected"),
            cutoff=data.get("cutoff"),
        )
    if name == "scatter":
        return reports.band_umn_report(user=user, filters=filters, figure=True)
    return reports.harmonization_report(user=user, filters=filters, figure=True)


class PlotView(AnalysisView):
    query_serializer = parameters.PlotQuery

    @extend_schema(
        summary="A figure as Plotly JSON",
        description="`name`: " + ", ".join(reports.PLOT_NAMES) + ". spaghetti (outcome, by), "
        "timeline (subject), km and forest (event, by, covariates), roc (marker, positive, "
        "negative), scatter (band contrast vs contralateral UMN), harmonization (box plots per "
        "site before/after ComBat). Render with `Plotly.newPlot(div, data, layout)`.",
        parameters=[
            OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(reports.PLOT_NAMES)),
            parameters.PlotQuery,
        ],
        responses={
            200: s.FigureAnswer,
            404: OpenApiResponse(DetailSerializer, description="Unknown plot or subject."),
            **ERRORS,
        },
    )
    def get(self, request: Request, name: str) -> Response:
        if name not in reports.PLOT_NAMES:
            return Response(
                {
                    "detail": f'Unknown plot "{name}"; choose one of {", ".join(reports.PLOT_NAMES)}.'
                },
                status=status.HTTP_404_NOT_FOUND,
            )
        query = self.query(request, plot=name)
        data = dict(query.validated_data)
        filters = query.filters()

        def figure() -> dict[str, Any] | None:
            report = build_plot(name, user=request.user, data=data, filters=filters)
            return None if report is None else report.figure

        answer = self.cached_answer(
            request, f"plot.{name}", {"data": data, "filters": filters}, figure
        )
        if answer is None:
            return Response({"detail": "No such subject."}, status=status.HTTP_404_NOT_FOUND)
        return Response(answer)
