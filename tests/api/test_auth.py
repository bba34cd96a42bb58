"""Authentication: expiring, hashed, revocable token login; no anonymous access; schema behind a login."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from cohort import services
from tests.api.conftest import API

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"
NEW_PASSWORD = "a-New-passphrase-7"


def token_for(name: str, password: str = PASSWORD) -> str:
    response = APIClient().post(
        f"{API}auth/token/", {"username": name, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return str(response.json()["token"])


def authenticated(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_token_login_returns_a_token_that_authenticates(users: dict[str, Any]) -> None:
    client = APIClient()
    response = client.post(
        f"{API}auth/token/", {"username": "investigator", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    assert authenticated(body["token"]).get(f"{API}subjects/").status_code == 200


def test_the_database_holds_a_digest_never_the_key(users: dict[str, Any]) -> None:
    key = token_for("investigator")
    (stored,) = AuthToken.objects.filter(user=users["investigator"])
    assert stored.digest != key and key not in stored.digest
    assert stored.digest == hash_token(key)  # SHA-512 of the key
    assert len(stored.digest) == 128
    assert stored.token_key == key[: len(stored.token_key)] != key  # a lookup prefix only


def test_tokens_expire_after_the_configured_time(users: dict[str, Any], settings: Any) -> None:
    before = timezone.now()
    response = APIClient().post(
        f"{API}auth/token/", {"username": "investigator", "password": PASSWORD}, format="json"
    )
    expiry = dt.datetime.fromisoformat(response.json()["expiry"])
    assert dt.timedelta(hours=10) <= expiry - before < dt.timedelta(hours=10, minutes=1)

    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(hours=1)}
    response = APIClient().post(
        f"{API}auth/token/", {"username": "investigator", "password": PASSWORD}, format="json"
    )
    expiry = dt.datetime.fromisoformat(response.json()["expiry"])
    assert expiry - before < dt.timedelta(hours=1, minutes=1)


def test_an_expired_token_is_refused_and_deleted(users: dict[str, Any]) -> None:
    key = token_for("investigator")
    AuthToken.objects.filter(user=users["investigator"]).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )
    response = authenticated(key).get(f"{API}subjects/")
    assert response.status_code == 401
    assert not AuthToken.objects.filter(user=users["investigator"]).exists()


def test_other_expired_tokens_are_deleted_when_a_token_is_issued(users: dict[str, Any]) -> None:
    """A request checks only the token it presents (one query, no sweep of the user's other
    tokens); the user's expired tokens are deleted when a new one is issued."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    old = token_for("investigator")
    current = token_for("investigator")
    AuthToken.objects.filter(token_key=old[:15]).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )
    with CaptureQueriesContext(connection) as queries:
        assert authenticated(current).get(f"{API}sites/").status_code == 200
    token_queries = [q["sql"] for q in queries.captured_queries if "knox_authtoken" in q["sql"]]
    assert len(token_queries) == 1, token_queries
    assert AuthToken.objects.filter(user=users["investigator"]).count() == 2
    assert authenticated(old).get(f"{API}sites/").status_code == 401

    expired = token_for("investigator")
    AuthToken.objects.filter(token_key=expired[:15]).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )
    token_for("investigator")
    assert not AuthToken.objects.filter(token_key=expired[:15]).exists()
    assert AuthToken.objects.filter(user=users["investigator"]).count() == 2


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
    assert not AuthToken.objects.filter(user__username="gone").exists()


def test_a_bad_token_is_not_authenticated(users: dict[str, Any]) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get(f"{API}subjects/").status_code == 401


def test_revoke_logs_out_every_token_of_the_caller(users: dict[str, Any]) -> None:
    first, second = token_for("investigator"), token_for("investigator")
    other = token_for("data_manager")
    response = authenticated(first).post(f"{API}auth/token/revoke/")
    assert response.status_code == 200
    assert response.json() == {"revoked": 2}
    assert authenticated(first).get(f"{API}subjects/").status_code == 401
    assert authenticated(second).get(f"{API}subjects/").status_code == 401
    assert authenticated(other).get(f"{API}subjects/").status_code == 200
    assert APIClient().post(f"{API}auth/token/revoke/").status_code == 401


def test_a_session_can_revoke_its_users_tokens_and_stays(users: dict[str, Any]) -> None:
    key = token_for("investigator")
    client = APIClient()
    client.force_login(users["investigator"])
    assert client.post(f"{API}auth/token/revoke/").json() == {"revoked": 1}
    assert authenticated(key).get(f"{API}subjects/").status_code == 401
    assert client.get(f"{API}subjects/").status_code == 200


def test_logging_out_of_the_pages_revokes_the_tokens(client: Any, users: dict[str, Any]) -> None:
    key = token_for("investigator")
    assert client.login(username="investigator", password=PASSWORD)
    client.post("/accounts/logout/")
    assert authenticated(key).get(f"{API}subjects/").status_code == 401


def test_a_password_change_revokes_every_token(users: dict[str, Any]) -> None:
    keys = [token_for("investigator"), token_for("investigator")]
    unrelated = token_for("data_manager")
    user = users["investigator"]
    user.set_password(NEW_PASSWORD)
    user.save()
    for key in keys:
        assert authenticated(key).get(f"{API}subjects/").status_code == 401
    assert authenticated(unrelated).get(f"{API}subjects/").status_code == 200
    # Saving the user for anything else (the last login, a role) revokes nothing.
    fresh = token_for("investigator", NEW_PASSWORD)
    user.first_name = "Ines"
    user.save()
    services.study_user_save(username="investigator", role="investigator")
    assert authenticated(fresh).get(f"{API}subjects/").status_code == 200


def test_the_password_change_page_revokes_tokens(client: Any, users: dict[str, Any]) -> None:
    key = token_for("investigator")
    assert client.login(username="investigator", password=PASSWORD)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert authenticated(key).get(f"{API}subjects/").status_code == 401


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
    assert "/api/v1/auth/token/revoke/" in paths
    assert "/api/v1/access-log/" in paths
    assert "429" in paths["/api/v1/auth/token/"]["post"]["responses"]

    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    # Swagger UI is served from our own static files (drf-spectacular-sidecar): works offline.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert "cdn" not in html.lower()
