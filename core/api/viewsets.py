"""Base viewset of the study API: service outcomes as HTTP, ETags, change reasons, history.

``StudyModelViewSet`` turns service-layer outcomes into HTTP: django ``ValidationError`` → 400
``{field: [messages]}``, ``ConcurrencyError`` → 412 (stale If-Match) or 409 (stale ``version`` in
the body); it sets ``ETag: "<version>"`` on detail answers, reads the change reason from the body
field ``reason`` or the ``X-Change-Reason`` header, and offers ``GET <resource>/{id}/history/``.
Subclasses only say which service creates, updates and deletes their records.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from core.api.authentication import TokenAuthentication
from core.api.schema import StudyAutoSchema
from core.records import ConcurrencyError, RecordInUse

# Token first (django-rest-knox: expiring, hashed): an anonymous caller then gets 401 with
# `WWW-Authenticate: Token`, not a bare 403.
AUTHENTICATION_CLASSES = [TokenAuthentication, SessionAuthentication]
REASON_HEADER = "X-Change-Reason"
REASON_MAX_LENGTH = 500
_ETAG_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
M = TypeVar("M", bound=models.Model)
HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}


def validation_error_detail(exc: DjangoValidationError) -> dict[str, list[str]]:
    """A django ValidationError as DRF's ``{field: [messages]}`` (non-field errors named as DRF does)."""
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else field): messages
            for field, messages in exc.message_dict.items()
        }
    return {api_settings.NON_FIELD_ERRORS_KEY: list(exc.messages)}


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "If-Match does not name a version of this record."
    default_code = "precondition_failed"


class HistoryChangeSerializer(serializers.Serializer):
    field = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class HistoryEntrySerializer(serializers.Serializer):
    history_id = serializers.IntegerField()
    date = serializers.DateTimeField()
    user = serializers.CharField(allow_null=True, help_text="Username of who made the change.")
    type = serializers.ChoiceField(choices=list(HISTORY_TYPES.values()))
    reason = serializers.CharField(allow_null=True)
    changes = HistoryChangeSerializer(
        many=True, help_text="Editable fields that changed (foreign keys as ids)."
    )


def history_entries(instance: models.Model) -> list[dict[str, Any]]:
    """The audit trail of one record, newest first, each entry with the fields it changed."""
    records = list(
        instance.history.select_related("history_user").order_by("history_date", "history_id")  # type: ignore[attr-defined]
    )
    entries = []
    previous = None
    for record in records:
        if previous is None:
            # The oldest row (normally the creation): every editable field starts from nothing.
            fields = sorted(
                f.name for f in record.tracked_fields if f.editable and not f.primary_key
            )
            changes = [{"field": name, "old": None, "new": _plain(record, name)} for name in fields]
        else:
            changes = [
                {"field": c.field, "old": c.old, "new": c.new}
                for c in record.diff_against(previous).changes
            ]
        user = record.history_user
        entries.append(
            {
                "history_id": record.history_id,
                "date": record.history_date,
                "user": user.get_username() if user is not None else None,
                "type": HISTORY_TYPES.get(record.history_type, record.history_type),
                "reason": record.history_change_reason,
                "changes": changes,
            }
        )
        previous = record
    entries.reverse()
    return entries


def _plain(record: Any, name: str) -> Any:
    field = record._meta.get_field(name)
    return getattr(record, field.attname)


class StudyModelViewSet(viewsets.ModelViewSet[M]):
    """CRUD over one study resource, writing through its services only.

    Subclasses set ``queryset``-building ``get_queryset`` (scoped by ``core.roles``), the
    serializer, the permission class, and implement ``create_record``, ``update_record`` and
    ``delete_record`` by calling the resource's services.
    """

    authentication_classes = AUTHENTICATION_CLASSES
    schema = StudyAutoSchema()
    # Any path segment reaches the view (and answers a JSON 404 when it names nothing); DRF's
    # default also stops at dots, for format suffixes this API does not use.
    lookup_value_regex = r"[^/]+"
    #: whether the services take a change reason (documents `X-Change-Reason`).
    accepts_change_reason = True

    # --- service hooks ------------------------------------------------------------------------

    def create_record(self, data: dict[str, Any], *, reason: str) -> M:
        raise NotImplementedError

    def update_record(
        self,
        instance: M,
        data: dict[str, Any],
        *,
        reason: str,
        expected_version: int | None,
    ) -> M:
        raise NotImplementedError

    def delete_record(self, instance: M, *, reason: str, expected_version: int | None) -> None:
        raise NotImplementedError

    # --- request reading ----------------------------------------------------------------------

    def change_reason(self, validated: dict[str, Any] | None = None) -> str:
        """The change reason: body field ``reason`` if given, else the X-Change-Reason header."""
        reason = (validated or {}).get("reason")
        if not reason and isinstance(self.request.data, dict):
            body = self.request.data.get("reason")
            reason = body if isinstance(body, str) else None
        if not reason:
            reason = self.request.headers.get(REASON_HEADER, "")
        return reason.strip()[:REASON_MAX_LENGTH]

    def expected_version(self, body_version: int | None = None) -> int | None:
        """The version the caller last read: If-Match first (412 when stale), else body ``version``
        (409 when stale); None when the caller sent neither (last writer wins)."""
        header = self.request.headers.get("If-Match")
        if header is not None and header.strip() != "*":
            tags = [tag for tag in header.split(",") if tag.strip()]
            versions = [_ETAG_RE.match(tag) for tag in tags]
            if not versions or not all(versions):
                raise PreconditionFailed()
            self._stale_status: int = status.HTTP_412_PRECONDITION_FAILED
            return int(versions[0].group(1))  # type: ignore[union-attr]
        if body_version is not None:
            self._stale_status = status.HTTP_409_CONFLICT
            return body_version
        return None

    # --- CRUD through the services ------------------------------------------------------------

    def perform_create(self, serializer: serializers.BaseSerializer[M]) -> None:
        data = dict(serializer.validated_data)
        reason = self.change_reason(data)
        data.pop("reason", None)
        data.pop("version", None)
        serializer.instance = self.create_record(data, reason=reason)

    def perform_update(self, serializer: serializers.BaseSerializer[M]) -> None:
        instance = serializer.instance
        assert instance is not None  # an update always has the record it changes
        data = dict(serializer.validated_data)
        reason = self.change_reason(data)
        data.pop("reason", None)
        expected = self.expected_version(data.pop("version", None))
        # Pass only what changes: unchanged values would clutter the audit trail, and unchanged
        # parents (a visit's subject) are not "moves" the services must refuse.
        changed = {name: value for name, value in data.items() if _differs(instance, name, value)}
        serializer.instance = self.update_record(
            instance, changed, reason=reason, expected_version=expected
        )

    def perform_destroy(self, instance: M) -> None:
        reason = self.change_reason()
        body_version = (
            self.request.data.get("version") if isinstance(self.request.data, dict) else None
        )
        if body_version is not None and not isinstance(body_version, int):
            raise exceptions.ValidationError({"version": ["A valid integer is required."]})
        expected = self.expected_version(body_version)
        self.delete_record(instance, reason=reason, expected_version=expected)

    # --- answers ------------------------------------------------------------------------------

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, RecordInUse):
            return Response({"detail": exc.messages[0]}, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, DjangoValidationError):
            exc = exceptions.ValidationError(validation_error_detail(exc))
        if isinstance(exc, ConcurrencyError):
            code = getattr(self, "_stale_status", status.HTTP_409_CONFLICT)
            return Response({"detail": str(exc), "current_version": exc.current}, status=code)
        return super().handle_exception(exc)

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        data = getattr(response, "data", None)
        if (
            response.status_code in (status.HTTP_200_OK, status.HTTP_201_CREATED)
            and isinstance(data, dict)
            and isinstance(data.get("version"), int)
        ):
            response["ETag"] = f'"{data["version"]}"'
        return response

    @extend_schema(
        responses=HistoryEntrySerializer(many=True),
        summary="Audit trail of the record: who changed what, when and why (newest first)",
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def history(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        return Response(HistoryEntrySerializer(history_entries(instance), many=True).data)


def _differs(instance: models.Model, name: str, value: Any) -> bool:
    try:
        return getattr(instance, name) != value
    except AttributeError:
        return True
