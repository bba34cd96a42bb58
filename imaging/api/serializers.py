"""Serializers of scans and quantification runs: field shapes only; the services validate."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework import serializers

from cohort.api.serializers import ScopedPrimaryKeyRelatedField, visit_scope
from imaging.models import Measurement, QuantificationRun, Scan, ScanKind


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
            "reason",
        ]
        read_only_fields = fields


class QuantificationSerializer(serializers.ModelSerializer):
    qc_image = serializers.SerializerMethodField(help_text="URL of the QC picture (PNG).")
    measurements = MeasurementSerializer(many=True, read_only=True)

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
            "qc_image",
            "measurements",
        ]
        read_only_fields = fields

    def get_qc_image(self, run: QuantificationRun) -> str | None:
        if not run.qc_image:
            return None
        return reverse("imaging-api:quantification-qc-image", args=[run.pk])
