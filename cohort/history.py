"""The audit trail as the pages show it: who changed what, when and why, field by field.

It is read from django-simple-history's historical rows, never from the live tables, so a record
since deleted keeps its trail: a subject's trail gathers its own rows and those of every visit,
form, event and diagnosis that ever belonged to it (imaging adds the scans, see imaging.views).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from cohort.models import AlsfrsR, ClinicalEvent, Diagnosis, Subject, UmnExam, Visit

ACTION_LABELS = {"+": "Created", "~": "Changed", "-": "Deleted"}
EMPTY = "—"
#: Words of field names written in capitals on the pages (``qc_status`` → "QC status").
ACRONYMS = {"qc": "QC", "umn": "UMN", "niv": "NIV", "mbs": "MBS"}


@dataclass(frozen=True)
class FieldChange:
    """One field of a record before and after a change, as words (``EMPTY`` for no value)."""

    name: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class HistoryEntry:
    """One change of one record: who, when, what (created, changed, deleted), why and how."""

    kind: str
    record_id: int
    record: str
    date: dt.datetime
    user: str
    action: str
    reason: str
    changes: list[FieldChange] = field(default_factory=list)
    history_id: int = 0

    @property
    def deleted(self) -> bool:
        return self.action == ACTION_LABELS["-"]


@dataclass(frozen=True)
class Source:
    """One kind of record in a trail: its name in page addresses (``kind``), how a historical row
    names its record, its historical rows, and the fields not worth showing (the parent link)."""

    kind: str
    name: Callable[[Any], str]
    rows: models.QuerySet[Any]
    hidden: frozenset[str] = frozenset()

    def only(self, record_id: int) -> Source:
        return Source(self.kind, self.name, self.rows.filter(id=record_id), self.hidden)


def shown(record: Any, model_field: models.Field[Any, Any]) -> str:
    """A historical row's value of one field in the words of the pages."""
    value = getattr(record, model_field.attname)
    if value is None or value == "" or value == []:
        return EMPTY
    if model_field.is_relation:
        try:
            return str(getattr(record, model_field.name))
        except ObjectDoesNotExist:
            return f"#{value} (deleted)"
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return " × ".join(str(v) for v in value)
    return str(value)


def _label(model_field: models.Field[Any, Any]) -> str:
    words = [ACRONYMS.get(word, word) for word in str(model_field.verbose_name).split(" ")]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _fields(record: Any, hidden: frozenset[str]) -> list[models.Field[Any, Any]]:
    """The editable fields of the record, in the model's order (diff_against compares these)."""
    return [
        f
        for f in record.tracked_fields
        if f.editable and not f.primary_key and f.name not in hidden
    ]


def _entry(source: Source, record: Any, previous: Any | None) -> HistoryEntry:
    fields = _fields(record, source.hidden)
    if record.history_type == "-":
        changes: list[FieldChange] = []
    elif previous is None:
        # The record's first row (normally its creation): the values it started with.
        changes = [
            FieldChange(f.name, _label(f), EMPTY, shown(record, f))
            for f in fields
            if shown(record, f) != EMPTY
        ]
    else:
        changed = set(record.diff_against(previous).changed_fields)
        changes = [
            FieldChange(f.name, _label(f), shown(previous, f), shown(record, f))
            for f in fields
            if f.name in changed
        ]
    user = record.history_user
    return HistoryEntry(
        kind=source.kind,
        record_id=record.id,
        record=source.name(record),
        date=record.history_date,
        user=user.get_username() if user is not None else "system",
        action=ACTION_LABELS.get(record.history_type, record.history_type),
        reason=record.history_change_reason or "",
        changes=changes,
        history_id=record.history_id,
    )


def trail(sources: Iterable[Source]) -> list[HistoryEntry]:
    """Every change of the sources' records, newest first, each compared with the record's row
    before it."""
    entries: list[HistoryEntry] = []
    for source in sources:
        rows = source.rows.select_related("history_user").order_by(
            "id", "history_date", "history_id"
        )
        previous: Any | None = None
        for record in rows:
            if previous is not None and previous.id != record.id:
                previous = None
            entries.append(_entry(source, record, previous))
            previous = record
    entries.sort(key=lambda e: (e.date, e.history_id), reverse=True)
    return entries


def visit_codes(subject_id: int) -> dict[int, str]:
    """Visit id → visit code of every visit the subject ever had, deleted ones included."""
    return dict(
        Visit.history.filter(subject_id=subject_id)
        .order_by("history_date")
        .values_list("id", "visit_code")
    )


def subject_sources(subject_id: int, codes: dict[int, str]) -> list[Source]:
    """The subject's clinical records, present and deleted: the subject, its visits with their
    UMN exams and ALSFRS-R, its clinical events and diagnoses (``codes``: see ``visit_codes``)."""

    def of_visit(what: str) -> Callable[[Any], str]:
        return lambda row: f"{what} of {codes.get(row.visit_id, 'a deleted visit')}"

    return [
        Source(
            "subject", lambda row: f"Subject {row.study_id}", Subject.history.filter(id=subject_id)
        ),
        Source(
            "visit",
            lambda row: f"Visit {row.visit_code}",
            Visit.history.filter(subject_id=subject_id),
            frozenset({"subject"}),
        ),
        Source(
            "umn",
            of_visit("Penn UMN exam"),
            UmnExam.history.filter(visit_id__in=list(codes)),
            frozenset({"visit"}),
        ),
        Source(
            "alsfrs",
            of_visit("ALSFRS-R"),
            AlsfrsR.history.filter(visit_id__in=list(codes)),
            frozenset({"visit"}),
        ),
        Source(
            "event",
            lambda row: f"Event: {row.get_kind_display().lower()}",
            ClinicalEvent.history.filter(subject_id=subject_id),
            frozenset({"subject"}),
        ),
        Source(
            "diagnosis",
            lambda row: f"Diagnosis of {row.date:%Y-%m-%d}",
            Diagnosis.history.filter(subject_id=subject_id),
            frozenset({"subject"}),
        ),
    ]
