"""Forms of the analysis pages: widgets over ``analysis.parameters`` (which validates), and exports."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.forms.utils import ErrorDict
from django.http import QueryDict

from analysis import parameters, reports
from cohort.models import Site, Visit


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class QueryForm(forms.Form):
    """Draws an analysis's parameters as widgets; validating them is the parameters' serializer's
    (``analysis.parameters``), the same the API uses, so the page and the API never disagree."""

    query_class: ClassVar[type[parameters.FiltersQuery]] = parameters.FiltersQuery
    query: parameters.FiltersQuery

    def full_clean(self) -> None:
        self._errors = ErrorDict()
        self.cleaned_data = {}
        if not self.is_bound:
            return
        assert isinstance(self.data, QueryDict)  # the pages bind the request's query string
        self.query = self.query_class(data=parameters.query_data(self.data))
        if self.query.is_valid():
            self.cleaned_data = dict(self.query.validated_data)
            return
        for name, messages in self.query.errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(name if name in self.fields else None, str(message))

    def filters(self) -> reports.Filters:
        return self.query.filters()


class FiltersForm(QueryForm):
    """Site, group, visit code and harmonization: the filters of every analysis page."""

    site = forms.MultipleChoiceField(required=False, label="Sites", help_text="None: all sites.")
    groups = forms.MultipleChoiceField(
        required=False, label="Groups", choices=_choices(reports.GROUPS), help_text="None: all."
    )
    visit_code = forms.MultipleChoiceField(
        required=False, label="Visits", help_text="None: all visits."
    )
    harmonize = forms.BooleanField(
        required=False, label="Harmonize band values across scanners (ComBat)"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [  # type: ignore[attr-defined]
            (code, code) for code in Site.objects.values_list("code", flat=True)
        ]
        codes = sorted(
            set(Visit.objects.values_list("visit_code", flat=True)) | {"V1"},
            key=lambda c: int(c[1:]) if c[1:].isdigit() else 0,
        )
        self.fields["visit_code"].choices = [(c, c) for c in codes]  # type: ignore[attr-defined]


class SubjectForm(forms.Form):
    """The subject timeline's only filter."""

    harmonize = forms.BooleanField(
        required=False, label="Harmonize band values across scanners (ComBat)"
    )


TIME_CHOICES = [("v1", "Months from V1"), ("onset", "Months from symptom onset")]


class ProgressionForm(FiltersForm):
    query_class = parameters.ProgressionQuery
    outcome = forms.ChoiceField(choices=_choices(reports.OUTCOMES))
    by = forms.ChoiceField(choices=_choices(reports.BY_CHOICES), label="By")
    time = forms.ChoiceField(choices=TIME_CHOICES, label="Time axis")
    field_order = ["outcome", "by", "time"]


class SurvivalForm(FiltersForm):
    query_class = parameters.SurvivalQuery
    groups = forms.MultipleChoiceField(
        required=False,
        label="Groups",
        choices=_choices(reports.GROUPS),
        help_text="None: the patients (ALS, PLS); controls have no disease events.",
    )
    event = forms.ChoiceField(choices=_choices(reports.EVENTS))
    by = forms.ChoiceField(choices=_choices(reports.BY_CHOICES), label="By")
    covariates = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.COVARIATES), label="Extra Cox covariates"
    )
    time = forms.ChoiceField(choices=TIME_CHOICES, label="Time axis")
    field_order = ["event", "by", "covariates", "time"]


class DiagnosticForm(FiltersForm):
    query_class = parameters.DiagnosticQuery
    marker = forms.ChoiceField(choices=_choices(reports.MARKERS))
    positive = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.GROUPS), label="Disease groups"
    )
    negative = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.GROUPS), label="Non-disease groups"
    )
    reference = forms.ChoiceField(
        choices=[
            ("enrolment", "Enrolment group"),
            ("final_diagnosis", "Final diagnosis (reference standard)"),
        ],
        label="Reference",
    )
    population = forms.ChoiceField(
        choices=[("suspected", "Enrolled as suspected ALS"), ("all", "Whole cohort")],
        label="Population (final diagnosis)",
    )
    cutoff = forms.FloatField(
        required=False,
        label="Pre-specified cut-off (band contrast)",
        help_text="Empty: the data's best (Youden) cut-off, with optimism-corrected values.",
    )
    field_order = ["marker", "reference", "population", "cutoff", "positive", "negative"]


class StardForm(FiltersForm):
    query_class = parameters.StardQuery
    marker = forms.ChoiceField(choices=_choices(reports.MARKERS), label="Index test")
    population = forms.ChoiceField(
        choices=[("suspected", "Enrolled as suspected ALS"), ("all", "Whole cohort")],
        label="Population",
    )
    cutoff = forms.FloatField(
        required=False,
        label="Band contrast cut-off",
        help_text="Pre-specified; band contrast only.",
    )
    field_order = ["marker", "population", "cutoff"]


class SampleSizeForm(forms.Form):
    """The planner's widgets; ``analysis.parameters.SampleSizeQuery`` validates (as in the API)."""

    target = forms.ChoiceField(
        choices=[
            ("sensitivity", "Sensitivity (Buderer)"),
            ("specificity", "Specificity (Buderer)"),
            ("hazard_ratio", "Hazard ratio (Schoenfeld events)"),
            ("slope_difference", "Slope difference (simulation)"),
        ]
    )
    expected = forms.FloatField(required=False, label="Expected sensitivity/specificity")
    half_width = forms.FloatField(required=False, label="CI half-width")
    prevalence = forms.FloatField(required=False)
    design_effect = forms.FloatField(required=False, label="Design effect")
    hr = forms.FloatField(required=False, label="Hazard ratio")
    proportion = forms.FloatField(required=False, label="Proportion in one group")
    difference = forms.FloatField(required=False, label="Slope difference per month")
    power = forms.FloatField(required=False)
    alpha = forms.FloatField(required=False)
    visits = forms.IntegerField(required=False, label="Visits per subject")
    dropout_per_visit = forms.FloatField(required=False, label="Dropout per visit")

    def __init__(self, data: QueryDict | None = None) -> None:
        super().__init__(data)
        self.query = parameters.SampleSizeQuery(data=parameters.query_data(data or QueryDict()))

    def full_clean(self) -> None:
        self._errors = ErrorDict()
        self.cleaned_data = {}
        if not self.is_bound:
            return
        if self.query.is_valid():
            self.cleaned_data = dict(self.query.validated_data)
            return
        for name, messages in self.query.errors.items():
            for message in messages if isinstance(messages, list) else [messages]:
                self.add_error(name if name in self.fields else None, str(message))


def bound(form_class: type[QueryForm], query: QueryDict) -> QueryForm:
    """Bind a form to the query string; single choices the query leaves out show the parameters'
    defaults (the serializer fills the same defaults when it validates)."""
    data = query.copy()
    defaults = form_class.query_class().fields
    for name, field in form_class.base_fields.items():
        if (
            isinstance(field, forms.ChoiceField)
            and not isinstance(field, forms.MultipleChoiceField)
            and name not in data
            and name in defaults
        ):
            data[name] = str(defaults[name].default)
    return form_class(data)


class ReleaseForm(forms.Form):
    """The data manager's export form: a format, de-identification and filters → a release."""

    format = forms.ChoiceField(label="Format", choices=[])
    deidentify = forms.BooleanField(
        required=False,
        label="De-identify (pseudonymous codes, no free text, age instead of birth date)",
    )
    date_mode = forms.ChoiceField(
        label="De-identified dates",
        choices=[
            ("baseline", "days from baseline"),
            ("shift", "shifted by a per-subject random offset"),
        ],
        initial="baseline",
    )
    site_mode = forms.ChoiceField(
        label="De-identified sites",
        choices=[("keep", "keep site codes"), ("code", "code sites S1, S2, ...")],
        initial="keep",
    )
    sites = forms.MultipleChoiceField(required=False, label="Sites", help_text="None: all sites.")
    groups = forms.MultipleChoiceField(
        required=False, label="Groups", choices=_choices(reports.GROUPS), help_text="None: all."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from analysis.models import ReleaseFormat

        super().__init__(*args, **kwargs)
        self.fields["format"].choices = ReleaseFormat.choices  # type: ignore[attr-defined]
        self.fields["sites"].choices = [  # type: ignore[attr-defined]
            (code, code) for code in Site.objects.values_list("code", flat=True)
        ]
