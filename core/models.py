"""The access log: who logged in, failed to, logged out, got or lost a token, exported, downloaded,
viewed identifiable data or imported data.

``AccessEvent`` rows are append-only for everyone, administrators included: ``save()`` refuses to
change a stored row, ``delete()`` and the queryset's ``update()``/``delete()`` refuse, the admin
shows them read-only, and on PostgreSQL a trigger (migration 0001) refuses UPDATE and DELETE from
any client. Write them through ``core.access.record_access`` only.

``DataVersion`` is the one row naming the current state of the study's data (``core.dataversion``).
"""

from __future__ import annotations

from typing import Any, NoReturn

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


class AppendOnlyError(PermissionDenied):
    """An access event cannot be changed or deleted once written."""

    def __init__(self, what: str = "changed or deleted") -> None:
        super().__init__(f"The access log is append-only: its events cannot be {what}.")


class AccessAction(models.TextChoices):
    LOGIN = "login", "Logged in"
    LOGIN_FAILED = "login_failed", "Login failed"
    LOGOUT = "logout", "Logged out"
    TOKEN_CREATED = "token_created", "API token created"
    TOKEN_REVOKED = "token_revoked", "API tokens revoked"
    EXPORT = "export", "Exported data"
    DOWNLOAD = "download", "Downloaded a file"
    VIEW_IDENTIFIABLE = "view_identifiable", "Viewed identifiable data"
    IMPORT = "import", "Imported data"


class AccessEventQuerySet(models.QuerySet["AccessEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("updated")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("deleted")

    # Refused before its own transaction starts (an error inside it would break the caller's).
    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> NoReturn:
        raise AppendOnlyError("updated")

    # The collector's fast path (a cascade) deletes through here, bypassing delete().
    def _raw_delete(self, using: Any) -> NoReturn:
        raise AppendOnlyError("deleted")


class AccessEvent(models.Model):
    """One access to the study: when, by whom (the account if known, the name as typed), what."""

    when = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    # No database constraint and no cascade: deleting an account keeps its events (and their
    # username); the id then names no one.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="access_events",
    )
    username = models.CharField(max_length=150, blank=True, db_index=True)
    action = models.CharField(max_length=32, choices=AccessAction.choices, db_index=True)
    target = models.TextField(blank=True, help_text="What was accessed (a release, a file, ...).")
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    client_address = models.GenericIPAddressField(null=True, blank=True)

    objects = AccessEventQuerySet.as_manager()

    class Meta:
        ordering = ["-when", "-id"]
        verbose_name = "access event"

    def __str__(self) -> str:
        return f"{self.when:%Y-%m-%d %H:%M:%S} {self.username or '-'} {self.action} {self.target}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("deleted")


class DataVersion(models.Model):
    """One row naming the current state of the study's data (``core.dataversion``).

    ``token`` is drawn afresh at every change, so two different states never share it, even
    across a rolled-back transaction or a restored backup; ``counter`` only tells people how many
    changes there have been. Written by raw SQL from ``core.dataversion``, never through the ORM.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    token = models.CharField(max_length=32, editable=False)
    counter = models.BigIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = "data version"

    def __str__(self) -> str:
        return f"data version {self.counter} ({self.token})"
