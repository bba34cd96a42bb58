"""Login throttling on django-axes: the lockout backend, a per-address limit, the lockout answers.

django-axes counts *failed* logins (its ``AccessAttempt`` rows, in the database so that every
gunicorn worker sees them) through Django's ``user_login_failed`` signal, wherever ``authenticate``
is called with the request: the login form, the admin and the token endpoint. An account locks
after ``AXES_FAILURE_LIMIT`` failures within ``AXES_COOLOFF_TIME`` (10 in 30 minutes by default).
What axes has no setting for is added here: one client address may fail at most
``MOTORBAND_LOGIN_ADDRESS_FAILURE_LIMIT`` times in the cool-off over all accounts (password
spraying), a limit well above one account's, so that a locked account never locks the colleagues
who share its proxy address. Good logins are never limited.

A refused login answers 429 with ``Retry-After``: JSON ``{"detail", "retry_after"}`` under /api/,
the page ``registration/too_many_attempts.html`` elsewhere (``lockout_response``, which axes'
middleware calls through ``AXES_LOCKOUT_CALLABLE``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone

#: Request attribute naming what is locked: "account" (axes' own lock) or "address".
LOCKOUT_SCOPE_ATTRIBUTE = "motorband_lockout_scope"


def _recent(request: HttpRequest, **lookup: Any) -> Any:
    attempts = AccessAttempt.objects.filter(**lookup)
    cool_off = get_cool_off(request)
    if cool_off is not None:
        attempts = attempts.filter(attempt_time__gte=timezone.now() - cool_off)
    return attempts


def address_failures(request: HttpRequest) -> int:
    """Failed logins from the request's client address (over all accounts) within the cool-off."""
    address = getattr(request, "axes_ip_address", None)
    if not address:
        return 0
    total = _recent(request, ip_address=address).aggregate(n=Sum("failures_since_start"))["n"]
    return int(total or 0)


class LoginLockoutBackend(AxesStandaloneBackend):
    """The first authentication backend: refuses a locked account (axes) or a client address
    over its limit, before any password is checked. Authenticates no one itself."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            # Not an HTTP login (a command, the test client's login()): nothing to throttle.
            return None
        super().authenticate(request, username=username, password=password, **kwargs)
        if (
            getattr(settings, "AXES_ENABLED", True)
            and address_failures(request) >= settings.MOTORBAND_LOGIN_ADDRESS_FAILURE_LIMIT
        ):
            request.axes_locked_out = True  # type: ignore[attr-defined]
            setattr(request, LOCKOUT_SCOPE_ATTRIBUTE, "address")
            raise AxesBackendPermissionDenied("Too many failed logins from this client address.")
        return None


def retry_after(request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
    """Seconds until the lock ends: the cool-off counted from the last failure that counts."""
    cool_off = get_cool_off(request) or timedelta(0)
    if getattr(request, LOCKOUT_SCOPE_ATTRIBUTE, "account") == "address":
        lookup = {"ip_address": getattr(request, "axes_ip_address", None)}
    else:
        lookup = {"username": get_client_username(request, credentials)}
    last = _recent(request, **lookup).aggregate(last=Max("attempt_time"))["last"]
    if last is None:
        return int(cool_off.total_seconds())
    return max(1, int((last + cool_off - timezone.now()).total_seconds()))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The answer to a login refused for too many failures (429, with Retry-After)."""
    scope = getattr(request, LOCKOUT_SCOPE_ATTRIBUTE, "account")
    wait = retry_after(request, credentials)
    minutes = max(1, -(-wait // 60))
    if scope == "address":
        message = (
            "Too many failed logins from your network address: logging in from it is paused "
            f"for {minutes} minute(s)."
        )
    else:
        message = (
            "Too many failed logins for this account: it is locked for "
            f"{minutes} minute(s). Try again later, or ask an administrator to unlock it."
        )
    response: HttpResponse
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": message, "retry_after": wait}, status=429)
    else:
        context = {"message": message, "minutes": minutes, "scope": scope}
        response = render(request, "registration/too_many_attempts.html", context, status=429)
    response["Retry-After"] = str(wait)
    return response
