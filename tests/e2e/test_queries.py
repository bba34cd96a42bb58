"""A data query in a real browser: the data manager raises it on a visit's date from the visit page,
the site's coordinator finds it on the home page, corrects the date and answers, and the data
manager closes it. Screenshots of every step."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from cohort import services
from queries.models import DataQuery
from tests.factories import alsfrs_items, make_subject, make_visit, umn_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"
MESSAGE = "The V2 date differs from the MRI session date (2025-05-14): please check the source."


@pytest.fixture
def study(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    subject = make_subject(study_id="EDM-0001", site=sites["EDM"])
    visits = {code: make_visit(subject, code) for code in ("V1", "V2")}
    for visit in visits.values():
        services.umn_exam_save(user=None, visit=visit, items=umn_items(3))
        services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q8=3))
    make_subject(study_id="TOR-0001", site=sites["TOR"])
    return {"subject": subject, **visits}


def test_a_query_from_opening_to_closing(
    page: Any, live_server: Any, login: Any, screenshot: Any, study: Any
) -> None:
    url = live_server.url

    # The data manager raises a query on the V2 date from the visit page.
    login("data_manager", PASSWORD)
    page.goto(f"{url}/subjects/EDM-0001/visits/V2/")
    card = page.locator("#queries")
    expect(card).to_contain_text("No open query on this visit.")
    screenshot("data-manager-visit-raise-link")
    card.get_by_role("link", name="the visit", exact=True).click()
    expect(page.get_by_role("heading", name=re.compile("^Raise a query"))).to_be_visible()
    page.get_by_label("Field (required)").select_option("date")
    page.get_by_label("Message to the site").fill(MESSAGE)
    screenshot("data-manager-query-form")
    page.get_by_role("button", name="Open the query").click()
    query = DataQuery.objects.get()
    page.wait_for_url(f"{url}/queries/{query.pk}/")
    expect(page.locator("ul.messages")).to_contain_text(f"Query {query.pk} opened")
    expect(page.get_by_role("heading", name=f"Query {query.pk} Open")).to_be_visible()
    expect(page.get_by_test_id("query-value")).to_have_text("2025-05-12")
    screenshot("data-manager-query-opened")
    page.get_by_role("button", name="Log out").click()

    # The coordinator sees it on the home page, corrects the date and answers.
    login("coordinator", PASSWORD)
    home = page.locator("#queries-home")
    expect(home.get_by_role("heading", name="Open data queries 1")).to_be_visible()
    expect(home).to_contain_text(MESSAGE[:60])
    screenshot("coordinator-home-queries")
    home.get_by_role("link", name=f"Query {query.pk}").click()
    page.wait_for_url(f"{url}/queries/{query.pk}/")
    page.get_by_role("link", name="Correct the value").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/visits/V2/edit/")
    page.get_by_label("Visit date").fill("2025-05-14")
    page.get_by_label("Reason for the change").fill(f"Query {query.pk}: date from the source.")
    page.get_by_role("button", name="Save visit").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/visits/V2/")
    visit_queries = page.locator("#queries")
    expect(visit_queries).to_contain_text(MESSAGE[:60])
    screenshot("coordinator-visit-with-query")
    visit_queries.get_by_role("link", name=f"Query {query.pk}").click()
    expect(page.get_by_test_id("query-value")).to_have_text("2025-05-14")
    page.get_by_label("Your answer").fill("Corrected to 2025-05-14 from the MRI log.")
    screenshot("coordinator-query-answer")
    page.get_by_role("button", name="Send the answer").click()
    expect(page.locator("ul.messages")).to_contain_text(f"Query {query.pk} answered")
    expect(page.get_by_role("heading", name=f"Query {query.pk} Answered")).to_be_visible()
    expect(page.locator("#close-form")).to_have_count(0)
    page.goto(f"{url}/")
    expect(page.locator("#queries-home")).to_contain_text("No open query: nothing to answer.")
    page.get_by_role("button", name="Log out").click()

    # The data manager reviews the answer and closes the query.
    login("data_manager", PASSWORD)
    review = page.locator("#queries-home")
    expect(review.get_by_role("heading", name="Answered queries to review 1")).to_be_visible()
    expect(review).to_contain_text("Corrected to 2025-05-14")
    screenshot("data-manager-home-review")
    review.get_by_role("link", name=f"Query {query.pk}").click()
    expect(page.locator("#answer-form")).to_have_count(0)  # the author reviews, not answers
    expect(page.locator("#reopen-form")).to_be_visible()
    screenshot("data-manager-query-review")
    page.get_by_role("button", name="Close the query").click()
    expect(page.locator("ul.messages")).to_contain_text(f"Query {query.pk} closed.")
    expect(page.get_by_role("heading", name=f"Query {query.pk} Closed")).to_be_visible()
    trail = page.locator("#trail tbody tr")
    expect(trail).to_have_count(3)
    expect(trail.nth(2)).to_contain_text("answer accepted")
    screenshot("data-manager-query-closed")

    # The list, filtered, and its CSV.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queries").click()
    page.get_by_label("Status").select_option("closed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.queries tbody tr")).to_have_count(1)
    screenshot("data-manager-query-list")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == "motorband-queries.csv"
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Corrected to 2025-05-14" in text and ",closed," in text
