"""Query selectors: read-only, scoped to the caller like the records the queries are about.

Coordinators read their sites' queries; investigators, data managers and admins every site's;
raters and the blinded assessors none (``DataQuery.objects.visible_to``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from cohort.models import Subject, Visit
from core import roles
from core.roles import Acting, actor_of
from queries.models import LIVE_STATUSES, DataQuery, QueryStatus
from queries.records import (
    RECORD_MODELS,
    describe,
    edit_url,
    field_label,
    field_value,
    page_url,
)

#: How many queries the home page and the record pages list (the list page has the rest).
SHORT_LIST = 10


def query_list(*, user: Acting) -> QuerySet[DataQuery]:
    """The caller's queries: open first, then answered, then closed; newest first within each."""
    rank = Case(
        When(status=QueryStatus.OPEN, then=Value(0)),
        When(status=QueryStatus.ANSWERED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        DataQuery.objects.visible_to(user)
        .select_related("site", "subject", "visit", "opened_by", "answered_by", "closed_by")
        .annotate(status_rank=rank)
        .order_by("status_rank", "-opened_at", "-id")
    )


@dataclass(frozen=True)
class QueryRow:
    """A query with its record: what the pages and the CSV show of it."""

    query: DataQuery
    record: models.Model | None
    label: str
    field_label: str
    url: str | None
    edit_url: str | None

    @property
    def value(self) -> str:
        return field_value(self.record, self.query.field)


def rows(queries: Iterable[DataQuery]) -> list[QueryRow]:
    """The queries with their records, read in one query per record type."""
    queries = list(queries)
    wanted: dict[str, set[int]] = defaultdict(set)
    for query in queries:
        wanted[query.record_type].add(query.record_id)
    related = {
        "visit": ("subject",),
        "umn_exam": ("visit__subject",),
        "alsfrs": ("visit__subject",),
        "event": ("subject",),
        "scan": ("visit__subject",),
    }
    found: dict[str, dict[int, Any]] = {}
    for record_type, ids in wanted.items():
        manager: Any = RECORD_MODELS[record_type]._default_manager
        found[record_type] = manager.select_related(*related.get(record_type, ())).in_bulk(ids)
    result = []
    for query in queries:
        record = found[query.record_type].get(query.record_id)
        result.append(
            QueryRow(
                query=query,
                record=record,
                label=describe(query.record_type, record),
                field_label=field_label(query.record_type, query.field),
                url=page_url(query.record_type, record) if record is not None else None,
                edit_url=edit_url(query.record_type, record) if record is not None else None,
            )
        )
    return result


def home_queries(*, user: Acting) -> dict[str, Any]:
    """What waits for the caller on the home page.

    The site's writers (coordinators) see the open queries of their sites, which they answer;
    monitors see the answered queries waiting for them to close (their own and the automatic
    ones), and how many are still open at the sites.
    """
    actor = actor_of(user)
    visible = query_list(user=actor)
    if actor.role in roles.MONITORS:
        mine = Q(opened_by=actor.user) | Q(auto=True) | Q(opened_by=None)
        if actor.role == roles.ADMIN:
            mine = Q()
        waiting = visible.filter(mine, status=QueryStatus.ANSWERED)
        return {
            "kind": "monitor",
            "rows": rows(waiting[:SHORT_LIST]),
            "count": waiting.count(),
            "open_count": visible.filter(status=QueryStatus.OPEN).count(),
        }
    if actor.role in roles.CLINICAL_WRITERS:
        waiting = visible.filter(status=QueryStatus.OPEN)
        return {"kind": "site", "rows": rows(waiting[:SHORT_LIST]), "count": waiting.count()}
    return {"kind": None, "rows": [], "count": 0}


def record_queries(
    *, user: Acting, subject: Subject | None = None, visit: Visit | None = None
) -> list[QueryRow]:
    """The live queries on a subject (and all its records) or on a visit (and its forms and scans)."""
    queries = query_list(user=user).filter(status__in=LIVE_STATUSES)
    if visit is not None:
        queries = queries.filter(visit=visit)
    elif subject is not None:
        queries = queries.filter(subject=subject)
    else:
        return []
    return rows(queries)


def query_trail(query: DataQuery) -> list[dict[str, Any]]:
    """The query's audit trail, oldest first: who did what, when, why, and the text then."""
    trail = []
    for record in query.history.select_related("history_user").order_by(
        "history_date", "history_id"
    ):
        user = record.history_user
        trail.append(
            {
                "date": record.history_date,
                "user": user.get_username() if user is not None else "system",
                "reason": record.history_change_reason or "",
                "status": QueryStatus(record.status).label,
                "message": record.message,
                "answer": record.answer,
            }
        )
    return trail
