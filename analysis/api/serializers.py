"""Answers of the analysis API (their serializers document the schema); the query parameters are
``analysis.parameters``."""

from __future__ import annotations

from rest_framework import serializers

# --- answers (schema documentation) ----------------------------------------------------------------


class SlopeSerializer(serializers.Serializer):
    level = serializers.CharField()
    slope = serializers.FloatField(allow_null=True, help_text="Outcome units per month.")
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class SlopeDifferenceSerializer(serializers.Serializer):
    levels = serializers.ListField(child=serializers.CharField(), help_text="[a, b]: b minus a.")
    estimate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p = serializers.FloatField(allow_null=True)


class ProgressionAnswer(serializers.Serializer):
    excluded = serializers.DictField(
        required=False,
        help_text="What the analysis left out: {count, unit, reasons: [{reason, count}]} "
        "(failed or unreviewed scans and runs, missing values).",
    )
    outcome = serializers.CharField()
    by = serializers.CharField()
    n_subjects = serializers.IntegerField()
    n_observations = serializers.IntegerField()
    slopes = SlopeSerializer(many=True)
    slope_difference = SlopeDifferenceSerializer()
    model = serializers.ChoiceField(choices=["random_intercept_slope", "random_intercept"])
    converged = serializers.BooleanField()
    warnings = serializers.ListField(child=serializers.CharField())
    harmonized = serializers.BooleanField()
    filters = serializers.DictField()


class SurvivalGroupSerializer(serializers.Serializer):
    level = serializers.CharField()
    n = serializers.IntegerField()
    events = serializers.IntegerField()
    median_months = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    curve = serializers.DictField(help_text="months, survival, ci_low, ci_high (lists).")
    at_risk = serializers.DictField(help_text="months, n (lists).")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Why the median or its interval is null (one subject, not reached, ...).",
    )


class CoxTermSerializer(serializers.Serializer):
    term = serializers.CharField()
    hazard_ratio = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)
    p = serializers.FloatField(allow_null=True)


class SurvivalAnswer(serializers.Serializer):
    excluded = serializers.DictField(
        required=False,
        help_text="What the analysis left out: {count, unit, reasons: [{reason, count}]} "
        "(failed or unreviewed scans and runs, missing values).",
    )
    event = serializers.CharField()
    by = serializers.CharField()
    groups = SurvivalGroupSerializer(many=True)
    logrank_p = serializers.FloatField(allow_null=True)
    cox = CoxTermSerializer(many=True)
    cox_concordance = serializers.FloatField(allow_null=True)
    covariates = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    filters = serializers.DictField()


class ProportionSerializer(serializers.Serializer):
    group = serializers.CharField()
    n = serializers.IntegerField()
    positive = serializers.IntegerField()
    proportion = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


class EstimateSerializer(serializers.Serializer):
    estimate = serializers.FloatField()
    ci_low = serializers.FloatField()
    ci_high = serializers.FloatField()


class DiagnosticAnswer(serializers.Serializer):
    excluded = serializers.DictField(
        required=False,
        help_text="What the analysis left out: {count, unit, reasons: [{reason, count}]} "
        "(failed or unreviewed scans and runs, missing values).",
    )
    marker = serializers.CharField()
    groups = ProportionSerializer(many=True)
    sensitivity = EstimateSerializer()
    specificity = EstimateSerializer()
    fisher_p = serializers.FloatField(allow_null=True)
    auc = serializers.FloatField(allow_null=True)
    auc_ci_low = serializers.FloatField(allow_null=True, required=False)
    auc_ci_high = serializers.FloatField(allow_null=True, required=False)
    threshold = serializers.FloatField(allow_null=True, required=False)
    roc = serializers.DictField(required=False, help_text="fpr, tpr, thresholds (lists).")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Where an interval is not DeLong's (perfect separation: Newcombe's score "
        "interval) or is null (constant marker, fewer than two subjects on a side).",
    )
    visit_code = serializers.CharField()
    filters = serializers.DictField()


class FigureAnswer(serializers.Serializer):
    data = serializers.ListField(  # type: ignore[assignment]  # the answer's field is "data"
        child=serializers.DictField(), help_text="Plotly traces."
    )
    layout = serializers.DictField(help_text="Plotly layout.")
