"""Cohort selectors: read-only queries scoped to the caller's role and sites."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet

from cohort import roles
from cohort.models import ClinicalEvent, EventKind, Group, Site, Study, Subject, Visit, VisitStatus


def subject_list(*, user: Any) -> QuerySet[Subject]:
    return roles.scope_by_site(Subject.objects.select_related("site"), user, "site_id")


def visit_list(*, user: Any) -> QuerySet[Visit]:
    return roles.scope_by_site(
        Visit.objects.select_related("subject", "subject__site"), user, "subject__site_id"
    )


def site_list(*, user: Any) -> QuerySet[Site]:
    ids = roles.site_ids(user)
    if roles.role_of(user) is None:
        return Site.objects.none()
    return Site.objects.all() if ids is None else Site.objects.filter(id__in=ids)


@dataclass(frozen=True)
class DueVisit:
    subject: Subject
    visit_code: str
    target_date: dt.date
    window_start: dt.date
    window_end: dt.date
    overdue: bool


def visits_due(
    *, user: Any, today: dt.date | None = None, horizon_days: int = 30
) -> list[DueVisit]:
    """Expected follow-up visits not yet done: overdue (window closed) or due (window open or near).

    Subjects who died or withdrew are not expected at further visits.
    """
    today = today or dt.date.today()
    schedule = Study.current().schedule
    ended = set(
        ClinicalEvent.objects.filter(kind__in=[EventKind.DEATH, EventKind.WITHDRAWAL]).values_list(
            "subject_id", flat=True
        )
    )
    subjects = subject_list(user=user).prefetch_related(
        Prefetch(
            "visits",
            queryset=Visit.objects.only("id", "subject_id", "visit_code", "date", "status"),
        )
    )
    window = dt.timedelta(days=schedule.window_days)
    due: list[DueVisit] = []
    for subject in subjects:
        if subject.pk in ended:
            continue
        visits = {v.visit_code: v for v in subject.visits.all()}
        baseline = visits.get("V1")
        if baseline is None or baseline.date is None:
            continue
        for code in schedule.codes()[1:]:
            visit = visits.get(code)
            if visit is not None and visit.status != VisitStatus.SCHEDULED:
                continue
            target = schedule.target_date(baseline.date, code)
            start, end = target - window, target + window
            if today > end:
                due.append(DueVisit(subject, code, target, start, end, overdue=True))
            elif today >= start - dt.timedelta(days=horizon_days):
                due.append(DueVisit(subject, code, target, start, end, overdue=False))
            break  # only the next expected visit of each subject
    due.sort(key=lambda d: (not d.overdue, d.target_date))
    return due


def study_overview(*, user: Any) -> dict[str, Any]:
    """Subjects per site and group, visit counts, and the due/overdue lists for the home page."""
    subjects = subject_list(user=user)
    counts = Counter(subjects.values_list("site__code", "group"))
    sites = list(site_list(user=user))
    groups = [g.value for g in Group]
    table = [
        {
            "site": site,
            "counts": [counts.get((site.code, g), 0) for g in groups],
            "total": sum(counts.get((site.code, g), 0) for g in groups),
        }
        for site in sites
    ]
    totals = [sum(row["counts"][i] for row in table) for i in range(len(groups))]
    due = visits_due(user=user)
    visit_status = Counter(visit_list(user=user).values_list("status", flat=True))
    return {
        "groups": groups,
        "table": table,
        "totals": totals,
        "grand_total": sum(totals),
        "overdue": [d for d in due if d.overdue],
        "due": [d for d in due if not d.overdue],
        "visit_status": {s.label: visit_status.get(s.value, 0) for s in VisitStatus},
    }
