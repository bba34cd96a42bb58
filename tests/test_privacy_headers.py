"""Privacy headers: no answer holding study data is cached, every page has a Content-Security-Policy
that allows no inline script, and nothing in the pages leads to Plotly's cloud."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from motorband.middleware import CONTENT_SECURITY_POLICY

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


def _directives(policy: str) -> dict[str, list[str]]:
    return {
        name: values
        for name, *values in (part.split() for part in policy.split(";") if part.strip())
    }


def test_the_policy_allows_scripts_from_this_server_only() -> None:
    policy = _directives(CONTENT_SECURITY_POLICY)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:"]
    assert "'unsafe-eval'" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize(
    ("who", "path"),
    [
        (None, "/accounts/login/"),
        ("coordinator", "/"),
        ("coordinator", "/subjects/"),
        ("investigator", "/analysis/"),
        ("coordinator", "/api/v1/subjects/"),
        ("coordinator", "/api/v1/nothing-here/"),
        ("coordinator", "/analysis/"),  # a 403 page
        ("admin", "/admin/"),
    ],
)
def test_pages_and_api_answers_are_not_stored_and_carry_the_policy(
    users: dict[str, Any], who: str | None, path: str
) -> None:
    client = Client()
    if who is not None:
        client.force_login(users[who])
    response = client.get(path)
    assert "no-store" in response["Cache-Control"], path
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


def test_plotly_and_static_files_stay_cacheable(users: dict[str, Any]) -> None:
    client = Client()
    client.force_login(users["investigator"])
    plotly = client.get("/analysis/plotly.min.js")
    assert plotly.status_code == 200
    assert "public" in plotly["Cache-Control"] and "no-store" not in plotly["Cache-Control"]
    static = client.get("/static/analysis/figures.js")
    if static.status_code == 200:  # served by WhiteNoise, before any view or middleware of ours
        assert "no-store" not in static.get("Cache-Control", "")


def test_the_api_docs_have_no_inline_script(users: dict[str, Any]) -> None:
    client = Client()
    client.force_login(users["investigator"])
    page = client.get("/api/docs/").content.decode()
    assert not _inline_scripts(page)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()


def _inline_scripts(html: str) -> list[str]:
    """Script elements with code in the page (a ``src`` or a JSON data block is no inline code)."""
    found = []
    for attributes, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S):
        if "src=" in attributes or "application/json" in attributes:
            continue
        if body.strip():
            found.append(body.strip()[:80])
    return found


def test_templates_hold_no_inline_script_or_event_handler() -> None:
    for template in sorted((ROOT / "templates").rglob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert not _inline_scripts(text), template
        assert not re.search(r"\son[a-z]+\s*=", text), template
        assert "javascript:" not in text, template


def test_plotly_modebar_has_no_cloud_link() -> None:
    figures = (ROOT / "static" / "analysis" / "figures.js").read_text(encoding="utf-8")
    assert "displaylogo: false" in figures
    assert "showSendToCloud: false" in figures
    assert '"sendChartToCloud"' in figures
