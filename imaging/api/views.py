"""Scan, quantification and blinded-read API: uploads and runs go through imaging.services, reads
through imaging.reading (their consensus and agreement are analysis.api.reads); files are served only to callers who may see the record (never from a
public media URL)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core import roles
from core.access import record_access
from core.api.permissions import ClinicalReadWrite
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES, StudyModelViewSet, validation_error_detail
from core.models import AccessAction
from imaging import reading, selectors, services
from imaging.api.permissions import RaterOnly, ReadAccess
from imaging.api.serializers import (
    QcDecisionSerializer,
    QuantificationSerializer,
    QueueItemSerializer,
    ReadCorrectionSerializer,
    ReadSerializer,
    ScanSerializer,
)
from imaging.filters import QuantificationFilterSet, ReadFilterSet, ScanFilterSet
from imaging.models import QuantificationRun, Read, ReadOutcome, Scan

#: The QC actions of scans and runs: one JSON body ``{status, reason}``, no filters or pages.
qc_action = action(
    detail=True,
    methods=["post"],
    parser_classes=[JSONParser],
    filter_backends=[],
    pagination_class=None,
)


def _qc(request: Request) -> dict[str, str]:
    """The validated QC decision of a request, as the QC services take it."""
    decision = QcDecisionSerializer(data=request.data)
    decision.is_valid(raise_exception=True)
    return {
        "status": decision.validated_data["status"],
        "reason": decision.validated_data.get("reason", ""),
    }


class ScanViewSet(StudyModelViewSet[Scan]):
    """Scans of a visit: upload (multipart), read, download, delete, and ask for quantification."""

    serializer_class = ScanSerializer
    permission_classes = [ClinicalReadWrite]
    filterset_class = ScanFilterSet
    parser_classes = [MultiPartParser, FormParser]
    http_method_names = ["get", "post", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return selectors.scan_list(user=self.request.user)

    def create_record(self, data: dict[str, Any], *, reason: str) -> Scan:
        upload = data["file"]
        return services.scan_upload(
            user=self.request.user,
            visit=data["visit"],
            kind=data["kind"],
            upload=upload,
            name=upload.name,
            echo=data.get("echo"),
            field_strength=data.get("field_strength"),
            manufacturer=data.get("manufacturer", ""),
            scanner_model=data.get("scanner_model", ""),
        )

    def delete_record(self, instance: Scan, *, reason: str, expected_version: int | None) -> None:
        services.scan_delete(
            instance,
            user=self.request.user,
            reason=reason,
            expected_version=expected_version,
        )

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "n4",
                OpenApiTypes.BOOL,
                description="N4 bias-field correction of the magnitude before measuring "
                "(SWI/T2* only; recorded in the run's parameters). Default false.",
            )
        ],
        responses={202: QuantificationSerializer, 200: QuantificationSerializer},
        summary="Quantify the band of this scan with its visit's label map (202 when queued; "
        "200 with the existing run when the scan and method are unchanged)",
    )
    @action(detail=True, methods=["post"], parser_classes=[], filter_backends=[])
    def quantify(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scan = self.get_object()
        if not self.check_write(scan):
            return Response(status=status.HTTP_404_NOT_FOUND)
        n4 = request.query_params.get("n4", "false").strip().lower()
        if n4 not in ("true", "false", "1", "0"):
            raise exceptions.ValidationError({"n4": ["Give n4=true or n4=false."]})
        run, queued = services.run_request(user=request.user, scan=scan, n4=n4 in ("true", "1"))
        run = QuantificationRun.objects.get(pk=run.pk)
        return Response(
            QuantificationSerializer(run, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED if queued else status.HTTP_200_OK,
        )

    @extend_schema(
        request=QcDecisionSerializer,
        responses={200: ScanSerializer},
        summary="Decide the scan's QC (pending, pass, fail with a reason); a failed scan leaves "
        "every analysis and every reading queue",
    )
    @qc_action
    def qc(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        scan = self.get_object()
        if not self.check_write(scan):
            return Response(status=status.HTTP_404_NOT_FOUND)
        scan = services.scan_qc_set(
            scan, user=request.user, expected_version=self.expected_version(), **_qc(request)
        )
        return Response(ScanSerializer(scan, context=self.get_serializer_context()).data)

    def check_write(self, scan: Scan) -> bool:
        return roles.can_write_site(self.request.user, scan.visit.subject.site_id)

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiResponse(description="The volume.")}
    )
    @action(detail=True, methods=["get"], filter_backends=[], pagination_class=None)
    def download(self, request: Request, *args: Any, **kwargs: Any) -> FileResponse:
        scan = self.get_object()
        suffix = (scan.file.name or "").rsplit("/", 1)[-1].split(".", 1)[-1]
        response = FileResponse(
            scan.file.open("rb"), as_attachment=True, filename=f"{scan.code}.{suffix}"
        )
        record_access(
            request, AccessAction.DOWNLOAD, f"scan:{scan.code}", kind=scan.kind, via="api"
        )
        return response


class QuantificationViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Quantification runs with their measurements (read-only: runs are asked for on a scan)."""

    serializer_class = QuantificationSerializer
    permission_classes = [ClinicalReadWrite]
    filterset_class = QuantificationFilterSet
    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()
    lookup_value_regex = r"[^/]+"

    def get_queryset(self) -> Any:
        return selectors.run_list(user=self.request.user)

    @extend_schema(
        request=QcDecisionSerializer,
        responses={200: QuantificationSerializer},
        summary="Decide the run's QC: a run that needs review counts once it passes; a failed "
        "run never does",
    )
    @qc_action
    def qc(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        if not roles.can_write_site(request.user, run.scan.visit.subject.site_id):
            return Response(status=status.HTTP_404_NOT_FOUND)
        try:
            run = services.run_qc_set(run, user=request.user, **_qc(request))
        except DjangoValidationError as exc:
            raise exceptions.ValidationError(validation_error_detail(exc)) from exc
        run = self.get_queryset().get(pk=run.pk)
        return Response(QuantificationSerializer(run, context=self.get_serializer_context()).data)

    @extend_schema(responses={(200, "image/png"): OpenApiResponse(description="QC picture.")})
    @action(
        detail=True, methods=["get"], url_path="qc.png", filter_backends=[], pagination_class=None
    )
    def qc_image(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        run = self.get_object()
        if not run.qc_image:
            return Response({"detail": "This run has no QC picture (yet)."}, status=404)
        return FileResponse(run.qc_image.open("rb"), content_type="image/png")


# --- blinded reads ------------------------------------------------------------------------------


class ReadViewSet(StudyModelViewSet[Read]):
    """Blinded reads. A rater lists and submits their own reads of the scans in their queue (a read
    is locked once submitted; ``correct`` makes a new version with a reason); investigators, data
    managers and admins list every read (they are unblinded)."""

    serializer_class = ReadSerializer
    permission_classes = [ReadAccess]
    filterset_class = ReadFilterSet
    http_method_names = ["get", "post", "head", "options"]
    accepts_change_reason = False

    def get_queryset(self) -> Any:
        return reading.read_list(user=self.request.user)

    @extend_schema(
        summary="Submit your read of a scan in your queue (locked once submitted): graded, with "
        "both grades and a confidence, or non_diagnostic, with its reason and no grade"
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    def create_record(self, data: dict[str, Any], *, reason: str) -> Read:
        return reading.read_submit(
            rater=self.request.user,
            scan=data["scan"],
            comment=data.get("comment", ""),
            **_outcome_values(data),
        )

    @extend_schema(
        request=ReadCorrectionSerializer,
        responses={201: ReadSerializer},
        summary="Correct your read: a new version supersedes it, with a reason (audited)",
    )
    @action(detail=True, methods=["post"], filter_backends=[], pagination_class=None)
    def correct(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        read = self.get_object()
        serializer = ReadCorrectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        new = reading.read_correct(
            rater=request.user,
            read=read,
            reason=data["reason"],
            comment=data.get("comment", ""),
            **_outcome_values(data),
        )
        return Response(
            ReadSerializer(new, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )


def _outcome_values(data: dict[str, Any]) -> dict[str, Any]:
    """A read's outcome, reason and grades from validated API data, as the read services take
    them (absent grades are None: the service says which the outcome needs)."""
    return {
        "outcome": data.get("outcome") or ReadOutcome.GRADED,
        "non_diagnostic_reason": data.get("non_diagnostic_reason") or "",
        "non_diagnostic_detail": data.get("non_diagnostic_detail") or "",
        "left_grade": data.get("left_grade"),
        "right_grade": data.get("right_grade"),
        "confidence": data.get("confidence"),
    }


class ReadingQueueViewSet(viewsets.GenericViewSet):
    """The caller's reading queue in its randomized order: scan id, pseudonymous code, position
    and whether the scan is read yet; nothing else about the scan (raters only)."""

    serializer_class = QueueItemSerializer
    permission_classes = [RaterOnly]
    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()
    filter_backends: list[Any] = []

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        items = reading.reading_queue(rater=request.user)
        page = self.paginate_queryset(items)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
