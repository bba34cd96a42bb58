"""The data query: a question about one field of one record, with its answer and its state.

A monitor (data manager or admin) opens a query with a message; a clinical writer of the record's
site answers it; the monitor who opened it closes it, or reopens it with a new message. Automatic
checks (``queries.checks``) open queries of their own, flagged ``auto`` and named by ``check_name``.
The record's site is kept on the query (``site``), so that queries are scoped like the records
they are about; every change is written through ``core.records`` (version, audit user and reason).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from simple_history.models import HistoricalRecords

from cohort.models import Site, Subject, Visit
from core.scoping import SiteScopedQuerySet
from queries.records import RecordType, queryable_fields


class QueryStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


#: A query still waiting for someone: the site (open) or its author (answered).
LIVE_STATUSES = (QueryStatus.OPEN, QueryStatus.ANSWERED)


class DataQuery(models.Model):
    record_type = models.CharField(max_length=12, choices=RecordType.choices)
    record_id = models.PositiveBigIntegerField(help_text="The id of the record queried.")
    field = models.CharField(max_length=64, help_text="The field of the record queried.")
    message = models.TextField(help_text="The question, in words the site can act on.")
    status = models.CharField(max_length=10, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    answer = models.TextField(blank=True, default="")
    # A site is deleted only once it has no subjects left: its queries (about records that are
    # gone) go with it; their audit trail stays.
    site = models.ForeignKey(
        Site, on_delete=models.CASCADE, related_name="data_queries", editable=False
    )
    subject = models.ForeignKey(
        Subject,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="data_queries",
        editable=False,
    )
    visit = models.ForeignKey(
        Visit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="data_queries",
        editable=False,
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="Who opened the query (empty: an automatic check).",
    )
    opened_at = models.DateTimeField(auto_now_add=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    answered_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    auto = models.BooleanField(default=False, editable=False)
    check_name = models.CharField(
        max_length=40,
        blank=True,
        default="",
        editable=False,
        help_text="The automatic check that opened the query (empty for a person's query).",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    history = HistoricalRecords()

    SITE_LOOKUP = "site_id"
    objects = SiteScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "data query"
        verbose_name_plural = "data queries"
        ordering = ["-opened_at", "-id"]
        indexes = [
            models.Index(fields=["site", "status"]),
            models.Index(fields=["record_type", "record_id"]),
        ]
        constraints = [
            # An automatic check asks once: a re-run never opens a second live query about the
            # same field of the same record (two concurrent runs included).
            models.UniqueConstraint(
                fields=["record_type", "record_id", "field", "check_name"],
                condition=models.Q(status__in=["open", "answered"]) & ~models.Q(check_name=""),
                name="one_live_query_per_check_and_field",
                violation_error_message="This automatic check already has a query open on this "
                "field of the record: answer or close that one.",
            )
        ]

    def __str__(self) -> str:
        return (
            f"Query {self.pk} on {self.record_type} {self.record_id} {self.field} ({self.status})"
        )

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    def clean(self) -> None:
        errors: dict[str, str] = {}
        fields = queryable_fields(self.record_type)
        if self.record_type in RecordType.values and self.field and self.field not in fields:
            errors["field"] = (
                f"'{self.field}' is not a field of a {RecordType(self.record_type).label} that a "
                f"query can name; choose one of: {', '.join(fields)}."
            )
        if self.status == QueryStatus.ANSWERED and not self.answer.strip():
            errors["answer"] = "An answered query needs the answer's text."
        if (self.status == QueryStatus.CLOSED) != (self.closed_at is not None):
            errors["status"] = "A closed query has its closing time, and only a closed one."
        if errors:
            raise ValidationError(errors)
