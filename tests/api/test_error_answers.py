"""Malformed or oversized bodies are answered in JSON with words, never a 500 or HTML (issue 20)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import API

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'{"username": ["a"], "password": {"x": 1}}', "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"username=a&password=b", "text/plain"),
        (b"--x\r\nbroken multipart", "multipart/form-data; boundary=x"),
    ],
)
def test_malformed_token_bodies_are_a_json_400(
    users: dict[str, Any], body: bytes, content_type: str
) -> None:
    response = APIClient().generic("POST", f"{API}auth/token/", body, content_type=content_type)
    assert response.status_code in (400, 415), response.content
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json() or response.json()


def test_an_oversized_token_body_is_a_json_413(users: dict[str, Any], settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = b'{"username": "' + b"a" * 4096 + b'", "password": "x"}'
    response = APIClient().generic(
        "POST", f"{API}auth/token/", body, content_type="application/json"
    )
    assert response.status_code == 413, response.content
    assert response["Content-Type"].startswith("application/json")
    assert "too large" in response.json()["detail"]
