"""What a data query can point at: the record types, their models, the fields a query may name,
and how a record is found, labelled and linked.

A query names a record by type and id (``visit`` 12) and one of the record's editable fields: the
values a site enters and can correct (dates, statuses, scale items, comments), never a derived
value (a total, a stage), a relation (the record's parent) or bookkeeping (who uploaded a scan).
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.urls import reverse

from cohort import scales
from cohort.forms import UMN_REGION_LABELS, umn_item_label
from cohort.models import AlsfrsR, ClinicalEvent, Subject, UmnExam, Visit
from core.roles import Acting, actor_of
from imaging.models import Scan


class RecordType(models.TextChoices):
    SUBJECT = "subject", "Subject"
    VISIT = "visit", "Visit"
    UMN_EXAM = "umn_exam", "Penn UMN exam"
    ALSFRS = "alsfrs", "ALSFRS-R"
    EVENT = "event", "Clinical event"
    SCAN = "scan", "Scan"


RECORD_MODELS: dict[str, type[models.Model]] = {
    RecordType.SUBJECT: Subject,
    RecordType.VISIT: Visit,
    RecordType.UMN_EXAM: UmnExam,
    RecordType.ALSFRS: AlsfrsR,
    RecordType.EVENT: ClinicalEvent,
    RecordType.SCAN: Scan,
}

#: Editable fields a query never names: the record's stored file name and who decided a scan's QC.
NOT_QUERYABLE = frozenset({"original_name", "qc_at"})


def _label(model: type[models.Model], field: models.Field) -> str:
    name = field.name
    if model is AlsfrsR and name in scales.ALSFRS_ITEMS:
        return f"Item {name[1:]} {scales.ALSFRS_ITEM_LABELS[name]} ({name})"
    if model is UmnExam and name in scales.UMN_ITEMS:
        region = next(r for r, items in scales.UMN_REGIONS.items() if name in items)
        return f"{UMN_REGION_LABELS[region]}: {umn_item_label(name)} ({name})"
    return str(field.verbose_name).capitalize() + f" ({name})"


def queryable_fields(record_type: str) -> dict[str, str]:
    """The fields a query on this record type may name, each with the words a person reads."""
    model = RECORD_MODELS.get(record_type)
    if model is None:
        return {}
    return {
        field.name: _label(model, field)
        for field in model._meta.concrete_fields
        if field.editable
        and not field.primary_key
        and not field.is_relation
        and field.name not in NOT_QUERYABLE
    }


def field_label(record_type: str, field: str) -> str:
    return queryable_fields(record_type).get(field, field)


def find_record(record_type: str, record_id: int, *, user: Acting | None) -> models.Model | None:
    """The record, if it exists and the caller may read it (the system, ``None``, reads all)."""
    model = RECORD_MODELS.get(record_type)
    if model is None:
        return None
    manager: Any = model._default_manager
    rows = manager.all() if actor_of(user).user is None else manager.visible_to(user)
    found: models.Model | None = rows.filter(pk=record_id).first()
    return found


def parents(record: models.Model) -> tuple[Subject, Visit | None]:
    """The subject and (where there is one) the visit a record belongs to."""
    if isinstance(record, Subject):
        return record, None
    if isinstance(record, Visit):
        return record.subject, record
    if isinstance(record, ClinicalEvent):
        return record.subject, None
    visit: Visit = record.visit  # type: ignore[attr-defined]
    return visit.subject, visit


def describe(record_type: str, record: models.Model | None) -> str:
    """A record in words: ``EDM-0001 V2 ALSFRS-R``, ``EDM-0001 death event``, ..."""
    if record is None:
        return f"{RecordType(record_type).label} (deleted)"
    subject, visit = parents(record)
    where = f"{subject.study_id} {visit.visit_code}" if visit is not None else subject.study_id
    if isinstance(record, Subject):
        return f"Subject {subject.study_id}"
    if isinstance(record, Visit):
        return f"Visit {where}"
    if isinstance(record, ClinicalEvent):
        return f"{where} {record.get_kind_display().lower()} event"
    if isinstance(record, Scan):
        return f"{where} scan {record.code} ({record.kind})"
    return f"{where} {RecordType(record_type).label}"


def page_url(record_type: str, record: models.Model) -> str:
    """Where a person reads the record (its subject's or visit's page)."""
    subject, visit = parents(record)
    if visit is None:
        anchor = "#events" if record_type == RecordType.EVENT else ""
        return reverse("subject-detail", args=[subject.study_id]) + anchor
    anchors: dict[str, str] = {
        RecordType.UMN_EXAM: "#umn-h",
        RecordType.ALSFRS: "#alsfrs-h",
        RecordType.SCAN: f"#scan-{getattr(record, 'code', '')}",
    }
    return reverse("visit-detail", args=[subject.study_id, visit.visit_code]) + anchors.get(
        record_type, ""
    )


def edit_url(record_type: str, record: models.Model) -> str | None:
    """The page where the site corrects the record's values, where there is one."""
    subject, visit = parents(record)
    if visit is None:
        return None
    names: dict[str, str] = {
        RecordType.VISIT: "visit-edit",
        RecordType.UMN_EXAM: "umn-exam",
        RecordType.ALSFRS: "alsfrs",
    }
    name = names.get(record_type)
    return reverse(name, args=[subject.study_id, visit.visit_code]) if name else None


def field_value(record: models.Model | None, field: str) -> str:
    """The field's current value as a person reads it (an em dash when empty)."""
    if record is None:
        return "—"
    display = getattr(record, f"get_{field}_display", None)
    value = display() if callable(display) else getattr(record, field, None)
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
