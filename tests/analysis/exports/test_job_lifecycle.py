"""Export jobs over their whole life: BIDS progress image by image (throttled), a task queue that
cannot be reached, queued or running jobs whose worker never reports, releases built under a
temporary name and renamed when complete, and the history of finished jobs (API and page)."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nibabel as nib
import pytest
from celery import Celery
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from analysis import tasks
from analysis.exports import releases
from analysis.models import ExportJob, ImmutableReleaseError, JobStatus, Release
from cohort.models import Visit
from imaging import services as imaging_services
from tests.analysis.exports.conftest import phantom_pair
from tests.imaging.test_celery_redis import _free_port

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/exports/jobs/"
RELEASES = "/api/v1/exports/"
PAGE = "/analysis/exports/"
KILLED = 9


@pytest.fixture
def broker(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A configured broker: jobs go to a queue (recorded here); the test plays the worker."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued: list[str] = []
    monkeypatch.setattr(tasks.build_release, "delay", lambda job_id: queued.append(job_id))
    return queued


@pytest.fixture
def broker_down(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Celery]:
    """A configured broker that is down: tasks are sent, for real, to a Redis port where nothing
    listens."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app = Celery(
        "motorband-test-down", broker=f"redis://127.0.0.1:{_free_port()}/0", set_as_current=False
    )
    monkeypatch.setattr(
        tasks.build_release,
        "delay",
        lambda job_id: app.send_task("analysis.build_release", args=[job_id]),
    )
    yield app
    app.close()


@pytest.fixture
def imaged(study: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """The ``study`` with an SWI and a label map at V2 and V3 as well: six images in all."""
    for number, code in ((11, "V2"), (12, "V3")):
        visit = Visit.objects.get(subject=study["als"], visit_code=code)
        paths = phantom_pair(tmp_path / f"phantoms-{code}", seed=number)
        labels: Any = nib.load(paths["labels"])  # the same labels, other bytes: not a duplicate
        labels.header["descrip"] = f"labels of {code}".encode()
        paths["labels"] = paths["labels"].with_name(f"{code}_dseg.nii.gz")
        nib.save(labels, paths["labels"])
        for kind in ("swi", "labels"):
            with paths[kind].open("rb") as handle:
                imaging_services.scan_upload(
                    user=None, visit=visit, kind=kind, upload=handle, name=paths[kind].name
                )
    return study


def _observe(
    monkeypatch: pytest.MonkeyPatch, job: ExportJob, also: Callable[[str], None] | None = None
) -> list[tuple[str, float, str]]:
    """Record the job's row (status, progress, message) after each report that reaches it."""
    seen: list[tuple[str, float, str]] = []
    original = releases.release_create

    def observed(**kwargs: Any) -> Release:
        record = kwargs["progress"]

        def progress(fraction: float, message: str) -> None:
            record(fraction, message)
            row = ExportJob.objects.get(pk=job.pk)
            seen.append((row.status, row.progress, row.progress_message))
            if also is not None:
                also(message)

        kwargs["progress"] = progress
        return original(**kwargs)

    monkeypatch.setattr(releases, "release_create", observed)
    return seen


def _releases_dir(media_root: Path) -> Path:
    return Path(media_root) / releases.RELEASES_DIR


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


# --- 1. BIDS progress --------------------------------------------------------------------------


def test_a_bids_release_reports_each_image_it_copies(
    imaged: Any,
    users: Any,
    api: Callable[[str | None], APIClient],
    broker: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(releases, "FILE_PROGRESS_INTERVAL_SECONDS", 0.0)
    client = api("data_manager")
    job = releases.job_request(user=users["data_manager"], fmt="bids")
    polled: list[dict[str, Any]] = []

    def poll(message: str) -> None:
        if message.startswith("Copying image 3 of"):
            polled.append(client.get(f"{JOBS}{job.pk}/").json())

    seen = _observe(monkeypatch, job, poll)
    assert releases.job_execute(job.pk).status == JobStatus.DONE
    copying = [(f, m) for _, f, m in seen if m.startswith("Copying image")]
    assert [m.split(" (")[0] for _, m in copying] == [
        f"Copying image {n} of 6" for n in range(1, 7)
    ]
    fractions = [f for f, _ in copying]
    assert fractions == sorted(fractions) and len(set(fractions)) == 6
    assert all(releases.BIDS_START < f < releases.TABLES_END for f in fractions)
    assert copying[0][1].endswith(
        "(sub-EDM0001/ses-V1/anat/sub-EDM0001_ses-V1_acq-swi_T2starw.nii.gz)"
    )
    # The API shows the same progress while the images are copied.
    assert len(polled) == 1 and polled[0]["status"] == "running"
    assert polled[0]["progress_message"].startswith("Copying image 3 of 6")
    assert releases.BIDS_START < polled[0]["progress"] < releases.TABLES_END


def test_file_by_file_reports_reach_the_job_a_few_times_a_second_at_most(
    imaged: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that never moves: only the first and the last report of the files pass.
    monkeypatch.setattr(releases, "monotonic_seconds", lambda: 1000.0)
    job = releases.job_request(user=users["admin"], fmt="bids")
    seen = _observe(monkeypatch, job)
    assert releases.job_execute(job.pk).status == JobStatus.DONE
    messages = [m for _, _, m in seen]
    copying = [m for m in messages if m.startswith("Copying image")]
    assert [m.split(" (")[0] for m in copying] == ["Copying image 1 of 6", "Copying image 6 of 6"]
    zipped = [m for m in messages if m.startswith("Zipping")]
    assert len(zipped) == 1 and len(Release.objects.get().manifest["files"]) > 20


def test_the_throttle_passes_the_first_the_last_and_one_report_per_interval() -> None:
    now = [0.0]
    passed: list[tuple[float, str]] = []
    throttle = releases.ThrottledProgress(
        lambda f, m: passed.append((f, m)), interval_seconds=0.5, clock=lambda: now[0]
    )
    for step in range(100):  # 100 files in one second
        now[0] = step / 100
        throttle(step / 100, f"file {step}", last=step == 99)
    assert [m for _, m in passed] == ["file 0", "file 50", "file 99"]


# --- 2. a task queue that cannot be reached, workers that never report --------------------------


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_task_cannot_be_sent_fails_at_once(
    study: Any, users: Any, api: Callable[[str | None], APIClient], broker_down: Celery
) -> None:
    client = api("data_manager")
    started = time.monotonic()
    answer = client.post(JOBS, {"format": "csv"}, format="json")
    assert time.monotonic() - started < 30
    assert answer.status_code == 202, answer.content
    job = answer.json()
    assert job["status"] == "failed" and job["finished_at"] and job["download"] is None
    assert job["error"].startswith("The task queue (Redis/Celery) could not be reached: ")
    assert "Connection refused" in job["error"] and "nothing was built" in job["error"]
    assert client.get(job["url"]).json()["status"] == "failed"
    # The documented POST answers with the failed job; the page says why.
    assert client.post(RELEASES, {"format": "csv"}, format="json").status_code == 500
    page = Client()
    page.force_login(users["admin"])
    shown = page.post(
        PAGE, {"format": "xlsx", "date_mode": "baseline", "site_mode": "keep"}, follow=True
    )
    assert "The task queue (Redis/Celery) could not be reached" in shown.content.decode()
    assert set(ExportJob.objects.values_list("status", flat=True)) == {JobStatus.FAILED}
    assert Release.objects.count() == 0


def test_a_queued_job_no_worker_takes_fails_after_the_configured_time(
    study: Any,
    users: Any,
    api: Callable[[str | None], APIClient],
    broker: list[str],
    settings: Any,
) -> None:
    settings.MOTORBAND_JOB_STALE_SECONDS = 120
    now = timezone.now()
    forgotten = releases.job_request(user=users["admin"], fmt="csv")
    waiting = releases.job_request(user=users["admin"], fmt="sav")
    busy = releases.job_request(user=users["admin"], fmt="dta")
    ExportJob.objects.filter(pk=forgotten.pk).update(created_at=now - dt.timedelta(minutes=3))
    ExportJob.objects.filter(pk=waiting.pk).update(created_at=now - dt.timedelta(minutes=1))
    # While a worker reports progress on another job, the queue is moving: nothing is failed.
    ExportJob.objects.filter(pk=busy.pk).update(
        status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    assert releases.jobs_fail_stale() == 0
    assert ExportJob.objects.get(pk=forgotten.pk).status == JobStatus.QUEUED
    # That worker stops reporting: it and the forgotten job are failed, the recent one waits.
    ExportJob.objects.filter(pk=busy.pk).update(
        heartbeat_at=now - dt.timedelta(minutes=2, seconds=1)
    )
    body = api("data_manager").get(f"{JOBS}{forgotten.pk}/").json()
    assert body["status"] == "failed" and body["finished_at"]
    assert body["error"].startswith(
        "No progress for 2 minutes: the worker probably stopped; start it again"
    )
    assert ExportJob.objects.get(pk=waiting.pk).status == JobStatus.QUEUED
    assert ExportJob.objects.get(pk=busy.pk).status == JobStatus.FAILED
    # Stored as failed, shown so on the page; a late worker does not build it.
    assert ExportJob.objects.get(pk=forgotten.pk).status == JobStatus.FAILED
    assert releases.job_execute(forgotten.pk).status == JobStatus.FAILED
    client = Client()
    client.force_login(users["admin"])
    page = client.get(PAGE).content.decode()
    assert "No progress for 2 minutes: the worker probably stopped" in page
    settings.MOTORBAND_JOB_STALE_SECONDS = 90
    assert releases.stale_job_message().startswith("No progress for 90 seconds:")


def test_a_job_failed_as_stale_while_it_is_built_stops_and_keeps_its_failure(
    study: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = releases.job_request(user=users["admin"], fmt="xlsx")

    def worker_seems_dead(message: str) -> None:
        if message.startswith("Writing wide"):
            old = timezone.now() - releases.stale_after() - dt.timedelta(seconds=1)
            ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=old)
            assert releases.jobs_fail_stale() == 1

    _observe(monkeypatch, job, worker_seems_dead)
    job = releases.job_execute(job.pk)
    assert job.status == JobStatus.FAILED and job.error == releases.stale_job_message()
    assert Release.objects.count() == 0
    assert list(_releases_dir(media_root).iterdir()) == []


# --- 3. built under a temporary name, renamed when complete -------------------------------------


def test_a_release_is_built_beside_its_place_and_renamed_when_complete(
    study: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")
    during: list[set[str]] = []
    _observe(
        monkeypatch,
        job,
        lambda message: during.append(_names(_releases_dir(media_root))),
    )
    job = releases.job_execute(job.pk)
    assert job.status == JobStatus.DONE
    staging = f"{releases.STAGING_PREFIX}job-{job.pk}"
    # While it is built nothing carries a release's name: a killed worker leaves no half release.
    assert {staging, f"{staging}.zip"} in during
    assert all(names <= {staging, f"{staging}.zip"} for names in during), during
    assert {p.name for p in _releases_dir(media_root).iterdir()} == {
        str(job.release_id),
        f"{job.release_id}.zip",
    }
    assert job.release is not None and releases.release_verify(job.release)
    assert (releases.release_folder(job.release.pk) / "long.csv").is_file()


def test_a_failed_build_leaves_no_temporary_files(
    study: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")

    def disk_full(message: str) -> None:
        if message.startswith("Zipping"):
            raise OSError(28, "No space left on device")

    _observe(monkeypatch, job, disk_full)
    job = releases.job_execute(job.pk)
    assert job.status == JobStatus.FAILED and "No space left on device" in job.error
    assert list(_releases_dir(media_root).iterdir()) == []


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_build_leaves_no_half_release_and_its_files_go_with_the_job(
    study: Any, users: Any, broker: list[str], monkeypatch: pytest.MonkeyPatch, media_root: Path
) -> None:
    job = releases.job_request(user=users["admin"], fmt="csv")

    def killed(message: str) -> None:
        if message.startswith("Zipping"):
            os._exit(KILLED)  # no clean-up runs, as when a worker is killed

    _observe(monkeypatch, job, killed)
    connection.close()  # the worker process opens its own connection
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            releases.job_execute(job.pk)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == KILLED
    staging = f"{releases.STAGING_PREFIX}job-{job.pk}"
    root = _releases_dir(media_root)
    assert _names(root) == {staging, f"{staging}.zip"}  # nothing under a release's name
    assert ExportJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    assert Release.objects.count() == 0
    releases.job_list(user=users["admin"])
    assert _names(root) == {staging, f"{staging}.zip"}  # not stale yet: kept
    old = timezone.now() - releases.stale_after() - dt.timedelta(seconds=1)
    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=old)
    releases.job_list(user=users["admin"])
    assert ExportJob.objects.get(pk=job.pk).status == JobStatus.FAILED
    assert _names(root) == set()


def test_the_leftovers_of_a_killed_worker_are_removed_when_its_job_is_failed_as_stale(
    study: Any, users: Any, broker: list[str], media_root: Path
) -> None:
    kept = releases.job_request(user=users["admin"], fmt="csv")
    releases.job_execute(kept.pk)  # a frozen release, which nothing may remove
    killed = releases.job_request(user=users["admin"], fmt="xlsx")
    live = releases.job_request(user=users["admin"], fmt="dta")
    now = timezone.now()
    old = now - releases.stale_after() - dt.timedelta(minutes=1)
    for job, heartbeat in ((killed, old), (live, now)):
        ExportJob.objects.filter(pk=job.pk).update(
            status=JobStatus.RUNNING, started_at=old, heartbeat_at=heartbeat
        )
    root = _releases_dir(media_root)
    # What the killed worker left, and what the live one is writing.
    for job in (killed, live):
        staging = releases.staging_folder(f"job-{job.pk}")
        (staging / "sub").mkdir(parents=True)
        (staging / "sub" / "long.xlsx").write_bytes(b"half a table")
        staging.with_name(staging.name + ".zip").write_bytes(b"half a zip")
    # A release built outside a job by a process that died long ago, and one being built now.
    abandoned = releases.staging_folder("release-abandoned")
    abandoned.mkdir()
    (abandoned / "wide.csv").write_text("a,b\n")
    for path in (abandoned / "wide.csv", abandoned):
        os.utime(path, (old.timestamp(), old.timestamp()))
    building = releases.staging_folder("release-building")
    building.mkdir()
    before = {p.name for p in root.iterdir()}

    releases.job_list(user=users["admin"])  # listing the jobs finds the stale one

    assert ExportJob.objects.get(pk=killed.pk).status == JobStatus.FAILED
    assert ExportJob.objects.get(pk=live.pk).status == JobStatus.RUNNING
    removed = {
        f"{releases.STAGING_PREFIX}job-{killed.pk}",
        f"{releases.STAGING_PREFIX}job-{killed.pk}.zip",
        f"{releases.STAGING_PREFIX}release-abandoned",
    }
    assert {p.name for p in root.iterdir()} == before - removed
    kept.refresh_from_db()
    assert kept.release is not None and releases.release_verify(kept.release)


# --- 4. history ---------------------------------------------------------------------------------


def test_finished_jobs_are_listed_with_who_when_what_size_and_duration(
    study: Any,
    users: Any,
    api: Callable[[str | None], APIClient],
    broker: list[str],
    settings: Any,
) -> None:
    done = releases.job_request(user=users["data_manager"], fmt="csv", deidentify=True)
    releases.job_execute(done.pk)
    never = releases.job_request(user=users["admin"], fmt="sav")
    ExportJob.objects.filter(pk=never.pk).update(
        created_at=timezone.now() - releases.stale_after() - dt.timedelta(minutes=1)
    )
    client = api("admin")
    listed = client.get(JOBS).json()
    assert listed["count"] == 2
    by_id = {row["id"]: row for row in listed["results"]}
    finished = by_id[str(done.pk)]
    release = Release.objects.get()
    assert finished["created_by"] == "data_manager" and finished["format"] == "csv"
    assert finished["parameters"]["deidentify"] is True and finished["status"] == "done"
    assert finished["size_bytes"] == release.size_bytes > 0
    assert 0 <= finished["duration_seconds"] < 120
    failed = by_id[str(never.pk)]
    assert failed["status"] == "failed" and failed["size_bytes"] is None
    assert failed["duration_seconds"] is None  # no worker ever started it
    assert [r["id"] for r in client.get(JOBS, {"status": "failed"}).json()["results"]] == [
        str(never.pk)
    ]
    assert client.get(JOBS, {"status": "lost"}).status_code == 400
    # Read-only: neither jobs nor frozen releases can be deleted or changed.
    assert client.delete(f"{JOBS}{done.pk}/").status_code == 405
    assert client.delete(f"{RELEASES}{release.pk}/").status_code == 405
    assert client.patch(f"{JOBS}{done.pk}/", {"status": "queued"}, format="json").status_code == 405
    with pytest.raises(ImmutableReleaseError):
        release.delete()
    assert api("coordinator").get(JOBS).status_code == 403
    # The page's history shows the same.
    page = Client()
    page.force_login(users["data_manager"])
    html = page.get(PAGE).content.decode()
    assert 'id="export-job-history"' in html and "2 finished jobs" in html
    assert "CSV, de-identified" in html and 'data-status="done"' in html
    assert f"/api/v1/exports/{release.pk}/download/" in html
    assert "No progress for 15 minutes" in html
    assert "Releases being built" not in html  # nothing queued or running any more
