"""Releases: frozen exports through the API and the page, permissions, manifest and checksums."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from analysis.exports import releases
from analysis.models import ImmutableReleaseError, Release
from imaging import band

pytestmark = pytest.mark.django_db

URL = "/api/v1/exports/"


def _zip_bytes(response: Any) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("role", ["data_manager", "admin"])
def test_exporters_build_list_and_download_releases(
    study: Any, api: Callable[[str | None], APIClient], role: str, media_root: Path
) -> None:
    client = api(role)
    answer = client.post(URL, {"format": "csv", "deidentify": True}, format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["format"] == "csv" and body["deidentify"] is True
    assert body["created_by"] == role
    assert body["algorithm_versions"]["band_in_release"] == [band.ALGORITHM_VERSION]
    listing = client.get(URL).json()
    assert listing["count"] == 1
    item = listing["results"][0]
    assert {"id", "created_at", "created_by", "sha256", "format", "download"} <= set(item)
    download = client.get(item["download"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    data = _zip_bytes(download)
    assert hashlib.sha256(data).hexdigest() == item["sha256"] == download["X-Checksum-SHA256"]
    archive = zipfile.ZipFile(io.BytesIO(data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["created_by"] == role and manifest["deidentify"] is True
    assert manifest["filters"]["date_mode"] == "baseline"
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {"dictionary.csv", "events.csv", "long.csv", "wide.csv"}
    for path, digest in listed.items():
        assert hashlib.sha256(archive.read(path)).hexdigest() == digest
    assert (media_root / "releases" / body["id"] / "manifest.json").is_file()


@pytest.mark.parametrize("role", ["investigator", "coordinator", "rater"])
def test_other_roles_are_refused(
    study: Any, api: Callable[[str | None], APIClient], role: str, users: Any
) -> None:
    release = releases.release_create(user=users["admin"], fmt="csv")
    client = api(role)
    assert client.post(URL, {"format": "csv"}, format="json").status_code == 403
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{release.pk}/download/").status_code == 403
    assert api(None).get(URL).status_code == 401


def test_release_downloads_later_with_the_same_checksum(
    study: Any, api: Callable[[str | None], APIClient], users: Any
) -> None:
    release = releases.release_create(user=users["data_manager"], fmt="dta")
    client = api("data_manager")
    first = _zip_bytes(client.get(f"{URL}{release.pk}/download/"))
    # The study changes after the release: the release does not.
    from cohort.models import Subject

    Subject.objects.filter(study_id="EDM-0001").update(comment="changed")
    second = _zip_bytes(client.get(f"{URL}{release.pk}/download/"))
    assert first == second
    assert hashlib.sha256(second).hexdigest() == release.sha256
    assert releases.release_verify(release)


def test_releases_are_immutable(study: Any, api: Any, users: Any) -> None:
    release = releases.release_create(user=users["admin"], fmt="parquet")
    release.format = "csv"
    with pytest.raises(ImmutableReleaseError):
        release.save()
    with pytest.raises(ImmutableReleaseError):
        release.delete()
    client = api("admin")
    detail = f"{URL}{release.pk}/"
    assert client.get(detail).status_code == 200
    assert client.put(detail, {"format": "csv"}, format="json").status_code == 405
    assert client.patch(detail, {"format": "csv"}, format="json").status_code == 405
    assert client.delete(detail).status_code == 405
    assert Release.objects.get().format == "parquet"


def test_invalid_requests_answer_400(study: Any, api: Any) -> None:
    client = api("data_manager")
    assert client.post(URL, {"format": "rtf"}, format="json").status_code == 400
    answer = client.post(URL, {"format": "csv", "sites": ["NOPE"]}, format="json")
    assert answer.status_code == 400 and "sites" in answer.json()
    answer = client.post(URL, {"format": "bids", "deidentify": True}, format="json")
    assert answer.status_code == 400 and "deidentify" in answer.json()
    assert Release.objects.count() == 0


def test_bids_release_holds_the_bundle(study: Any, users: Any, media_root: Path) -> None:
    release = releases.release_create(user=users["admin"], fmt="bids")
    paths = {f["path"] for f in release.manifest["files"]}
    assert "participants.tsv" in paths
    assert "sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz" in paths
    with zipfile.ZipFile(Path(media_root) / release.archive) as archive:
        ignore = archive.read(".bidsignore")
    assert ignore.decode().endswith("/manifest.json\n")
    assert release.algorithm_versions["band_in_release"] == [band.ALGORITHM_VERSION]


def test_exports_page(study: Any, users: Any) -> None:
    from django.test import Client

    client = Client()
    client.force_login(users["data_manager"])
    page = client.get("/analysis/exports/")
    assert page.status_code == 200 and b"New release" in page.content
    answer = client.post(
        "/analysis/exports/",
        {"format": "sav", "deidentify": "on", "date_mode": "shift", "site_mode": "code"},
    )
    assert answer.status_code == 302
    release = Release.objects.get()
    assert release.filters["date_mode"] == "shift" and release.created_by == users["data_manager"]
    page = client.get("/analysis/exports/")
    assert f"/api/v1/exports/{release.pk}/download/".encode() in page.content
    download = client.get(f"/api/v1/exports/{release.pk}/download/")
    assert hashlib.sha256(_zip_bytes(download)).hexdigest() == release.sha256
    for role in ("investigator", "coordinator", "rater"):
        other = Client()
        other.force_login(users[role])
        assert other.get("/analysis/exports/").status_code == 403
