"""Top-level URLs: pages, accounts, admin, and the REST API under /api/."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.urls import include, path


def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """The icon's static URL, resolved per request (production's manifest storage names files
    only once collectstatic has run)."""
    return HttpResponsePermanentRedirect(static("motorband/favicon.svg"))


urlpatterns = [
    # Browsers ask for /favicon.ico whatever the page says: send them to the SVG icon.
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    # Failed logins are throttled by django-axes (motorband.ratelimit), here as everywhere.
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        auth_views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("api/", include("motorband.api.urls")),
    path("analysis/", include("analysis.urls")),
    path("queries/", include("queries.urls")),
    # Before imaging's reading pages, whose /reading/<code>/ would otherwise take these paths.
    path("reading/", include("analysis.review_urls")),
    path("reading/", include("imaging.urls")),
    path("", include("cohort.urls")),
    # After cohort's, whose subjects/<id>/visits/new/ the visit page's pattern would take.
    path("", include("imaging.visit_urls")),
]
