"""Authentication: token login, no anonymous access, schema and docs behind a login."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from cohort import services
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"


def test_token_login_returns_a_token_that_authenticates(users: dict[str, Any]) -> None:
    client = APIClient()
    response = client.post(
        f"{API}auth/token/", {"username": "investigator", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert key == Token.objects.get(user=users["investigator"]).key

    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(f"{API}subjects/").status_code == 200


def test_token_login_refuses_wrong_password_and_inactive_users(users: dict[str, Any]) -> None:
    client = APIClient()
    wrong = client.post(
        f"{API}auth/token/", {"username": "admin", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 400
    assert "non_field_errors" in wrong.json()

    services.study_user_save(username="gone", role="coordinator", sites=["EDM"], password=PASSWORD)
    services.study_user_save(username="gone", role="coordinator", sites=["EDM"], is_active=False)
    inactive = client.post(
        f"{API}auth/token/", {"username": "gone", "password": PASSWORD}, format="json"
    )
    assert inactive.status_code == 400
    assert not Token.objects.filter(user__username="gone").exists()


def test_a_bad_token_is_not_authenticated(users: dict[str, Any]) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get(f"{API}subjects/").status_code == 401


@pytest.mark.parametrize(
    "path", ["sites/", "subjects/", "visits/", "umn-exams/", "alsfrs/", "events/"]
)
def test_no_anonymous_access(path: str, users: dict[str, Any]) -> None:
    response = APIClient().get(f"{API}{path}")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Token"


def test_session_authentication_works(users: dict[str, Any]) -> None:
    client = APIClient()
    assert client.login(username="coordinator", password=PASSWORD)
    response = client.get(f"{API}sites/")
    assert response.status_code == 200
    assert [s["code"] for s in response.json()["results"]] == ["EDM"]


def test_schema_and_docs_need_a_login(api: Any) -> None:
    anonymous = api(None)
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    assert anonymous.get("/api/docs/").status_code in (401, 403)

    client = api("rater")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("sites", "subjects", "visits", "umn-exams", "alsfrs", "events"):
        assert f"/api/v1/{path}/" in paths
        assert f"/api/v1/{path}/{{{'code' if path == 'sites' else 'id'}}}/history/" in paths
    assert "/api/v1/auth/token/" in paths

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI is served from our own static files (drf-spectacular-sidecar): works offline.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
