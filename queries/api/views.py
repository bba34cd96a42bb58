"""Query API: list, read, open, and the workflow's steps (answer, close, reopen) as POST actions or
as a PATCH of ``status``; queries are never deleted (closed instead, the trail kept)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser
from rest_framework.request import Request
from rest_framework.response import Response

from core import roles
from core.api.permissions import RolePermission
from core.api.schema import ConflictSerializer
from core.api.viewsets import StudyModelViewSet
from queries import selectors, services
from queries.api.serializers import (
    AnswerSerializer,
    CloseSerializer,
    DataQuerySerializer,
    ReopenSerializer,
)
from queries.filters import QueryFilterSet
from queries.models import DataQuery, QueryStatus


class QueryAccess(RolePermission):
    """Clinical readers read their sites' queries; monitors open and close them, the sites'
    clinical writers answer them (the services decide who may take which step)."""

    read_roles = frozenset(roles.CLINICAL_READERS)
    write_roles = frozenset(roles.CLINICAL_WRITERS)
    message = "Your study role cannot read or change data queries."


#: A step of the workflow: one small JSON (or form) body, no filters or pages.
step_action = action(
    detail=True,
    methods=["post"],
    parser_classes=[JSONParser, FormParser],
    filter_backends=[],
    pagination_class=None,
)

CONFLICT = {
    200: DataQuerySerializer,
    409: OpenApiResponse(ConflictSerializer, description="Stale `version`: reload and retry"),
    412: OpenApiResponse(ConflictSerializer, description="If-Match does not match the ETag"),
}


class DataQueryViewSet(StudyModelViewSet[DataQuery]):
    """Data queries on a field of a subject, visit, Penn UMN exam, ALSFRS-R, event or scan."""

    serializer_class = DataQuerySerializer
    permission_classes = [QueryAccess]
    filterset_class = QueryFilterSet
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self) -> QuerySet[DataQuery]:
        return selectors.query_list(user=self.request.user)

    @extend_schema(summary="Open a query on a field of a record (data managers and admins)")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().create(request, *args, **kwargs)

    @extend_schema(
        summary="Take a step of the workflow by new values: `status` answered, closed or open "
        "(reopen), `answer` alone (answer), `message` alone (reword an open query)"
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().partial_update(request, *args, **kwargs)

    def create_record(self, data: dict[str, Any], *, reason: str) -> DataQuery:
        status = data.pop("status", QueryStatus.OPEN)
        if status != QueryStatus.OPEN or data.pop("answer", ""):
            raise serializers.ValidationError(
                {"status": ["A query opens as `open`, without an answer: the site answers it."]}
            )
        return services.query_open(user=self.request.user, **data)

    def update_record(
        self,
        instance: DataQuery,
        data: dict[str, Any],
        *,
        reason: str,
        expected_version: int | None,
    ) -> DataQuery:
        return services.query_update(
            instance,
            user=self.request.user,
            data=data,
            reason=reason,
            expected_version=expected_version,
        )

    def _answer(self, query: DataQuery) -> Response:
        query = DataQuery.objects.select_related(
            "site", "subject", "opened_by", "answered_by", "closed_by"
        ).get(pk=query.pk)
        return Response(DataQuerySerializer(query, context=self.get_serializer_context()).data)

    @extend_schema(
        request=AnswerSerializer,
        responses=CONFLICT,
        summary="Answer the query (the record's site: coordinators, data managers, admins)",
    )
    @step_action
    def answer(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = self.get_object()
        body = AnswerSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = services.query_answer(
            query,
            user=request.user,
            answer=body.validated_data["answer"],
            expected_version=self.expected_version(body.validated_data.get("version")),
        )
        return self._answer(query)

    @extend_schema(
        request=CloseSerializer,
        responses=CONFLICT,
        summary="Close the query (its author, once answered; or with a reason while open)",
    )
    @step_action
    def close(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = self.get_object()
        body = CloseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = services.query_close(
            query,
            user=request.user,
            reason=body.validated_data.get("reason") or self.change_reason(),
            expected_version=self.expected_version(body.validated_data.get("version")),
        )
        return self._answer(query)

    @extend_schema(
        request=ReopenSerializer,
        responses=CONFLICT,
        summary="Reopen an answered or closed query with a new message (its author)",
    )
    @step_action
    def reopen(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        query = self.get_object()
        body = ReopenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = services.query_reopen(
            query,
            user=request.user,
            message=body.validated_data["message"],
            expected_version=self.expected_version(body.validated_data.get("version")),
        )
        return self._answer(query)
