"""Coordinator pages: every page per role and site, the forms' messages, concurrency, completeness."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from django.test import Client

from cohort import services
from cohort.models import AlsfrsR, ClinicalEvent, Subject, UmnExam, Visit
from imaging import band
from imaging.models import Scan
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"


@pytest.fixture
def world(users: dict[str, Any], sites: dict[str, Any]) -> dict[str, Any]:
    """An EDM subject with a complete V1 (UMN + ALSFRS-R) and a TOR subject."""
    edm = make_subject(study_id="EDM-0001", site=sites["EDM"])
    v1 = make_visit(edm, "V1")
    services.umn_exam_save(user=None, visit=v1, items=umn_items(5))
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q1=3))
    tor = make_subject(study_id="TOR-0001", site=sites["TOR"])
    make_visit(tor, "V1")
    return {"edm": edm, "v1": v1, "tor": tor}


@pytest.fixture
def client_for(users: dict[str, Any]) -> Callable[[str | None], Client]:
    def make(name: str | None) -> Client:
        client = Client()
        if name is not None:
            assert client.login(username=name, password=PASSWORD)
        return client

    return make


READ_PAGES = {
    "subject list": "/subjects/",
    "subject": "/subjects/EDM-0001/",
    "visit": "/subjects/EDM-0001/visits/V1/",
    "completeness": "/completeness/",
}
WRITE_PAGES = {
    "new subject": "/subjects/new/",
    "new visit": "/subjects/EDM-0001/visits/new/",
    "edit visit": "/subjects/EDM-0001/visits/V1/edit/",
    "umn form": "/subjects/EDM-0001/visits/V1/umn/",
    "alsfrs form": "/subjects/EDM-0001/visits/V1/alsfrs/",
}
SUBJECT_PAGES = {
    k: v for k, v in {**READ_PAGES, **WRITE_PAGES}.items() if v.startswith("/subjects/EDM")
}
POSTS = {
    "add event": "/subjects/EDM-0001/events/new/",
    "upload": "/subjects/EDM-0001/visits/V1/scans/",
    "umn form": "/subjects/EDM-0001/visits/V1/umn/",
    "alsfrs form": "/subjects/EDM-0001/visits/V1/alsfrs/",
    "edit visit": "/subjects/EDM-0001/visits/V1/edit/",
    "new visit": "/subjects/EDM-0001/visits/new/",
    "new subject": "/subjects/new/",
}


@pytest.mark.parametrize("url", [*READ_PAGES.values(), *WRITE_PAGES.values()])
def test_anonymous_is_sent_to_login(world: Any, client_for: Any, url: str) -> None:
    response = client_for(None).get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", [*READ_PAGES.values(), *WRITE_PAGES.values()])
def test_coordinator_of_the_site_opens_every_page(world: Any, client_for: Any, url: str) -> None:
    assert client_for("coordinator").get(url).status_code == 200


@pytest.mark.parametrize("url", SUBJECT_PAGES.values())
def test_other_sites_coordinator_gets_404(world: Any, client_for: Any, url: str) -> None:
    assert client_for("coord_tor").get(url).status_code == 404


@pytest.mark.parametrize("url", [u for u in POSTS.values() if u.startswith("/subjects/EDM")])
def test_other_sites_coordinator_cannot_post(world: Any, client_for: Any, url: str) -> None:
    assert (
        client_for("coord_tor").post(url, {"kind": "death", "date": "2025-02-01"}).status_code
        == 404
    )
    assert not ClinicalEvent.objects.exists()


@pytest.mark.parametrize("url", [*READ_PAGES.values(), *WRITE_PAGES.values()])
def test_rater_is_refused(world: Any, client_for: Any, url: str) -> None:
    response = client_for("rater").get(url)
    assert response.status_code == 403
    assert b"EDM-0001" not in response.content


@pytest.mark.parametrize("url", READ_PAGES.values())
def test_investigator_reads_every_site(world: Any, client_for: Any, url: str) -> None:
    assert client_for("investigator").get(url).status_code == 200
    assert client_for("investigator").get("/subjects/TOR-0001/").status_code == 200


@pytest.mark.parametrize("url", WRITE_PAGES.values())
def test_investigator_gets_no_edit_form(world: Any, client_for: Any, url: str) -> None:
    assert client_for("investigator").get(url).status_code == 403


@pytest.mark.parametrize("url", POSTS.values())
def test_investigator_cannot_post(world: Any, client_for: Any, url: str) -> None:
    response = client_for("investigator").post(url, {"kind": "death", "date": "2025-02-01"})
    assert response.status_code == 403
    assert not ClinicalEvent.objects.exists()


def test_investigator_pages_show_no_edit_controls(world: Any, client_for: Any) -> None:
    client = client_for("investigator")
    subject_page = client.get("/subjects/EDM-0001/").content.decode()
    assert "Add an event" not in subject_page and "Add visit" not in subject_page
    visit_page = client.get("/subjects/EDM-0001/visits/V1/").content.decode()
    assert "Upload a scan" not in visit_page
    assert "UMN exam</a>" not in visit_page and "Edit visit" not in visit_page
    assert '<form method="post"' not in visit_page.split("</header>")[1]


def test_data_manager_writes_any_site(world: Any, client_for: Any) -> None:
    client = client_for("data_manager")
    assert client.get("/subjects/TOR-0001/visits/V1/umn/").status_code == 200
    response = client.post("/subjects/TOR-0001/events/new/", {"kind": "niv", "date": "2025-03-01"})
    assert response.status_code == 302
    assert ClinicalEvent.objects.filter(subject__study_id="TOR-0001", kind="niv").exists()


# --- navigation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "present", "absent"),
    [
        (
            "coordinator",
            ["Subjects", "Completeness"],
            ["/analysis/", "/analysis/exports/", "/reading/"],
        ),
        ("investigator", ["Subjects", "/analysis/"], ["/analysis/exports/", "/reading/"]),
        ("data_manager", ["Subjects", "/analysis/", "/analysis/exports/"], ["/reading/"]),
        ("rater", ["/reading/"], ["/subjects/", "/completeness/", "/analysis/"]),
    ],
)
def test_navigation_by_role(
    world: Any, client_for: Any, name: str, present: list[str], absent: list[str]
) -> None:
    page = client_for(name).get("/").content.decode()
    nav = page.split('<nav aria-label="Main">')[1].split("</nav>")[0]
    for text in present:
        assert text in nav
    for text in absent:
        assert f'href="{text}"' not in nav


# --- subject list and new subject -------------------------------------------------------------


def test_subject_list_is_scoped_searched_filtered_and_paginated(
    world: Any, client_for: Any, sites: Any
) -> None:
    for n in range(2, 32):
        make_subject(
            study_id=f"EDM-{n:04d}", site=sites["EDM"], group="CONTROL" if n % 2 else "ALS"
        )
    client = client_for("coordinator")
    page = client.get("/subjects/")
    assert page.context["page"].paginator.count == 31
    assert "TOR-0001" not in page.content.decode()
    assert len(page.context["page"].object_list) == 25
    second = client.get("/subjects/?page=2").context["page"]
    assert len(second.object_list) == 6
    found = client.get("/subjects/?q=edm-001").context["page"].paginator.count
    assert found == 10  # EDM-0010 .. EDM-0019
    controls = client.get("/subjects/?group=CONTROL").context["page"].paginator.count
    assert controls == 15
    assert client.get("/subjects/?site=TOR").context["page"].paginator.count == 0
    tor = client_for("investigator").get("/subjects/?site=TOR").context["page"]
    assert [s.study_id for s in tor.object_list] == ["TOR-0001"]
    paged = client.get("/subjects/?q=EDM&page=1").content.decode()
    assert "q=EDM&amp;page=2" in paged


def test_new_subject_site_is_limited_to_the_coordinators_sites(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    form = client.get("/subjects/new/").context["form"]
    assert [s.code for s in form.fields["site"].queryset] == ["EDM"]
    payload = {
        "study_id": "EDM-0100",
        "site": "TOR",
        "group": "ALS",
        "sex": "F",
        "birth_date": "1960-01-01",
        "onset_date": "2024-02-01",
        "enrolled_on": "2025-01-05",
    }
    response = client.post("/subjects/new/", payload)
    assert response.status_code == 200
    assert "site" in response.context["form"].errors
    assert not Subject.objects.filter(study_id="EDM-0100").exists()
    response = client.post("/subjects/new/", {**payload, "site": "EDM"})
    assert response.status_code == 302
    assert response["Location"] == "/subjects/EDM-0100/"


def test_new_subject_shows_the_models_message(world: Any, client_for: Any) -> None:
    response = client_for("coordinator").post(
        "/subjects/new/",
        {
            "study_id": "EDM-0101",
            "site": "EDM",
            "group": "CONTROL",
            "sex": "M",
            "birth_date": "1960-01-01",
            "onset_date": "2024-02-01",
            "enrolled_on": "2025-01-05",
        },
    )
    assert response.context["form"].errors["onset_date"] == [
        "Healthy controls have no onset or diagnosis: leave it empty."
    ]
    assert "Symptom onset: Healthy controls have no onset" in response.content.decode()


# --- subject page: timeline and events --------------------------------------------------------


def test_timeline_shows_done_missing_forms_overdue_and_out_of_window(
    client_for: Any, users: Any, sites: Any
) -> None:
    subject = make_subject(study_id="EDM-0200", site=sites["EDM"])
    make_visit(subject, "V1")
    make_visit(subject, "V2", date=ENROLLED + dt.timedelta(days=200))  # target day 122 ± 30
    page = client_for("coordinator").get("/subjects/EDM-0200/")
    entries = {e.visit_code: e for e in page.context["timeline"]}
    assert [e.visit_code for e in page.context["timeline"]] == ["V1", "V2", "V3"]
    assert entries["V1"].state == "done" and not entries["V1"].out_of_window
    assert entries["V2"].state == "done" and entries["V2"].out_of_window
    assert entries["V3"].state == "overdue"  # V3 target (ENROLLED + 8 months) is long past
    assert entries["V1"].missing == ("no UMN exam", "no ALSFRS-R", "no SWI scan", "no label map")
    html = page.content.decode()
    assert "Out of window" in html and "Overdue" in html and "no ALSFRS-R" in html


def test_timeline_after_death_expects_nothing(client_for: Any, sites: Any, users: Any) -> None:
    subject = make_subject(study_id="EDM-0201", site=sites["EDM"])
    make_visit(subject, "V1")
    services.event_create(
        user=None, subject=subject, kind="death", date=ENROLLED + dt.timedelta(days=60)
    )
    timeline = client_for("coordinator").get("/subjects/EDM-0201/").context["timeline"]
    assert [e.state for e in timeline] == ["done", "not_expected", "not_expected"]


def test_add_event_and_its_validation_message(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    response = client.post("/subjects/EDM-0001/events/new/", {"kind": "niv", "date": tomorrow})
    assert response.status_code == 400
    assert "An event date cannot be in the future." in response.content.decode()
    response = client.post(
        "/subjects/EDM-0001/events/new/", {"kind": "niv", "date": "2025-06-01", "comment": "BiPAP"}
    )
    assert response.status_code == 302
    page = client.get("/subjects/EDM-0001/").content.decode()
    assert "Start of non-invasive ventilation" in page and "BiPAP" in page


# --- visits -----------------------------------------------------------------------------------


def test_new_visit_offers_the_next_codes(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    form = client.get("/subjects/EDM-0001/visits/new/?code=V2").context["form"]
    assert [c for c, _ in form.fields["visit_code"].choices] == ["V2", "V3", "V4"]
    assert form.initial["visit_code"] == "V2"
    assert "reason" not in form.fields
    response = client.post(
        "/subjects/EDM-0001/visits/new/",
        {"visit_code": "V2", "date": str(ENROLLED - dt.timedelta(days=1)), "status": "completed"},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["date"] == [
        f"Must be after the baseline visit (V1 on {world['v1'].date})."
    ]
    response = client.post(
        "/subjects/EDM-0001/visits/new/",
        {"visit_code": "V2", "date": "2025-05-12", "status": "completed"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/subjects/EDM-0001/visits/V2/"


def test_changing_a_completed_visit_needs_a_reason(world: Any, client_for: Any) -> None:
    client = client_for("coordinator")
    page = client.get("/subjects/EDM-0001/visits/V1/edit/")
    assert "reason" in page.context["form"].fields
    assert "Reason for the change" in page.content.decode()
    data = {"visit_code": "V1", "date": "2025-01-12", "status": "completed", "version": 1}
    response = client.post("/subjects/EDM-0001/visits/V1/edit/", data)
    assert response.status_code == 200
    assert "give a reason for changing it" in response.context["form"].errors["reason"][0]
    response = client.post(
        "/subjects/EDM-0001/visits/V1/edit/", {**data, "reason": "date typo on the CRF"}
    )
    assert response.status_code == 302
    assert Visit.objects.get(pk=world["v1"].pk).date == dt.date(2025, 1, 12)


def test_stale_visit_version_shows_the_concurrency_message(world: Any, client_for: Any) -> None:
    services.visit_update(world["v1"], user=None, data={"comment": "x"}, reason="other user")
    response = client_for("coordinator").post(
        "/subjects/EDM-0001/visits/V1/edit/",
        {
            "visit_code": "V1",
            "date": "2025-01-12",
            "status": "completed",
            "version": 1,
            "reason": "typo",
        },
    )
    assert response.status_code == 200
    assert "changed by someone else since you opened it" in response.content.decode()


def test_visit_page_shows_subtotals(world: Any, client_for: Any) -> None:
    html = client_for("coordinator").get("/subjects/EDM-0001/visits/V1/").content.decode()
    assert "5/32" in html  # umn_items(5): the first five items (4 bulbar + 1 right arm)
    assert "4/4" in html and "1/7" in html
    assert "47/48" in html and "11/12" in html


# --- clinical forms ---------------------------------------------------------------------------


def _umn_post(**items: Any) -> dict[str, Any]:
    return {**umn_items(0), **items}


def test_umn_form_saves_and_shows_total(world: Any, client_for: Any, sites: Any) -> None:
    visit = make_visit(world["edm"], "V2")
    client = client_for("coordinator")
    page = client.get("/subjects/EDM-0001/visits/V2/umn/")
    assert page.status_code == 200
    assert len(page.context["form"].regions()) == 5
    assert "reason" not in page.context["form"].fields  # a first entry needs no reason
    response = client.post(
        "/subjects/EDM-0001/visits/V2/umn/", _umn_post(jaw_jerk=1, right_lower_babinski=1)
    )
    assert response.status_code == 302
    exam = UmnExam.objects.get(visit=visit)
    assert (exam.total, exam.bulbar, exam.right_lower) == (2, 1, 1)
    follow = client.get(response["Location"]).content.decode()
    assert "Penn UMN exam saved: total 2/32." in follow


def test_umn_out_of_range_item_is_named_with_the_api_message(world: Any, client_for: Any) -> None:
    make_visit(world["edm"], "V2")
    response = client_for("coordinator").post(
        "/subjects/EDM-0001/visits/V2/umn/", _umn_post(left_lower_clonus=2)
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["left_lower_clonus"]
    assert "Ensure this value is less than or equal to 1." in errors["left_lower_clonus"]
    html = response.content.decode()
    assert "Left lower limb: Ankle clonus (left_lower_clonus): Ensure this value" in html, html[
        html.find("error-summary") :
    ][:800]


def test_alsfrs_out_of_range_item_is_named(world: Any, client_for: Any) -> None:
    make_visit(world["edm"], "V2")
    data = {**alsfrs_items(q3=5), "q5_gastrostomy": ""}
    response = client_for("coordinator").post("/subjects/EDM-0001/visits/V2/alsfrs/", data)
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["q3"]
    assert errors["q3"] == [
        "Ensure this value is less than or equal to 4.",
        "must be between 0 and 4 (got 5).",
    ]
    html = response.content.decode()
    assert "Item 3 Swallowing (q3): must be between 0 and 4 (got 5)." in html
    assert not AlsfrsR.objects.filter(visit__visit_code="V2").exists()


def test_alsfrs_not_a_number_is_named(world: Any, client_for: Any) -> None:
    make_visit(world["edm"], "V2")
    data = {**alsfrs_items(), "q11": "four"}
    response = client_for("coordinator").post("/subjects/EDM-0001/visits/V2/alsfrs/", data)
    assert response.status_code == 400
    assert "Item 11 Orthopnea (q11): Enter a whole number." in response.content.decode()


def test_alsfrs_gastrostomy_flag_and_total(world: Any, client_for: Any) -> None:
    make_visit(world["edm"], "V2")
    data = {**alsfrs_items(q5=2, q10=3), "q5_gastrostomy": "on"}
    response = client_for("coordinator").post("/subjects/EDM-0001/visits/V2/alsfrs/", data)
    assert response.status_code == 302
    record = AlsfrsR.objects.get(visit__visit_code="V2", visit__subject__study_id="EDM-0001")
    assert record.q5_gastrostomy and record.total == 45 and record.fine_motor == 10


def test_changing_a_saved_form_needs_a_reason_and_a_fresh_version(
    world: Any, client_for: Any
) -> None:
    client = client_for("coordinator")
    page = client.get("/subjects/EDM-0001/visits/V1/alsfrs/")
    form = page.context["form"]
    assert "reason" in form.fields and form.initial["version"] == 1 and form.initial["q1"] == 3
    data = {**alsfrs_items(q1=2), "version": 1}
    response = client.post("/subjects/EDM-0001/visits/V1/alsfrs/", data)
    assert response.status_code == 400
    assert "give a reason for changing it" in response.content.decode()
    # Meanwhile someone else changes it: the version read (1) is stale.
    services.alsfrs_save(
        user=None, visit=world["v1"], items=alsfrs_items(q1=1), expected_version=1, reason="x"
    )
    response = client.post("/subjects/EDM-0001/visits/V1/alsfrs/", {**data, "reason": "re-scored"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "was changed by someone else since you opened it (your version 1, now 2)" in html
    assert AlsfrsR.objects.get(visit=world["v1"]).q1 == 1
    response = client.post(
        "/subjects/EDM-0001/visits/V1/alsfrs/", {**data, "version": 2, "reason": "re-scored"}
    )
    assert response.status_code == 302
    assert AlsfrsR.objects.get(visit=world["v1"]).q1 == 2


def test_missed_visit_has_no_forms(world: Any, client_for: Any) -> None:
    services.visit_create(
        user=None, subject=world["edm"], visit_code="V2", date=None, status="missed"
    )
    response = client_for("coordinator").post(
        "/subjects/EDM-0001/visits/V2/umn/", _umn_post(jaw_jerk=1)
    )
    assert response.status_code == 400
    assert "A missed visit has no UMN exam" in response.content.decode()


# --- scans ------------------------------------------------------------------------------------


@pytest.fixture
def phantom(tmp_path: Path) -> dict[str, Path]:
    image = band.make_phantom((64, 64, 64), (1.5, 1.5, 1.5), band_contrast=0.2, seed=1)
    paths = {"swi": tmp_path / "sub_swi.nii.gz", "labels": tmp_path / "sub_dseg.nii.gz"}
    nib.save(image.swi, paths["swi"])
    nib.save(image.labels, paths["labels"])
    return paths


def _upload(client: Client, path: Path, kind: str, **extra: Any) -> Any:
    with path.open("rb") as handle:
        return client.post(
            "/subjects/EDM-0001/visits/V1/scans/",
            {"kind": kind, "file": handle, **extra},
            headers={"X-Requested-With": "XMLHttpRequest"},
        )


def test_scan_upload_answers_json_with_metadata_then_quantifies(
    world: Any, client_for: Any, phantom: dict[str, Path], django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for("coordinator")
    response = _upload(client, phantom["swi"], "swi", field_strength="3")
    assert response.status_code == 201, response.content
    scan = response.json()["scan"]
    assert scan["kind"] == "swi" and scan["shape"] == [64, 64, 64]
    assert scan["field_strength"] == 3.0 and scan["qc_status"] == "pending"
    assert scan["code"] in response.json()["html"]
    response = _upload(client, phantom["labels"], "labels")
    assert response.status_code == 201
    swi = Scan.objects.get(code=scan["code"])
    assert "Quantify " + swi.code in response.json()["html"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/subjects/EDM-0001/visits/V1/scans/{swi.code}/quantify/")
    assert response.status_code == 302
    page = client.get("/subjects/EDM-0001/visits/V1/").content.decode()
    run = swi.runs.get()
    assert run.status == "done", run.error
    assert f"/api/v1/quantifications/{run.pk}/qc.png" in page
    assert "Band contrast" in page and "hand" in page


def test_scan_upload_error_names_the_file_problem(
    world: Any, client_for: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    response = _upload(client_for("coordinator"), bad, "swi")
    assert response.status_code == 400
    assert response.json() == {
        "errors": {
            "file": ["'notes.txt' is not a .nii, .nii.gz, .mgz or .zip (DICOM series) file."]
        }
    }
    assert not Scan.objects.exists()


def test_scan_upload_without_javascript_shows_the_page(
    world: Any, client_for: Any, tmp_path: Path
) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with bad.open("rb") as handle:
        response = client_for("coordinator").post(
            "/subjects/EDM-0001/visits/V1/scans/", {"kind": "swi", "file": handle}
        )
    assert response.status_code == 400
    assert "is not a .nii, .nii.gz, .mgz or .zip" in response.content.decode()


# --- completeness -----------------------------------------------------------------------------


def test_completeness_per_site_and_gaps(world: Any, client_for: Any, sites: Any) -> None:
    subject = make_subject(study_id="EDM-0300", site=sites["EDM"])
    make_visit(subject, "V1")
    services.visit_create(user=None, subject=subject, visit_code="V2", date=None, status="missed")
    response = client_for("coordinator").get("/completeness/")
    rows = response.context["rows"]
    assert [r.site.code for r in rows] == ["EDM"]
    edm = rows[0]
    # Both subjects' V1-V3 windows have closed: 6 expected; done: 2 V1s; 1 missed; 3 overdue.
    assert (edm.subjects, edm.expected_visits, edm.done_visits) == (2, 6, 2)
    assert (edm.completed, edm.with_umn, edm.with_alsfrs, edm.with_swi_and_labels) == (2, 1, 1, 0)
    assert edm.done_percent == 33.3 and edm.umn_percent == 50.0
    problems = {(g.subject.study_id, g.visit_code): g.problems for g in edm.gaps}
    assert problems[("EDM-0001", "V1")] == ("no SWI scan", "no label map")
    assert problems[("EDM-0300", "V1")][:2] == ("no UMN exam", "no ALSFRS-R")
    assert problems[("EDM-0300", "V3")][0].startswith("overdue")
    assert ("EDM-0300", "V2") not in problems  # missed: known, not a gap to chase
    html = response.content.decode()
    assert "TOR-0001" not in html and "33%" in html
    everyone = client_for("investigator").get("/completeness/").context["rows"]
    assert [r.site.code for r in everyone] == ["EDM", "TOR"]
