"""Cohort API viewsets: scoped querysets in, services out; the base class does the HTTP mapping."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Model, QuerySet
from rest_framework import ISO_8601, relations
from rest_framework import fields as drf_fields
from rest_framework import serializers as drf_serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from cohort import selectors, services
from cohort.api.serializers import (
    AlsfrsSerializer,
    ClinicalEventSerializer,
    DiagnosisSerializer,
    SiteSerializer,
    SubjectSerializer,
    UmnExamSerializer,
    VisitSerializer,
)
from cohort.filters import (
    AlsfrsFilterSet,
    ClinicalEventFilterSet,
    DiagnosisFilterSet,
    SubjectFilterSet,
    UmnExamFilterSet,
    VisitFilterSet,
)
from cohort.models import AlsfrsR, ClinicalEvent, Diagnosis, Site, Subject, UmnExam, Visit
from core.access import record_access
from core.api.permissions import ClinicalRecordReadWrite, DiagnosisReadWrite, SiteReadAdminWrite
from core.api.viewsets import StudyModelViewSet
from core.models import AccessAction


def values_plan(serializer: Any) -> list[tuple[str, str, Any]] | None:
    """How to show a serializer's readable fields from ``.values()`` rows: (field name, lookup,
    field or None for a relation, whose lookup already holds what it shows) per field; None
    when a field is neither a model field nor a slug or primary key relation."""
    model = serializer.Meta.model
    plan: list[tuple[str, str, Any]] = []
    for name, field in serializer.fields.items():
        if field.write_only:
            continue
        if "." in field.source or field.source == "*":
            return None
        try:
            model_field = model._meta.get_field(field.source)
        except FieldDoesNotExist:
            return None
        if not model_field.concrete:
            return None
        if isinstance(field, relations.SlugRelatedField):
            plan.append((name, f"{field.source}__{field.slug_field}", None))
        elif isinstance(field, relations.PrimaryKeyRelatedField):
            plan.append((name, model_field.attname, None))
        elif isinstance(
            field,
            (
                relations.RelatedField,
                drf_serializers.BaseSerializer,
                drf_serializers.SerializerMethodField,
            ),
        ):
            return None
        else:
            plan.append((name, field.source, field))
    return plan


#: DRF fields whose ``to_representation`` is one builtin call on the value (``int(value)``, ...).
_BUILTIN_SHOWN: dict[Any, Callable[[Any], Any]] = {
    drf_fields.IntegerField.to_representation: int,
    drf_fields.CharField.to_representation: str,
    drf_fields.FloatField.to_representation: float,
}
ColumnShow = Callable[[Sequence[Any]], Sequence[Any]]
NONE = type(None)


def _column_show(field: Any) -> ColumnShow | None:
    """How a column of read values becomes what ``field.to_representation`` shows, value by value
    (None stays None, as in a serializer); None when the column shows as read (a relation's lookup).

    A column whose values are all of types the field shows unchanged (``int`` for an integer
    field, whose ``int(value)`` gives the value back; ``str`` for a text field; ``bool`` for a
    boolean; a choice's own type when every choice maps to itself) is shown as it is; a column of
    dates, as their ISO text; any other column goes through ``field.to_representation`` value by
    value (through the builtin itself where DRF's conversion is one builtin call).
    """
    if field is None:
        return None
    own = type(field).to_representation
    represent: Callable[[Any], Any] = field.to_representation
    unchanged: frozenset[type] = frozenset({NONE})
    builtin = _BUILTIN_SHOWN.get(own)
    if own is drf_fields.BigIntegerField.to_representation:
        coerce = getattr(field, "coerce_to_string", api_settings.COERCE_BIGINT_TO_STRING)
        builtin = str if coerce else int
    if builtin is not None:
        represent = builtin
        unchanged = frozenset({builtin, NONE})  # type: ignore[arg-type]
    elif own is drf_fields.BooleanField.to_representation:
        unchanged = frozenset({bool, NONE})
    elif own is drf_fields.ChoiceField.to_representation:
        kinds = {type(value) for value in field.choice_strings_to_values.values()}
        if kinds in ({str}, {int}):
            unchanged = frozenset({*kinds, NONE})
    elif own is drf_fields.DateField.to_representation and _iso_dates(field):
        isoformat = dt.date.isoformat

        def show_dates(column: Sequence[Any]) -> Sequence[Any]:
            if set(map(type, column)) == {dt.date}:
                return list(map(isoformat, column))
            return [None if v is None else represent(v) for v in column]

        return show_dates

    def show(column: Sequence[Any]) -> Sequence[Any]:
        if unchanged.issuperset(map(type, column)):
            return column
        return [None if v is None else represent(v) for v in column]

    return show


def _iso_dates(field: Any) -> bool:
    output_format = getattr(field, "format", api_settings.DATE_FORMAT)
    return isinstance(output_format, str) and output_format.lower() == ISO_8601


class ListColumn(NamedTuple):
    """One readable field of a list page: its name in the JSON, the lookup that reads it, and how
    its column of read values is shown (None: as read)."""

    name: str
    lookup: str
    show: ColumnShow | None


#: Fields whose ``to_representation`` reads nothing of the request (a file field, for one, builds
#: its URL from it): their columns may serve every request once worked out.
_REQUEST_FREE = frozenset(
    {
        drf_fields.IntegerField.to_representation,
        drf_fields.BigIntegerField.to_representation,
        drf_fields.CharField.to_representation,
        drf_fields.FloatField.to_representation,
        drf_fields.BooleanField.to_representation,
        drf_fields.ChoiceField.to_representation,
        drf_fields.DateField.to_representation,
    }
)
#: The columns of each serializer class's list page, once worked out (None: it lists through the
#: serializer). Only serializers whose shown fields are all request-free are kept.
_LIST_COLUMNS: dict[type, list[ListColumn] | None] = {}


def list_columns(serializer: Any) -> list[ListColumn] | None:
    """The list columns of a serializer: worked out once per serializer class (its fields are
    those of its ``Meta``, the same at every request) when no shown field reads the request,
    else at each request."""
    key = type(serializer)
    if key in _LIST_COLUMNS:
        return _LIST_COLUMNS[key]
    plan = values_plan(serializer)
    columns = (
        None
        if plan is None
        else [ListColumn(name, lookup, _column_show(field)) for name, lookup, field in plan]
    )
    if plan is None or all(
        field is None or type(field).to_representation in _REQUEST_FREE for _, _, field in plan
    ):
        _LIST_COLUMNS[key] = columns
    return columns


def show_rows(columns: list[ListColumn], lookups: list[str], rows: Sequence[tuple]) -> list[dict]:
    """``values_list(*lookups)`` rows as the serializer shows them, column by column."""
    if not rows:
        return []
    read = dict(zip(lookups, zip(*rows, strict=True), strict=True))
    shown = [
        read[column.lookup] if column.show is None else column.show(read[column.lookup])
        for column in columns
    ]
    names = [column.name for column in columns]
    return [dict(zip(names, values, strict=True)) for values in zip(*shown, strict=True)]


class CountedRows:
    """The rows of a list page, counted on the scoped and filtered model queryset they are read
    from: the same rows (the shown columns follow forward relations only), without the joins
    that only the shown columns need, so the pagination's COUNT reads one table where it can."""

    def __init__(self, rows: QuerySet, counted: QuerySet) -> None:
        self.rows = rows
        self.counted = counted

    @property
    def ordered(self) -> bool:
        return self.rows.ordered

    def count(self) -> int:
        return self.counted.count()

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self.rows[index])
        return self.rows[index]


class ValuesListMixin:
    """List pages read as ``.values_list()`` rows and shown through the serializer's own fields.

    The JSON is the serializer's (each readable field's ``to_representation``; a slug or primary
    key relation read through its lookup), without a model instance per row: a list then costs
    little more than its query. A serializer with any other kind of field lists as usual.
    """

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        view: Any = self
        columns = list_columns(view.get_serializer())
        if columns is None:
            return super().list(request, *args, **kwargs)  # type: ignore[misc]
        queryset = view.filter_queryset(view.get_queryset())
        lookups = list(dict.fromkeys(column.lookup for column in columns))
        rows_qs = queryset.values_list(*lookups)
        # The model queryset has the same rows to count (no DISTINCT, and each lookup follows at
        # most one forward relation), without the joins of the shown columns.
        one_per_record = not queryset.query.distinct and all(
            lookup.count("__") <= 1 for lookup in lookups
        )
        counted = queryset if one_per_record else rows_qs
        page = view.paginate_queryset(CountedRows(rows_qs, counted))
        data = show_rows(columns, lookups, page if page is not None else list(rows_qs))
        if page is not None:
            return view.get_paginated_response(data)
        return Response(data)


class SiteViewSet(StudyModelViewSet[Site]):
    """Study sites, by code. Clinical roles read them (coordinators their own); admins change them."""

    serializer_class = SiteSerializer
    permission_classes = [SiteReadAdminWrite]
    lookup_field = "code"
    accepts_change_reason = False

    def get_queryset(self) -> QuerySet[Site]:
        return selectors.site_list(user=self.request.user)

    def create_record(self, data: dict[str, Any], *, reason: str) -> Site:
        return services.site_create(user=self.request.user, **data)

    def update_record(
        self, instance: Site, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> Site:
        return services.site_update(
            instance, user=self.request.user, data=data, expected_version=expected_version
        )

    def delete_record(self, instance: Site, *, reason: str, expected_version: int | None) -> None:
        services.site_delete(
            instance,
            user=self.request.user,
            expected_version=expected_version,
        )


class SubjectViewSet(ValuesListMixin, StudyModelViewSet[Subject]):
    """Subjects, by id; referenced elsewhere by their study id."""

    serializer_class = SubjectSerializer
    permission_classes = [ClinicalRecordReadWrite]
    filterset_class = SubjectFilterSet

    def get_queryset(self) -> QuerySet[Subject]:
        return selectors.subject_list(user=self.request.user)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One subject (recorded in the access log: it names a person; lists are not)."""
        response = super().retrieve(request, *args, **kwargs)
        record_access(
            request,
            AccessAction.VIEW_IDENTIFIABLE,
            f"subject:{response.data['study_id']}",
            via="api",
        )
        return response

    def create_record(self, data: dict[str, Any], *, reason: str) -> Subject:
        return services.subject_create(user=self.request.user, reason=reason, **data)

    def update_record(
        self, instance: Subject, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> Subject:
        return services.subject_update(
            instance,
            user=self.request.user,
            data=data,
            expected_version=expected_version,
            reason=reason,
        )

    def delete_record(
        self, instance: Subject, *, reason: str, expected_version: int | None
    ) -> None:
        services.subject_delete(
            instance,
            user=self.request.user,
            reason=reason,
            expected_version=expected_version,
        )


class VisitViewSet(ValuesListMixin, StudyModelViewSet[Visit]):
    """Visits; timing relative to baseline and onset is derived."""

    serializer_class = VisitSerializer
    permission_classes = [ClinicalRecordReadWrite]
    filterset_class = VisitFilterSet

    def get_queryset(self) -> QuerySet[Visit]:
        return selectors.visit_list(user=self.request.user)

    def create_record(self, data: dict[str, Any], *, reason: str) -> Visit:
        subject = data.pop("subject")
        return services.visit_create(user=self.request.user, subject=subject, reason=reason, **data)

    def update_record(
        self, instance: Visit, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> Visit:
        return services.visit_update(
            instance,
            user=self.request.user,
            data=data,
            expected_version=expected_version,
            reason=reason,
        )

    def delete_record(self, instance: Visit, *, reason: str, expected_version: int | None) -> None:
        services.visit_delete(
            instance,
            user=self.request.user,
            reason=reason,
            expected_version=expected_version,
        )


class UmnExamViewSet(StudyModelViewSet[UmnExam]):
    """Penn UMN exams, one per visit; region subscores and total are derived from the items."""

    serializer_class = UmnExamSerializer
    permission_classes = [ClinicalRecordReadWrite]
    filterset_class = UmnExamFilterSet

    def get_queryset(self) -> QuerySet[UmnExam]:
        return selectors.umn_exam_list(user=self.request.user)

    def create_record(self, data: dict[str, Any], *, reason: str) -> UmnExam:
        visit = data.pop("visit")
        return services.umn_exam_save(
            user=self.request.user, visit=visit, items=data, reason=reason
        )

    def update_record(
        self, instance: UmnExam, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> UmnExam:
        # A changed `visit` stays in the items, where the service refuses it by name.
        return services.umn_exam_save(
            user=self.request.user,
            visit=instance.visit,
            items=data,
            expected_version=expected_version,
            reason=reason,
        )

    def delete_record(
        self, instance: UmnExam, *, reason: str, expected_version: int | None
    ) -> None:
        services.umn_exam_delete(
            instance,
            user=self.request.user,
            reason=reason,
            expected_version=expected_version,
        )


class AlsfrsViewSet(StudyModelViewSet[AlsfrsR]):
    """ALSFRS-R forms, one per visit; total and domain subscores are derived from the items."""

    serializer_class = AlsfrsSerializer
    permission_classes = [ClinicalRecordReadWrite]
    filterset_class = AlsfrsFilterSet

    def get_queryset(self) -> QuerySet[AlsfrsR]:
        return selectors.alsfrs_list(user=self.request.user)

    def create_record(self, data: dict[str, Any], *, reason: str) -> AlsfrsR:
        visit = data.pop("visit")
        return services.alsfrs_save(user=self.request.user, visit=visit, items=data, reason=reason)

    def update_record(
        self, instance: AlsfrsR, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> AlsfrsR:
        return services.alsfrs_save(
            user=self.request.user,
            visit=instance.visit,
            items=data,
            expected_version=expected_version,
            reason=reason,
        )

    def delete_record(
        self, instance: AlsfrsR, *, reason: str, expected_version: int | None
    ) -> None:
        services.alsfrs_delete(
            instance,
            user=self.request.user,
            reason=reason,
            expected_version=expected_version,
        )


M = TypeVar("M", bound=Model)


class SubjectRecordViewSet(StudyModelViewSet[M]):
    """A record that belongs to a subject (named by study id) and is written by three services
    of the same shape: ``create(user, subject, reason, **fields)``, ``update(record, user, data,
    expected_version, reason)`` and ``delete(record, user, reason, expected_version)``."""

    create_service: ClassVar[Callable[..., Any]]
    update_service: ClassVar[Callable[..., Any]]
    delete_service: ClassVar[Callable[..., None]]

    def create_record(self, data: dict[str, Any], *, reason: str) -> M:
        subject = data.pop("subject")
        record: M = type(self).create_service(
            user=self.request.user, subject=subject, reason=reason, **data
        )
        return record

    def update_record(
        self, instance: M, data: dict[str, Any], *, reason: str, expected_version: int | None
    ) -> M:
        record: M = type(self).update_service(
            instance,
            user=self.request.user,
            data=data,
            expected_version=expected_version,
            reason=reason,
        )
        return record

    def delete_record(self, instance: M, *, reason: str, expected_version: int | None) -> None:
        type(self).delete_service(
            instance, user=self.request.user, reason=reason, expected_version=expected_version
        )


class ClinicalEventViewSet(SubjectRecordViewSet[ClinicalEvent]):
    """Clinical events (death, tracheostomy, ventilation, gastrostomy, withdrawal)."""

    serializer_class = ClinicalEventSerializer
    permission_classes = [ClinicalRecordReadWrite]
    filterset_class = ClinicalEventFilterSet

    create_service = staticmethod(services.event_create)
    update_service = staticmethod(services.event_update)
    delete_service = staticmethod(services.event_delete)

    def get_queryset(self) -> QuerySet[ClinicalEvent]:
        return selectors.event_list(user=self.request.user)


class DiagnosisViewSet(SubjectRecordViewSet[Diagnosis]):
    """A subject's dated diagnoses; the one flagged ``reference_standard`` is the final diagnosis
    of the diagnostic study, set only by a reference-standard assessor (blinded to the MBS)."""

    serializer_class = DiagnosisSerializer
    permission_classes = [DiagnosisReadWrite]
    filterset_class = DiagnosisFilterSet

    create_service = staticmethod(services.diagnosis_create)
    update_service = staticmethod(services.diagnosis_update)
    delete_service = staticmethod(services.diagnosis_delete)

    def get_queryset(self) -> QuerySet[Diagnosis]:
        return selectors.diagnosis_list(user=self.request.user)
