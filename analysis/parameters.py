"""The analyses' parameters, validated once: the API, the pages and the reports share these.

Each ``*Query`` serializer takes a query string (``query_data``) and answers the validated values,
the defaults filled in, or ``{parameter: [message]}`` in words an investigator understands. The
REST views call ``is_valid(raise_exception=True)``; the pages' forms (``analysis.forms``) only draw
the widgets and hand their data to the same serializer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.http import QueryDict
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis import reports
from cohort.models import Site

VISIT_CODE_RE = re.compile(r"^V[1-9][0-9]?$")
#: Query parameters that hold comma-separated lists (also accepted repeated: ?groups=ALS&groups=PLS).
LIST_PARAMETERS = ("site", "groups", "visit_code", "covariates", "positive", "negative")


def choice_message(what: str, choices: Sequence[str]) -> str:
    return f'"{{input}}" is not a known {what}; choose one of {", ".join(choices)}.'


def query_data(query: QueryDict) -> dict[str, Any]:
    """Query parameters as serializer input: list parameters joined, others as single values."""
    data: dict[str, Any] = {}
    for key in query:
        values = query.getlist(key)
        data[key] = ",".join(values) if key in LIST_PARAMETERS else values[-1]
    return data


@extend_schema_field(OpenApiTypes.STR)
class ChoiceListField(serializers.Field):
    """A comma-separated list of choices (order kept, duplicates dropped)."""

    def __init__(self, *, choices: Sequence[str] | None = None, what: str, **kwargs: Any) -> None:
        self.choices = tuple(choices) if choices is not None else None
        self.what = what
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def allowed(self) -> Sequence[str] | None:
        return self.choices

    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        items = [item.strip() for item in str(data).split(",") if item.strip()]
        allowed = self.allowed()
        for item in items:
            if allowed is not None and item not in allowed:
                raise serializers.ValidationError(
                    choice_message(self.what, allowed).replace("{input}", item)
                )
        return tuple(dict.fromkeys(items))

    def to_representation(self, value: Any) -> str:
        return ",".join(value)


@extend_schema_field(OpenApiTypes.STR)
class SiteListField(ChoiceListField):
    """Site codes, checked against the sites that exist."""

    def allowed(self) -> Sequence[str] | None:
        return list(Site.objects.values_list("code", flat=True))


@extend_schema_field(OpenApiTypes.STR)
class VisitCodeListField(ChoiceListField):
    def to_internal_value(self, data: Any) -> tuple[str, ...]:
        codes = super().to_internal_value(data)
        wrong = [code for code in codes if not VISIT_CODE_RE.match(code)]
        if wrong:
            raise serializers.ValidationError(
                f'"{wrong[0]}" is not a visit code; use V1, V2, V3, ... (comma-separated).'
            )
        return codes


def choice(name: str, choices: Sequence[str], default: str, help_text: str) -> serializers.Field:
    return serializers.ChoiceField(
        choices=list(choices),
        default=default,
        help_text=help_text,
        error_messages={"invalid_choice": choice_message(name, choices)},
    )


class FiltersQuery(serializers.Serializer):
    """Filters common to every analysis."""

    site = SiteListField(what="site", help_text="Site codes, comma-separated (default: all).")
    groups = ChoiceListField(
        choices=reports.GROUPS, what="group", help_text="Groups, comma-separated (default: all)."
    )
    visit_code = VisitCodeListField(
        what="visit code", help_text="Visit codes, comma-separated (default: all visits)."
    )
    harmonize = serializers.BooleanField(
        default=False,
        help_text="true: band values ComBat-harmonized across scanners, preserving group, age "
        "and sex.",
    )

    def filters(self) -> reports.Filters:
        data = self.validated_data
        return reports.Filters(
            sites=data.get("site", ()),
            groups=data.get("groups", ()),
            visit_codes=data.get("visit_code", ()),
            harmonize=data["harmonize"],
        )


class ProgressionQuery(FiltersQuery):
    outcome = choice(
        "outcome",
        reports.OUTCOMES,
        "umn_total",
        "Outcome modelled over months from V1 (points or unitless per month).",
    )
    by = choice("by", reports.BY_CHOICES, "group", "Subject-level grouping of the slopes.")


class SurvivalQuery(FiltersQuery):
    event = choice(
        "event",
        reports.EVENTS,
        "death_or_tracheostomy_or_pav",
        "Clinical event, or the composite of death, tracheostomy and PAV (the first of them).",
    )
    by = choice("by", reports.BY_CHOICES, "group", "Grouping of the Kaplan–Meier curves.")
    covariates = ChoiceListField(
        choices=reports.COVARIATES,
        what="covariate",
        help_text="Extra Cox covariates (baseline values), comma-separated.",
    )

    def defaults_to_patients(self) -> bool:
        return True

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if self.defaults_to_patients() and not attrs.get("groups"):
            # Death, tracheostomy and ventilation belong to the disease: over controls a model by
            # group separates completely. The default population is the patients.
            attrs["groups"] = reports.DEFAULT_SURVIVAL_GROUPS
        return attrs


class DiagnosticQuery(FiltersQuery):
    #: Diagnostic accuracy takes one row per subject, so one visit.
    single_visit = True

    def takes_one_visit(self) -> bool:
        return self.single_visit

    marker = choice(
        "marker",
        reports.MARKERS,
        "band_contrast",
        "mbs_read: consensus of the blinded reads; band_contrast: quantified (ROC/AUC).",
    )
    positive = ChoiceListField(
        choices=reports.GROUPS, what="group", help_text="Disease groups (default ALS,PLS)."
    )
    negative = ChoiceListField(
        choices=reports.GROUPS, what="group", help_text="Non-disease groups (default CONTROL)."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs["positive"] = attrs.get("positive") or reports.DEFAULT_POSITIVE
        attrs["negative"] = attrs.get("negative") or reports.DEFAULT_NEGATIVE
        both = set(attrs["positive"]) & set(attrs["negative"])
        if both:
            raise serializers.ValidationError(
                {"negative": [f"{', '.join(sorted(both))} cannot be both positive and negative."]}
            )
        if self.takes_one_visit() and len(attrs.get("visit_code", ())) > 1:
            raise serializers.ValidationError(
                {"visit_code": ["Diagnostic accuracy takes one visit per subject: name one."]}
            )
        return attrs


class PlotQuery(SurvivalQuery, DiagnosticQuery, ProgressionQuery):
    """Parameters of every figure (each figure uses those of its analysis); pass the figure's name
    as ``context={"plot": name}`` so the ROC curve takes one visit like its analysis."""

    def takes_one_visit(self) -> bool:
        return self.context.get("plot") == "roc"

    def defaults_to_patients(self) -> bool:
        return self.context.get("plot") in ("km", "forest")

    by = choice("by", reports.BY_CHOICES, "group", "Grouping (spaghetti, km, forest).")
    subject = serializers.CharField(
        required=False, help_text="Study id of the subject (timeline only)."
    )
