"""Filter sets of the cohort resources, shared by the API and the list pages.

Related records are filtered by their public keys (subject by study id, site by code, visit by id)
and never through a model-choice lookup, so a filter value outside the caller's sites simply matches
nothing instead of telling whether it exists.
"""

from __future__ import annotations

import django_filters
from django import forms

from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Diagnosis,
    EventKind,
    Group,
    Phenotype,
    Subject,
    UmnExam,
    Visit,
)

# Ids larger than a 64-bit integer cannot exist; bounding them keeps the database driver happy.
MAX_ID = 2**63 - 1


class IdFilter(django_filters.Filter):
    """Exact match on an integer id."""

    field_class = forms.IntegerField

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class SubjectFilterSet(django_filters.FilterSet):
    site = django_filters.CharFilter(field_name="site__code", help_text="Site code, e.g. EDM.")
    group = django_filters.ChoiceFilter(choices=Group.choices)
    study_id = django_filters.CharFilter(help_text="Study id, e.g. EDM-0001.")

    class Meta:
        model = Subject
        fields = ["site", "group", "study_id"]


class SubjectSearchFilterSet(SubjectFilterSet):
    """The subject list page: the API's filters plus a partial, case-insensitive study id search."""

    q = django_filters.CharFilter(
        field_name="study_id", lookup_expr="icontains", label="Search study id"
    )

    class Meta(SubjectFilterSet.Meta):
        fields = ["q", "site", "group", "study_id"]


class VisitFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(
        field_name="subject__study_id", help_text="The subject's study id."
    )
    site = django_filters.CharFilter(field_name="subject__site__code", help_text="Site code.")
    visit_code = django_filters.CharFilter(help_text="V1, V2, ...")

    class Meta:
        model = Visit
        fields = ["subject", "site", "visit_code"]


class _VisitFormFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(
        field_name="visit__subject__study_id", help_text="The subject's study id."
    )
    visit = IdFilter(field_name="visit_id", help_text="The visit's id.")


class UmnExamFilterSet(_VisitFormFilterSet):
    class Meta:
        model = UmnExam
        fields = ["subject", "visit"]


class AlsfrsFilterSet(_VisitFormFilterSet):
    class Meta:
        model = AlsfrsR
        fields = ["subject", "visit"]


class ClinicalEventFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(
        field_name="subject__study_id", help_text="The subject's study id."
    )
    kind = django_filters.ChoiceFilter(choices=EventKind.choices)

    class Meta:
        model = ClinicalEvent
        fields = ["subject", "kind"]


class DiagnosisFilterSet(django_filters.FilterSet):
    subject = django_filters.CharFilter(
        field_name="subject__study_id", help_text="The subject's study id."
    )
    reference_standard = django_filters.BooleanFilter(
        help_text="true: only the reference-standard (final) diagnoses."
    )
    phenotype = django_filters.ChoiceFilter(choices=Phenotype.choices)

    class Meta:
        model = Diagnosis
        fields = ["subject", "reference_standard", "phenotype"]
