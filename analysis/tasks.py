"""Celery tasks of the analysis app: releases built in the background."""

from __future__ import annotations

from celery import shared_task

from analysis.exports import releases


@shared_task(name="analysis.build_release", acks_late=True, reject_on_worker_lost=True)
def build_release(job_id: str) -> str:
    """Build one queued export job's release; failures are recorded on the job, not raised."""
    return str(releases.job_execute(job_id).status)
