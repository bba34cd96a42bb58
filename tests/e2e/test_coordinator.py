"""A site coordinator in a real browser: subject, a full visit with one invalid item, a scan upload
with its progress bar, and another site's coordinator kept out. Screenshots of every page."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from playwright.sync_api import expect

from cohort import services
from imaging import band
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"
TABLET = {"width": 820, "height": 1180}
LAPTOP = {"width": 1280, "height": 900}


@pytest.fixture
def phantom(tmp_path: Path) -> dict[str, Path]:
    image = band.make_phantom((64, 64, 64), (1.5, 1.5, 1.5), band_contrast=0.2, seed=1)
    paths = {
        "swi": tmp_path / "sub-EDM0001_swi.nii.gz",
        "labels": tmp_path / "sub-EDM0001_dseg.nii.gz",
    }
    nib.save(image.swi, paths["swi"])
    nib.save(image.labels, paths["labels"])
    return paths


@pytest.fixture
def study(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    subject = make_subject(study_id="EDM-0001", site=sites["EDM"])
    v1 = make_visit(subject, "V1")
    services.umn_exam_save(user=None, visit=v1, items=umn_items(3))
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q8=3))
    for n in range(2, 6):
        other = make_subject(study_id=f"EDM-{n:04d}", site=sites["EDM"], group="CONTROL")
        make_visit(other, "V1")
    make_subject(study_id="TOR-0001", site=sites["TOR"])
    return {"subject": subject, "v1": v1}


def _upload(page: Any, kind: str, path: Path, field_strength: str = "") -> None:
    form = page.locator("#upload-form")
    form.get_by_label("Scan kind (required)").select_option(kind)
    form.get_by_label("File (required)").set_input_files(str(path))
    if field_strength:
        form.get_by_label("Field strength (T)").fill(field_strength)
    form.get_by_role("button", name="Upload").click()
    expect(page.locator("#upload-message")).to_contain_text("Upload complete", timeout=60_000)


def test_coordinator_enters_a_full_visit_and_uploads_a_scan(
    page: Any, live_server: Any, login: Any, screenshot: Any, study: Any, phantom: Any
) -> None:
    url = live_server.url
    login("coordinator", PASSWORD)
    screenshot("coordinator-home")

    # Subject list: search and open the subject.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Subjects").click()
    expect(page.get_by_role("heading", name="Subjects", exact=True)).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(5)  # EDM only
    page.get_by_label("Search study id").fill("0001")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    screenshot("coordinator-subject-list")
    page.get_by_role("link", name="EDM-0001").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/")
    expect(page.locator(".tl.done")).to_have_count(1)
    expect(page.get_by_text("no SWI scan")).to_be_visible()
    screenshot("coordinator-subject")

    # An event, with the model's message for a date before enrolment, then a valid one.
    page.get_by_label("Event (required)").select_option("niv")
    page.get_by_label("Date (required)").fill(str(ENROLLED - dt.timedelta(days=3)))
    page.get_by_role("button", name="Add event").click()
    expect(page.get_by_role("alert")).to_contain_text("Events are recorded from enrolment on")
    page.get_by_label("Date (required)").fill("2025-05-02")
    page.get_by_role("button", name="Add event").click()
    expect(page.locator("#events tbody")).to_contain_text("Start of non-invasive ventilation")

    # A new visit V2.
    page.get_by_role("link", name="Add visit V2").click()
    page.get_by_label("Visit date").fill(str(ENROLLED + dt.timedelta(days=120)))
    page.get_by_label("Status (required)").select_option("completed")
    screenshot("coordinator-visit-form")
    page.get_by_role("button", name="Save visit").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/visits/V2/")

    # Penn UMN exam: the live total follows the radios before anything is saved.
    page.get_by_role("link", name="Enter UMN exam").click()
    total = page.get_by_test_id("live-total")
    expect(total).to_contain_text("— (0 so far)")
    for radio in page.locator("input[type=radio][value='0']").all():
        radio.check()
    expect(total).to_have_text("0/32")
    page.get_by_role("group", name="Jaw jerk").get_by_label("Present (1)").check()
    right_arm = page.get_by_role("group", name=re.compile("^Right upper limb"))
    right_arm.get_by_role("group", name="Hoffmann sign").get_by_label("Present (1)").check()
    page.get_by_role("group", name=re.compile("^Left lower limb")).get_by_role(
        "group", name="Babinski sign"
    ).get_by_label("Present (1)").check()
    expect(total).to_have_text("3/32")
    expect(page.locator("#sub-bulbar")).to_have_text("1/4")
    page.keyboard.press("Tab")  # the radios stay reachable by keyboard
    screenshot("coordinator-umn-form")
    page.set_viewport_size(TABLET)
    # The viewport, not the full page: on a tablet the total sticks to the bottom while scrolling.
    page.get_by_role("group", name="Pectoralis reflex").first.scroll_into_view_if_needed()
    expect(page.get_by_test_id("live-total")).to_be_in_viewport()
    page.screenshot(path=str(screenshot("coordinator-umn-form-tablet")), full_page=False)
    page.set_viewport_size(LAPTOP)
    page.get_by_role("button", name="Save UMN exam").click()
    expect(page.locator("ul.messages")).to_contain_text("Penn UMN exam saved: total 3/32.")
    expect(page.get_by_test_id("umn-total")).to_have_text("3/32")

    # ALSFRS-R with one invalid item: flagged live, then refused by the server with its message.
    page.get_by_role("link", name="Enter ALSFRS-R").click()
    for n in range(1, 13):
        page.get_by_label(re.compile(rf"^{n}\. ")).fill("4")
    total = page.get_by_test_id("live-total")
    expect(total).to_have_text("48/48")
    page.get_by_label("3. Swallowing").fill("5")
    expect(page.locator("#id_q3_live")).to_have_text(
        "3. Swallowing (q3): must be between 0 and 4 (got 5)."
    )
    expect(total).to_contain_text("—")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Item 3 Swallowing (q3): must be between 0 and 4 (got 5).")
    expect(summary).to_contain_text("Ensure this value is less than or equal to 4.")
    screenshot("coordinator-alsfrs-error")
    summary.get_by_role("link").first.click()  # the summary link moves focus to the item
    expect(page.get_by_label("3. Swallowing")).to_be_focused()
    page.get_by_label("3. Swallowing").fill("3")
    page.get_by_label("8. Walking").fill("2")
    expect(total).to_have_text("45/48")
    expect(page.locator("#sub-bulbar")).to_have_text("11/12")
    screenshot("coordinator-alsfrs-form")
    page.get_by_role("button", name="Save ALSFRS-R").click()
    expect(page.locator("ul.messages")).to_contain_text("ALSFRS-R saved: total 45/48.")
    expect(page.get_by_test_id("alsfrs-total")).to_have_text("45/48")

    # Scan upload: the progress bar fills, the validation result shows, the scan is listed.
    _upload(page, "swi", phantom["swi"], field_strength="3")
    bar = page.locator("#upload-progress")
    assert bar.evaluate("b => b.value") == 100
    assert int(bar.get_attribute("data-events") or 0) >= 1  # real upload progress events
    message = page.locator("#upload-message")
    expect(message).to_contain_text("64 × 64 × 64")
    expect(message).to_contain_text("3 T")
    expect(message).to_contain_text("QC pending review")
    expect(page.locator("#scan-list article.scan")).to_have_count(1)
    screenshot("coordinator-scan-uploaded")
    _upload(page, "labels", phantom["labels"])
    expect(page.locator("#scan-list article.scan")).to_have_count(2)

    # Quantify: the run's measurements and QC picture appear.
    page.get_by_role("button", name=re.compile("^Quantify SCN-")).click()
    expect(page.locator("ul.messages")).to_contain_text("done", timeout=60_000)
    expect(page.locator("table.measurements tbody tr")).to_have_count(10)
    qc = page.locator("img.qc")
    expect(qc).to_be_visible()
    qc_url = qc.get_attribute("src")
    qc_response = page.request.get(f"{url}{qc_url}")
    assert qc_response.status == 200, (qc_response.status, qc_response.text()[:300])
    assert qc_response.headers["content-type"] == "image/png"
    page.wait_for_function("document.querySelector('img.qc').naturalWidth > 0")
    screenshot("coordinator-visit")

    # The subject's timeline and the completeness dashboard now see V2 complete.
    page.goto(f"{url}/subjects/EDM-0001/")
    expect(page.locator(".tl.done")).to_have_count(2)
    screenshot("coordinator-subject-after")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Completeness").click()
    expect(page.get_by_role("heading", name="Data completeness")).to_be_visible()
    expect(page.locator("table.completeness tbody tr")).to_have_count(1)
    screenshot("coordinator-completeness")

    # Another site's coordinator cannot open that subject.
    page.get_by_role("button", name="Log out").click()
    login("coord_tor", PASSWORD)
    response = page.goto(f"{url}/subjects/EDM-0001/")
    assert response.status == 404
    response = page.goto(f"{url}/subjects/EDM-0001/visits/V2/")
    assert response.status == 404
    page.goto(f"{url}/subjects/")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("TOR-0001")
    screenshot("coord_tor-subject-list")


def test_investigator_reads_without_edit_forms(
    page: Any, live_server: Any, login: Any, screenshot: Any, study: Any
) -> None:
    login("investigator", PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Analysis")).to_be_visible()
    page.goto(f"{live_server.url}/subjects/EDM-0001/")
    expect(page.get_by_role("heading", name="Add an event")).to_have_count(0)
    screenshot("investigator-subject")
    page.goto(f"{live_server.url}/subjects/EDM-0001/visits/V1/")
    expect(page.get_by_text("Upload a scan")).to_have_count(0)
    expect(page.get_by_test_id("umn-total")).to_have_text("3/32")
    screenshot("investigator-visit")
    page.goto(f"{live_server.url}/completeness/")
    screenshot("investigator-completeness")
    response = page.goto(f"{live_server.url}/subjects/EDM-0001/visits/V1/umn/")
    assert response.status == 403


def test_rater_sees_the_reading_queue_link_only(
    page: Any, live_server: Any, login: Any, screenshot: Any, study: Any
) -> None:
    login("rater", PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Reading queue")).to_be_visible()
    expect(nav.get_by_role("link", name="Subjects")).to_have_count(0)
    screenshot("rater-home")
    response = page.goto(f"{live_server.url}/subjects/EDM-0001/")
    assert response.status == 403
