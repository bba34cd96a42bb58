"""Filter forms of the analysis pages (choices shared with the API through analysis.reports)."""

from __future__ import annotations

from typing import Any

from django import forms

from analysis import reports
from cohort.models import Site, Visit


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ")) for v in values]


class FiltersForm(forms.Form):
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
        self.fields["site"].choices = [
            (code, code) for code in Site.objects.values_list("code", flat=True)
        ]
        codes = sorted(
            set(Visit.objects.values_list("visit_code", flat=True)) | {"V1"},
            key=lambda c: int(c[1:]) if c[1:].isdigit() else 0,
        )
        self.fields["visit_code"].choices = [(c, c) for c in codes]

    def filters(self) -> reports.Filters:
        data = self.cleaned_data
        return reports.Filters(
            sites=tuple(data.get("site") or ()),
            groups=tuple(data.get("groups") or ()),
            visit_codes=tuple(data.get("visit_code") or ()),
            harmonize=bool(data.get("harmonize")),
        )


class SubjectForm(forms.Form):
    """The subject timeline's only filter."""

    harmonize = forms.BooleanField(
        required=False, label="Harmonize band values across scanners (ComBat)"
    )


class ProgressionForm(FiltersForm):
    outcome = forms.ChoiceField(choices=_choices(reports.OUTCOMES), initial="umn_total")
    by = forms.ChoiceField(choices=_choices(reports.BY_CHOICES), initial="group", label="By")
    field_order = ["outcome", "by"]


class SurvivalForm(FiltersForm):
    event = forms.ChoiceField(
        choices=_choices(reports.EVENTS), initial="death_or_tracheostomy_or_pav"
    )
    by = forms.ChoiceField(choices=_choices(reports.BY_CHOICES), initial="group", label="By")
    covariates = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.COVARIATES), label="Extra Cox covariates"
    )
    field_order = ["event", "by", "covariates"]


class DiagnosticForm(FiltersForm):
    marker = forms.ChoiceField(choices=_choices(reports.MARKERS), initial="band_contrast")
    positive = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.GROUPS), label="Disease groups"
    )
    negative = forms.MultipleChoiceField(
        required=False, choices=_choices(reports.GROUPS), label="Non-disease groups"
    )
    field_order = ["marker", "positive", "negative"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        data["positive"] = data.get("positive") or list(reports.DEFAULT_POSITIVE)
        data["negative"] = data.get("negative") or list(reports.DEFAULT_NEGATIVE)
        both = set(data["positive"]) & set(data["negative"])
        if both:
            self.add_error(
                "negative", f"{', '.join(sorted(both))} cannot be both positive and negative."
            )
        if len(data.get("visit_code") or ()) > 1:
            self.add_error(
                "visit_code", "Diagnostic accuracy takes one visit per subject: pick one."
            )
        return data


def bound(form_class: type[FiltersForm], query: Any) -> FiltersForm:
    """Bind a form to the query string, falling back to the initial values for missing choices."""
    data = query.copy()
    for name, field in form_class.base_fields.items():
        if (
            isinstance(field, forms.ChoiceField)
            and not isinstance(field, forms.MultipleChoiceField)
            and name not in data
        ):
            data[name] = field.initial
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
        self.fields["format"].choices = ReleaseFormat.choices
        self.fields["sites"].choices = [
            (code, code) for code in Site.objects.values_list("code", flat=True)
        ]
