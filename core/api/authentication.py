"""API token authentication (settings ``REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]``).

django-rest-knox's token authentication, checking only the token presented. At every request knox
also reads all the other tokens of the user to delete the expired ones: one more query each time,
for housekeeping only (an expired token never authenticates). Here the user's expired tokens are
deleted when a new token is issued instead (``core.tokens.issue_token``); the presented token is
still refused, deleted and announced (knox's ``token_expired`` signal) once expired.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.contrib.knox_auth_token import KnoxTokenScheme
from knox import auth
from knox.signals import token_expired


class TokenAuthentication(auth.TokenAuthentication):
    """knox's ``TokenAuthentication`` without the sweep of the user's other tokens."""

    def _cleanup_token(self, auth_token: Any) -> bool:
        """Whether the presented token has expired (it is then deleted)."""
        if auth_token.expiry is not None and auth_token.expiry < timezone.now():
            username = auth_token.user.get_username()
            auth_token.delete()
            token_expired.send(sender=self.__class__, username=username, source="auth_token")
            return True
        return False


class TokenScheme(KnoxTokenScheme):
    """The OpenAPI security scheme of knox's tokens, for this subclass."""

    target_class = "core.api.authentication.TokenAuthentication"
