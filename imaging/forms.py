"""Forms of the reading pages: the grading form of domain.md and its correction (with a reason)."""

from __future__ import annotations

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
