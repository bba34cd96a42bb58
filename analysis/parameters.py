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

from analysis import diagnostic_study, planning, reports
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
    time = choice(
        "time",
        reports.TIME_AXES,
        "v1",
        "v1: months from the baseline visit; onset: months from symptom onset.",
    )


class SurvivalQuery(FiltersQuery):
    event = choice(
        "event",
        reports.EVENTS,
        "death_or_tracheostomy_or_pav",
        "Clinical event, or the composite of death, tracheostomy and PAV (the first of them).",
    )
    by = choice("by", reports.BY_CHOICES, "group", "Grouping of the Kaplan–Meier curves.")
    time = choice(
        "time",
        reports.TIME_AXES,
        "v1",
        "v1: months from the baseline visit; onset: months from symptom onset with delayed "
        "entry at V1.",
    )
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
    reference = choice(
        "reference",
        diagnostic_study.REFERENCES,
        "enrolment",
        "enrolment: the enrolment groups (positive vs negative); final_diagnosis: the "
        "reference-standard diagnosis made at follow-up by a blinded assessor (target "
        "condition ALS or PLS).",
    )
    population = choice(
        "population",
        diagnostic_study.POPULATIONS,
        "suspected",
        "With reference=final_diagnosis: the subjects enrolled as suspected ALS, or all.",
    )
    cutoff = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=-10,
        max_value=10,
        help_text="band_contrast: a pre-specified positivity cut-off (positive at or above it). "
        "Without it the Youden cut-off of these data is used, with optimism-corrected values.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("cutoff") is not None and attrs.get("marker") == "mbs_read":
            raise serializers.ValidationError(
                {"cutoff": ["A cut-off applies to band_contrast only."]}
            )
        if attrs.get("reference") == "final_diagnosis" and (
            attrs.get("positive") or attrs.get("negative")
        ):
            raise serializers.ValidationError(
                {
                    "reference": [
                        "Against the final diagnosis the target condition comes from the "
                        "reference standard: leave positive and negative empty."
                    ]
                }
            )
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


class StardQuery(FiltersQuery):
    """The STARD flow of the diagnostic study: one visit (the index test's), a binary index test."""

    marker = choice(
        "marker",
        reports.MARKERS,
        "mbs_read",
        "mbs_read: the blinded read (positive as read); band_contrast: positive at or above "
        "`cutoff`, which must then be given (pre-specified, never chosen on the same data).",
    )
    population = choice(
        "population",
        diagnostic_study.POPULATIONS,
        "suspected",
        "The subjects enrolled as suspected ALS, or the whole cohort.",
    )
    cutoff = serializers.FloatField(
        required=False,
        allow_null=True,
        min_value=-10,
        max_value=10,
        help_text="Pre-specified band contrast cut-off (band_contrast only).",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("marker") == "band_contrast" and attrs.get("cutoff") is None:
            raise serializers.ValidationError(
                {
                    "cutoff": [
                        "The flow diagram needs a positive or negative index test: give the "
                        "pre-specified band contrast cut-off."
                    ]
                }
            )
        if attrs.get("marker") == "mbs_read" and attrs.get("cutoff") is not None:
            raise serializers.ValidationError(
                {"cutoff": ["A cut-off applies to band_contrast only."]}
            )
        if len(attrs.get("visit_code", ())) > 1:
            raise serializers.ValidationError(
                {"visit_code": ["The index test is read at one visit: name one."]}
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


def _number(
    help_text: str, *, min_value: float | None = None, max_value: float | None = None
) -> serializers.FloatField:
    return serializers.FloatField(
        required=False,
        allow_null=True,
        help_text=help_text,
        min_value=min_value,
        max_value=max_value,
    )


class SampleSizeQuery(serializers.Serializer):
    """The planner's parameters; anything left out is taken from the study or a stated default."""

    target = serializers.ChoiceField(
        choices=planning.TARGETS,
        error_messages={"invalid_choice": choice_message("target", planning.TARGETS)},
        help_text="sensitivity or specificity (Buderer), hazard_ratio (Schoenfeld events) or "
        "slope_difference (simulated mixed-model power).",
    )
    expected = _number("Expected sensitivity or specificity.", min_value=0.001, max_value=0.999)
    half_width = _number("Half-width of the 95% CI wanted.", min_value=0.001, max_value=0.5)
    prevalence = _number(
        "Prevalence of the target condition among those recruited.",
        min_value=0.001,
        max_value=0.999,
    )
    alpha = _number("Two-sided significance level.", min_value=0.0001, max_value=0.5)
    design_effect = _number("Design effect of site clustering (>= 1).", min_value=1, max_value=100)
    cluster_size = _number("Subjects per site (for the design effect).", min_value=1, max_value=1e5)
    icc = _number("Intraclass correlation within sites.", min_value=0, max_value=1)
    hr = _number("Hazard ratio to detect.", min_value=0.01, max_value=100)
    power = _number("Power wanted.", min_value=0.05, max_value=0.999)
    proportion = _number("Proportion in one group.", min_value=0.01, max_value=0.99)
    difference = _number("Slope difference to detect (outcome units per month).")
    sd_intercept = _number("SD of the random intercepts.", min_value=0)
    sd_slope = _number("SD of the random slopes.", min_value=0)
    corr_intercept_slope = _number("Correlation of intercept and slope.", min_value=-1, max_value=1)
    sd_residual = _number("Residual SD.", min_value=0)
    visits = serializers.IntegerField(
        required=False, allow_null=True, min_value=2, max_value=30, help_text="Visits per subject."
    )
    dropout_per_visit = _number("Share lost at each visit.", min_value=0, max_value=0.9)
    n_sim = serializers.IntegerField(
        required=False, allow_null=True, min_value=100, max_value=5000, help_text="Simulations."
    )
    seed = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**32 - 1, help_text="Seed."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("hr") == 1:
            raise serializers.ValidationError({"hr": ["A hazard ratio of 1 needs no study."]})
        if attrs.get("difference") == 0:
            raise serializers.ValidationError(
                {"difference": ["A difference of 0 cannot be detected."]}
            )
        return attrs
