"""Imaging data: scans uploaded per visit, quantification runs (versioned) and their measurements."""

from __future__ import annotations

import secrets
from typing import Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from cohort.models import Visit
from core.scoping import SiteScopedQuerySet

PSEUDONYM_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: codes are read aloud


def new_scan_code() -> str:
    """A pseudonymous scan code for blinded reading (carries nothing about the subject)."""
    return "SCN-" + "".join(secrets.choice(PSEUDONYM_ALPHABET) for _ in range(8))


class ScanKind(models.TextChoices):
    SWI = "swi", "Susceptibility-weighted image"
    LABELS = "labels", "Cortical label map (FreeSurfer aparc+aseg)"
    T1 = "t1", "T1-weighted image"
    QSM = "qsm", "Quantitative susceptibility map"
    GRE_MAGNITUDE = "gre_magnitude", "Gradient-echo magnitude"
    GRE_PHASE = "gre_phase", "Gradient-echo phase"


# Kinds that hold intensities the band can be measured on, and the input kind the method records.
QUANTIFIABLE_KINDS: dict[str, Literal["swi", "qsm"]] = {
    ScanKind.SWI: "swi",
    ScanKind.QSM: "qsm",
    ScanKind.GRE_MAGNITUDE: "swi",
}


class QcStatus(models.TextChoices):
    """A person's quality-control decision on a scan or a run (as in LORIS and XNAT)."""

    PENDING = "pending", "Pending review"
    PASS = "pass", "Passed"
    FAIL = "fail", "Failed"


class QcDecision(models.Model):
    """Who decided a scan's or run's QC, when and why (the audit trail keeps every change)."""

    qc_status = models.CharField(max_length=10, choices=QcStatus.choices, default=QcStatus.PENDING)
    qc_reason = models.TextField(blank=True, default="")
    qc_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    qc_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


def scan_upload_to(instance: Scan, filename: str) -> str:
    # Stored under the pseudonymous code: the file name tells a rater nothing.
    return f"scans/{instance.code[4:6]}/{instance.code}/{filename}"


class Scan(QcDecision):
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="scans")
    kind = models.CharField(max_length=16, choices=ScanKind.choices)
    code = models.CharField(max_length=16, unique=True, default=new_scan_code, editable=False)
    file = models.FileField(upload_to=scan_upload_to, max_length=300)
    original_name = models.CharField(max_length=255, blank=True, default="")
    sha256 = models.CharField(max_length=64, db_index=True, editable=False)
    size_bytes = models.BigIntegerField(default=0, editable=False)
    shape = models.JSONField(default=list, editable=False)
    voxel_size = models.JSONField(default=list, editable=False)
    field_strength = models.FloatField(null=True, blank=True, help_text="Tesla")
    manufacturer = models.CharField(max_length=100, blank=True, default="")
    scanner_model = models.CharField(max_length=100, blank=True, default="")
    echo_time = models.FloatField(null=True, blank=True, help_text="Milliseconds")
    qc_notes = models.TextField(
        blank=True, default="", help_text="What the upload's automatic checks found."
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    SITE_LOOKUP = "visit__subject__site_id"
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["visit__subject__study_id", "visit__visit_code", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["visit", "kind"], name="one_scan_per_kind_per_visit")
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.kind})"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    NEEDS_REVIEW = "needs_review", "Needs review"
    FAILED = "failed", "Failed"


def qc_upload_to(instance: QuantificationRun, filename: str) -> str:
    return f"qc/{instance.scan.code}/{filename}"


class QuantificationRun(QcDecision):
    """One run of the band quantification of a scan with its label map, under one method version."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="runs")
    labels = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="label_runs")
    algorithm_version = models.CharField(max_length=20)
    parameters = models.JSONField(default=dict)
    parameters_hash = models.CharField(max_length=64, editable=False)
    input_kind = models.CharField(max_length=8, default="swi")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    error = models.TextField(blank=True, default="")
    checks = models.JSONField(
        default=list,
        blank=True,
        help_text="[{name, passed, value, limit, message}] (imaging.checks).",
    )
    registration = models.JSONField(
        null=True,
        blank=True,
        help_text="{method, metric, displacement_mm}; null: world coordinates.",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    qc_image = models.FileField(upload_to=qc_upload_to, blank=True, max_length=300)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    history = HistoricalRecords(excluded_fields=["started_at"])

    SITE_LOOKUP = "scan__visit__subject__site_id"
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Re-running an unchanged scan with the same method is a no-op: one run per inputs.
            models.UniqueConstraint(
                fields=["scan", "labels", "algorithm_version", "parameters_hash"],
                name="one_run_per_inputs_and_method",
            )
        ]
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.scan.code} ({self.algorithm_version}, {self.status})"


class Hemisphere(models.TextChoices):
    LEFT = "L", "Left"
    RIGHT = "R", "Right"


class Segment(models.TextChoices):
    WHOLE = "whole", "Whole precentral gyrus"
    LEG = "leg", "Leg (precentral, superior 20%)"
    HAND = "hand", "Hand (middle 40%)"
    FACE = "face", "Face (inferior 40%)"
    PARACENTRAL = "paracentral", "Paracentral lobule"


class Measurement(models.Model):
    """Band measurements of one hemisphere and segment (domain.md, quantification step 3)."""

    run = models.ForeignKey(
        QuantificationRun, on_delete=models.CASCADE, related_name="measurements"
    )
    hemisphere = models.CharField(max_length=1, choices=Hemisphere.choices)
    segment = models.CharField(max_length=11, choices=Segment.choices)
    band_contrast = models.FloatField(null=True)
    band_extent = models.FloatField(null=True)
    laminar_contrast = models.FloatField(null=True)
    deep_mean = models.FloatField(null=True)
    superficial_mean = models.FloatField(null=True)
    reference_mean = models.FloatField(null=True)
    reference_sd = models.FloatField(null=True)
    n_voxels = models.IntegerField(null=True)
    coverage = models.FloatField(
        null=True, help_text="Fraction (0-1) of the segment's labelled voxels inside the image."
    )
    deep_minus_reference_ppb = models.FloatField(
        null=True, help_text="QSM only: deep mean minus reference mean, in ppb."
    )
    deep_minus_superficial_ppb = models.FloatField(
        null=True, help_text="QSM only: deep mean minus superficial mean, in ppb."
    )
    reason = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["run", "hemisphere", "segment"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "hemisphere", "segment"], name="one_measurement_per_region"
            )
        ]

    def __str__(self) -> str:
        return f"{self.run_id} {self.hemisphere} {self.segment}"


class ReadOutcome(models.TextChoices):
    """Whether the rater could grade the scan at all."""

    GRADED = "graded", "Graded"
    NON_DIAGNOSTIC = "non_diagnostic", "Non-diagnostic"


class NonDiagnosticReason(models.TextChoices):
    """Why a scan could not be graded (``other`` needs a description)."""

    MOTION = "motion", "Motion"
    COVERAGE = "coverage", "Coverage (motor cortex not fully imaged)"
    ARTEFACT = "artefact", "Artefact (susceptibility, metal, ...)"
    OTHER = "other", "Other (describe)"


#: The fields that carry a grade: set on a graded read, empty on a non-diagnostic one.
GRADED_FIELDS = ("left_grade", "right_grade", "confidence")
NON_DIAGNOSTIC_DETAIL_MAX_LENGTH = 300


def read_outcome_errors(
    *,
    outcome: str,
    non_diagnostic_reason: str,
    non_diagnostic_detail: str,
    left_grade: object,
    right_grade: object,
    confidence: object,
) -> dict[str, str]:
    """The rule of a read's outcome, field by field (empty when the values agree).

    A graded read has both grades and a confidence and no non-diagnostic reason; a
    non-diagnostic read has a reason (with a description when it is ``other``) and no grade or
    confidence. Shared by ``Read.clean`` and the read services, so both say the same words.
    """
    values = {"left_grade": left_grade, "right_grade": right_grade, "confidence": confidence}
    errors: dict[str, str] = {}
    if outcome == ReadOutcome.GRADED:
        for name, value in values.items():
            if value is None:
                what = "a confidence" if name == "confidence" else "both hemispheres' grades"
                errors[name] = (
                    f"A graded read needs {what}; choose the non-diagnostic outcome, with its "
                    "reason, when the scan cannot be graded."
                )
        if non_diagnostic_reason or non_diagnostic_detail:
            errors["non_diagnostic_reason"] = (
                "A graded read has no non-diagnostic reason: leave it empty, or choose the "
                "non-diagnostic outcome."
            )
    elif outcome == ReadOutcome.NON_DIAGNOSTIC:
        for name, value in values.items():
            if value is not None:
                errors[name] = (
                    "A non-diagnostic read has no grades and no confidence: leave them empty, "
                    "or choose the graded outcome."
                )
        if non_diagnostic_reason not in NonDiagnosticReason.values:
            errors["non_diagnostic_reason"] = (
                "Say why the scan is non-diagnostic: " + ", ".join(NonDiagnosticReason.values) + "."
            )
        elif non_diagnostic_reason == NonDiagnosticReason.OTHER and not non_diagnostic_detail:
            errors["non_diagnostic_detail"] = "Describe what made the scan non-diagnostic."
        elif non_diagnostic_reason != NonDiagnosticReason.OTHER and non_diagnostic_detail:
            errors["non_diagnostic_detail"] = (
                "A description goes with the reason 'other' only; use the comment otherwise."
            )
        if len(non_diagnostic_detail) > NON_DIAGNOSTIC_DETAIL_MAX_LENGTH:
            errors["non_diagnostic_detail"] = (
                f"Keep the description under {NON_DIAGNOSTIC_DETAIL_MAX_LENGTH} characters."
            )
    else:
        errors["outcome"] = "The outcome is graded or non_diagnostic."
    return errors


class Read(models.Model):
    """A rater's blinded grade of the motor band sign on one scan (domain.md, "Blinded reads").

    A submitted read is locked; a correction is a new read that supersedes it, with a reason.
    A scan the rater cannot grade (motion, coverage, artefact) is read as non-diagnostic with
    that reason and no grades; such reads count in no consensus and no agreement statistic.
    """

    GRADE_CHOICES = [(0, "0: no band"), (1, "1: partial band"), (2, "2: definite band")]
    CONFIDENCE_CHOICES = [(1, "1: low"), (2, "2: moderate"), (3, "3: high")]

    scan = models.ForeignKey(Scan, on_delete=models.PROTECT, related_name="reads")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reads"
    )
    outcome = models.CharField(
        max_length=20, choices=ReadOutcome.choices, default=ReadOutcome.GRADED
    )
    non_diagnostic_reason = models.CharField(
        max_length=20, choices=NonDiagnosticReason.choices, blank=True, default=""
    )
    non_diagnostic_detail = models.CharField(
        max_length=NON_DIAGNOSTIC_DETAIL_MAX_LENGTH,
        blank=True,
        default="",
        help_text="What made the scan non-diagnostic, when the reason is 'other'.",
    )
    left_grade = models.PositiveSmallIntegerField(choices=GRADE_CHOICES, null=True, blank=True)
    right_grade = models.PositiveSmallIntegerField(choices=GRADE_CHOICES, null=True, blank=True)
    confidence = models.PositiveSmallIntegerField(choices=CONFIDENCE_CHOICES, null=True, blank=True)
    comment = models.TextField(blank=True, default="")
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    reason = models.CharField(max_length=300, blank=True, default="")
    is_current = models.BooleanField(default=True, editable=False)
    submitted_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scan", "rater", "-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["scan", "rater"],
                condition=models.Q(is_current=True),
                name="one_current_read_per_rater_and_scan",
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        outcome=ReadOutcome.GRADED,
                        left_grade__isnull=False,
                        right_grade__isnull=False,
                        confidence__isnull=False,
                        non_diagnostic_reason="",
                    )
                    | (
                        models.Q(
                            outcome=ReadOutcome.NON_DIAGNOSTIC,
                            left_grade__isnull=True,
                            right_grade__isnull=True,
                            confidence__isnull=True,
                        )
                        & ~models.Q(non_diagnostic_reason="")
                    )
                ),
                name="read_grades_follow_the_outcome",
            ),
        ]

    def __str__(self) -> str:
        return f"read of {self.scan.code} by {self.rater}"

    def clean(self) -> None:
        errors = read_outcome_errors(
            outcome=self.outcome,
            non_diagnostic_reason=self.non_diagnostic_reason,
            non_diagnostic_detail=self.non_diagnostic_detail,
            left_grade=self.left_grade,
            right_grade=self.right_grade,
            confidence=self.confidence,
        )
        if errors:
            raise ValidationError(errors)

    @property
    def is_graded(self) -> bool:
        return self.outcome == ReadOutcome.GRADED

    @property
    def non_diagnostic_label(self) -> str:
        """The reason in words ("motion", "other: metal braces"); empty on a graded read."""
        if self.is_graded:
            return ""
        if self.non_diagnostic_reason == NonDiagnosticReason.OTHER:
            return f"other: {self.non_diagnostic_detail}"
        return str(self.non_diagnostic_reason)


class Adjudication(models.Model):
    """The final read of a scan whose raters disagree by more than one grade in a hemisphere.

    It replaces the raters' consensus for that scan (domain.md, "Blinded reads"); until it
    exists, such a hemisphere has no consensus and the scan's MBS status is undetermined.
    """

    scan = models.OneToOneField(Scan, on_delete=models.PROTECT, related_name="adjudication")
    left_grade = models.PositiveSmallIntegerField(choices=Read.GRADE_CHOICES)
    right_grade = models.PositiveSmallIntegerField(choices=Read.GRADE_CHOICES)
    comment = models.TextField(blank=True, default="")
    adjudicator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["scan"]

    def __str__(self) -> str:
        return f"final read of {self.scan.code}"


class ReadAssignment(models.Model):
    """A scan in a rater's queue, in a randomized order."""

    scan = models.ForeignKey(Scan, on_delete=models.CASCADE, related_name="assignments")
    rater = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_assignments"
    )
    position = models.PositiveIntegerField()
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["rater", "position"]
        constraints = [
            models.UniqueConstraint(fields=["scan", "rater"], name="one_assignment_per_rater")
        ]

    def __str__(self) -> str:
        return f"{self.scan.code} -> {self.rater}"
