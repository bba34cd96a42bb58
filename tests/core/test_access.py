"""The access log (core.access, core.models.AccessEvent): what it records, that nothing changes it,
who reads it (API, admin) and its CSV export."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from core.access import record_access
from core.admin import AccessEventAdmin
from core.models import AccessAction, AccessEvent, AppendOnlyError

pytestmark = pytest.mark.django_db

API = "/api/v1/"
LOG = f"{API}access-log/"
PASSWORD = "pw-Test-123!"
CLIENT = {"REMOTE_ADDR": "192.0.2.10"}


def events(action: str) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(action=action).order_by("id"))


# --- what is recorded ---------------------------------------------------------------------------


def test_form_login_failed_login_and_logout_are_recorded(
    client: Any, users: dict[str, Any]
) -> None:
    client.post("/accounts/login/", {"username": "rater", "password": "wrong"}, **CLIENT)
    client.post("/accounts/login/", {"username": "nobody", "password": "wrong"}, **CLIENT)
    client.post("/accounts/login/", {"username": "rater", "password": PASSWORD}, **CLIENT)
    client.post("/accounts/logout/", **CLIENT)

    known, unknown = events(AccessAction.LOGIN_FAILED)
    assert (known.user, known.username, known.client_address) == (
        users["rater"],
        "rater",
        "192.0.2.10",
    )
    assert known.detail["path"] == "/accounts/login/"
    assert (unknown.user, unknown.username) == (None, "nobody")
    (login,) = events(AccessAction.LOGIN)
    assert (login.user, login.username, login.client_address) == (
        users["rater"],
        "rater",
        "192.0.2.10",
    )
    (logout,) = events(AccessAction.LOGOUT)
    assert (logout.user, logout.client_address) == (users["rater"], "192.0.2.10")
    assert known.when <= login.when <= logout.when <= timezone.now()


def test_token_login_and_revocation_are_recorded(users: dict[str, Any]) -> None:
    client = APIClient()
    client.post(
        f"{API}auth/token/", {"username": "rater", "password": "x"}, format="json", **CLIENT
    )
    key = client.post(
        f"{API}auth/token/", {"username": "rater", "password": PASSWORD}, format="json", **CLIENT
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    client.post(f"{API}auth/token/revoke/", **CLIENT)

    assert [e.action for e in AccessEvent.objects.order_by("id")] == [
        "login_failed",
        "login",
        "token_created",
        "logout",
        "token_revoked",
    ]
    for event in AccessEvent.objects.all():
        assert (event.user, event.username, event.client_address) == (
            users["rater"],
            "rater",
            "192.0.2.10",
        )
    (created,) = events(AccessAction.TOKEN_CREATED)
    (revoked,) = events(AccessAction.TOKEN_REVOKED)
    assert created.target == revoked.target == f"token {key[:8]}"
    assert key not in json.dumps(created.detail) and "expiry" in created.detail
    assert revoked.detail == {"reason": "logout", "count": 1}


def test_a_password_change_records_the_revoked_tokens(users: dict[str, Any]) -> None:
    client = APIClient()
    client.post(f"{API}auth/token/", {"username": "rater", "password": PASSWORD}, format="json")
    users["rater"].set_password("a-New-passphrase-7")
    users["rater"].save()
    (revoked,) = events(AccessAction.TOKEN_REVOKED)
    assert (revoked.user, revoked.detail["reason"]) == (users["rater"], "password_changed")
    assert revoked.client_address is None  # no request: a command or the admin's shell


def test_record_access_from_a_request_a_user_or_the_system(users: dict[str, Any], rf: Any) -> None:
    request = rf.get("/analysis/exports/3/download/", REMOTE_ADDR="2001:db8::7")
    request.user = users["data_manager"]
    event = record_access(request, AccessAction.DOWNLOAD, target="release 3", format="csv")
    assert (event.user, event.username, event.client_address) == (
        users["data_manager"],
        "data_manager",
        "2001:db8::7",
    )
    assert event.detail == {"format": "csv"}

    by_user = record_access(users["admin"], "export", target="release 4", when=dt.date(2026, 1, 2))
    assert (by_user.username, by_user.client_address) == ("admin", None)
    assert AccessEvent.objects.get(pk=by_user.pk).detail == {"when": "2026-01-02"}

    system = record_access(None, AccessAction.VIEW_IDENTIFIABLE, target="subject EDM-0001")
    assert (system.user, system.username) == (None, "")

    with pytest.raises(ValueError):
        record_access(None, "peeked")


def test_deleting_an_account_keeps_its_events(users: dict[str, Any]) -> None:
    event = record_access(users["rater"], AccessAction.LOGIN)
    user_id = users["rater"].pk
    users["rater"].delete()
    kept = AccessEvent.objects.get(pk=event.pk)
    assert (kept.user_id, kept.username) == (user_id, "rater")


# --- append-only ------------------------------------------------------------------------------


def test_an_event_cannot_be_changed_or_deleted_through_the_model(users: dict[str, Any]) -> None:
    event = record_access(users["rater"], AccessAction.LOGIN)
    event.username = "someone_else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).update(username="someone_else")
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.all().delete()
    with pytest.raises(AppendOnlyError):
        AccessEvent.objects.bulk_update([event], ["username"])
    assert AccessEvent.objects.get(pk=event.pk).username == "rater"


def test_the_database_refuses_changes_on_postgresql(users: dict[str, Any]) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the append-only trigger exists on PostgreSQL only (make test-postgres)")
    event = record_access(users["rater"], AccessAction.LOGIN)
    table = AccessEvent._meta.db_table
    for sql in (
        f"UPDATE {table} SET username = 'someone_else' WHERE id = %s",
        f"DELETE FROM {table} WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [event.pk])
    # Writing a row back unchanged (loaddata of a backup) is no change and passes.
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET username = username WHERE id = %s", [event.pk])
    assert AccessEvent.objects.get(pk=event.pk).username == "rater"


def test_the_admin_shows_events_read_only_even_to_superusers(
    client: Any, users: dict[str, Any], rf: Any
) -> None:
    event = record_access(users["rater"], AccessAction.LOGIN)
    client.force_login(users["admin"])
    base = "/admin/core/accessevent/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{event.pk}/change/").status_code == 200  # view only
    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}add/", {"username": "forged", "action": "login"}).status_code == 403
    assert client.post(f"{base}{event.pk}/change/", {"username": "x"}).status_code == 403
    assert client.post(f"{base}{event.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = client.post(base, {"action": "delete_selected", "_selected_action": [event.pk]})
    assert bulk.status_code in (200, 302)  # no such action offered: nothing happens
    assert AccessEvent.objects.filter(pk=event.pk, username="rater").exists()

    request = rf.get(base)
    request.user = users["admin"]
    model_admin = AccessEventAdmin(AccessEvent, admin.site)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert "delete_selected" not in model_admin.get_actions(request)


# --- reading it: API and CSV --------------------------------------------------------------------


@pytest.fixture
def logged(users: dict[str, Any]) -> list[AccessEvent]:
    made = [
        record_access(users["rater"], AccessAction.LOGIN),
        record_access(None, AccessAction.LOGIN_FAILED, username="mallory"),
        record_access(users["data_manager"], AccessAction.EXPORT, target="release 1"),
    ]
    # Three days ago (inserting with a time of one's choosing is a test set-up, not a change).
    old = AccessEvent.objects.create(
        when=timezone.now() - dt.timedelta(days=3),
        user=users["rater"],
        username="rater",
        action=AccessAction.DOWNLOAD,
        target="scan 9",
    )
    return [*made, old]


def test_the_api_lists_events_to_data_managers_and_admins(
    api: Any, logged: list[AccessEvent]
) -> None:
    for role in ("data_manager", "admin"):
        response = api(role).get(LOG)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"count", "next", "previous", "results"}
        assert body["count"] == 4
        newest = body["results"][0]
        assert set(newest) == {
            "id",
            "when",
            "user",
            "username",
            "action",
            "target",
            "detail",
            "client_address",
        }
    for role in ("investigator", "coordinator", "rater"):
        assert api(role).get(LOG).status_code == 403
    assert api(None).get(LOG).status_code == 401


def test_the_api_filters_by_action_user_and_date(api: Any, logged: list[AccessEvent]) -> None:
    client = api("admin")

    def usernames(query: str) -> list[str]:
        response = client.get(f"{LOG}?{query}")
        assert response.status_code == 200, response.content
        return [e["username"] for e in response.json()["results"]]

    assert usernames("action=login_failed") == ["mallory"]
    assert sorted(usernames("user=rater")) == ["rater", "rater"]
    today = timezone.localdate()
    before = (today - dt.timedelta(days=3)).isoformat()
    assert len(usernames(f"date={today.isoformat()}")) == 3
    assert usernames(f"date={before}") == ["rater"]
    assert len(usernames(f"date_after={before}")) == 4
    assert usernames(f"date_before={(today - dt.timedelta(days=1)).isoformat()}") == ["rater"]
    assert usernames("action=export&page_size=1") == ["data_manager"]
    assert client.get(f"{LOG}?action=peeked").status_code == 400


def test_the_api_cannot_write_the_log(api: Any, logged: list[AccessEvent]) -> None:
    client = api("admin")
    event = logged[0]
    assert client.post(LOG, {"action": "login"}, format="json").status_code == 405
    assert client.patch(f"{LOG}{event.pk}/", {"username": "x"}, format="json").status_code == 405
    assert client.delete(f"{LOG}{event.pk}/").status_code == 405
    assert client.get(f"{LOG}{event.pk}/").json()["username"] == "rater"


def test_export_access_log_writes_csv_and_logs_itself(
    tmp_path: Path, logged: list[AccessEvent]
) -> None:
    target = tmp_path / "access.csv"
    out = io.StringIO()
    call_command("export_access_log", str(target), stdout=out, stderr=io.StringIO())
    assert "4 access events written" in out.getvalue()
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert [r["action"] for r in rows] == ["download", "login", "login_failed", "export"]
    assert rows[2]["username"] == "mallory" and rows[2]["user_id"] == ""
    assert json.loads(rows[3]["detail"]) == {}
    (logged_export,) = AccessEvent.objects.filter(target="access log")
    assert logged_export.action == AccessAction.EXPORT
    assert logged_export.detail["rows"] == 4

    only = tmp_path / "downloads.csv"
    call_command(
        "export_access_log",
        str(only),
        "--action",
        "download",
        "--user",
        "rater",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    assert [r["target"] for r in csv.DictReader(only.open(encoding="utf-8"))] == ["scan 9"]
    assert User.objects.filter(username="rater").exists()
