"""The exports page in a real browser with a broker configured: a release asked for on the page is
queued, the page follows its progress (static/analysis/exports.js polls the job every 2 s, no
inline script) and reloads with the download link when the worker has built it; a job no worker
takes is shown failed with what to do; finished jobs stay in the job history."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from analysis import tasks
from analysis.exports import releases
from analysis.models import ExportJob, JobStatus
from tests.factories import make_subject, make_visit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-Test-123!"


@pytest.fixture
def queued(settings: Any, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A configured broker: the jobs sent to it are recorded; the test plays the worker."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent: list[str] = []
    monkeypatch.setattr(tasks.build_release, "delay", lambda job_id: sent.append(job_id))
    return sent


@pytest.fixture
def refused(page: Any) -> Iterator[list[str]]:
    messages: list[str] = []
    page.on(
        "console",
        lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None,
    )
    yield messages
    assert messages == [], messages


def test_the_page_follows_a_release_until_it_can_be_downloaded(
    page: Any,
    live_server: Any,
    login: Any,
    screenshot: Any,
    users: dict[str, Any],
    queued: list[str],
    refused: list[str],
) -> None:
    make_visit(make_subject(study_id="EDM-0001"), "V1")
    login("data_manager", PASSWORD)
    page.goto(f"{live_server.url}/analysis/exports/")
    page.get_by_label("Format").select_option("xlsx")
    page.get_by_role("button", name="Build release").click()
    expect(page.get_by_text("The release is being built")).to_be_visible()
    row = page.locator("#export-jobs tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator(".job-status")).to_have_text("Queued")
    job = ExportJob.objects.get()
    assert queued == [str(job.pk)]
    # The worker starts and reports a step: the page shows it without a reload.
    ExportJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        progress=0.4,
        progress_message="Writing wide.xlsx",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    expect(row.locator(".job-status")).to_have_text("Running")
    expect(row.locator(".job-message")).to_have_text("Writing wide.xlsx")
    expect(row.locator(".job-progress")).to_have_js_property("value", 0.4)
    expect(row.locator(".job-percent")).to_have_text("40 %")
    screenshot("data-manager-export-progress")
    # The worker builds it: the page reloads and offers the download.
    ExportJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    job = releases.job_execute(job.pk)
    assert job.status == JobStatus.DONE, job.error
    download = f'a[href="/api/v1/exports/{job.release_id}/download/"]'
    history = page.locator("#export-job-history tbody tr")
    expect(history.locator(download)).to_be_visible()
    expect(page.locator("#export-jobs")).to_have_count(0)
    # The job stays in the history: who, what, how it ended, the zip's size.
    expect(history).to_have_count(1)
    expect(history.locator(".job-status")).to_have_text("Done")
    expect(history).to_contain_text("data_manager")
    expect(history).to_contain_text("Excel")
    assert job.release is not None
    expect(page.locator(f"table:not(#export-job-history) {download}")).to_have_count(1)
    screenshot("data-manager-export-ready")


def test_a_job_no_worker_takes_is_shown_failed_with_what_to_do(
    page: Any,
    live_server: Any,
    login: Any,
    screenshot: Any,
    users: dict[str, Any],
    queued: list[str],
    refused: list[str],
    settings: Any,
) -> None:
    settings.MOTORBAND_JOB_STALE_SECONDS = 120
    job = releases.job_request(user=users["data_manager"], fmt="bids")
    login("data_manager", PASSWORD)
    page.goto(f"{live_server.url}/analysis/exports/")
    row = page.locator("#export-jobs tbody tr")
    expect(row.locator(".job-status")).to_have_text("Queued")
    # No worker took it for longer than the stale time: the page's next poll shows it failed.
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=3))
    expect(row.locator(".job-status")).to_have_text("Failed")
    expect(row.locator(".job-message")).to_contain_text(
        "No progress for 2 minutes: the worker probably stopped; start it again"
    )
    assert ExportJob.objects.get(pk=job.pk).status == JobStatus.FAILED
    screenshot("data-manager-export-stale")
    page.reload()
    history = page.locator("#export-job-history tbody tr")
    expect(history.locator(".job-status")).to_have_text("Failed")
    expect(page.locator("#export-jobs")).to_have_count(0)
