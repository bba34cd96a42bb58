"""The access log in the API: ``GET /api/v1/access-log/``, read-only, for data managers and admins."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from rest_framework import serializers, viewsets
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from core import roles
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES
from core.models import AccessAction, AccessEvent


class AccessEventSerializer(serializers.ModelSerializer[AccessEvent]):
    user = serializers.IntegerField(
        source="user_id", allow_null=True, help_text="The account's id (null: none matched)."
    )
    username = serializers.CharField(help_text="The account's name, or the name typed at login.")
    detail = serializers.JSONField()

    class Meta:
        model = AccessEvent
        fields = ["id", "when", "user", "username", "action", "target", "detail", "client_address"]
        read_only_fields = fields


class AccessEventFilterSet(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AccessAction.choices)
    user = django_filters.CharFilter(
        field_name="username", help_text="Username (as recorded, also for failed logins)."
    )
    date = django_filters.DateFilter(field_name="when", lookup_expr="date", help_text="One day.")
    date_after = django_filters.DateFilter(
        field_name="when", lookup_expr="date__gte", help_text="From this day on (inclusive)."
    )
    date_before = django_filters.DateFilter(
        field_name="when", lookup_expr="date__lte", help_text="Up to this day (inclusive)."
    )

    class Meta:
        model = AccessEvent
        fields = ["action", "user", "date", "date_after", "date_before"]


class AccessLogReader(BasePermission):
    """Data managers and admins; any other method than reading then answers 405, for everyone."""

    message = "Only data managers and administrators can read the access log."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return roles.role_of(request.user) in roles.ACCESS_LOG_READERS


class AccessEventViewSet(viewsets.ReadOnlyModelViewSet[AccessEvent]):
    """Who logged in (or failed to), logged out, got or lost an API token, exported, downloaded
    or viewed identifiable data: newest first. Append-only: nothing here changes it."""

    serializer_class = AccessEventSerializer
    permission_classes = [AccessLogReader]
    authentication_classes = AUTHENTICATION_CLASSES
    filterset_class = AccessEventFilterSet
    schema = StudyAutoSchema()

    def get_queryset(self) -> QuerySet[AccessEvent]:
        return AccessEvent.objects.order_by("-when", "-id")
