"""The REST API under /api/: version 1 resources of every app, token login, schema and docs."""

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from motorband.api.views import TokenObtainView, TokenRevokeView, api_not_found

# Each app exposes its routes in `<app>/api/urls.py` (urlpatterns and an `app_name`, e.g. a
# SimpleRouter's urls), mounted under the prefix given here. Add each app's module as it lands:
#   imaging: scans/, quantifications/ (reads/ with the reads issue);
#   analysis: progression/, survival/, diagnostic/, plots/<name>/; exports/ (at v1/, contract.md).
APP_API_URLCONFS: list[tuple[str, str]] = [
    ("v1/", "cohort.api.urls"),
    ("v1/", "imaging.api.urls"),
    ("v1/", "analysis.api.reads_urls"),
    ("v1/analysis/", "analysis.api.urls"),
    ("v1/", "analysis.api.exports_urls"),
    ("v1/", "core.api.urls"),  # access-log/
    ("v1/", "queries.api.urls"),  # queries/
]

urlpatterns = [
    path("v1/auth/token/", TokenObtainView.as_view(), name="api-token"),
    path("v1/auth/token/revoke/", TokenRevokeView.as_view(), name="api-token-revoke"),
    *(path(prefix, include(urlconf)) for prefix, urlconf in APP_API_URLCONFS),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: the page has no inline script
    # (motorband.middleware's Content-Security-Policy allows none).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Last: anything else under /api/ answers a JSON 404, like a missing record does.
    re_path(r"", api_not_found),
]
