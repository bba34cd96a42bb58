"""Forms of the coordinator pages: field types and widgets only.

Every rule lives in the models and services: a form's ``cleaned_data`` goes to the service, and the
service's ``ValidationError`` comes back onto the form with ``add_service_errors`` so that the pages
show the same messages as the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet

from cohort import scales
from cohort.models import (
    ElEscorial,
    EventKind,
    GoldCoast,
    Group,
    Handedness,
    OnsetRegion,
    Phenotype,
    Sex,
    Site,
    VisitStatus,
)

DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
UMN_CHOICES = [(0, "Absent (0)"), (1, "Present (1)")]

UMN_ITEM_LABELS = {
    "jaw_jerk": "Jaw jerk",
    "facial_reflex": "Facial reflex",
    "palmomental": "Palmomental reflex",
    "pseudobulbar_affect": "Pseudobulbar affect",
    "biceps": "Biceps reflex",
    "brachioradialis": "Brachioradialis reflex",
    "triceps": "Triceps reflex",
    "finger_flexors": "Finger flexor reflex",
    "hoffmann": "Hoffmann sign",
    "pectoralis": "Pectoralis reflex",
    "upper_spasticity": "Spasticity (arm)",
    "knee": "Knee reflex",
    "ankle": "Ankle reflex",
    "crossed_adductor": "Crossed adductor reflex",
    "clonus": "Ankle clonus",
    "babinski": "Babinski sign",
    "hip_adductor": "Hip adductor reflex",
    "lower_spasticity": "Spasticity (leg)",
}
UMN_REGION_LABELS = {
    "bulbar": "Bulbar",
    "right_upper": "Right upper limb",
    "left_upper": "Left upper limb",
    "right_lower": "Right lower limb",
    "left_lower": "Left lower limb",
}
ALSFRS_DOMAIN_LABELS = {
    "bulbar": "Bulbar (1-3)",
    "fine_motor": "Fine motor (4-6)",
    "gross_motor": "Gross motor (7-9)",
    "respiratory": "Respiratory (10-12)",
}


def umn_item_label(name: str) -> str:
    """``right_upper_hoffmann`` -> ``Hoffmann sign``: the item's words within its region."""
    for region in scales.UMN_REGIONS:
        if name.startswith(f"{region}_"):
            return UMN_ITEM_LABELS[name[len(region) + 1 :]]
    return UMN_ITEM_LABELS[name]


def field_title(form: forms.Form, name: str) -> str:
    """The words a coordinator sees for a field, for the error summary."""
    field = form.fields.get(name)
    if name in scales.ALSFRS_ITEMS:
        return f"Item {name[1:]} {scales.ALSFRS_ITEM_LABELS[name]} ({name})"
    if name in scales.UMN_ITEMS:
        region = next(r for r, items in scales.UMN_REGIONS.items() if name in items)
        return f"{UMN_REGION_LABELS[region]}: {umn_item_label(name)} ({name})"
    if field is not None and field.label:
        return str(field.label)
    return name.replace("_", " ").capitalize()


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError onto the form: per field where the form has it."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, messages in error.message_dict.items():
        if name in form.fields and name != NON_FIELD_ERRORS:
            form.add_error(name, messages)
        elif name == NON_FIELD_ERRORS:
            form.add_error(None, messages)
        else:
            form.add_error(None, [f"{name.replace('_', ' ').capitalize()}: {m}" for m in messages])


class VersionedForm(forms.Form):
    """A form over a versioned record: the version read travels back for the concurrency check."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def expected_version(self) -> int | None:
        return self.cleaned_data.get("version")


def _choices(enum: Any, blank: str | None = None) -> list[tuple[str, str]]:
    choices = [(value, label) for value, label in enum.choices]
    return [("", blank), *choices] if blank is not None else choices


class SubjectForm(forms.Form):
    study_id = forms.CharField(
        max_length=32, label="Study id", help_text="e.g. EDM-0001: letters, digits, '-' or '_'."
    )
    site = forms.ModelChoiceField(queryset=Site.objects.none(), to_field_name="code")
    group = forms.ChoiceField(choices=_choices(Group))
    sex = forms.ChoiceField(choices=_choices(Sex))
    birth_date = forms.DateField(widget=DATE, label="Birth date")
    handedness = forms.ChoiceField(choices=_choices(Handedness, "Unknown"), required=False)
    onset_date = forms.DateField(
        widget=DATE, required=False, label="Symptom onset", help_text="Not for healthy controls."
    )
    onset_region = forms.ChoiceField(
        choices=_choices(OnsetRegion, "—"), required=False, label="Onset region"
    )
    diagnosis_date = forms.DateField(widget=DATE, required=False, label="Diagnosis date")
    enrolled_on = forms.DateField(widget=DATE, label="Enrolled on")
    last_known_alive = forms.DateField(
        widget=DATE,
        required=False,
        label="Last known alive",
        help_text="Date of the last vital status check (survival censors here).",
    )
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def __init__(self, *args: Any, sites: QuerySet[Site], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["site"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = sites
        if sites.count() == 1:
            field.initial = sites.first()

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["onset_region"] = data["onset_region"] or None
        return data


class VisitForm(VersionedForm):
    visit_code = forms.ChoiceField(label="Visit", choices=())
    date = forms.DateField(widget=DATE, required=False, label="Visit date")
    status = forms.ChoiceField(choices=_choices(VisitStatus), initial=VisitStatus.COMPLETED)
    comment = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Reason for the change",
        help_text="Required to change a completed visit; kept in the audit trail.",
    )

    def __init__(
        self, *args: Any, codes: list[str], reason_required: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["visit_code"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [(c, c) for c in codes]
        self.reason_required = reason_required
        if not reason_required:
            del self.fields["reason"]
        else:
            self.fields["reason"].widget.attrs["aria-required"] = "true"

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in ("visit_code", "date", "status", "comment")}


class EventForm(forms.Form):
    kind = forms.ChoiceField(choices=_choices(EventKind, "Choose…"), label="Event")
    date = forms.DateField(widget=DATE)
    comment = forms.CharField(required=False, max_length=500)


class DiagnosisForm(forms.Form):
    """A dated diagnosis; the reference-standard box only for the blinded assessor."""

    date = forms.DateField(widget=DATE)
    phenotype = forms.ChoiceField(choices=_choices(Phenotype, "Choose…"), label="Diagnosis")
    alternative = forms.CharField(
        required=False,
        max_length=200,
        label="Alternative diagnosis",
        help_text="For a mimic or other diagnosis, e.g. multifocal motor neuropathy.",
    )
    gold_coast = forms.ChoiceField(
        choices=_choices(GoldCoast, "Choose…"), label="Gold Coast criteria"
    )
    el_escorial = forms.ChoiceField(
        choices=_choices(ElEscorial, "Not given"),
        required=False,
        label="Revised El Escorial category",
    )
    reference_standard = forms.BooleanField(
        required=False,
        label="This is the final diagnosis (reference standard)",
        help_text="Made at the study's pre-specified follow-up, without MBS reads or band values.",
    )
    comment = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, may_set_reference: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not may_set_reference:
            del self.fields["reference_standard"]

    def service_fields(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["el_escorial"] = data.get("el_escorial") or None
        return data


class _ClinicalForm(VersionedForm):
    """A visit's clinical form: items left to the service's checks, plus version and reason."""

    reason = forms.CharField(
        max_length=500,
        required=False,
        label="Reason for the change",
        help_text="The visit is completed: say why you change its saved form (audit trail).",
    )

    def __init__(self, *args: Any, reason_required: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reason_required = reason_required
        if not reason_required:
            del self.fields["reason"]

    def items(self) -> dict[str, Any]:
        return {k: v for k, v in self.cleaned_data.items() if k not in ("version", "reason")}


class UmnExamForm(_ClinicalForm):
    """32 Penn UMN items as 0/1 radios; an unanswered item stays missing (its region undefined)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in scales.UMN_ITEMS:
            # IntegerField, not ChoiceField: any out-of-range value reaches the service, which
            # answers with the API's message.
            self.fields[name] = forms.IntegerField(
                required=False,
                label=umn_item_label(name),
                widget=forms.RadioSelect(choices=UMN_CHOICES),
            )

    def regions(self) -> list[dict[str, Any]]:
        return [
            {
                "name": region,
                "label": UMN_REGION_LABELS[region],
                "max": scales.UMN_REGION_MAX[region],
                "fields": [self[name] for name in items],
            }
            for region, items in scales.UMN_REGIONS.items()
        ]


ALSFRS_MISSING_CHOICES = [
    ("", "Scored"),
    *(
        (code, f"{label} ({scales.ALSFRS_REDCAP_MISSING_CODES[code]})")
        for code, label in scales.ALSFRS_MISSING_CODES.items()
    ),
]


class AlsfrsForm(_ClinicalForm):
    """12 ALSFRS-R items typed 0-4 (numeric keypad on tablets), each with a missing-data code
    (not done, unknown), the item 5 gastrostomy flag, and the whole form's status and reason."""

    q5_gastrostomy = forms.BooleanField(
        required=False,
        label="Item 5 scored as 5b (with gastrostomy)",
    )
    form_status = forms.ChoiceField(
        required=False,
        choices=list(scales.ALSFRS_FORM_STATUSES.items()),
        initial=scales.ALSFRS_FORM_DONE,
        label="ALSFRS-R at this visit",
        widget=forms.RadioSelect,
    )
    not_done_reason = forms.CharField(
        required=False,
        max_length=200,
        label="Reason the form was not done",
        help_text="e.g. the subject could not attend, refused, or was too unwell.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in scales.ALSFRS_ITEMS:
            self.fields[name] = forms.IntegerField(
                required=False,
                label=f"{name[1:]}. {scales.ALSFRS_ITEM_LABELS[name]}",
                help_text=scales.response_wording(name),
                widget=forms.NumberInput(
                    attrs={
                        "min": scales.ALSFRS_ITEM_MIN,
                        "max": scales.ALSFRS_ITEM_MAX,
                        "inputmode": "numeric",
                        "class": "score",
                        "data-item": name,
                    }
                ),
            )
            # ChoiceField over the known codes; the service names any other value in its message.
            self.fields[scales.ALSFRS_MISSING_FIELDS[name]] = forms.ChoiceField(
                required=False,
                choices=ALSFRS_MISSING_CHOICES,
                label=f"Item {name[1:]} missing-data code",
                widget=forms.Select(attrs={"class": "missing-code", "data-item": name}),
            )
        # Keep the flag right after item 5 when the form is iterated.
        self.order_fields(["version", *scales.ALSFRS_ITEMS[:5], "q5_gastrostomy"])

    def items(self) -> dict[str, Any]:
        data = super().items()
        data["form_status"] = data.get("form_status") or scales.ALSFRS_FORM_DONE
        for field in scales.ALSFRS_MISSING_FIELDS.values():
            data[field] = data.get(field) or None
        return data

    def domains(self) -> list[dict[str, Any]]:
        return [
            {
                "name": domain,
                "label": ALSFRS_DOMAIN_LABELS[domain],
                "max": scales.ALSFRS_ITEM_MAX * len(items),
                "fields": [self[name] for name in items],
                "items": [
                    {
                        "score": self[name],
                        "missing": self[scales.ALSFRS_MISSING_FIELDS[name]],
                        "wording": scales.response_wording(name),
                    }
                    for name in items
                ],
            }
            for domain, items in scales.ALSFRS_DOMAINS.items()
        ]


# --- corrections and deletions ----------------------------------------------------------------

#: Longest reason a page accepts: the API's limit (core.api.viewsets.REASON_MAX_LENGTH); the audit
#: trail's column is a text field (SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD).
AUDIT_REASON_MAX_LENGTH = 500


def _reason_field(help_text: str) -> forms.CharField:
    return forms.CharField(
        max_length=AUDIT_REASON_MAX_LENGTH,
        label="Reason for the change",
        help_text=help_text,
        widget=forms.TextInput(attrs={"aria-required": "true", "autocomplete": "off"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail."},
    )


class ReasonForm(VersionedForm):
    """A deletion: the version the user saw and why (kept in the audit trail)."""

    reason = _reason_field("Say why this record goes; kept in the audit trail.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = "Reason for deleting"


class SubjectEditForm(SubjectForm, VersionedForm):
    """A correction of a subject's record: the subject form, the version read and a reason."""

    reason = _reason_field("Say why you correct this record; kept in the audit trail.")

    def service_fields(self) -> dict[str, Any]:
        data = super().service_fields()
        data.pop("version", None)
        data.pop("reason", None)
        return data


class EventEditForm(EventForm, VersionedForm):
    """A correction of a clinical event: kind, date, comment, the version read and a reason."""

    reason = _reason_field("Say why you correct this event; kept in the audit trail.")

    def service_fields(self) -> dict[str, Any]:
        return {k: self.cleaned_data[k] for k in ("kind", "date", "comment")}
