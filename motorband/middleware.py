"""Request and response guards: NUL characters refused, privacy headers on every answer.

``RejectNulCharactersMiddleware`` refuses NUL characters in URLs, query strings and form/JSON bodies
before they reach a database.

PostgreSQL cannot store or even compare text holding NUL (0x00): a lookup with one raises a
DataError (a 500). No study value legitimately holds one, so such requests are bad input: 404 when
the path holds it (no record can have that key), 400 otherwise. Uploaded files are not inspected.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control

NUL = "\x00"


def _has_nul(values: list[str]) -> bool:
    return any(NUL in value for value in values)


class RejectNulCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if NUL in request.path:
            return self._refuse(request, 404, "Not found.")
        query = [v for key in request.GET for v in [key, *request.GET.getlist(key)]]
        if _has_nul(query):
            return self._refuse(request, 400, "The query string holds a NUL character.")
        content_type = request.content_type or ""
        if request.method in ("POST", "PUT", "PATCH"):
            try:
                if content_type == "application/json" and b"\\u0000" in request.body:
                    return self._refuse(request, 400, "The request body holds a NUL character.")
                if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
                    fields = [v for key in request.POST for v in [key, *request.POST.getlist(key)]]
                    if _has_nul(fields):
                        return self._refuse(request, 400, "A form field holds a NUL character.")
            except (RequestDataTooBig, TooManyFieldsSent):
                return self._refuse(
                    request, 413, "The request body is too large; send less data per request."
                )
        return self.get_response(request)

    @staticmethod
    def _refuse(request: HttpRequest, status: int, message: str) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": message}, status=status)
        return HttpResponse(message, status=status, content_type="text/plain")


# --- privacy headers ----------------------------------------------------------------------------

#: Scripts and styles come from this server only (no CDN, no inline script). Inline styles stay
#: allowed: templates and Plotly set style attributes. NiiVue draws images from data: and blob:
#: URLs; Swagger UI (/api/docs/) shows data: icons. Nothing may frame the pages or receive a form.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self' data: blob:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


class PrivacyHeadersMiddleware:
    """``Cache-Control: no-store`` and a Content-Security-Policy on every answer of the application.

    Pages and API answers hold study data: no browser or proxy cache may keep them (the back button
    after a logout, a shared computer). An answer a view marks ``public`` stays cacheable (Plotly.js);
    static files never reach this middleware (WhiteNoise, before it, serves them).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "public" not in response.get("Cache-Control", "").lower():
            patch_cache_control(response, no_store=True)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response
