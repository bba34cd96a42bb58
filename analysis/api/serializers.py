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
    time = serializers.CharField(
        required=False, help_text="The time axis: v1 (from the baseline visit) or onset."
    )
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
    time = serializers.CharField(
        required=False, help_text="The time axis: v1 (from the baseline visit) or onset."
    )
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


class OptionalEstimateSerializer(serializers.Serializer):
    """An estimate that may be undefined (null, with a warning saying why)."""

    estimate = serializers.FloatField(allow_null=True)
    ci_low = serializers.FloatField(allow_null=True)
    ci_high = serializers.FloatField(allow_null=True)


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
    ppv = OptionalEstimateSerializer(
        required=False, help_text="Positive predictive value at the study's own prevalence."
    )
    npv = OptionalEstimateSerializer(
        required=False, help_text="Negative predictive value at the study's own prevalence."
    )
    lr_positive = OptionalEstimateSerializer(required=False, help_text="Positive likelihood ratio.")
    lr_negative = OptionalEstimateSerializer(required=False, help_text="Negative likelihood ratio.")
    table = serializers.DictField(required=False, help_text="The 2x2 table: {tp, fp, fn, tn}.")
    indeterminate = serializers.IntegerField(
        required=False,
        help_text="Subjects whose index test is indeterminate (reads awaiting the final read).",
    )
    reference = serializers.CharField(
        required=False, help_text="enrolment or final_diagnosis (the reference standard)."
    )
    population = serializers.CharField(
        required=False, help_text="With final_diagnosis: suspected or all."
    )
    target_condition = serializers.CharField(required=False)
    subgroups = serializers.DictField(
        required=False,
        help_text="With final_diagnosis: results by el_escorial, gold_coast, field_strength and "
        "site: lists of {level, n, table, sensitivity, specificity}.",
    )
    fisher_p = serializers.FloatField(allow_null=True)
    auc = serializers.FloatField(allow_null=True)
    auc_ci_low = serializers.FloatField(allow_null=True, required=False)
    auc_ci_high = serializers.FloatField(allow_null=True, required=False)
    threshold = serializers.FloatField(allow_null=True, required=False)
    threshold_source = serializers.CharField(
        required=False, help_text="pre-specified (the cutoff given) or youden (chosen on the data)."
    )
    optimism_corrected = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="With a Youden cut-off: sensitivity, specificity and Youden J corrected for "
        "optimism by bootstrap (Harrell 1996).",
    )
    roc = serializers.DictField(required=False, help_text="fpr, tpr, thresholds (lists).")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Where an interval is not DeLong's (perfect separation: Newcombe's score "
        "interval) or is null (constant marker, fewer than two subjects on a side).",
    )
    visit_code = serializers.CharField()
    filters = serializers.DictField()


class FlowNodeSerializer(serializers.Serializer):
    id = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # the answer's field is "label"
    n = serializers.IntegerField()


class FlowEdgeSerializer(serializers.Serializer):
    from_ = serializers.CharField(help_text="Node id the subjects come from.")
    to = serializers.CharField()
    n = serializers.IntegerField()
    reason = serializers.CharField(allow_null=True, help_text="Why they leave the main path.")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")  # "from" is a Python keyword
        return fields


class StardItemSerializer(serializers.Serializer):
    item = serializers.CharField()
    section = serializers.CharField()
    asks = serializers.CharField()
    answer = serializers.CharField(allow_null=True, help_text="Null: for the authors to write.")


class StardAnswer(serializers.Serializer):
    marker = serializers.CharField()
    cutoff = serializers.FloatField(allow_null=True)
    population = serializers.CharField()
    visit_code = serializers.CharField()
    nodes = FlowNodeSerializer(many=True)
    edges = FlowEdgeSerializer(many=True)
    checklist = StardItemSerializer(many=True)
    svg = serializers.CharField(help_text="The flow diagram as a standalone SVG document.")
    warnings = serializers.ListField(child=serializers.CharField())
    filters = serializers.DictField()


class SampleSizeAnswer(serializers.Serializer):
    target = serializers.CharField()
    method = serializers.CharField()
    n_cases = serializers.IntegerField(
        required=False,
        help_text="Buderer: subjects with (sensitivity) or without (specificity) the target condition.",
    )
    n_total = serializers.IntegerField(required=False, help_text="Buderer: subjects to recruit.")
    events = serializers.IntegerField(required=False, help_text="Schoenfeld: events needed.")
    n_per_group = serializers.IntegerField(
        required=False, help_text="Slope difference: subjects per group."
    )
    power = serializers.FloatField(
        required=False, help_text="Slope difference: simulated power at n_per_group."
    )
    mc_error = serializers.FloatField(
        required=False, help_text="Monte Carlo standard error of the power."
    )
    defaults = serializers.DictField(help_text="Values not given: {name: {value, source}}.")


class FigureAnswer(serializers.Serializer):
    data = serializers.ListField(  # type: ignore[assignment]  # the answer's field is "data"
        child=serializers.DictField(), help_text="Plotly traces."
    )
    layout = serializers.DictField(help_text="Plotly layout.")
