"""OpenAPI schema: documents the API's error answers, ETag and change-reason headers on every view,
and one request content type per write operation (``one_request_content_type``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CHANGE_METHODS = ("PUT", "PATCH", "DELETE")
JSON = "application/json"
MULTIPART = "multipart/form-data"


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happened and how to recover, in plain words.")
    current_version = serializers.IntegerField(
        required=False, help_text="The record's version now."
    )


VALIDATION_ERROR = OpenApiResponse(
    response={
        "type": "object",
        "description": "Validation errors as {field: [message, ...]}; errors of no one field are "
        'under "non_field_errors", malformed requests answer {"detail": message}.',
        "additionalProperties": True,
    },
    description="Invalid input",
)


class StudyAutoSchema(AutoSchema):
    """AutoSchema that also documents the error answers and concurrency headers of study views."""

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method in CHANGE_METHODS and self._is_detail():
            parameters.append(
                OpenApiParameter(
                    "If-Match",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description='The ETag you read (e.g. "3"): the change is refused with 412 '
                    "if the record changed since.",
                )
            )
        if self.method in WRITE_METHODS and getattr(self.view, "accepts_change_reason", False):
            parameters.append(
                OpenApiParameter(
                    "X-Change-Reason",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    required=False,
                    description="Why the record changes (audit trail); the body field `reason` "
                    "takes precedence. Required for changes to completed visits.",
                )
            )
        if self.method in ("GET", "POST", "PUT", "PATCH") and self._has_version():
            parameters.append(
                OpenApiParameter(
                    "ETag",
                    OpenApiTypes.STR,
                    OpenApiParameter.HEADER,
                    response=["200", "201"],
                    description='The record\'s version as an entity tag, e.g. "3".',
                )
            )
        return parameters

    def _is_detail(self) -> bool:
        return "{" in self.path

    def _has_version(self) -> bool:
        if self._is_list_view() or not hasattr(self.view, "get_serializer_class"):
            return False
        try:
            serializer_class = self.view.get_serializer_class()
        except Exception:  # views without a serializer class: nothing to document
            return False
        return "version" in getattr(serializer_class, "_declared_fields", {}) or (
            "version" in getattr(getattr(serializer_class, "Meta", None), "fields", ())
        )

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)  # type: ignore[arg-type]
        if direction != "response":
            return responses
        errors: dict[str, Any] = {
            "400": VALIDATION_ERROR,
            "401": OpenApiResponse(DetailSerializer, description="Not authenticated"),
            "403": OpenApiResponse(DetailSerializer, description="Your role may not do this"),
            "404": OpenApiResponse(
                DetailSerializer, description="Not found (or outside your sites)"
            ),
            "406": OpenApiResponse(DetailSerializer, description="Unsupported Accept header"),
        }
        if self.method in ("POST", "PUT", "PATCH"):
            errors["415"] = OpenApiResponse(DetailSerializer, description="Unsupported media type")
        if self.method in CHANGE_METHODS and self._is_detail():
            errors["409"] = OpenApiResponse(
                ConflictSerializer, description="Stale `version` in the body: reload and retry"
            )
            errors["412"] = OpenApiResponse(
                ConflictSerializer, description="If-Match does not match the current ETag"
            )
        for code, response in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses


def one_request_content_type(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: each request body advertises one content type.

    DRF's default parsers make every write operation list JSON, form and multipart bodies, and
    client generators (openapi-python-client) then emit one body type per operation that matches
    all three and modules that do not import. The schema documents JSON, except for uploads
    (operations whose view parses multipart but not JSON), which are multipart only. The views'
    parsers are unchanged: form posts are still accepted, only no longer advertised.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue  # path-level parameters, or an operation without a body
            content = operation["requestBody"].get("content") or {}
            if len(content) > 1:
                keep = next((t for t in (JSON, MULTIPART) if t in content), next(iter(content)))
                operation["requestBody"]["content"] = {keep: content[keep]}
    return result
