"""The query filters, shared by the API and the list page (and its CSV download).

The site is filtered by its code and the subject by its study id, never through a model-choice
lookup: a value outside the caller's sites matches nothing instead of telling whether it exists.
"""

from __future__ import annotations

import django_filters

from queries.models import DataQuery, QueryStatus
from queries.records import RecordType


class QueryFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=QueryStatus.choices)
    site = django_filters.CharFilter(field_name="site__code", help_text="Site code, e.g. EDM.")
    record_type = django_filters.ChoiceFilter(choices=RecordType.choices)
    subject = django_filters.CharFilter(
        field_name="subject__study_id", help_text="The subject's study id."
    )
    auto = django_filters.BooleanFilter(
        help_text="true: only the queries the automatic checks opened; false: only people's."
    )

    class Meta:
        model = DataQuery
        fields = ["status", "site", "record_type", "subject", "auto"]
