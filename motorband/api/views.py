"""The token login and revocation views and the API's JSON 404 (study viewsets: core.api.viewsets)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.contrib.auth.signals import user_logged_in, user_logged_out
from drf_spectacular.utils import OpenApiResponse, extend_schema
from knox.models import AuthToken
from rest_framework import decorators, exceptions, serializers
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import tokens
from core.api.schema import StudyAutoSchema
from core.api.viewsets import AUTHENTICATION_CLASSES


@decorators.api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@decorators.authentication_classes([])
@decorators.permission_classes([AllowAny])
@decorators.schema(None)
def api_not_found(request: Request, *args: Any, **kwargs: Any) -> Response:
    """Any other path under /api/: a JSON 404 like the API's own, rather than an HTML page."""
    raise exceptions.NotFound()


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False, style={"input_type": "password"})


class TokenObtainSerializer(serializers.Serializer):
    token = serializers.CharField(
        read_only=True, help_text="The key: send it as `Authorization: Token KEY`. Shown once."
    )
    expiry = serializers.DateTimeField(
        read_only=True, help_text="When the token stops working (MOTORBAND_TOKEN_TTL_HOURS)."
    )


class LockoutSerializer(serializers.Serializer):
    detail = serializers.CharField()
    retry_after = serializers.IntegerField(help_text="Seconds until logging in is possible again.")


class TokenRevokeSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many tokens of the caller were revoked.")


LOCKED_OUT = OpenApiResponse(
    response=LockoutSerializer,
    description="Too many failed logins for this account (or from this address); retry after "
    "`retry_after` seconds (also the Retry-After header).",
)


class TokenObtainView(APIView):
    """Exchange a username and password for an API token: send it as `Authorization: Token KEY`.

    Tokens expire (``expiry``), are stored hashed, and are revoked at logout
    (``auth/token/revoke/``) and when the password changes. Failed attempts count towards the
    account's lockout (django-axes, motorband.ratelimit); good ones are never limited.
    """

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]
    schema = StudyAutoSchema()

    @extend_schema(
        request=CredentialsSerializer,
        responses={200: TokenObtainSerializer, 429: LOCKED_OUT},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        # Django's own request: django-axes marks a lockout on it, and its middleware then turns
        # this view's 400 into the 429 lockout answer.
        http_request = request._request
        user = authenticate(http_request, **credentials.validated_data)
        if user is None:
            raise exceptions.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        user_logged_in.send(sender=type(user), request=http_request, user=user)
        instance, key = tokens.issue_token(user, request=request)
        return Response(TokenObtainSerializer({"token": key, "expiry": instance.expiry}).data)


class TokenRevokeView(APIView):
    """Log out of the API: revoke every token of the caller.

    Called with a token, this is a logout (recorded as one). Called with a session, it revokes
    the caller's tokens and leaves the session alone.
    """

    authentication_classes = AUTHENTICATION_CLASSES
    permission_classes = [IsAuthenticated]
    schema = StudyAutoSchema()

    @extend_schema(request=None, responses={200: TokenRevokeSerializer}, summary="Revoke my tokens")
    def post(self, request: Request) -> Response:
        user = request.user
        revoked = AuthToken.objects.filter(user=user).count()
        if isinstance(request.auth, AuthToken):
            # The receivers record the logout and revoke every token (core.access, core.tokens).
            user_logged_out.send(sender=type(user), request=request._request, user=user)
        else:
            tokens.revoke_tokens(user, reason="revoked", request=request)  # type: ignore[arg-type]
        return Response(TokenRevokeSerializer({"revoked": revoked}).data)
