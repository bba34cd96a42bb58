"""Cohort selectors: read-only queries scoped to the caller's role and sites."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, Min, OuterRef, Prefetch, Q, QuerySet

from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Diagnosis,
    EventKind,
    Group,
    Site,
    Study,
    Subject,
    UmnExam,
    Visit,
    VisitStatus,
)
from core.roles import Acting, actor_of


def subject_list(*, user: Acting) -> QuerySet[Subject]:
    return Subject.objects.visible_to(user).select_related("site")


def visit_list(*, user: Acting) -> QuerySet[Visit]:
    return Visit.objects.visible_to(user).select_related("subject", "subject__site")


def site_list(*, user: Acting) -> QuerySet[Site]:
    return Site.objects.visible_to(user)


def umn_exam_list(*, user: Acting) -> QuerySet[UmnExam]:
    return UmnExam.objects.visible_to(user).select_related("visit__subject__site").order_by("id")


def alsfrs_list(*, user: Acting) -> QuerySet[AlsfrsR]:
    return AlsfrsR.objects.visible_to(user).select_related("visit__subject__site").order_by("id")


def event_list(*, user: Acting) -> QuerySet[ClinicalEvent]:
    return ClinicalEvent.objects.visible_to(user).select_related("subject__site")


def diagnosis_list(*, user: Acting) -> QuerySet[Diagnosis]:
    return Diagnosis.objects.visible_to(user).select_related("subject__site", "assessor")


@dataclass(frozen=True)
class ReferenceState:
    """Where a subject stands with the reference standard of the diagnostic study."""

    subject: Subject
    due_on: dt.date
    reference: Diagnosis | None
    latest: Diagnosis | None
    ended: ClinicalEvent | None

    @property
    def state(self) -> str:
        if self.reference is not None:
            return "done"
        if self.ended is not None:
            return "follow-up ended: final diagnosis is the last one"
        return "due" if self.due_on <= dt.date.today() else "not yet due"


def reference_state(subject: Subject) -> ReferenceState:
    """The reference-standard state of a subject (prefetch ``diagnoses`` and ``events`` for lists)."""
    diagnoses = sorted(subject.diagnoses.all(), key=lambda d: (d.date, d.pk))
    ended = [e for e in subject.events.all() if e.kind in (EventKind.DEATH, EventKind.WITHDRAWAL)]
    return ReferenceState(
        subject=subject,
        due_on=Study.current().reference_standard_due(subject.enrolled_on),
        reference=next((d for d in diagnoses if d.reference_standard), None),
        latest=diagnoses[-1] if diagnoses else None,
        ended=min(ended, key=lambda e: e.date) if ended else None,
    )


def clinical_course(subject: Subject) -> list[dict[str, Any]]:
    """Each visit of a subject with its ALSFRS-R and UMN totals and its stages (no imaging)."""
    visits = subject.visits.select_related("alsfrs", "umn_exam").order_by("date", "visit_code")
    course = []
    for visit in visits:
        alsfrs = getattr(visit, "alsfrs", None)
        umn = getattr(visit, "umn_exam", None)
        course.append(
            {
                "visit": visit,
                "alsfrs_total": alsfrs.total if alsfrs else None,
                "umn_total": umn.total if umn else None,
            }
        )
    return course


def reference_diagnoses(subject_ids: Iterable[int] | None = None) -> dict[int, Diagnosis]:
    """Each subject's reference-standard diagnosis by subject id, for the system's own analyses
    (the caller has already scoped ``subject_ids`` to what its user may see)."""
    rows = Diagnosis.objects.filter(reference_standard=True)
    if subject_ids is not None:
        rows = rows.filter(subject_id__in=list(subject_ids))
    return {d.subject_id: d for d in rows}


@dataclass(frozen=True)
class DueVisit:
    subject: Subject
    visit_code: str
    target_date: dt.date
    window_start: dt.date
    window_end: dt.date
    overdue: bool


def visits_due(
    *, user: Acting, today: dt.date | None = None, horizon_days: int = 30
) -> list[DueVisit]:
    """Expected follow-up visits not yet done: overdue (window closed) or due (window open or near).

    Subjects who died or withdrew are not expected at further visits. Only the next expected
    visit of each subject counts: the first planned visit after V1 that is missing or still
    scheduled. The database finds the subjects whose next visit is due or overdue (one query
    grouped by subject over the visits); only those subjects are read.
    """
    today = today or dt.date.today()
    user = actor_of(user)
    schedule = Study.current().schedule
    window = dt.timedelta(days=schedule.window_days)
    follow_up = schedule.codes()[1:]

    def done(code: str) -> Count:
        return Count("pk", filter=Q(visit_code=code) & ~Q(status=VisitStatus.SCHEDULED))

    annotations: dict[str, Any] = {
        "baseline": Min("date", filter=Q(visit_code="V1")),
        **{f"done_{code}": done(code) for code in follow_up},
    }
    # The next expected visit is ``code`` when the earlier follow-up visits are done and it is
    # not; it is listed once its window opens within ``horizon_days`` (or has closed).
    listed = Q()
    for index, code in enumerate(follow_up):
        offset = schedule.target_date(today, code) - today
        latest_baseline = today + window + dt.timedelta(days=horizon_days) - offset
        earlier_done = Q(**{f"done_{c}__gt": 0 for c in follow_up[:index]})
        listed |= earlier_done & Q(**{f"done_{code}": 0}) & Q(baseline__lte=latest_baseline)
    if not follow_up:
        return []
    ended = ClinicalEvent.objects.filter(
        subject=OuterRef("subject_id"), kind__in=[EventKind.DEATH, EventKind.WITHDRAWAL]
    )
    # Grouped by subject id over the visits alone (narrow rows), then the few listed subjects.
    grouped: Any = (
        Visit.objects.visible_to(user).exclude(Exists(ended)).order_by().values("subject_id")
    )
    rows: dict[int, dict[str, Any]] = {
        row["subject_id"]: row
        for row in grouped.annotate(**annotations).filter(listed, baseline__isnull=False)
    }
    due: list[DueVisit] = []
    for subject in subject_list(user=user).filter(pk__in=list(rows)):
        row = rows[subject.pk]
        code = next(c for c in follow_up if not row[f"done_{c}"])
        target = schedule.target_date(row["baseline"], code)
        start, end = target - window, target + window
        due.append(DueVisit(subject, code, target, start, end, overdue=today > end))
    due.sort(key=lambda d: (not d.overdue, d.target_date))
    return due


def study_overview(*, user: Acting) -> dict[str, Any]:
    """Subjects per site and group, visit counts, and the due/overdue lists for the home page.

    Counted in the database (a few grouped queries), whatever the number of subjects.
    """
    user = actor_of(user)  # the caller's sites, read once for every query below
    subjects = subject_list(user=user).order_by()
    counts = {
        (row["site__code"], row["group"]): row["n"]
        for row in subjects.values("site__code", "group").annotate(n=Count("pk"))
    }
    sites = list(site_list(user=user))
    groups = [g.value for g in Group]
    table: list[dict[str, Any]] = [
        {
            "site": site,
            "counts": [counts.get((site.code, g), 0) for g in groups],
            "total": sum(counts.get((site.code, g), 0) for g in groups),
        }
        for site in sites
    ]
    totals = [sum(row["counts"][i] for row in table) for i in range(len(groups))]
    due = visits_due(user=user)
    visit_status = {
        row["status"]: row["n"]
        for row in Visit.objects.visible_to(user)
        .order_by()
        .values("status")
        .annotate(n=Count("pk"))
    }
    return {
        "groups": groups,
        "table": table,
        "totals": totals,
        "grand_total": sum(totals),
        "overdue": [d for d in due if d.overdue],
        "due": [d for d in due if not d.overdue],
        "visit_status": {s.label: visit_status.get(s.value, 0) for s in VisitStatus},
    }


# --- visit timeline and data completeness (subject page, completeness dashboard) ---------------

# Scans and runs live in the imaging app; they are reached through the reverse relations
# Visit.scans and Scan.runs so that this module imports nothing from imaging.
SCAN_SWI = "swi"
SCAN_LABELS = "labels"
QUANTIFIABLE_SCAN_KINDS = ("swi", "qsm", "gre_magnitude")
RUN_DONE = "done"

MISSING_UMN = "no UMN exam"
MISSING_ALSFRS = "no ALSFRS-R"
MISSING_SWI = "no SWI scan"
MISSING_LABELS = "no label map"
MISSING_QUANTIFICATION = "not quantified"


class VisitState:
    """Where a scheduled visit stands today (the timeline's badges)."""

    DONE = "done"
    MISSED = "missed"
    DUE = "due"
    OVERDUE = "overdue"
    UPCOMING = "upcoming"
    NOT_EXPECTED = "not_expected"
    LABELS = {
        DONE: "Done",
        MISSED: "Missed",
        DUE: "Due",
        OVERDUE: "Overdue",
        UPCOMING: "Upcoming",
        NOT_EXPECTED: "Not expected",
    }


@dataclass(frozen=True)
class TimelineEntry:
    visit_code: str
    visit: Visit | None
    state: str
    target_date: dt.date | None
    window_start: dt.date | None
    window_end: dt.date | None
    out_of_window: bool
    missing: tuple[str, ...]

    @property
    def state_label(self) -> str:
        return VisitState.LABELS[self.state]

    @property
    def expected(self) -> bool:
        """The visit should have happened by now (done, missed, or its window closed)."""
        return self.state in (VisitState.DONE, VisitState.MISSED, VisitState.OVERDUE)


@dataclass(frozen=True)
class _VisitData:
    """What the completeness rules need to know about each visit, read in a few queries."""

    umn: set[int]
    alsfrs: set[int]
    swi: set[int]
    labels: set[int]
    quantified: set[int]


def _visit_data(visit_ids: list[int]) -> _VisitData:
    visits = Visit.objects.filter(pk__in=visit_ids)

    def ids(**lookup: Any) -> set[int]:
        return set(visits.filter(**lookup).values_list("pk", flat=True).distinct())

    return _VisitData(
        umn=ids(umn_exam__isnull=False),
        alsfrs=ids(alsfrs__isnull=False),
        swi=ids(scans__kind=SCAN_SWI),
        labels=ids(scans__kind=SCAN_LABELS),
        quantified=ids(scans__kind__in=QUANTIFIABLE_SCAN_KINDS, scans__runs__status=RUN_DONE),
    )


def _missing(visit: Visit, data: _VisitData) -> tuple[str, ...]:
    if visit.status != VisitStatus.COMPLETED:
        return ()
    gaps = []
    if visit.pk not in data.umn:
        gaps.append(MISSING_UMN)
    if visit.pk not in data.alsfrs:
        gaps.append(MISSING_ALSFRS)
    if visit.pk not in data.swi:
        gaps.append(MISSING_SWI)
    if visit.pk not in data.labels:
        gaps.append(MISSING_LABELS)
    if visit.pk in data.swi and visit.pk in data.labels and visit.pk not in data.quantified:
        gaps.append(MISSING_QUANTIFICATION)
    return tuple(gaps)


def _timeline(
    subject: Subject,
    visits: list[Visit],
    data: _VisitData,
    *,
    schedule: Any,
    ended_on: dt.date | None,
    today: dt.date,
) -> list[TimelineEntry]:
    by_code = {v.visit_code: v for v in visits}
    codes = sorted(set(schedule.codes()) | set(by_code), key=lambda code: int(code[1:]))
    baseline = by_code.get("V1")
    # Before V1 exists, the baseline is expected from enrolment on.
    anchor = baseline.date if baseline is not None and baseline.date else subject.enrolled_on
    window = dt.timedelta(days=schedule.window_days)
    entries = []
    for code in codes:
        visit = by_code.get(code)
        target = schedule.target_date(anchor, code) if anchor else None
        start, end = (target - window, target + window) if target else (None, None)
        out_of_window = bool(visit and visit.date and visit.in_window is False)
        if visit is not None and visit.status == VisitStatus.COMPLETED:
            state = VisitState.DONE
        elif visit is not None and visit.status == VisitStatus.MISSED:
            state = VisitState.MISSED
        elif ended_on is not None and (target is None or target > ended_on):
            state = VisitState.NOT_EXPECTED
        elif end is not None and today > end:
            state = VisitState.OVERDUE
        elif start is not None and today >= start:
            state = VisitState.DUE
        else:
            state = VisitState.UPCOMING
        entries.append(
            TimelineEntry(
                visit_code=code,
                visit=visit,
                state=state,
                target_date=target,
                window_start=start,
                window_end=end,
                out_of_window=out_of_window,
                missing=_missing(visit, data) if visit is not None else (),
            )
        )
    return entries


def _ended_on(subject_ids: list[int]) -> dict[int, dt.date]:
    """The first death or withdrawal date per subject: no visit is expected after it."""
    ended: dict[int, dt.date] = {}
    for subject_id, date in ClinicalEvent.objects.filter(
        subject_id__in=subject_ids, kind__in=[EventKind.DEATH, EventKind.WITHDRAWAL]
    ).values_list("subject_id", "date"):
        ended[subject_id] = min(date, ended.get(subject_id, date))
    return ended


def subject_timeline(*, subject: Subject, today: dt.date | None = None) -> list[TimelineEntry]:
    """V1..Vn of the study schedule for one subject: state, window and missing forms per visit."""
    visits = list(subject.visits.all())
    return _timeline(
        subject,
        visits,
        _visit_data([v.pk for v in visits]),
        schedule=Study.current().schedule,
        ended_on=_ended_on([subject.pk]).get(subject.pk),
        today=today or dt.date.today(),
    )


@dataclass(frozen=True)
class Gap:
    subject: Subject
    visit_code: str
    visit: Visit | None
    problems: tuple[str, ...]


@dataclass
class SiteCompleteness:
    site: Site
    subjects: int = 0
    expected_visits: int = 0
    done_visits: int = 0
    completed: int = 0
    with_umn: int = 0
    with_alsfrs: int = 0
    with_swi_and_labels: int = 0
    quantified: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @staticmethod
    def _percent(part: int, whole: int) -> float | None:
        return round(100 * part / whole, 1) if whole else None

    @property
    def done_percent(self) -> float | None:
        return self._percent(self.done_visits, self.expected_visits)

    @property
    def umn_percent(self) -> float | None:
        return self._percent(self.with_umn, self.completed)

    @property
    def alsfrs_percent(self) -> float | None:
        return self._percent(self.with_alsfrs, self.completed)

    @property
    def scans_percent(self) -> float | None:
        return self._percent(self.with_swi_and_labels, self.completed)

    @property
    def quantified_percent(self) -> float | None:
        return self._percent(self.quantified, self.completed)


def site_completeness(*, user: Acting, today: dt.date | None = None) -> list[SiteCompleteness]:
    """Per site of the caller: % of expected visits done, % of completed visits with each form,
    and the list of gaps (overdue visits, completed visits missing a form, scan or run)."""
    today = today or dt.date.today()
    schedule = Study.current().schedule
    subjects = list(
        subject_list(user=user).prefetch_related(
            Prefetch("visits", queryset=Visit.objects.order_by("visit_code"))
        )
    )
    visit_ids = [v.pk for s in subjects for v in s.visits.all()]
    data = _visit_data(visit_ids)
    ended = _ended_on([s.pk for s in subjects])
    rows = {site.pk: SiteCompleteness(site=site) for site in site_list(user=user)}
    for subject in subjects:
        row = rows.get(subject.site_id)
        if row is None:
            continue
        row.subjects += 1
        timeline = _timeline(
            subject,
            list(subject.visits.all()),
            data,
            schedule=schedule,
            ended_on=ended.get(subject.pk),
            today=today,
        )
        for entry in timeline:
            row.expected_visits += entry.expected
            row.done_visits += entry.state == VisitState.DONE
            problems: list[str] = []
            if entry.state == VisitState.OVERDUE:
                problems.append(f"overdue (window closed {entry.window_end})")
            if entry.state == VisitState.DONE and entry.visit is not None:
                pk = entry.visit.pk
                row.completed += 1
                row.with_umn += pk in data.umn
                row.with_alsfrs += pk in data.alsfrs
                row.with_swi_and_labels += pk in data.swi and pk in data.labels
                row.quantified += pk in data.quantified
                problems.extend(entry.missing)
            if problems:
                row.gaps.append(Gap(subject, entry.visit_code, entry.visit, tuple(problems)))
    return list(rows.values())
