"""Rate limits on login and token endpoints, security headers and production settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.django_db


@pytest.fixture
def strict_rate(settings):
    settings.MOTORBAND_LOGIN_RATE = "3/min"
    cache.clear()
    yield
    cache.clear()


def test_login_form_is_rate_limited(client, users, strict_rate):
    for _ in range(3):
        response = client.post("/accounts/login/", {"username": "rater", "password": "wrong"})
        assert response.status_code == 200
    response = client.post("/accounts/login/", {"username": "rater", "password": "pw-Test-123!"})
    assert response.status_code == 429
    assert "Too many login attempts" in response.content.decode()
    assert int(response["Retry-After"]) > 0


def test_token_endpoint_is_rate_limited(client, users, strict_rate):
    for _ in range(3):
        assert (
            client.post("/api/v1/auth/token/", {"username": "rater", "password": "x"}).status_code
            == 400
        )
    response = client.post("/api/v1/auth/token/", {"username": "rater", "password": "pw-Test-123!"})
    assert response.status_code == 429


def test_security_headers(client, users):
    client.force_login(users["investigator"])
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_anonymous_access_to_pages_or_media(client):
    for path in ("/", "/analysis/", "/api/v1/subjects/", "/api/schema/", "/api/docs/"):
        response = client.get(path)
        assert response.status_code in (302, 401, 403), path
    assert client.get("/media/scans/x.nii.gz").status_code == 404  # media is never served directly


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "x" * 64 + "-production-like-key-for-the-check",
        "ALLOWED_HOSTS": "motorband.example.org",
        "MOTORBAND_VAR": str(tmp_path),
    }
    # The browser tests' conftest sets this for the test process only; a deployment never has it.
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = {**os.environ, "DEBUG": "false", "SECRET_KEY": "", "MOTORBAND_VAR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
