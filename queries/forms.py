"""Forms of the query pages: field types and widgets only; the services hold every rule."""

from __future__ import annotations

from typing import Any

from django import forms

from queries.records import queryable_fields

TEXT = forms.Textarea(attrs={"rows": 3, "cols": 60})


class QueryOpenForm(forms.Form):
    field = forms.ChoiceField(label="Field")
    message = forms.CharField(
        label="Message to the site",
        widget=TEXT,
        max_length=4000,
        required=False,
        help_text="What looks wrong, and what the site should check or correct.",
    )

    def __init__(self, *args: Any, record_type: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [  # type: ignore[attr-defined]
            ("", "Choose the field"),
            *queryable_fields(record_type).items(),
        ]


class VersionedForm(forms.Form):
    """The version the person read travels back, so a change made meanwhile is detected."""

    version = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)

    def expected_version(self) -> int | None:
        return self.cleaned_data.get("version")


class AnswerForm(VersionedForm):
    answer = forms.CharField(
        label="Your answer",
        widget=TEXT,
        max_length=4000,
        required=False,
        help_text="What you checked, and what you corrected (correct the value on the record's "
        "page first).",
    )


class CloseForm(VersionedForm):
    reason = forms.CharField(
        label="Reason",
        max_length=500,
        required=False,
        help_text="Why the query closes without an answer.",
    )

    def __init__(self, *args: Any, answered: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if answered:  # closing accepts the answer: no reason to give
            del self.fields["reason"]


class ReopenForm(VersionedForm):
    message = forms.CharField(
        label="New message to the site",
        widget=TEXT,
        max_length=4000,
        required=False,
        help_text="What is still wrong or missing.",
    )
