"""Deleting and replacing a scan from the visit page: a reason, the version read, role and site
permissions, and a replacement that keeps the old scan whenever the new file is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from imaging import band, reading, services
from imaging.models import Scan
from tests.factories import make_subject, make_visit
from tests.imaging.reads import make_rater

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Test-123!"
STALE = "Someone else changed this record since you opened it"
VISIT_URL = "/subjects/EDM-0001/visits/V1/"


@pytest.fixture
def edm_visit(sites: dict[str, Any]) -> Any:
    return make_visit(make_subject(study_id="EDM-0001", site=sites["EDM"]), "V1")


@pytest.fixture
def swi(edm_visit: Any, phantom_files: dict[str, Path]) -> Scan:
    with phantom_files["swi"].open("rb") as handle:
        return services.scan_upload(
            user=None, visit=edm_visit, kind="swi", upload=handle, name="first_swi.nii.gz"
        )


@pytest.fixture
def other_swi(tmp_path: Path) -> Path:
    """A second, different valid SWI phantom (another noise seed)."""
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=11
    )
    path = tmp_path / "second_swi.nii.gz"
    nib.save(phantom.swi, path)
    return path


@pytest.fixture
def client_for(users: dict[str, Any]) -> Callable[[str], Client]:
    def make(name: str) -> Client:
        client = Client()
        assert client.login(username=name, password=PASSWORD)
        return client

    return make


def _file(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/gzip")


def _stored_files(media_root: Path) -> set[str]:
    scans = media_root / "scans"
    return {str(p.relative_to(media_root)) for p in scans.rglob("*") if p.is_file()}


def _replace_url(scan: Scan) -> str:
    return f"{VISIT_URL}scans/{scan.code}/replace/"


def test_replace_stores_the_new_scan_and_deletes_the_old_with_the_reason(
    swi: Any,
    other_swi: Any,
    client_for: Any,
    media_root: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = client_for("coordinator")
    page = client.get(_replace_url(swi))
    assert page.status_code == 200
    assert f"Replace scan {swi.code}" in page.content.decode()
    old_file = swi.file.name
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _replace_url(swi),
            {
                "file": _file(other_swi),
                "reason": "First upload was the phase image",
                "version": swi.version,
            },
        )
    assert response.status_code == 302
    assert not Scan.objects.filter(pk=swi.pk).exists()
    new = Scan.objects.get(visit=swi.visit, kind="swi")
    assert new.sha256 == hashlib.sha256(other_swi.read_bytes()).hexdigest()
    assert response["Location"].endswith(f"#scan-{new.code}")
    assert _stored_files(media_root) == {new.file.name}
    assert old_file not in _stored_files(media_root)

    old_gone = Scan.history.filter(id=swi.pk).latest()
    assert old_gone.history_type == "-"
    assert old_gone.history_change_reason == "First upload was the phase image"
    created = Scan.history.filter(id=new.pk).latest()
    assert created.history_change_reason == f"Replaces {swi.code}: First upload was the phase image"

    history = client.get("/subjects/EDM-0001/history/")
    scans = [e for e in history.context["page"].object_list if e.kind == "scan"]
    assert [(e.record_id, e.action) for e in scans][:2] == [
        (new.pk, "Created"),
        (swi.pk, "Deleted"),
    ]
    assert "First upload was the phase image" in history.content.decode()


def test_a_refused_new_file_keeps_the_old_scan(
    swi: Any, tmp_path: Any, client_for: Any, media_root: Any
) -> None:
    client = client_for("coordinator")
    before = _stored_files(media_root)
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"this is not a NIfTI file")
    response = client.post(
        _replace_url(swi),
        {"file": _file(broken), "reason": "Better reconstruction", "version": swi.version},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["file"]
    assert "Better reconstruction" in response.content.decode()  # what was typed is kept
    kept = Scan.objects.get(pk=swi.pk)
    assert kept.version == swi.version and kept.file.name == swi.file.name
    assert Scan.objects.filter(visit=swi.visit).count() == 1
    assert _stored_files(media_root) == before
    assert not Scan.history.filter(id=swi.pk, history_type="-").exists()


def test_the_same_file_again_is_no_replacement(
    swi: Any, phantom_files: Any, client_for: Any, media_root: Any
) -> None:
    before = _stored_files(media_root)
    response = client_for("coordinator").post(
        _replace_url(swi),
        {"file": _file(phantom_files["swi"]), "reason": "again", "version": swi.version},
    )
    assert response.status_code == 400
    assert "already holds" in str(response.context["form"].errors["file"])
    assert Scan.objects.filter(pk=swi.pk).exists()
    assert _stored_files(media_root) == before


def test_replace_needs_a_reason_and_the_current_version(
    swi: Any, other_swi: Any, users: Any, client_for: Any
) -> None:
    client = client_for("coordinator")
    no_reason = client.post(_replace_url(swi), {"file": _file(other_swi), "version": swi.version})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.context["form"].errors
    assert Scan.objects.filter(pk=swi.pk).exists()

    services.scan_qc_set(swi, user=users["data_manager"], status="pass", reason="")
    stale = client.post(
        _replace_url(swi), {"file": _file(other_swi), "reason": "x", "version": swi.version}
    )
    assert stale.status_code == 400
    assert STALE in stale.content.decode()
    assert Scan.objects.filter(pk=swi.pk).exists()
    assert Scan.objects.filter(visit=swi.visit).count() == 1


def test_the_service_refuses_a_replacement_without_a_reason(swi: Any, other_swi: Any) -> None:
    with other_swi.open("rb") as handle, pytest.raises(ValidationError) as refused:
        services.scan_replace(swi, user=None, upload=handle, name=other_swi.name, reason="  ")
    assert "reason" in refused.value.message_dict
    assert Scan.objects.filter(pk=swi.pk).exists()


def test_a_second_upload_of_a_kind_points_to_replace(swi: Any, phantom_files: Any) -> None:
    with phantom_files["labels"].open("rb") as handle, pytest.raises(ValidationError) as refused:
        services.scan_upload(user=None, visit=swi.visit, kind="swi", upload=handle)
    message = " ".join(refused.value.message_dict["kind"])
    assert "Replace" in message
    assert "delete it before uploading another" not in message


def test_scan_delete_asks_first_and_needs_a_reason(
    swi: Any, client_for: Any, media_root: Any
) -> None:
    client = client_for("coordinator")
    url = f"{VISIT_URL}scans/{swi.code}/delete/"
    assert client.get(url).status_code == 200
    assert Scan.objects.filter(pk=swi.pk).exists()
    assert client.post(url, {"version": swi.version}).status_code == 400
    assert Scan.objects.filter(pk=swi.pk).exists()
    done = client.post(url, {"version": swi.version, "reason": "Scan of another subject"})
    assert done.status_code == 302
    assert not Scan.objects.filter(pk=swi.pk).exists()
    history = client.get(f"/subjects/EDM-0001/history/scan/{swi.pk}/")
    assert history.status_code == 200
    assert "Scan of another subject" in history.content.decode()


def test_a_read_scan_cannot_be_deleted_nor_its_visit(swi: Any, users: Any, client_for: Any) -> None:
    rater = make_rater("rater_x")
    reading.read_assignments_create(user=users["admin"], rater=rater, scans=[swi])
    reading.read_submit(rater=rater, scan=swi, left_grade=1, right_grade=0, confidence=3)
    client = client_for("coordinator")
    response = client.post(
        f"{VISIT_URL}scans/{swi.code}/delete/", {"version": swi.version, "reason": "x"}
    )
    assert response.status_code == 400
    assert "cannot be deleted while" in response.content.decode()
    assert Scan.objects.filter(pk=swi.pk).exists()
    visit = client.post(f"{VISIT_URL}delete/", {"version": swi.visit.version, "reason": "x"})
    assert visit.status_code == 400
    assert "cannot be deleted while" in visit.content.decode()


def test_permissions_on_scan_corrections(swi: Any, other_swi: Any, client_for: Any) -> None:
    data = {"file": _file(other_swi), "reason": "x", "version": swi.version}
    tor = client_for("coord_tor")
    assert tor.get(_replace_url(swi)).status_code == 404
    assert tor.post(_replace_url(swi), data).status_code == 404
    assert tor.post(f"{VISIT_URL}scans/{swi.code}/delete/", {"reason": "x"}).status_code == 404
    investigator = client_for("investigator")
    assert investigator.get(_replace_url(swi)).status_code == 403
    assert investigator.post(_replace_url(swi), data).status_code == 403
    assert (
        investigator.post(f"{VISIT_URL}scans/{swi.code}/delete/", {"reason": "x"}).status_code
        == 403
    )
    assert Scan.objects.filter(pk=swi.pk).exists()
    assert client_for("rater").get(f"/subjects/EDM-0001/history/scan/{swi.pk}/").status_code == 403


def test_visit_page_links_per_role(swi: Any, client_for: Any) -> None:
    coordinator = client_for("coordinator").get(VISIT_URL).content.decode()
    assert f"scans/{swi.code}/replace/" in coordinator
    assert f"scans/{swi.code}/delete/" in coordinator
    assert f"/history/scan/{swi.pk}/" in coordinator
    investigator = client_for("investigator").get(VISIT_URL).content.decode()
    assert f"scans/{swi.code}/replace/" not in investigator
    assert f"/history/scan/{swi.pk}/" in investigator


def test_replacing_a_label_map_checks_overlap_and_keeps_the_old_one(
    swi: Any, phantom_files: Any, tmp_path: Any
) -> None:
    with phantom_files["labels"].open("rb") as handle:
        labels = services.scan_upload(user=None, visit=swi.visit, kind="labels", upload=handle)
    # A label map far from the SWI in world space: refused, and the old label map stays.
    image: Any = nib.load(phantom_files["labels"])
    affine = image.affine.copy()
    affine[:3, 3] += 1000.0
    far = tmp_path / "far_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(image.dataobj), affine), far)
    with far.open("rb") as handle, pytest.raises(ValidationError):
        services.scan_replace(labels, user=None, upload=handle, name=far.name, reason="realigned")
    assert Scan.objects.filter(pk=labels.pk).exists()
