"""Scan and quantification endpoints: upload, validation errors, quantify (202), results, scoping."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging.models import Scan
from tests.api.conftest import API
from tests.factories import make_subject, make_visit

pytestmark = pytest.mark.django_db


@pytest.fixture
def edm_visit(sites):
    return make_visit(make_subject(site=sites["EDM"]), "V1")


def post_scan(client, visit, kind: str, path: Path, **extra):
    with path.open("rb") as handle:
        return client.post(
            f"{API}scans/",
            {"visit": visit.pk, "kind": kind, "file": handle, **extra},
            format="multipart",
        )


def test_upload_quantify_and_read_results(
    api, edm_visit, phantom_files, django_capture_on_commit_callbacks
):
    client = api("coordinator")
    response = post_scan(client, edm_visit, "swi", phantom_files["swi"], field_strength=3.0)
    assert response.status_code == 201, response.json()
    swi = response.json()
    assert (
        swi["shape"] == [64, 64, 64] and swi["qc_status"] == "pending" and len(swi["sha256"]) == 64
    )
    assert post_scan(client, edm_visit, "labels", phantom_files["labels"]).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{API}scans/{swi['id']}/quantify/")
    assert response.status_code == 202
    run_id = response.json()["id"]
    run = client.get(f"{API}quantifications/{run_id}/").json()
    assert run["status"] == "done" and run["algorithm_version"]
    assert len(run["measurements"]) == 10  # L, R × whole, leg, hand, face, paracentral
    left = next(
        m for m in run["measurements"] if m["hemisphere"] == "L" and m["segment"] == "whole"
    )
    assert left["band_contrast"] == pytest.approx(0.2, abs=0.02)
    png = client.get(run["qc_image"])
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    # Unchanged scan and method: the same run, 200, nothing queued.
    again = client.post(f"{API}scans/{swi['id']}/quantify/")
    assert again.status_code == 200 and again.json()["id"] == run_id
    listed = client.get(f"{API}quantifications/", {"subject": edm_visit.subject.study_id}).json()
    assert listed["count"] == 1
    download = client.get(swi["download"])
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == phantom_files["swi"].read_bytes()


def test_bad_upload_is_400_naming_the_problem(api, edm_visit, tmp_path):
    bad = tmp_path / "scan.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00broken")
    response = post_scan(api("coordinator"), edm_visit, "swi", bad)
    assert response.status_code == 400
    assert "scan.nii.gz" in " ".join(response.json()["file"])
    assert Scan.objects.count() == 0


def test_quantify_without_label_map_is_400(api, edm_visit, phantom_files):
    client = api("coordinator")
    swi = post_scan(client, edm_visit, "swi", phantom_files["swi"]).json()
    response = client.post(f"{API}scans/{swi['id']}/quantify/")
    assert response.status_code == 400 and "labels" in response.json()


def test_scans_are_scoped_to_sites_and_hidden_from_raters(api, edm_visit, phantom_files):
    swi = post_scan(api("coordinator"), edm_visit, "swi", phantom_files["swi"]).json()
    assert api("coord_tor").get(f"{API}scans/{swi['id']}/").status_code == 404
    assert api("coord_tor").get(f"{API}scans/").json()["count"] == 0
    assert api("coord_tor").get(f"{API}scans/{swi['id']}/download/").status_code == 404
    assert (
        post_scan(api("coord_tor"), edm_visit, "labels", phantom_files["labels"]).status_code == 400
    )
    assert api("rater").get(f"{API}scans/").status_code == 403
    assert api("investigator").get(f"{API}scans/{swi['id']}/").status_code == 200
    assert api("investigator").post(f"{API}scans/{swi['id']}/quantify/").status_code == 403
    assert api(None).get(f"{API}scans/").status_code == 401
