"""Cohort API serializers: field mapping and types only; every rule lives in the models and services.

Subjects are referenced by study id and sites by code; a reference resolves only within the caller's
sites, so naming another site's subject reads as "does not exist", exactly like a typo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from cohort import scales, selectors
from cohort.models import AlsfrsR, ClinicalEvent, Diagnosis, Site, Subject, UmnExam, Visit
from core import roles
from core.roles import Acting


class ScopedRelatedMixin:
    """A related field whose choices are the caller's scope (``scope(user=...)`` of a selector)."""

    def __init__(self, *, scope: Callable[..., QuerySet], **kwargs: Any) -> None:
        self.scope = scope
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        request = self.context.get("request")  # type: ignore[attr-defined]
        return self.scope(user=getattr(request, "user", None))


class ScopedSlugRelatedField(ScopedRelatedMixin, serializers.SlugRelatedField):
    pass


class ScopedPrimaryKeyRelatedField(ScopedRelatedMixin, serializers.PrimaryKeyRelatedField):
    pass


def visit_scope(*, user: Acting) -> QuerySet[Visit]:
    return selectors.visit_list(user=user)


def writable_site_scope(*, user: Acting) -> QuerySet[Site]:
    if not roles.has_role(user, roles.CLINICAL_WRITERS):
        return Site.objects.none()
    return selectors.site_list(user=user)


VERSION_HELP = (
    "The record's version (also its ETag). Send back the version you read to have a concurrent "
    "change detected (409); it is never set by the client."
)
REASON_HELP = (
    "Why the record changes, kept in the audit trail (or the X-Change-Reason header). Required "
    "to change or delete a completed visit and its forms."
)


def version_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text=VERSION_HELP
    )


class VersionedSerializer(serializers.ModelSerializer):
    version = version_field()
    reason = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, help_text=REASON_HELP
    )


class SiteSerializer(serializers.ModelSerializer):
    version = version_field()

    class Meta:
        model = Site
        fields = ["code", "name", "version"]


class SubjectSerializer(VersionedSerializer):
    site = ScopedSlugRelatedField(
        slug_field="code",
        queryset=Site.objects.all(),
        scope=writable_site_scope,
        help_text="Site code.",
    )

    class Meta:
        model = Subject
        fields = [
            "id",
            "study_id",
            "site",
            "group",
            "sex",
            "birth_date",
            "handedness",
            "onset_date",
            "onset_region",
            "diagnosis_date",
            "enrolled_on",
            "last_known_alive",
            "version",
            "reason",
        ]
        # Uniqueness is the model's rule (reported by full_clean in the service).
        extra_kwargs: ClassVar[dict[str, dict[str, Any]]] = {"study_id": {"validators": []}}


class VisitSerializer(VersionedSerializer):
    subject = ScopedSlugRelatedField(
        slug_field="study_id",
        queryset=Subject.objects.all(),
        scope=selectors.subject_list,
        help_text="The subject's study id.",
    )

    class Meta:
        model = Visit
        fields = [
            "id",
            "subject",
            "visit_code",
            "date",
            "status",
            "days_from_baseline",
            "months_from_onset",
            "kings_stage",
            "kings_nutritional_failure",
            "kings_respiratory_failure",
            "mitos_stage",
            "version",
            "reason",
        ]
        read_only_fields = [
            "days_from_baseline",
            "months_from_onset",
            "kings_stage",
            "kings_nutritional_failure",
            "kings_respiratory_failure",
            "mitos_stage",
        ]
        # (subject, visit_code) uniqueness is checked by the model, with a readable message.
        validators: list[Any] = []


def _one_form_per_visit(model: type[UmnExam] | type[AlsfrsR]) -> UniqueValidator:
    return UniqueValidator(
        queryset=model.objects.all(),
        message=f"This visit already has a {model._meta.verbose_name}: change that one instead.",
    )


class UmnExamSerializer(VersionedSerializer):
    visit = ScopedPrimaryKeyRelatedField(
        queryset=Visit.objects.all(),
        scope=visit_scope,
        validators=[_one_form_per_visit(UmnExam)],
        help_text="The visit's id.",
    )

    class Meta:
        model = UmnExam
        fields = [
            "id",
            "visit",
            *scales.UMN_ITEMS,
            *scales.UMN_REGIONS,
            "total",
            "version",
            "reason",
        ]
        read_only_fields = [*scales.UMN_REGIONS, "total"]


class AlsfrsSerializer(VersionedSerializer):
    visit = ScopedPrimaryKeyRelatedField(
        queryset=Visit.objects.all(),
        scope=visit_scope,
        validators=[_one_form_per_visit(AlsfrsR)],
        help_text="The visit's id.",
    )

    class Meta:
        model = AlsfrsR
        fields = [
            "id",
            "visit",
            *scales.ALSFRS_ITEMS,
            "q5_gastrostomy",
            *scales.ALSFRS_MISSING_FIELDS.values(),
            "form_status",
            "not_done_reason",
            "total",
            "total_note",
            *scales.ALSFRS_DOMAINS,
            "version",
            "reason",
        ]
        read_only_fields = ["total", "total_note", *scales.ALSFRS_DOMAINS]
        extra_kwargs = {
            **{
                field: {
                    "help_text": f"Why item {item[1:]} has no score: not_done or unknown "
                    "(null where it has a score). Never together with a score."
                }
                for item, field in scales.ALSFRS_MISSING_FIELDS.items()
            },
            "form_status": {
                "help_text": "done (default) or not_done: the whole form was not done at the "
                "visit; then no item has a score or code and not_done_reason says why."
            },
            "not_done_reason": {"help_text": "Why the form was not done (with not_done)."},
        }

    total_note = serializers.CharField(
        read_only=True,
        help_text="Why the total is not computed, e.g. 'Total not computed: item 8 (Walking) "
        "not done.'; empty when it is.",
    )


class ClinicalEventSerializer(VersionedSerializer):
    subject = ScopedSlugRelatedField(
        slug_field="study_id",
        queryset=Subject.objects.all(),
        scope=selectors.subject_list,
        help_text="The subject's study id.",
    )

    class Meta:
        model = ClinicalEvent
        fields = ["id", "subject", "kind", "date", "version", "reason"]


class DiagnosisSerializer(VersionedSerializer):
    subject = ScopedSlugRelatedField(
        slug_field="study_id",
        queryset=Subject.objects.all(),
        scope=selectors.subject_list,
        help_text="The subject's study id.",
    )
    assessor: serializers.SlugRelatedField = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who entered the diagnosis."
    )

    class Meta:
        model = Diagnosis
        fields = [
            "id",
            "subject",
            "date",
            "gold_coast",
            "el_escorial",
            "phenotype",
            "alternative",
            "reference_standard",
            "assessor",
            "comment",
            "version",
            "reason",
        ]
        # (subject, date) and the one reference standard are the model's rules, in words.
        validators: list[Any] = []
