"""Template tags that put queries on other apps' pages without those apps importing this one
(the queries app sits above cohort and imaging): ``{% home_queries %}`` on the home page,
``{% record_queries subject=subject %}`` and ``{% record_queries visit=visit %}`` on a subject's
and a visit's page."""

from __future__ import annotations

from typing import Any

from django import template

from cohort.models import AlsfrsR, Subject, UmnExam, Visit
from imaging.models import Scan
from queries import selectors, services
from queries.records import RecordType

register = template.Library()


def _user(context: template.Context) -> Any:
    request = context.get("request")
    return getattr(request, "user", None)


@register.inclusion_tag("queries/_home.html", takes_context=True)
def home_queries(context: template.Context) -> dict[str, Any]:
    """The queries waiting for the caller: the open ones of a coordinator's sites, the answered
    ones a monitor should close."""
    return selectors.home_queries(user=_user(context))


@register.inclusion_tag("queries/_record.html", takes_context=True)
def record_queries(
    context: template.Context, subject: Subject | None = None, visit: Visit | None = None
) -> dict[str, Any]:
    """The live queries of a subject's or a visit's records, and (for monitors) links to raise
    one on each record of the page."""
    user = _user(context)
    rows = selectors.record_queries(user=user, subject=subject, visit=visit)
    targets: list[tuple[str, str, int]] = []
    if services.may_open(user):
        if visit is not None:
            targets.append(("the visit", RecordType.VISIT, visit.pk))
            for model, record_type, label in (
                (UmnExam, RecordType.UMN_EXAM, "the Penn UMN exam"),
                (AlsfrsR, RecordType.ALSFRS, "the ALSFRS-R"),
            ):
                pk = model.objects.filter(visit=visit).values_list("pk", flat=True).first()
                if pk is not None:
                    targets.append((label, record_type, pk))
            for scan in Scan.objects.filter(visit=visit).order_by("kind"):
                targets.append((f"scan {scan.code} ({scan.kind})", RecordType.SCAN, scan.pk))
        elif subject is not None:
            targets.append(("the subject", RecordType.SUBJECT, subject.pk))
            for event in subject.events.order_by("date"):
                targets.append(
                    (f"the {event.get_kind_display().lower()} event", RecordType.EVENT, event.pk)
                )
    return {"rows": rows, "targets": targets, "on_visit": visit is not None}
