"""Exports API: frozen releases (``/api/v1/exports/``), for data managers and administrators.

POST builds a release (``analysis.exports.releases.release_create``) and answers 201; GET lists
and shows releases; ``{id}/download/`` streams the release's zip, whose sha256 is the release's.
There is no update or delete: a release is frozen.

Releases are built by export jobs (``exports/jobs/``): POST there answers 202 with the job, whose
``status``, ``progress`` and ``progress_message`` a client polls until ``download`` is set. POST
``exports/`` keeps its answer when no Celery broker is configured (the release is built in-process
and answered with 201); with a broker it answers 202 with the job, as ``exports/jobs/`` does.
GET ``exports/jobs/`` is also the history of the releases asked for (``?status=`` filters it): who,
when, what, how it ended, the zip's ``size_bytes`` and the build's ``duration_seconds``. Jobs and
releases are never deleted (a release is frozen, part of the study record).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from analysis.exports import deidentify as deid
from analysis.exports import releases
from analysis.models import ExportJob, JobStatus, Release, ReleaseFormat
from cohort.models import Group
from core import roles
from core.access import record_access
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES, validation_error_detail
from core.models import AccessAction


class ExporterPermission(BasePermission):
    """Data managers and administrators (core.roles.EXPORTERS)."""

    message = "Exports and releases are open to data managers and administrators."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.role_of(request.user) in roles.EXPORTERS


class ReleaseFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    sha256 = serializers.CharField()
    size_bytes = serializers.IntegerField()


class ReleaseSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    download = serializers.SerializerMethodField(help_text="URL of the release's zip.")
    files = serializers.SerializerMethodField()

    class Meta:
        model = Release
        fields = [
            "id",
            "created_at",
            "created_by",
            "format",
            "deidentify",
            "filters",
            "algorithm_versions",
            "sha256",
            "size_bytes",
            "files",
            "download",
        ]
        read_only_fields = fields

    def get_created_by(self, release: Release) -> str | None:
        return release.created_by.get_username() if release.created_by else None

    def get_download(self, release: Release) -> str:
        return reverse(
            "exports-api:release-download",
            kwargs={"pk": str(release.pk)},
            request=self.context.get("request"),
        )

    @extend_schema_field(ReleaseFileSerializer(many=True))
    def get_files(self, release: Release) -> list[dict[str, Any]]:
        return list(release.manifest.get("files", []))


class ReleaseRequestSerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=ReleaseFormat.choices)
    deidentify = serializers.BooleanField(default=False)
    date_mode = serializers.ChoiceField(
        choices=deid.DATE_MODES,
        default=deid.BASELINE,
        help_text="De-identified dates: days from baseline, or a per-subject random shift.",
    )
    site_mode = serializers.ChoiceField(
        choices=deid.SITE_MODES, default=deid.KEEP, help_text="De-identified sites: keep or code."
    )
    sites = serializers.ListField(
        child=serializers.CharField(max_length=10), required=False, default=list
    )
    groups = serializers.ListField(
        child=serializers.ChoiceField(choices=Group.choices), required=False, default=list
    )


class ExportJobSerializer(serializers.ModelSerializer):
    created_by = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField(help_text="URL of this job (poll it).")
    release = serializers.SerializerMethodField(help_text="The release's id once the job is done.")
    release_url = serializers.SerializerMethodField(help_text="URL of the release once done.")
    download = serializers.SerializerMethodField(
        help_text="URL of the release's zip once the job is done, else null."
    )
    size_bytes = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="Size of the release's zip once done, else null."
    )
    duration_seconds = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Seconds from the worker's start to the end (to now while running); null when "
        "no worker started it.",
    )

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "url",
            "created_at",
            "created_by",
            "format",
            "parameters",
            "status",
            "progress",
            "progress_message",
            "error",
            "started_at",
            "finished_at",
            "release",
            "release_url",
            "download",
            "size_bytes",
            "duration_seconds",
        ]
        read_only_fields = fields

    def get_created_by(self, job: ExportJob) -> str | None:
        return job.created_by.get_username() if job.created_by else None

    def get_url(self, job: ExportJob) -> str:
        return reverse(
            "exports-api:export-job-detail",
            kwargs={"pk": str(job.pk)},
            request=self.context.get("request"),
        )

    def get_release(self, job: ExportJob) -> str | None:
        return str(job.release_id) if job.release_id else None

    def get_release_url(self, job: ExportJob) -> str | None:
        if not job.release_id:
            return None
        return reverse(
            "exports-api:release-detail",
            kwargs={"pk": str(job.release_id)},
            request=self.context.get("request"),
        )

    def get_download(self, job: ExportJob) -> str | None:
        if not job.release_id:
            return None
        return reverse(
            "exports-api:release-download",
            kwargs={"pk": str(job.release_id)},
            request=self.context.get("request"),
        )


def _job_request(request: Request) -> ExportJob:
    """Check the posted release request and start its job (400 on a bad request)."""
    query = ReleaseRequestSerializer(data=request.data)
    query.is_valid(raise_exception=True)
    data = query.validated_data
    try:
        return releases.job_request(
            user=request.user,
            fmt=data["format"],
            deidentify=data["deidentify"],
            date_mode=data["date_mode"],
            site_mode=data["site_mode"],
            sites=data["sites"],
            groups=data["groups"],
            request=request,
        )
    except DjangoValidationError as exc:
        raise exceptions.ValidationError(validation_error_detail(exc)) from exc


def _accepted(job: ExportJob, request: Request) -> Response:
    body = ExportJobSerializer(job, context={"request": request}).data
    return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})


class ExportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Releases built in the background: ask for one, then poll its progress; the list is also
    the history of the jobs asked for (read-only: jobs and releases are never deleted)."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [ExporterPermission]
    serializer_class = ExportJobSerializer
    schema = StudyAutoSchema()
    filter_backends: list[type] = []

    def get_queryset(self) -> QuerySet[ExportJob]:
        jobs = releases.job_list(user=self.request.user)
        wanted = self.request.query_params.get("status") if self.action == "list" else None
        if wanted:
            if wanted not in JobStatus.values:
                raise exceptions.ValidationError(
                    {"status": [f"Choose one of {', '.join(JobStatus.values)}."]}
                )
            jobs = jobs.filter(status=wanted)
        return jobs

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "status",
                str,
                enum=list(JobStatus.values),
                description="Only the jobs in this status (the history: done, failed).",
            )
        ],
        summary="The export jobs, latest first: those being built and the history",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        request=ReleaseRequestSerializer,
        responses={202: ExportJobSerializer},
        summary="Ask for a release to be built in the background; answers 202 with the job",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return _accepted(_job_request(request), request)


class ReleaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Frozen releases: create, list, show and download; never changed or deleted."""

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [ExporterPermission]
    serializer_class = ReleaseSerializer
    schema = StudyAutoSchema()
    filter_backends: list[type] = []

    def get_queryset(self) -> QuerySet[Release]:
        return releases.release_list(user=self.request.user)

    @extend_schema(
        request=ReleaseRequestSerializer,
        responses={201: ReleaseSerializer, 202: ExportJobSerializer},
        summary="Build and freeze a release of the study in a format",
        description="Answers 201 with the release when it was built in this request (no Celery "
        "broker configured), else 202 with its export job (poll the job's `url`).",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        job = _job_request(request)
        if job.status == JobStatus.DONE and job.release is not None:
            serializer = self.get_serializer(job.release)
            return Response(serializer.data, status=status.HTTP_201_CREATED)
        if job.status == JobStatus.FAILED:
            body = ExportJobSerializer(job, context={"request": request}).data
            return Response(body, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
        return _accepted(job, request)

    @extend_schema(
        responses={
            (200, "text/markdown"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description="The release's STARD 2015 report (404 when the study enrols no "
                "suspected ALS); its flow diagram is stard/stard_flow.svg inside the zip.",
            )
        },
        summary="Download the release's STARD report",
    )
    @action(detail=True, methods=["get"], url_path="stard")
    def stard(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:
        release = self.get_object()
        path = releases.release_stard(release)
        if path is None:
            raise exceptions.NotFound("This release has no STARD report.")
        return FileResponse(
            path.open("rb"),
            as_attachment=True,
            filename=f"motorband-release-{release.pk}-stard.md",
            content_type="text/markdown; charset=utf-8",
        )

    @extend_schema(
        responses={
            (200, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The release's zip (its sha256 is the release's)."
            )
        },
        summary="Download the release as a zip",
    )
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:
        release = self.get_object()
        try:
            handle = releases.release_open(release)
        except FileNotFoundError as exc:
            raise exceptions.NotFound("The release's files are missing from storage.") from exc
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=f"motorband-release-{release.pk}.zip",
            content_type="application/zip",
        )
        response["X-Checksum-SHA256"] = release.sha256
        record_access(
            request,
            AccessAction.DOWNLOAD,
            f"release:{release.pk}",
            format=release.format,
            deidentify=release.deidentify,
            sha256=release.sha256,
        )
        return response
