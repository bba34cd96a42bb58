"""A blinded rater reads a scan in a real browser: NiiVue renders the SWI, the read is locked."""

from __future__ import annotations

import io

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from imaging import band, reading, services
from imaging.models import Read
from tests.factories import make_subject, make_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


@pytest.fixture
def queued_scan(users, tmp_path):
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )
    path = tmp_path / "swi.nii.gz"
    nib.save(phantom.swi, path)
    visit = make_visit(make_subject(), "V1")
    with path.open("rb") as handle:
        scan = services.scan_upload(
            user=None, visit=visit, kind="swi", upload=handle, name=path.name, field_strength=3.0
        )
    reading.read_assignments_create(user=None, rater=users["rater"], scans=[scan], seed=1)
    return scan


def canvas_pixels(page) -> np.ndarray:
    png = page.locator("#viewer").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def test_rater_reads_a_scan_in_the_viewer_and_submits(
    page, live_server, login, screenshot, queued_scan
):
    login("rater", PASSWORD)
    page.get_by_role("link", name="Reading queue").first.click()
    page.get_by_role("link", name=queued_scan.code).click()
    page.wait_for_url(f"{live_server.url}/reading/{queued_scan.code}/")
    assert page.get_by_role("heading", name=f"Scan {queued_scan.code}").is_visible()
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
    page.wait_for_timeout(300)  # one more frame drawn
    pixels = canvas_pixels(page)
    # The SWI is drawn: many non-black pixels with varied intensities, not a blank canvas.
    assert (pixels > 20).mean() > 0.05 and pixels.std() > 10
    assert page.evaluate("document.getElementById('viewer').width") > 0
    screenshot("rater-reading-page")

    # Window/level changes what is drawn; so does the minimum-intensity projection.
    page.locator("#window-width").evaluate(
        "el => { el.value = String(Number(el.value) / 4); el.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_timeout(300)
    narrowed = canvas_pixels(page)
    assert np.abs(narrowed - pixels).mean() > 1
    page.select_option("#projection", "8")
    page.wait_for_function(
        "document.getElementById('viewer-status').textContent.includes('Minimum-intensity')"
    )
    page.wait_for_timeout(300)
    minip = canvas_pixels(page)
    assert (minip > 20).mean() > 0.05 and np.abs(minip - narrowed).mean() > 0.5
    screenshot("rater-reading-minip")

    grading = page.get_by_role("form", name="Grading")
    grading.get_by_role("group", name="Left hemisphere").get_by_label("2: definite band").check()
    grading.get_by_role("group", name="Right hemisphere").get_by_label("1: partial band").check()
    grading.get_by_role("group", name="Confidence").get_by_label("3: high").check()
    grading.get_by_label("Comment").fill("clear at the hand knob")
    grading.get_by_role("button", name="Submit read").click()
    page.wait_for_selector("#locked-read")
    assert page.get_by_text("Submitted and locked", exact=True).is_visible()
    assert page.get_by_role("form", name="Grading").count() == 0
    read = Read.objects.get(scan=queued_scan, rater__username="rater")
    assert (read.left_grade, read.right_grade, read.confidence) == (2, 1, 3)
    assert read.comment == "clear at the hand knob"
    screenshot("rater-read-locked")
