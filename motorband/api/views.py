"""The token login view and the API's JSON 404 (the study viewsets' base is core.api.viewsets)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import decorators, exceptions, serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.schema import StudyAutoSchema
from motorband.ratelimit import LoginThrottle


@decorators.api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@decorators.authentication_classes([])
@decorators.permission_classes([AllowAny])
@decorators.schema(None)
def api_not_found(request: Request, *args: Any, **kwargs: Any) -> Response:
    """Any other path under /api/: a JSON 404 like the API's own, rather than an HTML page."""
    raise exceptions.NotFound()


class TokenObtainSerializer(serializers.Serializer):
    token = serializers.CharField(read_only=True)


class TokenObtainView(APIView):
    """Exchange a username and password for an API token: send it as `Authorization: Token KEY`."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginThrottle]
    schema = StudyAutoSchema()

    @extend_schema(
        request=AuthTokenSerializer,
        responses={
            200: TokenObtainSerializer,
            429: OpenApiResponse(description="Too many attempts from this address; retry later."),
        },
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> Response:
        serializer = AuthTokenSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, _ = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
