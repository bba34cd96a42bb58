"""Imaging selectors: scans and runs scoped to the caller's role and sites."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet

from cohort import roles
from imaging.models import Measurement, QuantificationRun, Scan


def scan_list(*, user: Any) -> QuerySet[Scan]:
    return roles.scope_by_site(
        Scan.objects.select_related("visit__subject__site"), user, "visit__subject__site_id"
    )


def run_list(*, user: Any) -> QuerySet[QuantificationRun]:
    return roles.scope_by_site(
        QuantificationRun.objects.select_related("scan__visit__subject", "labels").prefetch_related(
            Prefetch("measurements", queryset=Measurement.objects.order_by("hemisphere", "segment"))
        ),
        user,
        "scan__visit__subject__site_id",
    )
