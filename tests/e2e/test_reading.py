"""A blinded rater reads scans in a real browser: NiiVue renders the SWI on the precentral slab,
zoom, crosshair and slice number work, a graded and a non-diagnostic read are locked; the reading
coordinator assigns scans from the assignment page."""

from __future__ import annotations

import io
import re

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from imaging import band, reading, services
from imaging.models import Read, ReadAssignment
from tests.factories import make_subject, make_visit
from tests.imaging.reads import make_rater

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


PRECENTRAL = (1024, 2024)


@pytest.fixture
def phantom():
    return band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )


def upload_swi(phantom, tmp_path, name="swi.nii.gz"):
    path = tmp_path / name
    nib.save(phantom.swi, path)
    visit = make_visit(make_subject(), "V1")
    with path.open("rb") as handle:
        return services.scan_upload(
            user=None, visit=visit, kind="swi", upload=handle, name=path.name, field_strength=3.0
        )


@pytest.fixture
def queued_scan(users, tmp_path, phantom):
    scan = upload_swi(phantom, tmp_path)
    reading.read_assignments_create(user=None, rater=users["rater"], scans=[scan], seed=1)
    return scan


def canvas_pixels(page) -> np.ndarray:
    png = page.locator("#viewer").screenshot()
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)


def red_pixels(page) -> int:
    """Pixels of the (reddish) crosshair on the canvas."""
    png = page.locator("#viewer").screenshot()
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)
    return int(((rgb[..., 0] > 150) & (rgb[..., 0] - rgb[..., 1] > 60)).sum())


def slice_shown(page) -> tuple[int, int]:
    number = page.locator("#slice-number")
    return int(number.get_attribute("data-slice")), int(number.get_attribute("data-slices"))


def test_rater_reads_a_scan_in_the_viewer_and_submits(
    page, live_server, login, screenshot, queued_scan, phantom
):
    login("rater", PASSWORD)
    page.get_by_role("link", name="Reading queue").first.click()
    page.get_by_role("link", name=queued_scan.code).click()
    page.wait_for_url(f"{live_server.url}/reading/{queued_scan.code}/")
    expect(page.get_by_role("heading", name=f"Scan {queued_scan.code}")).to_be_visible()
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
    page.wait_for_timeout(300)  # one more frame drawn
    pixels = canvas_pixels(page)
    # The SWI is drawn: many non-black pixels with varied intensities, not a blank canvas.
    assert (pixels > 20).mean() > 0.05 and pixels.std() > 10
    assert page.evaluate("document.getElementById('viewer').width") > 0
    screenshot("rater-reading-page")

    # The viewer opens on the superior slab that holds the precentral gyrus, and says which slice.
    labels = np.asarray(phantom.labels.dataobj)
    number, total = slice_shown(page)
    assert total == 64 and number > 32
    expect(page.locator("#slice-number")).to_have_text(f"Axial slice {number} / 64")
    assert np.isin(labels[:, :, number - 1], PRECENTRAL).any()
    # The wheel moves through slices; the slab button comes back.
    page.locator("#viewer").hover()
    page.mouse.wheel(0, -120)
    expect(page.locator("#slice-number")).not_to_have_attribute("data-slice", str(number))
    assert abs(slice_shown(page)[0] - number) == 1
    page.get_by_role("button", name="Motor slab").click()
    assert slice_shown(page)[0] == number

    # The crosshair can be hidden and shown again.
    page.wait_for_timeout(200)
    with_crosshair = red_pixels(page)
    assert with_crosshair > 50
    page.get_by_label("Crosshair").uncheck()
    page.wait_for_timeout(200)
    assert red_pixels(page) < with_crosshair / 10
    page.get_by_label("Crosshair").check()
    page.wait_for_timeout(200)
    assert red_pixels(page) > with_crosshair / 2

    # Zoom in and back.
    before_zoom = canvas_pixels(page)
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    expect(page.locator("#zoom-value")).to_have_text("156%")
    page.wait_for_timeout(300)
    zoomed = canvas_pixels(page)
    assert np.abs(zoomed - before_zoom).mean() > 1
    assert slice_shown(page)[0] == number  # zooming keeps the slice
    screenshot("rater-reading-zoomed")
    page.get_by_role("button", name="Fit").click()
    expect(page.locator("#zoom-value")).to_have_text("100%")
    page.wait_for_timeout(300)

    # Window/level changes what is drawn; so does the minimum-intensity projection.
    page.locator("#window-width").evaluate(
        "el => { el.value = String(Number(el.value) / 4); el.dispatchEvent(new Event('input')); }"
    )
    page.wait_for_timeout(300)
    narrowed = canvas_pixels(page)
    assert np.abs(narrowed - pixels).mean() > 1
    page.select_option("#projection", "8")
    # (expect polls without eval: the page's Content-Security-Policy forbids it)
    expect(page.locator("#viewer-status")).to_contain_text("Minimum-intensity")
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
    expect(page.get_by_text("Submitted and locked", exact=True)).to_be_visible()
    expect(page.get_by_role("form", name="Grading")).to_have_count(0)
    read = Read.objects.get(scan=queued_scan, rater__username="rater")
    assert (read.left_grade, read.right_grade, read.confidence) == (2, 1, 3)
    assert read.comment == "clear at the hand knob"
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
    screenshot("rater-read-locked")


def test_rater_submits_a_non_diagnostic_read(
    page, live_server, login, screenshot, queued_scan, users
):
    login("rater", PASSWORD)
    page.goto(f"{live_server.url}/reading/{queued_scan.code}/")
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
    grading = page.get_by_role("form", name="Grading")
    left = grading.get_by_role("group", name="Left hemisphere")
    reason = grading.get_by_label("Why non-diagnostic")
    # A graded read shows the grades, not the reason; a non-diagnostic one the reverse.
    expect(left).to_be_visible()
    expect(reason).to_be_hidden()
    grading.get_by_role("group", name="Outcome").get_by_label("Non-diagnostic").check()
    expect(left).to_be_hidden()
    expect(reason).to_be_visible()
    expect(grading.get_by_label("Describe (reason other)")).to_be_hidden()
    reason.select_option("other")
    grading.get_by_label("Describe (reason other)").fill("dental braces")
    reason.select_option("motion")
    expect(grading.get_by_label("Describe (reason other)")).to_be_hidden()
    grading.get_by_label("Comment").fill("ghosting over the vertex")
    screenshot("rater-read-non-diagnostic-form")
    grading.get_by_role("button", name="Submit read").click()
    page.wait_for_selector("#locked-read")
    expect(page.locator("#locked-read").get_by_text("Non-diagnostic: Motion")).to_be_visible()
    read = Read.objects.get(scan=queued_scan, rater__username="rater")
    assert (read.outcome, read.non_diagnostic_reason, read.non_diagnostic_detail) == (
        "non_diagnostic",
        "motion",
        "",
    )
    assert (read.left_grade, read.right_grade, read.confidence) == (None, None, None)
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)
    screenshot("rater-read-non-diagnostic-locked")


def test_coordinator_assigns_scans_from_the_page(
    page, live_server, login, screenshot, users, tmp_path
):
    scans = [
        upload_swi(
            band.make_phantom((24, 24, 24), (4.0, 4.0, 4.0), noise_sd=2.0, seed=seed),
            tmp_path,
            f"swi{seed}.nii.gz",
        )
        for seed in range(4)
    ]
    make_rater("rater_b")
    make_rater("rater_c")
    login("data_manager", PASSWORD)
    page.get_by_role("link", name="Reads").first.click()
    page.get_by_role("link", name="Assign reads").click()
    page.wait_for_url(f"{live_server.url}/reading/assign/")
    assert page.get_by_label("Raters per scan").input_value() == "2"
    page.get_by_label("Seed").fill("42")
    page.get_by_role("button", name="Assign").click()
    page.wait_for_selector("#assignment-result")
    expect(page.locator("#seed-used")).to_have_text("42")
    rows = page.locator("#queue-sizes tbody tr")
    assert rows.count() == 3
    assert ReadAssignment.objects.filter(scan__in=scans).count() == 8
    screenshot("coordinator-assign-reads")

    # The raters read: one scan non-diagnostic for one of its raters. Agreement says what it left
    # out; the split scan waits for adjudication.
    for number, scan in enumerate(scans):
        for position, assignment in enumerate(ReadAssignment.objects.filter(scan=scan)):
            if number == 0 and position == 0:
                reading.read_submit(
                    rater=assignment.rater,
                    scan=scan,
                    outcome="non_diagnostic",
                    non_diagnostic_reason="motion",
                )
            else:
                grade = (number + position) % 3
                reading.read_submit(
                    rater=assignment.rater,
                    scan=scan,
                    left_grade=grade,
                    right_grade=min(grade, 1),
                    confidence=2,
                )
    page.get_by_role("link", name="Reader agreement").click()
    expect(page.locator("#non-diagnostic-left-out")).to_have_text(
        re.compile(r"^Non-diagnostic reads left out: 1 \(")
    )
    screenshot("reviewer-agreement")
    page.get_by_role("link", name="Adjudication").click()
    expect(page.get_by_text("non-diagnostic (motion)")).to_be_visible()
    screenshot("reviewer-adjudication")
