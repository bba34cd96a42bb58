"""Releases on a real task queue: a Redis server and a Celery worker started by the test build a
queued export job (the worker process reports its progress in the shared database)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from analysis.exports import releases
from analysis.models import ExportJob, JobStatus
from tests.factories import make_subject, make_visit
from tests.imaging.test_celery_redis import broker_app, redis_url, worker

pytestmark = pytest.mark.redis

__all__ = ["broker_app", "redis_url", "worker"]  # fixtures of the worker and broker


def test_celery_worker_builds_an_export_job_from_redis(
    worker: str, broker_app: Any, users: dict[str, Any], settings: Any, media_root: Path
) -> None:
    for number in range(3):
        make_visit(make_subject(study_id=f"EDM-000{number + 1}"), "V1")
    job = releases.job_request(user=users["data_manager"], fmt="xlsx", enqueue=False)
    assert job.status == JobStatus.QUEUED
    broker_app.send_task("analysis.build_release", args=[str(job.pk)])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            break
        time.sleep(0.3)
    assert job.status == JobStatus.DONE, job.error
    assert job.progress == 1.0 and job.release is not None
    assert job.started_at is not None and job.finished_at is not None
    assert {f["path"] for f in job.release.manifest["files"]} >= {"long.xlsx", "wide.xlsx"}
    assert releases.release_verify(job.release)
    assert ExportJob.objects.count() == 1
    # Built under a temporary name and renamed into place: nothing else is left beside it.
    assert {p.name for p in (media_root / releases.RELEASES_DIR).iterdir()} == {
        str(job.release_id),
        f"{job.release_id}.zip",
    }
