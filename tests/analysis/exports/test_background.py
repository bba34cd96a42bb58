"""Releases built in the background: export jobs (status, progress, failures), the Celery task
with and without a broker, permissions, streamed and audited downloads, and the formula
neutralization of the spreadsheets they hold (XLSX, CSV) and of the SDTM domains."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from analysis import tasks
from analysis.exports import cells, releases, sdtm
from analysis.models import ExportJob, JobStatus, Release
from cohort import services
from cohort.models import Site, Visit
from core.models import AccessAction, AccessEvent
from imaging.models import Measurement, Scan

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/exports/jobs/"
RELEASES = "/api/v1/exports/"
COMMENT = '=HYPERLINK("http://x","y")'
SCANNER = "@SUM(1)"
NEGATIVE = -0.05


@pytest.fixture
def broker(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A configured broker: jobs go to a queue (recorded here) instead of running in-process;
    the test then runs the task as a worker would."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued: list[str] = []
    monkeypatch.setattr(tasks.build_release, "delay", lambda job_id: queued.append(job_id))
    return queued


@pytest.fixture
def hostile(study: dict[str, Any], users: dict[str, Any]) -> dict[str, Any]:
    """A visit comment and a scanner name that read as formulas; a negative band contrast."""
    visit = Visit.objects.get(subject=study["als"], visit_code="V1")
    services.visit_update(
        visit, user=users["coordinator"], data={"comment": COMMENT}, reason="test"
    )
    Scan.objects.filter(pk=study["swi"].pk).update(manufacturer=SCANNER, scanner_model="")
    Measurement.objects.filter(run=study["run"]).update(band_contrast=NEGATIVE)
    return study


def _zip_bytes(response: Any) -> bytes:
    return b"".join(response.streaming_content)


# --- lifecycle --------------------------------------------------------------------------------


def test_without_a_broker_the_job_is_built_in_process(
    study: Any, api: Callable[[str | None], APIClient], media_root: Path
) -> None:
    client = api("data_manager")
    answer = client.post(JOBS, {"format": "csv", "deidentify": True}, format="json")
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert answer["Location"] == job["url"]
    assert job["status"] == "done" and job["progress"] == 1.0
    assert job["progress_message"] == releases.DONE_MESSAGE and job["error"] == ""
    assert job["created_by"] == "data_manager" and job["format"] == "csv"
    assert job["parameters"]["deidentify"] is True
    release = Release.objects.get()
    assert job["release"] == str(release.pk)
    assert job["download"].endswith(f"/api/v1/exports/{release.pk}/download/")
    assert client.get(job["url"]).json()["status"] == "done"
    assert client.get(JOBS).json()["count"] == 1
    # The build is in the access log under the asking user, with the client's address.
    event = AccessEvent.objects.get(action=AccessAction.EXPORT, target=f"release:{release.pk}")
    assert event.username == "data_manager" and event.client_address == "127.0.0.1"


def test_the_documented_post_still_answers_201_with_the_release_without_a_broker(
    study: Any, api: Callable[[str | None], APIClient]
) -> None:
    answer = api("admin").post(RELEASES, {"format": "parquet"}, format="json")
    assert answer.status_code == 201
    assert answer.json()["id"] == str(Release.objects.get().pk)
    assert ExportJob.objects.get().status == JobStatus.DONE


def test_with_a_broker_the_job_is_queued_after_commit_and_built_by_the_worker(
    study: Any,
    api: Callable[[str | None], APIClient],
    broker: list[str],
    django_capture_on_commit_callbacks: Any,
) -> None:
    client = api("data_manager")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answer = client.post(RELEASES, {"format": "xlsx"}, format="json")
        assert broker == []  # nothing is sent before the job is committed
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["download"] is None
    assert job["progress_message"] == releases.WAITING_MESSAGE
    assert Release.objects.count() == 0
    for callback in callbacks:
        callback()
    assert broker == [job["id"]]
    # The worker runs the task; a second delivery of the same message does nothing more.
    assert tasks.build_release(job["id"]) == "done"
    assert tasks.build_release(job["id"]) == "done"
    assert Release.objects.count() == 1
    done = client.get(job["url"]).json()
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["started_at"] and done["finished_at"]
    download = client.get(done["download"])
    assert download.status_code == 200 and download.streaming
    assert hashlib.sha256(_zip_bytes(download)).hexdigest() == Release.objects.get().sha256


def test_progress_is_recorded_step_by_step_and_never_goes_back(
    study: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = releases.job_request(user=users["admin"], fmt="xlsx")
    assert job.status == JobStatus.QUEUED
    seen: list[tuple[str, float, str]] = []
    original = releases.release_create

    def observed(**kwargs: Any) -> Release:
        record = kwargs["progress"]

        def progress(fraction: float, message: str) -> None:
            record(fraction, message)
            row = ExportJob.objects.get(pk=job.pk)
            seen.append((row.status, row.progress, row.progress_message))
            if message.startswith("Writing wide"):
                record(0.01, "a late report of an earlier step")
                row = ExportJob.objects.get(pk=job.pk)
                seen.append((row.status, row.progress, row.progress_message))

        kwargs["progress"] = progress
        return original(**kwargs)

    monkeypatch.setattr(releases, "release_create", observed)
    assert releases.job_execute(job.pk).status == JobStatus.DONE
    assert {status for status, _, _ in seen} == {JobStatus.RUNNING}
    fractions = [fraction for _, fraction, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] >= 0 and fractions[-1] < 1
    messages = [message for _, _, message in seen]
    for step in ("Reading the study", "Writing long.xlsx", "Writing events.xlsx", "Zipping"):
        assert any(m.startswith(step) for m in messages), (step, messages)
    assert len(set(fractions)) >= 6
    job.refresh_from_db()
    assert job.progress == 1.0 and job.heartbeat_at is not None


# --- failures ---------------------------------------------------------------------------------


def test_a_failed_build_is_recorded_with_a_message_and_leaves_no_release(
    study: Any, api: Callable[[str | None], APIClient], settings: Any, tmp_path: Path
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the releases folder should be")
    settings.MEDIA_ROOT = blocked
    answer = api("admin").post(JOBS, {"format": "csv"}, format="json")
    assert answer.status_code == 202
    job = answer.json()
    assert job["status"] == "failed" and job["finished_at"]
    assert job["error"].startswith("The release could not be built:")
    assert "ask for it again" in job["error"] and job["download"] is None
    assert Release.objects.count() == 0
    # The documented POST answers 500 with the failed job rather than a release.
    failed = api("admin").post(RELEASES, {"format": "csv"}, format="json")
    assert failed.status_code == 500 and failed.json()["status"] == "failed"


def test_a_job_whose_asker_lost_the_role_fails_with_a_message(
    study: Any, users: Any, broker: list[str]
) -> None:
    job = releases.job_request(user=users["data_manager"], fmt="csv")
    get_user_model().objects.filter(pk=users["data_manager"].pk).update(is_active=False)
    job = releases.job_execute(job.pk)
    assert job.status == JobStatus.FAILED
    assert "data managers and administrators" in job.error and "no longer" in job.error
    assert Release.objects.count() == 0


def test_a_running_job_whose_worker_died_fails_after_the_timeout(
    study: Any, users: Any, api: Callable[[str | None], APIClient], broker: list[str]
) -> None:
    now = timezone.now()
    stale = releases.job_request(user=users["admin"], fmt="csv")
    alive = releases.job_request(user=users["admin"], fmt="dta")
    ExportJob.objects.filter(pk=stale.pk).update(
        status=JobStatus.RUNNING,
        started_at=now - dt.timedelta(hours=1),
        heartbeat_at=now - releases.stale_after() - dt.timedelta(seconds=5),
    )
    ExportJob.objects.filter(pk=alive.pk).update(
        status=JobStatus.RUNNING,
        started_at=now - dt.timedelta(hours=1),
        heartbeat_at=now - releases.stale_after() + dt.timedelta(minutes=1),
    )
    body = api("admin").get(f"{JOBS}{stale.pk}/").json()
    assert body["status"] == "failed" and body["error"] == releases.stale_job_message()
    assert body["error"].startswith("No progress for 15 minutes: the worker probably stopped")
    assert body["finished_at"]
    assert ExportJob.objects.get(pk=alive.pk).status == JobStatus.RUNNING
    # A late delivery of the failed job's message does not build it.
    assert releases.job_execute(stale.pk).status == JobStatus.FAILED
    assert Release.objects.count() == 0


def test_bad_requests_answer_400_and_make_no_job(
    study: Any, api: Callable[[str | None], APIClient]
) -> None:
    client = api("data_manager")
    assert client.post(JOBS, {"format": "rtf"}, format="json").status_code == 400
    answer = client.post(JOBS, {"format": "csv", "sites": ["NOPE"]}, format="json")
    assert answer.status_code == 400 and "sites" in answer.json()
    answer = client.post(JOBS, {"format": "bids", "groups": ["ALS"]}, format="json")
    assert answer.status_code == 400 and "sites" in answer.json()
    assert ExportJob.objects.count() == 0


# --- permissions, downloads -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["investigator", "coordinator", "rater", "assessor"])
def test_other_roles_cannot_ask_for_or_see_jobs(
    study: Any, users: Any, api: Callable[[str | None], APIClient], role: str, broker: list[str]
) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")
    client = api(role)
    assert client.post(JOBS, {"format": "csv"}, format="json").status_code == 403
    assert client.get(JOBS).status_code == 403
    assert client.get(f"{JOBS}{job.pk}/").status_code == 403
    assert api(None).get(f"{JOBS}{job.pk}/").status_code == 401
    with pytest.raises(PermissionError):
        releases.job_request(user=users[role], fmt="csv")
    assert releases.job_list(user=users[role]).count() == 0
    assert ExportJob.objects.count() == 1


def test_the_download_is_streamed_and_recorded(
    study: Any, users: Any, api: Callable[[str | None], APIClient]
) -> None:
    job = releases.job_request(user=users["admin"], fmt="sav")
    client = api("data_manager")
    url = client.get(f"{JOBS}{job.pk}/").json()["download"]
    before = AccessEvent.objects.filter(action=AccessAction.DOWNLOAD).count()
    download = client.get(url)
    assert download.status_code == 200 and download.streaming
    assert download["Content-Type"] == "application/zip"
    assert hashlib.sha256(_zip_bytes(download)).hexdigest() == download["X-Checksum-SHA256"]
    events = AccessEvent.objects.filter(action=AccessAction.DOWNLOAD)
    assert events.count() == before + 1
    event = events.latest("pk")
    assert event.username == "data_manager" and event.target == f"release:{job.release_id}"


# --- the page ---------------------------------------------------------------------------------


def test_the_page_asks_for_a_job_and_shows_its_progress(
    study: Any, users: Any, broker: list[str], django_capture_on_commit_callbacks: Any
) -> None:
    client = Client()
    client.force_login(users["data_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(
            "/analysis/exports/",
            {"format": "xlsx", "date_mode": "baseline", "site_mode": "keep"},
            follow=True,
        )
    assert answer.status_code == 200
    job = ExportJob.objects.get()
    assert broker == [str(job.pk)]
    page = answer.content.decode()
    assert "The release is being built" in page
    assert f'data-job-url="/api/v1/exports/jobs/{job.pk}/"' in page
    assert 'data-status="queued"' in page and "analysis/exports.js" in page
    assert "<script>" not in page  # CSP: no inline script
    job = releases.job_execute(job.pk)
    page = client.get("/analysis/exports/").content.decode()
    assert "Releases being built" not in page  # done jobs leave the table...
    assert f"/api/v1/exports/{job.release_id}/download/" in page  # ...for the releases list


def test_the_page_shows_a_failed_job_with_its_message(
    study: Any, users: Any, broker: list[str]
) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")
    get_user_model().objects.filter(pk=users["admin"].pk).update(is_active=False)
    releases.job_execute(job.pk)
    client = Client()
    client.force_login(users["data_manager"])
    page = client.get("/analysis/exports/").content.decode()
    assert 'data-status="failed"' in page
    assert "Releases are made by data managers and administrators." in page


# --- formula neutralization -------------------------------------------------------------------


def _release_zip(job: ExportJob) -> zipfile.ZipFile:
    assert job.release is not None
    return zipfile.ZipFile(releases.release_zip_path(job.release))


def test_the_xlsx_release_neutralizes_formulas_and_keeps_numbers(
    hostile: Any, users: Any, media_root: Path
) -> None:
    job = releases.job_request(user=users["admin"], fmt="xlsx")
    assert job.status == JobStatus.DONE, job.error
    archive = _release_zip(job)
    book = openpyxl.load_workbook(io.BytesIO(archive.read("long.xlsx")))
    rows = book.active.iter_rows()
    header = [c.value for c in next(rows)]
    row = next(
        r
        for r in rows
        if r[header.index("subject")].value == "EDM-0001"
        and r[header.index("visit_code")].value == "V1"
    )
    assert row[header.index("visit_comment")].value == "'" + COMMENT
    assert row[header.index("scanner")].value == "'" + SCANNER
    contrast = row[header.index("band_contrast_L")]
    assert contrast.data_type == "n" and contrast.value == pytest.approx(NEGATIVE)
    assert row[header.index("visit_date")].is_date
    for name in ("long.xlsx", "wide.xlsx", "events.xlsx"):
        sheet = openpyxl.load_workbook(io.BytesIO(archive.read(name)))
        assert not [c for ws in sheet for r in ws.iter_rows() for c in r if c.data_type == "f"]
        for ws in sheet:
            for r in ws.iter_rows():
                for c in r:
                    assert not (isinstance(c.value, str) and c.value[:1] in ("=", "+", "-", "@")), (
                        c.value
                    )


def test_the_csv_release_neutralizes_formulas(hostile: Any, users: Any, media_root: Path) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")
    archive = _release_zip(job)
    for name in ("long.csv", "wide.csv", "events.csv", "dictionary.csv"):
        text = archive.read(name).decode("utf-8")
        for line in csv.reader(io.StringIO(text)):
            for value in line:
                if value[:1] in ("=", "+", "-", "@") and not cells.NUMBER_TEXT.fullmatch(value):
                    pytest.fail(f"{name}: {value!r} reads as a formula")
    long = list(csv.DictReader(io.StringIO(archive.read("long.csv").decode("utf-8"))))
    row = next(r for r in long if r["subject"] == "EDM-0001" and r["visit_code"] == "V1")
    assert row["visit_comment"] == "'" + COMMENT
    assert float(row["band_contrast_L"]) == pytest.approx(NEGATIVE)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("-0.05", "-0.05"),
        ("+3", "+3"),
        ("1e-05", "1e-05"),
        ("-1.5E+2", "-1.5E+2"),
        ("-", "'-"),
        ("-1+cmd|' /C calc'!A0", "'-1+cmd|' /C calc'!A0"),
        ("=1+1", "'=1+1"),
        ("@SUM(1)", "'@SUM(1)"),
        ("+1-1", "'+1-1"),
        ("MB-12", "MB-12"),
        ("", ""),
    ],
)
def test_all_text_cells_keep_plain_numbers_and_quote_formulas(value: str, expected: str) -> None:
    assert cells.neutralize_text(value) == expected


def test_the_sdtm_domains_neutralize_formulas_and_keep_numeric_results(
    hostile: Any, tmp_path: Path
) -> None:
    Site.objects.filter(code="TOR").update(code="@TOR")  # as imported from a bundle, unchecked
    written = sdtm.export_sdtm(tmp_path / "sdtm")[0]
    by_name = {p.name: p for p in written}
    dm = list(csv.DictReader(by_name["dm.csv"].open(encoding="utf-8")))
    assert {r["SITEID"] for r in dm} == {"EDM", "'@TOR"}
    nv = list(csv.DictReader(by_name["nv.csv"].open(encoding="utf-8")))
    negative = [r for r in nv if r["NVSTRESN"] and float(r["NVSTRESN"]) == NEGATIVE]
    assert negative, "the negative band contrast is in the NV domain"
    for r in negative:
        assert float(r["NVORRES"]) == NEGATIVE and float(r["NVSTRESC"]) == NEGATIVE
    for path in written:
        for row in csv.reader(path.open(encoding="utf-8")):
            for value in row:
                if value[:1] in ("=", "+", "-", "@"):
                    assert cells.NUMBER_TEXT.fullmatch(value), f"{path.name}: {value!r}"
