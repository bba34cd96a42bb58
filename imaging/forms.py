"""Imaging forms: scan upload, and the reading pages' grading form (domain.md) and correction."""

from __future__ import annotations

from typing import Any

from django import forms

from cohort.forms import AUDIT_REASON_MAX_LENGTH
from imaging import reading
from imaging.band.deidentify import MAX_SLAB_MM, MIN_SLAB_MM
from imaging.models import NonDiagnosticReason, Read, ReadOutcome

#: Upper bound of the raters asked for per scan on the assignment page.
MAX_RATERS_PER_SCAN = 10


class ReadForm(forms.Form):
    """A read: its outcome first, then the grades (graded) or the reason (non-diagnostic).

    Every field is optional here: which go with the chosen outcome, the read service decides
    and says (the page's script disables the fields of the other outcome).
    """

    outcome = forms.ChoiceField(
        label="Outcome",
        choices=ReadOutcome.choices,
        initial=ReadOutcome.GRADED,
        required=False,
        widget=forms.RadioSelect,
    )
    left_grade = forms.TypedChoiceField(
        label="Left hemisphere",
        choices=Read.GRADE_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    right_grade = forms.TypedChoiceField(
        label="Right hemisphere",
        choices=Read.GRADE_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    confidence = forms.TypedChoiceField(
        label="Confidence",
        choices=Read.CONFIDENCE_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.RadioSelect,
    )
    non_diagnostic_reason = forms.ChoiceField(
        label="Why non-diagnostic",
        choices=[("", "choose a reason"), *NonDiagnosticReason.choices],
        required=False,
    )
    non_diagnostic_detail = forms.CharField(
        label="Describe (reason other)",
        required=False,
        max_length=reading.DETAIL_MAX_LENGTH,
    )
    comment = forms.CharField(
        label="Comment",
        required=False,
        max_length=reading.COMMENT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_outcome(self) -> str:
        """No outcome chosen is a graded read (the default, as in the API)."""
        return str(self.cleaned_data.get("outcome") or ReadOutcome.GRADED)


class CorrectionForm(ReadForm):
    reason = forms.CharField(
        label="Reason for the correction",
        max_length=reading.REASON_MAX_LENGTH,
        help_text="Kept in the audit trail.",
    )


class ScanChoiceField(forms.ModelMultipleChoiceField):
    """SWI scans named for the reading coordinator (unblinded): code, subject, visit, raters."""

    def label_from_instance(self, obj: Any) -> str:
        n = getattr(obj, "n_raters", 0)
        return (
            f"{obj.code} · {obj.visit.subject.study_id} {obj.visit.visit_code} · "
            f"{n} rater{'' if n == 1 else 's'}"
        )


class RaterChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_username())


class ReadAssignmentForm(forms.Form):
    """The reading coordinator's assignment: k raters per scan among chosen raters, seeded."""

    k = forms.IntegerField(
        label="Raters per scan",
        min_value=1,
        max_value=MAX_RATERS_PER_SCAN,
        initial=reading.DEFAULT_RATERS_PER_SCAN,
    )
    seed = forms.IntegerField(
        label="Seed",
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="The same seed, raters and scans give the same queues; empty: a new seed, shown "
        "with the result.",
    )
    raters = RaterChoiceField(
        label="Raters",
        queryset=reading.active_raters(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every active rater.",
    )
    scans = ScanChoiceField(
        label="Scans",
        queryset=reading.assignable_scans().select_related("visit__subject"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 10}),
        help_text="None chosen: every SWI scan that did not fail QC and has fewer raters than "
        "asked for. A scan only gets the raters it is missing.",
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

    manufacturer = forms.CharField(
        required=False,
        max_length=100,
        help_text="Confirm or correct: leave empty to take it from the file (DICOM, sidecar).",
    )
    scanner_model = forms.CharField(
        required=False,
        max_length=100,
        label="Scanner model",
        help_text="E.g. MAGNETOM Prisma Fit; scans are harmonized per manufacturer and model.",
    )

    def __init__(self, *args: Any, kinds: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = kinds


class ScanReplaceForm(forms.Form):
    """A new file for a scan, with why: the old scan is deleted with the reason, the new one
    stored (the same kind; every upload check applies)."""

    file = forms.FileField(
        label="New file",
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
    reason = forms.CharField(
        max_length=AUDIT_REASON_MAX_LENGTH,
        label="Reason for replacing",
        help_text="Kept in the audit trail of both scans.",
        widget=forms.TextInput(attrs={"aria-required": "true", "autocomplete": "off"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail."},
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class ScanScannerForm(forms.Form):
    """Correct the scanner a stored scan was acquired on, with why (the file stays)."""

    manufacturer = forms.CharField(required=False, max_length=100)
    scanner_model = forms.CharField(required=False, max_length=100, label="Scanner model")
    field_strength = forms.FloatField(
        required=False,
        min_value=0.1,
        max_value=14,
        label="Field strength (T)",
        widget=forms.NumberInput(attrs={"step": "0.1", "inputmode": "decimal"}),
    )
    reason = forms.CharField(
        max_length=AUDIT_REASON_MAX_LENGTH,
        label="Reason for the correction",
        help_text='Kept in the audit trail (e.g. "model confirmed with the site\'s MR physicist").',
        widget=forms.TextInput(attrs={"aria-required": "true", "autocomplete": "off"}),
        error_messages={"required": "Give a reason: it is kept in the audit trail."},
    )
    version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
