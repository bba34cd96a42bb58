"""API tokens (django-rest-knox): issued at token login, expiring, stored hashed, revoked at logout.

Knox keeps only a SHA-512 digest of each key (and its first 15 characters, to find it), with an
expiry ``REST_KNOX["TOKEN_TTL"]`` after creation (``MOTORBAND_TOKEN_TTL_HOURS``, 10 by default);
an expired token is refused and deleted when next presented. Every token of a user is revoked when
the user logs out (any logout: the pages, the admin, ``POST /api/v1/auth/token/revoke/``) and when
their password changes (``set_password`` followed by ``save``, whoever does it). Each issue and
revocation is in the access log.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_save
from django.utils import timezone
from knox.models import AuthToken

from core.access import RequestLike, record_access
from core.models import AccessAction

#: How many characters of a key the access log keeps to tell tokens apart (never the secret).
KEY_HINT_LENGTH = 8


def issue_token(
    user: AbstractBaseUser, *, request: RequestLike | None = None
) -> tuple[AuthToken, str]:
    """A new token of ``user``: the stored row and the key, which exists only in this answer.

    The user's expired tokens are deleted first (core.api.authentication leaves them there)."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, key = AuthToken.objects.create(user=user)
    record_access(
        request if request is not None else user,
        AccessAction.TOKEN_CREATED,
        target=f"token {instance.token_key[:KEY_HINT_LENGTH]}",
        user=user,
        expiry=instance.expiry,
    )
    return instance, key


def revoke_tokens(
    user: AbstractBaseUser, *, reason: str, request: RequestLike | None = None
) -> int:
    """Delete every token of ``user``; return how many there were (recorded when any)."""
    tokens = AuthToken.objects.filter(user=user)
    hints = sorted(key[:KEY_HINT_LENGTH] for key in tokens.values_list("token_key", flat=True))
    if not hints:
        return 0
    tokens.delete()
    record_access(
        request if request is not None else user,
        AccessAction.TOKEN_REVOKED,
        target=", ".join(f"token {hint}" for hint in hints),
        user=user,
        reason=reason,
        count=len(hints),
    )
    return len(hints)


def _revoke_at_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None and user.is_authenticated:
        revoke_tokens(user, reason="logout", request=request)


def _revoke_at_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    # Django keeps the new raw password in `_password` from set_password() until the save that
    # stores it; a hash upgrade at login clears it first, so it revokes nothing.
    if not created and getattr(instance, "_password", None) is not None:
        revoke_tokens(instance, reason="password_changed")


def connect_signals() -> None:
    """Revoke at logout and at a password change (called once, from ``core.apps``)."""
    user_logged_out.connect(_revoke_at_logout, dispatch_uid="core.tokens.revoke_at_logout")
    post_save.connect(
        _revoke_at_password_change,
        sender=get_user_model(),
        dispatch_uid="core.tokens.revoke_at_password_change",
    )
