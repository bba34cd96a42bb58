"""The automatic checks of the clinical data: each finds the records that look wrong and says why
in one sentence naming its rule. ``queries.services.run_checks`` opens one query per finding.

| check                  | record, field             | flags                                                  |
| ---------------------- | ------------------------- | ------------------------------------------------------ |
| ``visit_out_of_window``| visit, ``date``           | a visit (not missed) dated outside its window: the     |
|                        |                           | schedule's target ± the study's window days            |
|                        |                           | (``Visit.in_window`` is False)                         |
| ``visit_missing_umn``  | visit, ``status``         | a completed visit without its Penn UMN exam            |
| ``visit_missing_alsfrs``| visit, ``status``        | a completed visit without its ALSFRS-R                 |
| ``alsfrs_rise``        | ALSFRS-R, the item that   | an ALSFRS-R total more than ``ALSFRS_RISE_LIMIT`` (6)  |
|                        | rose most                 | points above the subject's previous ALSFRS-R           |

The ALSFRS-R rule. ALS makes the ALSFRS-R fall, by about one point a month on average; between two
visits a subject's total may rise by a few points (day-to-day and rater variation), but sustained
gains larger than that are exceptional in ALS (Bedlack et al., "How common are ALS plateaus and
reversals?", Neurology 2016). A total more than 6 points (one eighth of the 48-point scale) above
the subject's previous ALSFRS-R (the latest earlier visit that has one) is therefore far from the
subject's trajectory, and most often an entry error: an item entered on the wrong form or for the
wrong subject, or items scored the wrong way round. The query names the item that rose most, so the
site knows where to look first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise

from django.db.models import QuerySet

from cohort import scales
from cohort.models import AlsfrsR, Study, Visit, VisitStatus
from queries.records import RecordType

VISIT_OUT_OF_WINDOW = "visit_out_of_window"
VISIT_MISSING_UMN = "visit_missing_umn"
VISIT_MISSING_ALSFRS = "visit_missing_alsfrs"
ALSFRS_RISE = "alsfrs_rise"
CHECKS = (VISIT_OUT_OF_WINDOW, VISIT_MISSING_UMN, VISIT_MISSING_ALSFRS, ALSFRS_RISE)

#: Points of ALSFRS-R total gained since the previous ALSFRS-R beyond which a form is queried.
ALSFRS_RISE_LIMIT = 6


@dataclass(frozen=True)
class Finding:
    """One record that a check flags: the query to open about it."""

    check: str
    record_type: str
    record_id: int
    field: str
    message: str


def find_problems(visits: QuerySet[Visit]) -> list[Finding]:
    """Every finding of every check over these visits (and their forms), in a stable order."""
    return [
        *out_of_window(visits),
        *missing_forms(visits),
        *alsfrs_rises(visits),
    ]


def out_of_window(visits: QuerySet[Visit]) -> Iterator[Finding]:
    window = Study.current().window_days
    rows = visits.filter(in_window=False).exclude(status=VisitStatus.MISSED)
    for visit in rows.select_related("subject").order_by("subject__study_id", "visit_code"):
        yield Finding(
            VISIT_OUT_OF_WINDOW,
            RecordType.VISIT,
            visit.pk,
            "date",
            f"Automatic check “visit out of window”: {visit.subject.study_id} {visit.visit_code} "
            f"is dated {visit.date}, outside its window (target {visit.target_date} ± {window} "
            "days). Check the date; if it is right, say so and the query will be closed.",
        )


def missing_forms(visits: QuerySet[Visit]) -> Iterator[Finding]:
    completed = visits.filter(status=VisitStatus.COMPLETED).select_related("subject")
    for check, lookup, form in (
        (VISIT_MISSING_UMN, "umn_exam__isnull", "Penn UMN exam"),
        (VISIT_MISSING_ALSFRS, "alsfrs__isnull", "ALSFRS-R"),
    ):
        for visit in completed.filter(**{lookup: True}).order_by("subject__study_id", "visit_code"):
            yield Finding(
                check,
                RecordType.VISIT,
                visit.pk,
                "status",
                f"Automatic check “completed visit without its {form}”: "
                f"{visit.subject.study_id} {visit.visit_code} is completed but has no {form}. "
                f"Enter the {form}, or correct the visit's status if it did not take place.",
            )


def alsfrs_rises(visits: QuerySet[Visit]) -> Iterator[Finding]:
    forms = AlsfrsR.objects.filter(visit__in=visits, total__isnull=False).select_related(
        "visit__subject"
    )
    by_subject: dict[int, list[AlsfrsR]] = defaultdict(list)
    for form in forms:
        by_subject[form.visit.subject_id].append(form)
    for subject_forms in by_subject.values():
        subject_forms.sort(key=lambda f: f.visit.visit_number)
        for previous, current in pairwise(subject_forms):
            finding = _rise(previous, current)
            if finding is not None:
                yield finding


def _rise(previous: AlsfrsR, current: AlsfrsR) -> Finding | None:
    assert previous.total is not None and current.total is not None
    gain = current.total - previous.total
    if gain <= ALSFRS_RISE_LIMIT:
        return None
    item, item_gain = max(
        (
            (name, (current.items()[name] or 0) - (previous.items()[name] or 0))
            for name in scales.ALSFRS_ITEMS
        ),
        key=lambda pair: pair[1],
    )
    visit = current.visit
    return Finding(
        ALSFRS_RISE,
        RecordType.ALSFRS,
        current.pk,
        item,
        f"Automatic check “ALSFRS-R rise”: the total rose from {previous.total} at "
        f"{previous.visit.visit_code} to {current.total} at {visit.visit_code} "
        f"(+{gain} points) for {visit.subject.study_id}; the study queries a rise of more than "
        f"{ALSFRS_RISE_LIMIT} points since the previous ALSFRS-R as far from the subject's "
        f"trajectory. Item {item[1:]} ({scales.ALSFRS_ITEM_LABELS[item]}) rose most "
        f"(+{item_gain}): check the items against the source form.",
    )
