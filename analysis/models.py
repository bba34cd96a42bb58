"""Frozen releases of exported datasets: their files, manifest and checksums, never changed."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone


class ReleaseFormat(models.TextChoices):
    BIDS = "bids", "BIDS study bundle"
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel"
    PARQUET = "parquet", "Parquet"
    DTA = "dta", "Stata"
    SAV = "sav", "SPSS"


class ImmutableReleaseError(Exception):
    """A release is frozen: it can be neither changed nor deleted."""


class Release(models.Model):
    """An export frozen at creation: files under ``MEDIA_ROOT/releases/<id>/``, a manifest with the
    sha256 of each file, and a zip of them whose sha256 is ``sha256``."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
    )
    format = models.CharField(max_length=8, choices=ReleaseFormat.choices, editable=False)
    deidentify = models.BooleanField(default=False, editable=False)
    filters = models.JSONField(default=dict, editable=False)
    algorithm_versions = models.JSONField(default=list, editable=False)
    manifest = models.JSONField(default=dict, editable=False)
    archive = models.CharField(
        max_length=300, editable=False, help_text="Storage name of the release's zip."
    )
    sha256 = models.CharField(max_length=64, editable=False, help_text="sha256 of the zip.")
    size_bytes = models.BigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"release {self.pk} ({self.format}, {self.created_at:%Y-%m-%d %H:%M})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableReleaseError("A release is frozen: make a new release instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableReleaseError("A release is frozen: it cannot be deleted.")


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ExportJob(models.Model):
    """The building of a release in the background (a Celery task, in-process without a broker).

    ``progress`` goes from 0 to 1 and never back; ``progress_message`` says what is being done,
    ``error`` why a failed job failed; ``release`` is the frozen release once the job is done.
    ``heartbeat_at`` moves with every step: a queued or running job whose worker stopped (or never
    came) is failed after ``settings.MOTORBAND_JOB_STALE_SECONDS`` without one. Jobs are kept as
    the history of the releases asked for, never deleted.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    client_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Where the request came from (for the access log)."
    )
    format = models.CharField(max_length=8, choices=ReleaseFormat.choices)
    parameters = models.JSONField(
        default=dict, help_text="deidentify, date_mode, site_mode, sites, groups as asked."
    )
    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.FloatField(default=0.0)
    progress_message = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    release = models.OneToOneField(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="job"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"export job {self.pk} ({self.format}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def duration_seconds(self) -> float | None:
        """Seconds from the worker's start to the end (or to now while running); None when no
        worker started it."""
        if self.started_at is None:
            return None
        end = self.finished_at if self.finished_at is not None else timezone.now()
        return max((end - self.started_at).total_seconds(), 0.0)

    @property
    def size_bytes(self) -> int | None:
        """Size of the release's zip once the job is done, else None."""
        return self.release.size_bytes if self.release is not None else None
