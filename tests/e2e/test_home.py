"""A real browser logs in and sees the study at a glance."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from cohort.demo import DEMO_PASSWORD, build_demo, create_demo_users

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_investigator_logs_in_and_sees_the_overview(page, live_server, login, screenshot):
    build_demo(seed=3, extensions=False)
    create_demo_users()
    login("investigator", DEMO_PASSWORD)
    expect(page.get_by_role("heading", name="Study at a glance")).to_be_visible()
    expect(page.locator("table.grid").first.locator("tbody tr")).to_have_count(3)
    screenshot("investigator-home")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")


def test_wrong_password_shows_an_error(page, live_server, login, users):
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill("investigator")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
