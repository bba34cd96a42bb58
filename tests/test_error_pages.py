"""Styled 403, 404 and 500 pages, and the favicon."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.test import Client


def test_403_and_404_pages_explain_in_words(users):
    client = Client()
    client.force_login(users["rater"])
    forbidden = client.get("/subjects/")
    assert forbidden.status_code == 403
    text = forbidden.content.decode()
    assert "Not allowed for your study role" in text and "MotorBand" in text
    missing = client.get("/no-such-page/")
    assert missing.status_code == 404
    assert "There is no such page or record" in missing.content.decode()


def test_500_page_renders_without_a_request_context():
    text = render_to_string("500.html")
    assert "Something went wrong on the server" in text


def test_the_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("motorband/favicon.svg")
