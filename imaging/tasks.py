"""Celery tasks of the imaging app: quantification runs."""

from __future__ import annotations

from celery import shared_task

from imaging import services


@shared_task(name="imaging.quantify_run", acks_late=True, reject_on_worker_lost=True)
def quantify_run(run_id: int) -> str:
    """Compute one queued run; failures are recorded on the run, not raised."""
    return services.run_execute(run_id).status
