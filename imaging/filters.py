"""Filter sets of scans, quantification runs and reads, shared by the API and the pages."""

from __future__ import annotations

import django_filters

from cohort.filters import IdFilter
from imaging.models import QuantificationRun, Read, RunStatus, Scan, ScanKind


class ScanFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(
        field_name="visit__subject__study_id", help_text="The subject's study id."
    )
    visit = IdFilter(field_name="visit_id", help_text="The visit's id.")
    kind = django_filters.ChoiceFilter(choices=ScanKind.choices)

    class Meta:
        model = Scan
        fields = ["subject", "visit", "kind"]


class QuantificationFilterSet(django_filters.FilterSet):
    scan = IdFilter(field_name="scan_id", help_text="The scan's id.")
    status = django_filters.ChoiceFilter(choices=RunStatus.choices)
    subject = django_filters.CharFilter(
        field_name="scan__visit__subject__study_id", help_text="The subject's study id."
    )

    class Meta:
        model = QuantificationRun
        fields = ["scan", "status", "subject"]


class ReadFilterSet(django_filters.FilterSet):
    scan = IdFilter(field_name="scan_id", help_text="The scan's id.")
    rater = django_filters.CharFilter(
        field_name="rater__username", help_text="The rater's username (reviewers only)."
    )
    current = django_filters.BooleanFilter(
        field_name="is_current",
        help_text="true: current reads only; false: superseded versions only.",
    )

    class Meta:
        model = Read
        fields = ["scan", "rater", "current"]
