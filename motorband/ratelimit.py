"""Rate limiting of login and token attempts per client address (fixed window in the cache)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.throttling import BaseThrottle

PERIODS = {"s": 1, "sec": 1, "min": 60, "h": 3600, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """'10/min' -> (10 attempts, 60 seconds)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip()]


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR", "unknown")


def attempt(scope: str, key: str, rate: str | None = None) -> tuple[bool, int]:
    """Count one attempt; return (allowed, seconds until the window resets)."""
    limit, period = parse_rate(rate or settings.MOTORBAND_LOGIN_RATE)
    window = int(time.time() // period)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    cache.add(cache_key, 0, timeout=period + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=period + 1)
        count = 1
    wait = period - int(time.time() % period)
    return count <= limit, wait


class LoginThrottle(BaseThrottle):
    """DRF throttle of the token endpoint: the same budget as the login form."""

    def allow_request(self, request: Any, view: Any) -> bool:
        allowed, self._wait = attempt("login", client_address(request))
        return allowed

    def wait(self) -> float | None:
        return float(getattr(self, "_wait", 60))


class RateLimitedLoginView(auth_views.LoginView):
    """The login form, refusing with 429 after too many attempts from one address."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        allowed, wait = attempt("login", client_address(request))
        if not allowed:
            response = render(
                request, "registration/too_many_attempts.html", {"wait": wait}, status=429
            )
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)
