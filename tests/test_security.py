"""Login throttling and lockout (django-axes), password policy, idle sessions, security headers and
production settings."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import AccessAction, AccessEvent
from motorband.settings import proxy_header_order

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "/api/v1/auth/token/"
PASSWORD = "pw-Test-123!"
PROXY = "10.0.0.2"  # the reverse proxy's own address: REMOTE_ADDR of every request behind it
pytestmark = pytest.mark.django_db


def token_login(username: str, password: str, **headers: str) -> Any:
    return APIClient().post(
        TOKEN, {"username": username, "password": password}, format="json", **headers
    )


def form_login(client: Any, username: str, password: str, **headers: str) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, **headers)


@pytest.fixture
def behind_proxy(settings: Any) -> dict[str, str]:
    """As with MOTORBAND_TRUSTED_PROXY_HEADER=X-Forwarded-For: every request comes from the proxy,
    which appends the client's address to X-Forwarded-For. ``behind_proxy[client]`` are the
    request headers of that client."""
    settings.MOTORBAND_TRUSTED_PROXY_HEADER = "X-Forwarded-For"
    settings.AXES_IPWARE_META_PRECEDENCE_ORDER = proxy_header_order("X-Forwarded-For")

    class Clients(dict[str, Any]):
        def __missing__(self, client: str) -> dict[str, str]:
            return {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": client}

    return Clients()


# --- throttling: failures only, per account and per client address -----------------------------


def test_eleven_good_logins_in_a_minute_succeed(client: Any, users: dict[str, Any]) -> None:
    for _ in range(11):
        assert token_login("rater", PASSWORD).status_code == 200
    for _ in range(11):
        assert form_login(client, "rater", PASSWORD).status_code == 302
        client.logout()


def test_ten_failures_lock_that_account_only(users: dict[str, Any]) -> None:
    for _ in range(9):
        assert token_login("rater", "wrong-password").status_code == 400
    tenth = token_login("rater", "wrong-password")
    assert tenth.status_code == 429
    assert "locked" in tenth.json()["detail"]
    assert 0 < int(tenth["Retry-After"]) <= 30 * 60
    assert tenth.json()["retry_after"] == int(tenth["Retry-After"])

    # Locked: the right password does not help, on the API or the form, until the cool-off ends.
    assert token_login("rater", PASSWORD).status_code == 429
    # Another account from the same address is not affected.
    assert token_login("investigator", PASSWORD).status_code == 200
    assert token_login("coordinator", "one-wrong-try").status_code == 400


def test_the_login_form_shows_the_lockout_in_words(client: Any, users: dict[str, Any]) -> None:
    for _ in range(9):
        assert form_login(client, "rater", "wrong-password").status_code == 200
    response = form_login(client, "rater", "wrong-password")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins for this account" in page
    assert "locked for 30 minute(s)" in page
    assert form_login(client, "rater", PASSWORD).status_code == 429
    assert int(response["Retry-After"]) > 0
    # The admin's login form is the same authentication, locked as well.
    assert client.post(
        "/admin/login/", {"username": "rater", "password": PASSWORD}
    ).status_code == (429)


def test_a_good_login_forgets_the_accounts_failures(users: dict[str, Any]) -> None:
    for _ in range(9):
        token_login("rater", "wrong-password")
    assert token_login("rater", PASSWORD).status_code == 200
    for _ in range(9):
        assert token_login("rater", "wrong-password").status_code == 400
    assert token_login("rater", PASSWORD).status_code == 200


def test_the_lock_ends_after_the_cool_off(users: dict[str, Any], settings: Any) -> None:
    for _ in range(10):
        token_login("rater", "wrong-password")
    assert token_login("rater", PASSWORD).status_code == 429
    # Refused attempts during the lock do not prolong it: 30 minutes after the last failure...
    AccessAttempt.objects.filter(username="rater").update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - dt.timedelta(seconds=1)
    )
    assert token_login("rater", PASSWORD).status_code == 200


def test_two_accounts_behind_one_proxy_address(
    users: dict[str, Any], behind_proxy: dict[str, Any]
) -> None:
    alice, bob = behind_proxy["203.0.113.5"], behind_proxy["198.51.100.7"]
    for _ in range(10):
        token_login("rater", "wrong-password", **alice)
    assert token_login("rater", PASSWORD, **alice).status_code == 429
    # The lock is the account's: the colleague behind the same proxy logs in, from either client.
    assert token_login("investigator", PASSWORD, **bob).status_code == 200
    assert token_login("investigator", PASSWORD, **alice).status_code == 200
    # Failures were counted against the client's address, never the proxy's.
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}
    failed = AccessEvent.objects.filter(action=AccessAction.LOGIN_FAILED)
    assert set(failed.values_list("client_address", flat=True)) == {"203.0.113.5"}


def test_a_client_cannot_choose_its_address_by_prefixing_the_header(
    users: dict[str, Any], behind_proxy: dict[str, Any]
) -> None:
    # The proxy appends the real address after whatever the client sent: the right-most counts.
    forged = {"REMOTE_ADDR": PROXY, "HTTP_X_FORWARDED_FOR": "192.0.2.99, 203.0.113.5"}
    token_login("rater", "wrong-password", **forged)
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.5"]


def test_one_client_address_has_its_own_limit_over_all_accounts(
    users: dict[str, Any], behind_proxy: dict[str, Any], settings: Any
) -> None:
    settings.MOTORBAND_LOGIN_ADDRESS_FAILURE_LIMIT = 5
    sprayer, colleague = behind_proxy["203.0.113.66"], behind_proxy["198.51.100.7"]
    for name in ("rater", "investigator", "coordinator", "coord_tor", "admin"):
        assert token_login(name, "Summer2026!", **sprayer).status_code == 400
    refused = token_login("data_manager", PASSWORD, **sprayer)
    assert refused.status_code == 429
    assert "network address" in refused.json()["detail"]
    # No account is locked: from another address behind the same proxy everyone logs in.
    for name in ("rater", "data_manager"):
        assert token_login(name, PASSWORD, **colleague).status_code == 200


def test_the_proxy_header_setting_comes_from_the_environment(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MOTORBAND_TRUSTED_PROXY_HEADER": "X-Real-IP",
        "MOTORBAND_VAR": str(tmp_path),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "--no-imports",
            "-c",
            "from django.conf import settings; print(settings.AXES_IPWARE_META_PRECEDENCE_ORDER)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "('HTTP_X_REAL_IP', 'REMOTE_ADDR')"
    assert proxy_header_order("") == ("REMOTE_ADDR",)


# --- passwords and sessions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("Sh0rt-pass", "password_too_short"),
        ("password1234", "password_too_common"),
        ("830271946551", "password_entirely_numeric"),
        ("investigator-2026", "password_too_similar"),
    ],
)
def test_weak_passwords_are_refused(users: dict[str, Any], password: str, code: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_password(password, users["investigator"])
    assert code in {error.code for error in refused.value.error_list}


def test_a_strong_password_is_accepted(users: dict[str, Any]) -> None:
    validate_password("violet-Harbour-lantern-9", users["investigator"])


def test_the_password_change_form_refuses_a_weak_password(
    client: Any, users: dict[str, Any]
) -> None:
    client.force_login(users["investigator"])
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "motorband", "new_password2": "motorband"},
    )
    assert response.status_code == 200
    assert "at least 12 characters" in response.content.decode()
    users["investigator"].refresh_from_db()
    assert users["investigator"].check_password(PASSWORD)


def test_sessions_end_after_thirty_idle_minutes(
    client: Any, users: dict[str, Any], settings: Any
) -> None:
    assert settings.SESSION_COOKIE_AGE == 30 * 60 and settings.SESSION_SAVE_EVERY_REQUEST
    client.force_login(users["investigator"])
    key = client.session.session_key
    # Each request renews the session for another 30 minutes from now.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + dt.timedelta(minutes=1)
    )
    assert client.get("/").status_code == 200
    renewed = Session.objects.get(session_key=key).expire_date
    assert renewed > timezone.now() + dt.timedelta(minutes=29)
    # Idle past the age: the session is gone and the pages ask for a login again.
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- headers and production settings ------------------------------------------------------------


def test_security_headers(client: Any, users: dict[str, Any]) -> None:
    client.force_login(users["investigator"])
    response = client.get("/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_anonymous_access_to_pages_or_media(client: Any) -> None:
    for path in ("/", "/analysis/", "/api/v1/subjects/", "/api/schema/", "/api/docs/"):
        response = client.get(path)
        assert response.status_code in (302, 401, 403), path
    assert client.get("/media/scans/x.nii.gz").status_code == 404  # media is never served directly


def test_deploy_check_is_clean_with_production_settings(tmp_path: Path) -> None:
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


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
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
