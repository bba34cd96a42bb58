"""Refusals the views do not raise themselves, answered in JSON with words (settings
``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): a record others refer to (409), a body over the size limit
(413); everything else goes to DRF's own handler. Never a 500 or an HTML page for a client's error."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db.models.deletion import ProtectedError, RestrictedError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.records import referenced_message


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ProtectedError | RestrictedError):
        objects = (
            getattr(exc, "protected_objects", None)
            or getattr(exc, "restricted_objects", None)
            or ()
        )
        return Response({"detail": referenced_message(objects)}, status=status.HTTP_409_CONFLICT)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is too large; send less data per request."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    return drf_exception_handler(exc, context)
