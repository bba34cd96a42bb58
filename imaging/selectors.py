"""Imaging selectors: scans and runs scoped to the caller's role and sites."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from core.roles import Acting
from imaging.models import Measurement, QcStatus, QuantificationRun, RunStatus, Scan


def scan_list(*, user: Acting) -> QuerySet[Scan]:
    return Scan.objects.visible_to(user).select_related("visit__subject__site")


def run_list(*, user: Acting) -> QuerySet[QuantificationRun]:
    return (
        QuantificationRun.objects.visible_to(user)
        .select_related("scan__visit__subject", "labels")
        .prefetch_related(
            Prefetch("measurements", queryset=Measurement.objects.order_by("hemisphere", "segment"))
        )
    )


def usable_run_q(prefix: str = "") -> Q:
    """Runs whose numbers may count in an analysis (``prefix`` is the lookup path to the run, e.g.
    ``"run__"`` from a measurement): done and not failed by a person, or flagged by a check and
    then passed by a person; never a run of a scan that failed QC."""

    def q(**lookups: object) -> Q:
        return Q(**{f"{prefix}{name}": value for name, value in lookups.items()})

    done = q(status=RunStatus.DONE) & ~q(qc_status=QcStatus.FAIL)
    reviewed = q(status=RunStatus.NEEDS_REVIEW, qc_status=QcStatus.PASS)
    return (done | reviewed) & ~q(scan__qc_status=QcStatus.FAIL)


def run_exclusion_reason(
    *, scan_qc: str, run_status: str | None, run_qc: str | None, flagged: list[str]
) -> str | None:
    """Why a scan's band values leave the analyses (None when they count or it has no run)."""
    if scan_qc == QcStatus.FAIL:
        return "scan failed QC"
    if run_status is None:
        return None
    if run_qc == QcStatus.FAIL:
        return "run failed QC"
    if run_status == RunStatus.NEEDS_REVIEW and run_qc != QcStatus.PASS:
        return "run needs review (" + ", ".join(flagged or ["checks"]) + ")"
    if run_status == RunStatus.FAILED:
        return "quantification failed"
    if run_status in (RunStatus.QUEUED, RunStatus.RUNNING):
        return "quantification not finished"
    return None
