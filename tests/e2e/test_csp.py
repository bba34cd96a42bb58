"""The Content-Security-Policy in a real browser: the pages' scripts (Plotly, NiiVue, the upload
form, the dashboard's subject form, Swagger UI) work with no inline script, nothing is refused, and
Plotly's modebar offers nothing that leads to Plotly's cloud."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import nibabel as nib
import pytest
from playwright.sync_api import expect

from cohort import services as cohort_services
from imaging import band, reading
from imaging import services as imaging_services
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


@pytest.fixture
def refused(page: Any) -> Iterator[list[str]]:
    """What the browser refused for the policy (Chromium says so on the console); empty at the end
    of every test."""
    messages: list[str] = []
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield messages
    assert messages == [], messages


@pytest.fixture
def swi(users: dict[str, Any], tmp_path: Any) -> Any:
    """EDM-0001: two visits with forms and an event; an SWI at V1 in the rater's queue."""
    import datetime as dt

    subject = make_subject(study_id="EDM-0001")
    for code in ("V1", "V2"):
        visit = make_visit(subject, code)
        cohort_services.umn_exam_save(user=None, visit=visit, items=umn_items(3))
        cohort_services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q1=3))
    cohort_services.event_create(
        user=None, subject=subject, kind="gastrostomy", date=ENROLLED + dt.timedelta(days=200)
    )
    phantom = band.make_phantom((48, 48, 48), (2.0, 2.0, 2.0), band_contrast=0.1, seed=4)
    path = tmp_path / "swi.nii.gz"
    nib.save(phantom.swi, path)
    with path.open("rb") as handle:
        scan = imaging_services.scan_upload(
            user=None,
            visit=subject.visits.get(visit_code="V1"),
            kind="swi",
            upload=handle,
            name=path.name,
            field_strength=3.0,
        )
    reading.read_assignments_create(user=None, rater=users["rater"], scans=[scan], seed=1)
    return scan


def test_analysis_dashboard_form_and_plotly_modebar(
    page: Any, live_server: Any, login: Any, refused: list[str], swi: Any
) -> None:
    login("investigator", PASSWORD)
    page.goto(f"{live_server.url}/analysis/")
    page.get_by_label("Subject timeline (study id)").fill("EDM-0001")
    page.get_by_role("button", name="Show").click()  # static/analysis/dashboard.js
    page.wait_for_url(f"{live_server.url}/analysis/subjects/EDM-0001/")
    plot = page.locator(".plot .main-svg").first
    plot.wait_for(state="visible")
    plot.hover()
    modebar = page.locator(".modebar").first
    modebar.wait_for(state="attached")
    titles = [button.get_attribute("data-title") for button in page.locator(".modebar-btn").all()]
    assert titles and "Share chart..." not in titles, titles
    assert not [t for t in titles if t and "Chart Studio" in t]
    expect(page.locator("a[href*='plotly.com'], a[href*='plot.ly']")).to_have_count(0)


def test_visit_page_and_reading_page(
    page: Any, live_server: Any, login: Any, refused: list[str], swi: Any
) -> None:
    login("coordinator", PASSWORD)
    page.goto(f"{live_server.url}/subjects/EDM-0001/visits/V1/")
    page.locator("#upload-form").wait_for(state="visible")  # static/cohort/upload.js loads
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/accounts/login/")

    login("rater", PASSWORD)
    page.goto(f"{live_server.url}/reading/{swi.code}/")
    page.wait_for_selector("#viewer[data-loaded='true']", timeout=30_000)


def test_api_docs(page: Any, live_server: Any, login: Any, refused: list[str], users: Any) -> None:
    login("investigator", PASSWORD)
    page.goto(f"{live_server.url}/api/docs/")
    page.locator(".swagger-ui .info").first.wait_for(state="visible")
