"""Imaging forms: scan upload, and the reading pages' grading form (domain.md) and correction."""

from __future__ import annotations

from typing import Any

from django import forms

from imaging import reading
from imaging.band.deidentify import MAX_SLAB_MM, MIN_SLAB_MM
from imaging.models import Read


class ReadForm(forms.Form):
    left_grade = forms.TypedChoiceField(
        label="Left hemisphere",
        choices=Read.GRADE_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    right_grade = forms.TypedChoiceField(
        label="Right hemisphere",
        choices=Read.GRADE_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    confidence = forms.TypedChoiceField(
        label="Confidence", choices=Read.CONFIDENCE_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=reading.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class CorrectionForm(ReadForm):
    reason = forms.CharField(
        label="Reason for the correction",
        max_length=reading.REASON_MAX_LENGTH,
        help_text="Kept in the audit trail.",
    )


class ImageForm(forms.Form):
    """Query of the de-identified image: an optional minimum-intensity projection slab."""

    minip = forms.FloatField(required=False, min_value=MIN_SLAB_MM, max_value=MAX_SLAB_MM)


class ScanUploadForm(forms.Form):
    kind = forms.ChoiceField(label="Scan kind")
    file = forms.FileField(
        help_text=".nii, .nii.gz, .mgz, or a .zip of one DICOM series.",
        widget=forms.ClearableFileInput(attrs={"accept": ".nii,.gz,.mgz,.zip"}),
    )
    echo = forms.IntegerField(
        required=False, min_value=1, help_text="Only for a multi-echo series (1 = first echo)."
    )
    field_strength = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=14,
        label="Field strength (T)",
        help_text="Where the file does not say (e.g. NIfTI): 1.5, 3 or 7.",
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = kinds
