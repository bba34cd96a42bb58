"""Query services: the only writers of data queries.

Who does what (``core.roles``):

- **open**: monitors (data managers, admins) and the system, on a record they can read;
- **answer**: the clinical writers of the record's site (its coordinators, data managers, admins),
  while the query is open or answered (a second answer replaces the first; the trail keeps both);
- **close**: the query's author once it is answered, or while still open with a reason (a query
  raised in error); an automatic query's author is any monitor; an admin may stand in for an
  author who has left;
- **reopen**: the same people, with a new message, once the query is answered or closed.

Every change is one row written through ``core.records`` (validation, version, audit user and
reason); a role that may not act gets ``PermissionDenied`` (403), a rule broken by the query's
state a ``ValidationError`` naming the field (400).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from cohort.models import Visit
from core import records, roles
from core.roles import Acting, Actor, actor_of
from core.scoping import site_of
from queries import checks
from queries.models import DataQuery, QueryStatus
from queries.records import RECORD_MODELS, find_record, parents

#: The fields a query's opener sets; the rest follows from the record and the workflow.
OPEN_FIELDS = ("record_type", "record_id", "field", "message")


def _monitor(actor: Actor, doing: str) -> None:
    if actor.user is not None and actor.role not in roles.MONITORS:
        raise PermissionDenied(f"Only data managers and admins {doing}.")


def _author(actor: Actor, query: DataQuery, doing: str) -> None:
    """The caller stands for the query's author: the author, any monitor for an automatic (or
    system) query, an admin for anyone; the system always."""
    _monitor(actor, doing)
    if actor.user is None or query.auto or query.opened_by_id is None or actor.role == roles.ADMIN:
        return
    if query.opened_by_id != actor.user.pk:
        author = query.opened_by.get_username() if query.opened_by else "its author"
        raise PermissionDenied(f"Only {author}, who opened this query, or an admin {doing} it.")


def _text(value: str | None) -> str:
    return (value or "").strip()


def may_open(user: Acting) -> bool:
    return actor_of(user).role in roles.MONITORS


def may_answer(user: Acting, query: DataQuery) -> bool:
    """Whether the caller may answer the query now (the pages show the form only then)."""
    return actor_of(user).may_write_site(query.site_id) and query.status != QueryStatus.CLOSED


def _stands_for_author(user: Acting, query: DataQuery) -> bool:
    try:
        _author(actor_of(user), query, "act on")
    except PermissionDenied:
        return False
    return actor_of(user).user is not None


def may_close(user: Acting, query: DataQuery) -> bool:
    return query.status != QueryStatus.CLOSED and _stands_for_author(user, query)


def may_reopen(user: Acting, query: DataQuery) -> bool:
    return query.status != QueryStatus.OPEN and _stands_for_author(user, query)


# --- opening ----------------------------------------------------------------------------------


@transaction.atomic
def query_open(
    *,
    user: Acting,
    record_type: str,
    record_id: int,
    field: str,
    message: str,
    check_name: str = "",
) -> DataQuery:
    """Open a query on one field of a record (which must exist and be readable by the caller)."""
    actor = actor_of(user)
    _monitor(actor, "open data queries")
    if record_type not in RECORD_MODELS:
        raise ValidationError(
            {"record_type": f"Choose one of: {', '.join(RECORD_MODELS)} (got '{record_type}')."}
        )
    if not _text(message):
        raise ValidationError(
            {"message": "Write the question: what looks wrong, and what the site should check."}
        )
    record = find_record(record_type, record_id, user=actor)
    if record is None:
        raise ValidationError(
            {"record_id": f"There is no {record_type} {record_id} (or it is outside your sites)."}
        )
    subject, visit = parents(record)
    query = DataQuery(
        record_type=record_type,
        record_id=record_id,
        field=field,
        message=_text(message),
        site_id=site_of(record),
        subject=subject,
        visit=visit,
        # An automatic query is the check's, whoever ran it (the audit trail names them).
        opened_by=None if check_name else actor.user,
        auto=bool(check_name),
        check_name=check_name,
    )
    reason = f"automatic check {check_name}" if check_name else "query opened"
    return records.save(query, user=actor, reason=reason)


# --- the workflow -----------------------------------------------------------------------------


@transaction.atomic
def query_answer(
    query: DataQuery, *, user: Acting, answer: str, expected_version: int | None = None
) -> DataQuery:
    """The site's answer (what was checked, what was corrected); the query waits for its author."""
    actor = actor_of(user)
    query = records.lock(query, expected_version=expected_version)
    if actor.user is not None and not actor.may_write_site(query.site_id):
        raise PermissionDenied("Only the site's coordinators, data managers and admins answer.")
    if query.status == QueryStatus.CLOSED:
        raise ValidationError(
            {"status": "This query is closed: its author reopens it if something is still wrong."}
        )
    if not _text(answer):
        raise ValidationError(
            {"answer": "Write the answer: what you checked, and what you corrected (if anything)."}
        )
    query.answer = _text(answer)
    query.status = QueryStatus.ANSWERED
    query.answered_by = actor.user
    query.answered_at = timezone.now()
    return records.save(query, user=actor, reason="query answered")


@transaction.atomic
def query_close(
    query: DataQuery, *, user: Acting, reason: str = "", expected_version: int | None = None
) -> DataQuery:
    """Close an answered query (the answer is accepted), or an open one with a reason."""
    actor = actor_of(user)
    query = records.lock(query, expected_version=expected_version)
    _author(actor, query, "close")
    if query.status == QueryStatus.CLOSED:
        raise ValidationError({"status": "This query is closed already."})
    if query.status == QueryStatus.OPEN and not _text(reason):
        raise ValidationError(
            {
                "reason": "The site has not answered yet: give a reason to close the query "
                "unanswered (for instance, raised in error)."
            }
        )
    query.status = QueryStatus.CLOSED
    query.closed_by = actor.user
    query.closed_at = timezone.now()
    return records.save(query, user=actor, reason=_text(reason) or "answer accepted")


@transaction.atomic
def query_reopen(
    query: DataQuery, *, user: Acting, message: str, expected_version: int | None = None
) -> DataQuery:
    """Reopen an answered or closed query with a new message for the site."""
    actor = actor_of(user)
    query = records.lock(query, expected_version=expected_version)
    _author(actor, query, "reopen")
    if query.status == QueryStatus.OPEN:
        raise ValidationError({"status": "This query is open already."})
    if not _text(message):
        raise ValidationError(
            {"message": "Write the new message: what is still wrong, or what is still missing."}
        )
    query.message = _text(message)
    query.status = QueryStatus.OPEN
    query.answer = ""
    query.answered_by = None
    query.answered_at = None
    query.closed_by = None
    query.closed_at = None
    return records.save(query, user=actor, reason="query reopened")


@transaction.atomic
def query_edit_message(
    query: DataQuery, *, user: Acting, message: str, expected_version: int | None = None
) -> DataQuery:
    """Reword an open query's message (its author, before the site answers)."""
    actor = actor_of(user)
    query = records.lock(query, expected_version=expected_version)
    _author(actor, query, "reword")
    if query.status != QueryStatus.OPEN:
        raise ValidationError(
            {"message": "The site has answered: reopen the query with a new message instead."}
        )
    if not _text(message):
        raise ValidationError({"message": "A query needs its message."})
    query.message = _text(message)
    return records.save(query, user=actor, reason="message reworded")


def query_update(
    query: DataQuery,
    *,
    user: Acting,
    data: Mapping[str, Any],
    reason: str = "",
    expected_version: int | None = None,
) -> DataQuery:
    """A change asked as new values (the API's PATCH), done as the matching step of the workflow:
    ``status`` answered / closed / open is answering, closing, reopening; ``answer`` alone is
    answering; ``message`` alone rewords an open query. The record and field are fixed."""
    fixed = sorted(set(data) & {"record_type", "record_id", "field"})
    if fixed:
        raise ValidationError(
            {
                name: "A query's record and field are fixed: close it and open another."
                for name in fixed
            }
        )
    unknown = sorted(set(data) - {"status", "answer", "message"})
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    status = data.get("status")
    steps: dict[str | None, Callable[[], DataQuery]] = {
        QueryStatus.ANSWERED: lambda: query_answer(
            query, user=user, answer=data.get("answer", ""), expected_version=expected_version
        ),
        QueryStatus.CLOSED: lambda: query_close(
            query, user=user, reason=reason, expected_version=expected_version
        ),
        QueryStatus.OPEN: lambda: query_reopen(
            query, user=user, message=data.get("message", ""), expected_version=expected_version
        ),
    }
    if status is None and "answer" in data:
        status = QueryStatus.ANSWERED
    if status is not None:
        if status not in steps:
            raise ValidationError({"status": f"Choose one of: {', '.join(QueryStatus.values)}."})
        return steps[status]()
    if "message" in data:
        return query_edit_message(
            query, user=user, message=data["message"], expected_version=expected_version
        )
    return query


# --- automatic checks -------------------------------------------------------------------------


def check_findings(*, user: Acting) -> list[checks.Finding]:
    """What the automatic checks find that no query has asked yet (a dry run of ``run_checks``).

    A finding is asked once: any query the same check opened on the record, live or closed, stands
    for it (a closed one means a person decided).
    """
    actor = actor_of(user)
    _monitor(actor, "run the automatic checks")
    visits = Visit.objects.all() if actor.user is None else Visit.objects.visible_to(actor)
    asked = set(
        DataQuery.objects.filter(~Q(check_name="")).values_list(
            "check_name", "record_type", "record_id"
        )
    )
    return [
        f
        for f in checks.find_problems(visits)
        if (f.check, f.record_type, f.record_id) not in asked
    ]


def run_checks(user: Acting) -> list[DataQuery]:
    """Run every automatic check and open one query per new finding; return the queries opened.

    Each query is its own transaction: a finding another run asked at the same moment is skipped
    (the database's uniqueness rule), not an error.
    """
    opened = []
    for finding in check_findings(user=user):
        try:
            query = query_open(
                user=user,
                record_type=finding.record_type,
                record_id=finding.record_id,
                field=finding.field,
                message=finding.message,
                check_name=finding.check,
            )
        except ValidationError:
            if DataQuery.objects.filter(
                check_name=finding.check,
                record_type=finding.record_type,
                record_id=finding.record_id,
            ).exists():
                continue
            raise
        opened.append(query)
    return opened
