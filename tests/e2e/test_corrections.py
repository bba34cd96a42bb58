"""A coordinator corrects a subject's demographics and replaces a scan, each with a reason, then
reads both changes with their reasons on the subject's history page. Screenshots of each step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from playwright.sync_api import expect

from cohort import services as cohort_services
from imaging import band, services
from tests.factories import ENROLLED, make_subject, make_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


@pytest.fixture
def study(users: dict[str, Any], sites: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """EDM-0001 (female) with a completed V1 holding an SWI; a second SWI file to replace it."""
    subject = make_subject(study_id="EDM-0001", site=sites["EDM"], sex="F")
    v1 = make_visit(subject, "V1")
    cohort_services.event_create(user=None, subject=subject, kind="niv", date=ENROLLED)
    files = {}
    for seed in (1, 2):
        phantom = band.make_phantom(
            (48, 48, 48), (1.5, 1.5, 1.5), band_contrast=0.2, noise_sd=2.0, seed=seed
        )
        files[seed] = tmp_path / f"sub-EDM0001_run-{seed}_swi.nii.gz"
        nib.save(phantom.swi, files[seed])
    with files[1].open("rb") as handle:
        scan = services.scan_upload(
            user=None, visit=v1, kind="swi", upload=handle, name=files[1].name, field_strength=3.0
        )
    return {"subject": subject, "scan": scan, "new_file": files[2]}


def test_coordinator_corrects_and_replaces_then_reads_the_history(
    page: Any, live_server: Any, login: Any, screenshot: Any, study: dict[str, Any]
) -> None:
    url = live_server.url
    login("coordinator", PASSWORD)

    # Correct the sex, first without a reason (refused, what was typed kept), then with one.
    page.goto(f"{url}/subjects/EDM-0001/")
    page.get_by_role("link", name="Correct subject").click()
    expect(page.get_by_role("heading", name="Correct subject EDM-0001")).to_be_visible()
    page.get_by_label("Sex (required)").select_option("M")
    page.get_by_role("button", name="Save correction").click()
    expect(page.locator("#error-summary")).to_contain_text("Reason for the change")
    expect(page.get_by_label("Sex (required)")).to_have_value("M")
    screenshot("corrections-subject-needs-reason")
    page.get_by_label("Reason for the change (required)").fill("Sex entered wrongly at screening")
    page.get_by_role("button", name="Save correction").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/")
    expect(page.get_by_text("Subject EDM-0001 corrected.")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("Male")
    screenshot("corrections-subject-corrected")

    # Replace the V1 SWI with a new file and a reason, in one step.
    old_code = study["scan"].code
    page.goto(f"{url}/subjects/EDM-0001/visits/V1/")
    page.get_by_role("link", name=f"Replace scan {old_code}").click()
    expect(page.get_by_role("heading", name=f"Replace scan {old_code}")).to_be_visible()
    page.get_by_label("New file (required)").set_input_files(str(study["new_file"]))
    page.get_by_label("Reason for replacing (required)").fill("First upload was the wrong series")
    screenshot("corrections-scan-replace-form")
    page.get_by_role("button", name="Replace scan").click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/visits/V1/**")
    expect(page.get_by_text(f"Scan {old_code} replaced by")).to_be_visible()
    expect(page.locator(f"#scan-{old_code}")).to_have_count(0)
    expect(page.locator("article.scan")).to_have_count(1)
    screenshot("corrections-scan-replaced")

    # The subject's history shows both changes, with who and why.
    page.goto(f"{url}/subjects/EDM-0001/")
    page.get_by_role("link", name="History", exact=True).click()
    page.wait_for_url(f"{url}/subjects/EDM-0001/history/")
    table = page.get_by_role("table", name="Changes")
    subject_row = table.locator("tr", has_text="Sex entered wrongly at screening")
    expect(subject_row).to_contain_text("Female → Male")
    expect(subject_row).to_contain_text("coordinator")
    deleted_row = table.locator("tr", has=page.get_by_text(f"Scan {old_code}")).filter(
        has_text="Deleted"
    )
    expect(deleted_row).to_contain_text("First upload was the wrong series")
    expect(table.locator("tr", has_text=f"Replaces {old_code}")).to_contain_text("Created")
    screenshot("corrections-history")

    # One record's own history: the deleted scan.
    deleted_row.get_by_role("link", name=f"Scan {old_code}").click()
    expect(page.get_by_role("heading", name=f"History: Scan {old_code}")).to_be_visible()
    expect(page.get_by_role("table", name="Changes")).to_contain_text("Record deleted")
    screenshot("corrections-scan-history")

    # Delete the NIV event: a confirmation page first, then the deletion with its reason.
    page.goto(f"{url}/subjects/EDM-0001/")
    page.get_by_role("link", name="Delete the start of non-invasive ventilation event").click()
    expect(
        page.get_by_role("heading", name="Delete the start of non-invasive ventilation event")
    ).to_be_visible()
    screenshot("corrections-event-delete-confirm")
    page.get_by_label("Reason for deleting (required)").fill("NIV was offered, never started")
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_text("event of 2025-01-10 deleted.")).to_be_visible()
    expect(page.get_by_text("No event recorded.")).to_be_visible()
    page.get_by_role("link", name="History", exact=True).click()
    expect(
        page.get_by_role("table", name="Changes").locator(
            "tr", has_text="Event: start of non-invasive ventilation"
        )
    ).to_have_count(2)
    expect(page.get_by_role("table", name="Changes")).to_contain_text(
        "NIV was offered, never started"
    )
