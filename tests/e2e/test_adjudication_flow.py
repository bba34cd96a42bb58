"""From assignment to analysis in a real browser: the reading coordinator assigns a scan, two raters
grade it two grades apart, an investigator records the final read on the adjudication page, and the
diagnostic accuracy page then counts the scan by the adjudicated grade (never the raters' median)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from imaging import reading
from imaging.models import Adjudication, Read, ReadAssignment
from tests.factories import make_subject, make_visit
from tests.imaging.reads import make_rater, make_swi

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"
DIAGNOSTIC = (
    "/analysis/diagnostic/?marker=mbs_read&reference=enrolment&positive=ALS&negative=CONTROL"
)


@pytest.fixture
def study(users: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    """Four subjects with an SWI at V1. Three are read already by both raters (ALS-0002 positive,
    the two controls negative); ALS-0001's scan waits for the coordinator's assignment."""
    raters = [users["rater"], make_rater("rater_b")]
    scans = {}
    for study_id, group in (
        ("ALS-0001", "ALS"),
        ("ALS-0002", "ALS"),
        ("CON-0001", "CONTROL"),
        ("CON-0002", "CONTROL"),
    ):
        visit = make_visit(make_subject(study_id=study_id, group=group), "V1")
        scans[study_id] = make_swi(tmp_path, visit=visit)
    grades = {"ALS-0002": (2, 1), "CON-0001": (0, 0), "CON-0002": (0, 0)}
    for study_id, (left, right) in grades.items():
        for rater in raters:
            reading.read_assignments_create(user=None, rater=rater, scans=[scans[study_id]])
            reading.read_submit(
                rater=rater, scan=scans[study_id], left_grade=left, right_grade=right, confidence=3
            )
    return {"scans": scans, "target": scans["ALS-0001"]}


@pytest.fixture
def open_as(browser: Any, live_server: Any) -> Iterator[Callable[[str], Any]]:
    """``open_as("rater_b")``: a new browser window in which that user is logged in."""
    contexts = []

    def log_in(username: str) -> Any:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(f"{live_server.url}/")
        return page

    yield log_in
    for context in contexts:
        context.close()


def two_by_two(page: Any) -> Any:
    return page.locator("#two-by-two tbody")


def test_disagreeing_reads_are_adjudicated_and_counted_by_the_final_read(
    page: Any, live_server: Any, login: Any, screenshot: Any, open_as: Any, study: dict[str, Any]
) -> None:
    target = study["target"]

    # 1. The reading coordinator assigns the waiting scan to two raters from the page.
    login("data_manager", PASSWORD)
    page.get_by_role("link", name="Reads").first.click()
    page.get_by_role("link", name="Assign reads").click()
    page.wait_for_url(f"{live_server.url}/reading/assign/")
    page.get_by_label("Raters per scan").fill("2")
    page.get_by_label("Seed").fill("7")
    page.get_by_role("button", name="Assign").click()
    expect(page.locator("#assignment-result")).to_be_visible()
    expect(page.locator("#seed-used")).to_have_text("7")
    screenshot("adjudication-flow-1-assign")
    assigned = set(
        ReadAssignment.objects.filter(scan=target).values_list("rater__username", flat=True)
    )
    assert assigned == {"rater", "rater_b"}

    # Before any read of it, the scan has no consensus: ALS counts one subject, one is left out.
    investigator = open_as("investigator")
    investigator.goto(f"{live_server.url}{DIAGNOSTIC}")
    expect(two_by_two(investigator)).to_be_visible()
    expect(investigator.locator("#excluded")).to_contain_text("no consensus read: 1")
    expect(two_by_two(investigator).locator("tr").nth(0).locator("td").nth(0)).to_have_text("1")
    expect(two_by_two(investigator).locator("tr").nth(1).locator("td").nth(0)).to_have_text("0")
    screenshot_of(investigator, "adjudication-flow-2-diagnostic-before")

    # 2. Each rater opens the scan from their own queue and grades the left hemisphere 0 and 2.
    for username, left in (("rater", 0), ("rater_b", 2)):
        rater = open_as(username)
        rater.get_by_role("link", name="Reading queue").first.click()
        rater.get_by_role("link", name=target.code).click()
        rater.wait_for_url(f"{live_server.url}/reading/{target.code}/")
        rater.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
        grading = rater.get_by_role("form", name="Grading")
        left_label = {0: "0: no band", 2: "2: definite band"}[left]
        grading.get_by_role("group", name="Left hemisphere").get_by_label(left_label).check()
        grading.get_by_role("group", name="Right hemisphere").get_by_label("0: no band").check()
        grading.get_by_role("group", name="Confidence").get_by_label("2: moderate").check()
        screenshot_of(rater, f"adjudication-flow-3-{username}-grades")
        grading.get_by_role("button", name="Submit read").click()
        expect(rater.get_by_text("Submitted and locked", exact=True)).to_be_visible()
        screenshot_of(rater, f"adjudication-flow-4-{username}-locked")
    reads = Read.objects.filter(scan=target, is_current=True)
    assert sorted(g for g in reads.values_list("left_grade", flat=True) if g is not None) == [0, 2]

    # Two grades apart and no final read yet: still no consensus (never the median), so the scan
    # is an indeterminate index test, left out of the 2x2 table.
    investigator.reload()
    indeterminate = investigator.locator("dt", has_text="Indeterminate index tests").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(indeterminate).to_have_text("1")
    expect(investigator.locator("#excluded")).to_contain_text("no consensus read: 1")
    expect(two_by_two(investigator).locator("tr").nth(0).locator("td").nth(0)).to_have_text("1")
    screenshot_of(investigator, "adjudication-flow-4b-diagnostic-reads-apart")

    # 3. Two grades apart: the scan waits on the adjudication page; the investigator settles it.
    investigator.get_by_role("link", name="Reads").first.click()
    investigator.get_by_role("link", name="Adjudication").first.click()
    investigator.wait_for_url(f"{live_server.url}/reading/adjudication/")
    row_head = investigator.locator("#adjudication").get_by_role("rowheader", name=target.code)
    expect(row_head).to_be_visible()
    final = investigator.get_by_role("form", name=f"Final read of {target.code}")
    final.get_by_label("Left").select_option(label="0: no band")
    final.get_by_label("Right").select_option(label="0: no band")
    final.get_by_label("Comment").fill("no band on consensus review of the hand knob")
    screenshot_of(investigator, "adjudication-flow-5-queue")
    final.get_by_role("button", name="Record final read").click()
    expect(investigator.get_by_text(f"Final read of {target.code} recorded")).to_be_visible()
    expect(investigator.locator("#final-reads")).to_contain_text(target.code)
    expect(investigator.get_by_role("form", name=f"Final read of {target.code}")).to_have_count(0)
    screenshot_of(investigator, "adjudication-flow-6-final-read")
    adjudication = Adjudication.objects.get(scan=target)
    assert (adjudication.left_grade, adjudication.right_grade) == (0, 0)
    assert adjudication.adjudicator.username == "investigator"

    # 4. The diagnostic page now counts the scan as negative (the median of 0 and 2 would have
    # been 1, positive): a false negative among two ALS subjects, nothing left out.
    investigator.goto(f"{live_server.url}{DIAGNOSTIC}")
    expect(two_by_two(investigator).locator("tr").nth(1).locator("td").nth(0)).to_have_text("1")
    expect(two_by_two(investigator).locator("tr").nth(0).locator("td").nth(0)).to_have_text("1")
    expect(investigator.locator("#excluded")).to_have_count(0)
    expect(indeterminate).to_have_text("0")
    als_row = investigator.locator("table.grid").first.get_by_role("row", name=re.compile("^ALS"))
    expect(als_row.locator("td").nth(0)).to_have_text("2")
    screenshot_of(investigator, "adjudication-flow-7-diagnostic-after")


def screenshot_of(page: Any, name: str) -> None:
    """Like the ``screenshot`` fixture, for the other windows of the test."""
    from tests.e2e.conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
