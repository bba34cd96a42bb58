"""Serializers of scans, quantification runs and blinded reads: field shapes only; the services validate."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from rest_framework import serializers

from cohort.api.serializers import ScopedPrimaryKeyRelatedField, visit_scope
from core import roles
from core.roles import Acting
from imaging.models import (
    NON_DIAGNOSTIC_DETAIL_MAX_LENGTH,
    Measurement,
    NonDiagnosticReason,
    QcStatus,
    QuantificationRun,
    Read,
    ReadOutcome,
    Scan,
    ScanKind,
)


class ScanSerializer(serializers.ModelSerializer):
    visit = ScopedPrimaryKeyRelatedField(scope=visit_scope, help_text="The visit's id.")
    kind = serializers.ChoiceField(choices=ScanKind.choices)
    file = serializers.FileField(
        write_only=True,
        help_text="A .nii, .nii.gz or .mgz volume, or a .zip of one DICOM series (dcm2niix).",
    )
    echo = serializers.IntegerField(
        write_only=True,
        required=False,
        min_value=1,
        max_value=64,
        help_text="Echo (1-based) to keep from a multi-echo series or 4-D file.",
    )
    download = serializers.SerializerMethodField(help_text="URL of the stored volume.")
    qc_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who decided the QC status."
    )

    class Meta:
        model = Scan
        fields = [
            "id",
            "code",
            "visit",
            "kind",
            "file",
            "echo",
            "download",
            "original_name",
            "sha256",
            "size_bytes",
            "shape",
            "voxel_size",
            "field_strength",
            "manufacturer",
            "scanner_model",
            "echo_time",
            "qc_status",
            "qc_reason",
            "qc_by",
            "qc_at",
            "qc_notes",
            "uploaded_at",
        ]
        read_only_fields = [
            "code",
            "original_name",
            "sha256",
            "size_bytes",
            "shape",
            "voxel_size",
            "echo_time",
            "qc_status",
            "qc_reason",
            "qc_at",
            "qc_notes",
            "uploaded_at",
        ]
        extra_kwargs = {
            "field_strength": {"min_value": 0.1, "max_value": 21.1, "help_text": "Tesla."},
        }
        validators: list[Any] = []

    def get_download(self, scan: Scan) -> str:
        return reverse("imaging-api:scan-download", args=[scan.pk])


class MeasurementSerializer(serializers.ModelSerializer):
    class Meta:
        model = Measurement
        fields = [
            "hemisphere",
            "segment",
            "band_contrast",
            "band_extent",
            "laminar_contrast",
            "deep_mean",
            "superficial_mean",
            "reference_mean",
            "reference_sd",
            "n_voxels",
            "coverage",
            "deep_minus_reference_ppb",
            "deep_minus_superficial_ppb",
            "reason",
        ]
        read_only_fields = fields


class CheckSerializer(serializers.Serializer):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    value = serializers.FloatField(allow_null=True)
    limit = serializers.FloatField(allow_null=True)
    message = serializers.CharField()


class RegistrationSerializer(serializers.Serializer):
    method = serializers.CharField()
    metric = serializers.FloatField(allow_null=True)
    displacement_mm = serializers.FloatField(allow_null=True)


class QuantificationSerializer(serializers.ModelSerializer):
    qc_image = serializers.SerializerMethodField(help_text="URL of the QC picture (PNG).")
    measurements = MeasurementSerializer(many=True, read_only=True)
    checks = CheckSerializer(
        many=True,
        read_only=True,
        help_text="Fit checks (imaging.checks); any failed one: needs_review.",
    )
    registration = RegistrationSerializer(
        read_only=True,
        allow_null=True,
        help_text="Null: the label map was used in world coordinates.",
    )
    qc_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who decided the QC status."
    )

    class Meta:
        model = QuantificationRun
        fields = [
            "id",
            "scan",
            "labels",
            "algorithm_version",
            "parameters",
            "input_kind",
            "status",
            "error",
            "attempts",
            "created_at",
            "finished_at",
            "checks",
            "registration",
            "qc_status",
            "qc_reason",
            "qc_by",
            "qc_at",
            "qc_image",
            "measurements",
        ]
        read_only_fields = fields

    def get_qc_image(self, run: QuantificationRun) -> str | None:
        if not run.qc_image:
            return None
        return reverse("imaging-api:quantification-qc-image", args=[run.pk])


# --- blinded reads ------------------------------------------------------------------------------


def queued_scan_scope(*, user: Acting) -> QuerySet[Scan]:
    """Scans a caller may name in a read: the rater's own queue (nothing for anyone else)."""
    rater = roles.study_user(user)
    if rater is None or not roles.is_rater(user):
        return Scan.objects.none()
    return Scan.objects.filter(assignments__rater=rater).exclude(qc_status=QcStatus.FAIL)


GRADE_HELP = (
    "MBS grade of the hemisphere: 0 no band, 1 partial band, 2 definite band (null on a "
    "non-diagnostic read)."
)


class OutcomeFields(serializers.Serializer):
    """A read's outcome and its grades; which of them go together the read service decides."""

    outcome = serializers.ChoiceField(
        choices=ReadOutcome.choices,
        default=ReadOutcome.GRADED,
        help_text="graded (both grades and a confidence) or non_diagnostic (a reason, no grade).",
    )
    non_diagnostic_reason = serializers.ChoiceField(
        choices=NonDiagnosticReason.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why the scan cannot be graded (non_diagnostic reads only).",
    )
    non_diagnostic_detail = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=NON_DIAGNOSTIC_DETAIL_MAX_LENGTH,
        help_text="What made the scan non-diagnostic, with the reason 'other'.",
    )
    left_grade = serializers.IntegerField(
        min_value=0,
        max_value=2,
        required=False,
        allow_null=True,
        default=None,
        help_text=GRADE_HELP,
    )
    right_grade = serializers.IntegerField(
        min_value=0,
        max_value=2,
        required=False,
        allow_null=True,
        default=None,
        help_text=GRADE_HELP,
    )
    confidence = serializers.IntegerField(
        min_value=1,
        max_value=3,
        required=False,
        allow_null=True,
        default=None,
        help_text="1 low, 2 moderate, 3 high (null on a non-diagnostic read).",
    )


class ReadSerializer(OutcomeFields, serializers.ModelSerializer):
    """A blinded read. Raters see their own reads only; nothing here describes the subject."""

    scan = ScopedPrimaryKeyRelatedField(
        scope=queued_scan_scope, help_text="The scan's id (a scan of your reading queue)."
    )
    scan_code = serializers.CharField(source="scan.code", read_only=True)
    rater = serializers.CharField(
        source="rater.username", read_only=True, help_text="The rater (the caller on submission)."
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")

    class Meta:
        model = Read
        fields = [
            "id",
            "scan",
            "scan_code",
            "rater",
            "outcome",
            "non_diagnostic_reason",
            "non_diagnostic_detail",
            "left_grade",
            "right_grade",
            "confidence",
            "comment",
            "is_current",
            "supersedes",
            "reason",
            "submitted_at",
        ]
        read_only_fields = ["is_current", "supersedes", "reason", "submitted_at"]
        validators: list[Any] = []


class ReadCorrectionSerializer(OutcomeFields):
    comment = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    reason = serializers.CharField(max_length=300, help_text="Why the read is corrected (audited).")


class QueueItemSerializer(serializers.Serializer):
    scan = serializers.IntegerField(source="scan_id", help_text="The scan's id.")
    scan_code = serializers.CharField(help_text="The scan's pseudonymous code.")
    position = serializers.IntegerField(help_text="Place in your randomized queue (1 first).")
    status = serializers.ChoiceField(choices=["pending", "submitted"])
    read = serializers.IntegerField(
        source="read_id", allow_null=True, help_text="Your current read's id, once submitted."
    )


class QcDecisionSerializer(serializers.Serializer):
    """A person's QC decision on a scan or a run."""

    status = serializers.ChoiceField(choices=QcStatus.choices)
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=1000,
        help_text="Why (required to fail: a failed scan or run leaves every analysis).",
    )
