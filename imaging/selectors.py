"""Imaging selectors: scans and runs scoped to the caller's role and sites."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from core.roles import Acting
from imaging.models import Measurement, QuantificationRun, Scan


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
