"""The synthetic demo study: three sites, five groups, up to two years of follow-up.

Enrolment is staggered over the two years before the demo's "today" (its anchor date), so follow-up
varies: the earliest enrolees reach V7 (month 24), recent ones have one or two visits (administrative
censoring). ALS patients lose ALSFRS-R points at their own pace (about 0.5-1.5 per month) and, as
function falls, start non-invasive ventilation, receive a gastrostomy, a few a tracheostomy or
permanent ventilation, and some die; faster decliners are more likely to leave the study (informative
dropout, as in real cohorts); some visits are missed. Survivors get a vital status check at the data
cut.

Reproducible from a seed: the same seed and anchor date give the same study. Imaging and reads are
added by the functions named in ``settings.MOTORBAND_DEMO_EXTENSIONS`` (each called with the random
generator and the acting user after the clinical data exist).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from cohort import scales, services
from cohort.models import (
    ClinicalEvent,
    EventKind,
    Group,
    Phenotype,
    Study,
    Subject,
    VisitStatus,
)
from core.roles import Acting

#: The demo's seed. The study is small (9 PLS patients): about a third of seeds give no PLS patient
#: an event of the default survival endpoint within follow-up, or leave the ALS median unreached;
#: this one, picked among the next few, gives both patient groups events, the ALS curve a median and
#: every kind of clinical event.
DEFAULT_SEED = 20261131
DEFAULT_ANCHOR = dt.date(2026, 10, 15)  # the demo's "today": enrolment and visits end before it
DEMO_PASSWORD = "motorband-demo"
DEMO_SITES = (
    ("EDM", "University of Alberta, Edmonton"),
    ("TOR", "Sunnybrook Health Sciences Centre, Toronto"),
    ("MTL", "Montreal Neurological Institute, Montreal"),
)
# Subjects per site and group (28 per site, 84 in all).
DEMO_GROUP_SIZES = {
    Group.ALS: 10,
    Group.PLS: 3,
    Group.CONTROL: 6,
    Group.MIMIC: 3,
    Group.SUSPECTED: 6,
}
#: What the patients enrolled under investigation turn out to have, in turn (their course follows
#: it): half ALS, a third mimics, a sixth PLS.
SUSPECTED_OUTCOMES = (Group.ALS, Group.MIMIC, Group.ALS, Group.PLS, Group.MIMIC, Group.ALS)
MIMIC_DIAGNOSES = (
    "multifocal motor neuropathy",
    "cervical spondylotic myelopathy",
    "inclusion body myositis",
    "spinal and bulbar muscular atrophy (Kennedy disease)",
    "hereditary spastic paraplegia",
)
DEMO_USERS = (
    *((f"coord_{code.lower()}", "coordinator", (code,)) for code, _ in DEMO_SITES),
    ("rater1", "rater", ()),
    ("rater2", "rater", ()),
    ("investigator", "investigator", ()),
    ("datamanager", "data_manager", ()),
    ("admin", "admin", ()),
    ("assessor", "assessor", ()),
)


#: The demo follows subjects to V7: a visit every 4 months up to month 24.
DEMO_PLANNED_VISITS = 7
#: Enrolment runs over this many days before the anchor (about two years and a visit window), so
#: that the earliest enrolees can reach V7.
ENROLMENT_SPAN_DAYS = 860
#: Whether each PLS patient's course, in turn, turns out to be upper-motor-neuron-predominant ALS
#: (lower motor neuron signs appear within four years of onset in a share of PLS; Gordon 2006): one
#: in three.
PLS_CONVERTING = (False, True, False)


@dataclass(frozen=True)
class Trajectory:
    """A subject's latent course: baseline and monthly change of the UMN total and ALSFRS-R.

    ``pace`` is how many SDs faster than its group's mean the subject declines (0: typical), and
    ``events`` whether the course leads to ALS's milestones (ventilation, gastrostomy, death)."""

    umn_baseline: float
    umn_slope: float
    alsfrs_baseline: float
    alsfrs_slope: float
    pace: float = 0.0
    events: bool = False

    def alsfrs(self, months: float) -> float:
        return max(0.0, self.alsfrs_baseline + self.alsfrs_slope * months)

    def months_to(self, level: float) -> float:
        """Months from V1 until the latent ALSFRS-R total falls to ``level`` (inf: never)."""
        if self.alsfrs_baseline <= level:
            return 0.0
        if self.alsfrs_slope >= 0:
            return float("inf")
        return (self.alsfrs_baseline - level) / -self.alsfrs_slope


ALS_SLOPE_MEAN, ALS_SLOPE_SD = 0.95, 0.4  # ALSFRS-R points lost per month


def _trajectory(
    rng: random.Random, group: str, onset_months: float | None, converting: bool = False
) -> Trajectory:
    if group == Group.ALS:
        pace = rng.gauss(0, 1)
        loss = min(2.4, max(0.3, ALS_SLOPE_MEAN + ALS_SLOPE_SD * pace))
        # The baseline reflects the points already lost since onset (a little slower than now:
        # decline accelerates in most patients).
        lost = 0.8 * loss * (onset_months or 12.0) + rng.gauss(0, 2)
        return Trajectory(
            rng.gauss(12, 5),
            max(0.0, rng.gauss(0.25, 0.15)),
            min(46.0, max(22.0, 47.5 - lost)),
            -loss,
            pace=(loss - ALS_SLOPE_MEAN) / ALS_SLOPE_SD,
            events=True,
        )
    if group == Group.PLS:
        if converting:
            pace = rng.gauss(0, 1)
            loss = max(0.5, 0.9 + 0.3 * pace)
            return Trajectory(
                rng.gauss(20, 4), max(0.0, rng.gauss(0.2, 0.1)), rng.gauss(30, 3), -loss, pace, True
            )
        pace = rng.gauss(0, 1)
        return Trajectory(
            rng.gauss(20, 4),
            max(0.0, rng.gauss(0.15, 0.1)),
            rng.gauss(40, 3),
            -max(0.0, 0.3 + 0.15 * pace),
            pace,
        )
    if group == Group.MIMIC:
        return Trajectory(rng.uniform(0, 4), 0.0, rng.gauss(42, 3), -max(0.0, rng.gauss(0.1, 0.1)))
    # Healthy controls sit near the ceiling, some a point or two below it (handwriting, sleep);
    # some have a few brisk reflexes, a normal variant that stays the same over the visits.
    return Trajectory(rng.uniform(0, 3), 0.0, rng.uniform(45.5, 48.4), 0.0)


@dataclass
class Milestones:
    """Months from V1 at which a subject's course reaches each event (None: not in this course)."""

    niv: float | None = None
    gastrostomy: float | None = None
    pav: float | None = None
    tracheostomy: float | None = None
    death: float | None = None

    def events(self) -> list[tuple[str, float]]:
        found = [
            (EventKind.NIV, self.niv),
            (EventKind.GASTROSTOMY, self.gastrostomy),
            (EventKind.PAV, self.pav),
            (EventKind.TRACHEOSTOMY, self.tracheostomy),
            (EventKind.DEATH, self.death),
        ]
        return sorted(((str(k), m) for k, m in found if m is not None), key=lambda e: e[1])


def _milestones(rng: random.Random, course: Trajectory, onset_region: str | None) -> Milestones:
    """When ventilation, gastrostomy, tracheostomy and death come, from the ALSFRS-R level at which
    they usually do (each patient's own threshold) and the onset region: ventilation earlier after
    respiratory onset, gastrostomy earlier after bulbar onset; not everyone accepts NIV or a tube."""
    if not course.events:
        return Milestones()
    respiratory = 6.0 if onset_region == "respiratory" else 0.0
    bulbar = 6.0 if onset_region == "bulbar" else 0.0

    def when(level: float) -> float:
        # Soon after V1 where the patient was already there at enrolment.
        months = course.months_to(level)
        return months + rng.gauss(0, 1.0) if months > 0 else rng.uniform(0.3, 2.0)

    found = Milestones()
    if rng.random() < 0.8:
        found.niv = max(0.1, when(rng.gauss(27, 5) + respiratory))
    if rng.random() < 0.7:
        found.gastrostomy = max(0.1, when(rng.gauss(25, 5) + bulbar))
    death = max(0.2, when(rng.gauss(14, 4) + respiratory + bulbar / 2))
    if rng.random() < 0.12:
        # Tracheostomy instead of death from respiratory failure: invasive ventilation prolongs
        # survival by years.
        found.tracheostomy = death
        death += rng.uniform(12, 48)
    elif found.niv is not None and rng.random() < 0.4:
        # NIV for most of the day (22 h or more) within a year of starting it, in many users.
        found.pav = found.niv + rng.uniform(2, 12)
    found.death = death
    # Nothing follows death.
    for name in ("niv", "gastrostomy", "pav", "tracheostomy"):
        value = getattr(found, name)
        if value is not None and value >= death:
            setattr(found, name, None)
    return found


def _dropout_probability(course: Trajectory, group: str) -> float:
    """Probability of leaving the study after a visit: patients who decline faster leave more often
    (travel becomes hard), which makes the dropout informative."""
    if course.events:
        return 1 / (1 + math.exp(-(-2.5 + 1.0 * course.pace)))
    return 0.02 if group == Group.CONTROL else 0.03


def _umn_items(rng: random.Random, total: int) -> dict[str, int]:
    """Spread a UMN total over the 32 items, limbs first (as UMN signs in ALS usually are)."""
    total = max(0, min(scales.UMN_TOTAL_MAX, total))
    weights = {item: (0.6 if item in scales.UMN_BULBAR_ITEMS else 1.0) for item in scales.UMN_ITEMS}
    order = sorted(
        scales.UMN_ITEMS, key=lambda item: rng.random() ** (1 / weights[item]), reverse=True
    )
    present = set(order[:total])
    return {item: int(item in present) for item in scales.UMN_ITEMS}


def _grow_umn(
    rng: random.Random, previous: dict[str, int], total: int, stable: bool = False
) -> dict[str, int]:
    """Next visit's items: in a progressive course signs already present stay and new ones appear
    (UMN signs rarely vanish); in a ``stable`` one (no UMN disease), a borderline sign seen at one
    visit may be absent at the next, so the count follows the examination rather than ratchets up."""
    items = dict(previous)
    absent = [item for item, v in items.items() if v == 0]
    rng.shuffle(absent)
    for item in absent[: max(0, total - sum(items.values()))]:
        items[item] = 1
    if stable:
        present = [item for item, v in items.items() if v]
        for item in present[max(0, total) :]:
            items[item] = 0
    return items


def _alsfrs_items(rng: random.Random, total: int, onset_region: str | None) -> dict[str, Any]:
    """Spread the lost points over the items, favouring the onset region's domain."""
    total = max(0, min(scales.ALSFRS_TOTAL_MAX, total))
    items = dict.fromkeys(scales.ALSFRS_ITEMS, scales.ALSFRS_ITEM_MAX)
    favoured = {
        "bulbar": scales.ALSFRS_DOMAINS["bulbar"],
        "upper_limb": scales.ALSFRS_DOMAINS["fine_motor"],
        "lower_limb": scales.ALSFRS_DOMAINS["gross_motor"],
        "respiratory": scales.ALSFRS_DOMAINS["respiratory"],
    }.get(onset_region or "", ())
    to_lose = scales.ALSFRS_TOTAL_MAX - total
    while to_lose > 0:
        pool = [q for q in scales.ALSFRS_ITEMS if items[q] > 0]
        weights = [4.0 if q in favoured else 1.0 for q in pool]
        q = rng.choices(pool, weights)[0]
        items[q] -= 1
        to_lose -= 1
    return {**items, "q5_gastrostomy": False}


def _date_between(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, max(0, (end - start).days)))


@transaction.atomic
def build_demo(
    *,
    seed: int = DEFAULT_SEED,
    anchor: dt.date = DEFAULT_ANCHOR,
    user: Acting = None,
    extensions: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, int]:
    """Create the demo study (sites, subjects, visits, UMN, ALSFRS-R, events) and return counts.

    The study's schedule is extended to ``DEMO_PLANNED_VISITS`` visits (V1-V7, month 24) where it
    plans fewer.

    ``extensions=False`` skips the imaging and reads extensions (clinical data only);
    ``progress`` is told, in a sentence, each step as it starts.
    """
    say = progress or (lambda message: None)
    rng = random.Random(seed)
    if Study.current().planned_visits < DEMO_PLANNED_VISITS:
        services.study_update(
            user=user,
            data={"planned_visits": DEMO_PLANNED_VISITS},
            reason="the demo study follows subjects to month 24",
        )
    sites = [services.site_create(user=user, code=code, name=name) for code, name in DEMO_SITES]
    counts = {"sites": len(sites), "subjects": 0, "visits": 0, "events": 0}
    for site in sites:
        say(f"Subjects, visits, forms and events at {site.code}...")
        number = 0
        for group, size in DEMO_GROUP_SIZES.items():
            for _ in range(size):
                number += 1
                _demo_subject(rng, site, group, number, anchor, user, counts)
    _vital_status_check(anchor, user)
    for dotted in settings.MOTORBAND_DEMO_EXTENSIONS if extensions else []:
        extension: Callable[..., Any] = import_string(dotted)
        name = dotted.rsplit(".", 1)[-1]
        say(f"{name.replace('_', ' ').capitalize()} ({dotted.split('.')[0]})...")
        counts[name] = extension(rng=rng, user=user)
    return counts


def _vital_status_check(anchor: dt.date, user: Acting) -> None:
    """The data cut: every subject still in the study was checked alive on its date, so survival
    follows survivors to it rather than stopping at their last visit."""
    checked = min(anchor, dt.date.today())
    ended = ClinicalEvent.objects.filter(
        kind__in=[EventKind.DEATH, EventKind.WITHDRAWAL]
    ).values_list("subject_id", flat=True)
    for subject in Subject.objects.exclude(pk__in=list(ended)).order_by("study_id"):
        services.subject_update(
            subject,
            user=user,
            data={"last_known_alive": checked},
            reason="vital status checked at the data cut",
        )


def _demo_subject(
    rng: random.Random,
    site: Any,
    group: str,
    number: int,
    anchor: dt.date,
    user: Acting,
    counts: dict[str, int],
) -> Subject:
    # Enrolment staggered over two years; patients under investigation enrolled early enough for
    # most to reach the 12-month diagnosis.
    first = 200 if group == Group.SUSPECTED else 20
    enrolled = anchor - dt.timedelta(days=rng.randint(first, ENROLMENT_SPAN_DAYS))
    age_years = rng.gauss(58, 10) if group != Group.CONTROL else rng.gauss(56, 11)
    birth = enrolled - dt.timedelta(days=int(max(25.0, min(85.0, age_years)) * 365.25))
    fields: dict[str, Any] = {
        "study_id": f"{site.code}-{number:04d}",
        "site": site,
        "group": group,
        "sex": rng.choices(["M", "F"], [0.6, 0.4] if group == Group.ALS else [0.5, 0.5])[0],
        "birth_date": birth,
        "handedness": rng.choices(["R", "L", "A"], [0.88, 0.1, 0.02])[0],
        "enrolled_on": enrolled,
    }
    onset_months: float | None = None
    if group != Group.CONTROL:
        onset_months = (
            rng.uniform(6, 36)
            if group == Group.ALS
            else rng.uniform(4, 24)
            if group == Group.SUSPECTED
            else rng.uniform(24, 96)
        )
        onset = enrolled - dt.timedelta(days=int(onset_months * scales.MONTH_DAYS))
        fields["onset_date"] = onset
        fields["onset_region"] = (
            "upper_limb"
            if group == Group.PLS
            else rng.choices(
                ["bulbar", "upper_limb", "lower_limb", "respiratory"], [0.25, 0.4, 0.3, 0.05]
            )[0]
        )
        fields["diagnosis_date"] = min(enrolled, onset + dt.timedelta(days=rng.randint(120, 450)))
    outcome = group
    converting = False
    if group == Group.PLS:
        earlier = Subject.objects.filter(group=Group.PLS).count()
        converting = PLS_CONVERTING[earlier % len(PLS_CONVERTING)]
    if group == Group.SUSPECTED:
        # Under investigation: symptoms, no diagnosis yet; the course is the disease they have.
        earlier = Subject.objects.filter(group=Group.SUSPECTED).count()
        outcome = SUSPECTED_OUTCOMES[earlier % len(SUSPECTED_OUTCOMES)]
        fields["diagnosis_date"] = None
    subject = services.subject_create(user=user, **fields)
    counts["subjects"] += 1
    course = _trajectory(rng, outcome, onset_months, converting)
    region = fields.get("onset_region")
    milestones = _milestones(rng, course, region)
    v1_date = _date_between(rng, enrolled, enrolled + dt.timedelta(days=14))

    def on(months: float) -> dt.date:
        return v1_date + dt.timedelta(days=round(months * scales.MONTH_DAYS))

    dates = {kind: on(months) for kind, months in milestones.events()}
    death = dates.get(EventKind.DEATH)
    # Research visits stop at death and at a tracheostomy (home ventilation: no more clinic visits).
    stop = min(
        [anchor, *(d for k, d in dates.items() if k in (EventKind.DEATH, EventKind.TRACHEOSTOMY))]
    )
    leave_after = _dropout_probability(course, outcome)
    withdrawn: dt.date | None = None
    umn_items: dict[str, int] | None = None
    last_date = v1_date
    interval = Study.current().interval_months
    for index in range(DEMO_PLANNED_VISITS):
        code = f"V{index + 1}"
        jitter = rng.choice(
            [rng.randint(-20, 20)] * 9 + [rng.randint(35, 50)]
        )  # ~10% out of window
        date = v1_date if index == 0 else on(index * interval) + dt.timedelta(days=jitter)
        if date >= stop:
            break  # not yet due (the home page lists it as due), or the subject died
        months = (date - v1_date).days / scales.MONTH_DAYS
        # Visits are missed more often as function declines.
        missed = 0.06 + (0.08 if course.alsfrs(months) < 20 else 0.0)
        if index > 0 and rng.random() < missed:
            services.visit_create(
                user=user, subject=subject, visit_code=code, status=VisitStatus.MISSED
            )
            counts["visits"] += 1
            continue
        visit = services.visit_create(
            user=user, subject=subject, visit_code=code, date=date, status=VisitStatus.COMPLETED
        )
        counts["visits"] += 1
        # Examiners disagree more over a patient's evolving signs than over a stable examination.
        noise = 1.0 if course.umn_slope > 0 else 0.6
        umn_total = round(course.umn_baseline + course.umn_slope * months + rng.gauss(0, noise))
        umn_items = (
            _umn_items(rng, umn_total)
            if umn_items is None
            else _grow_umn(rng, umn_items, umn_total, stable=course.umn_slope == 0)
        )
        services.umn_exam_save(user=user, visit=visit, items=umn_items)
        alsfrs_total = round(course.alsfrs(months) + rng.gauss(0, 1))
        items = _alsfrs_items(rng, min(alsfrs_total, 48), region)
        services.alsfrs_save(user=user, visit=visit, items=_with_events(items, dates, date))
        last_date = date
        if index > 0 and rng.random() < leave_after:
            # Leaves the study before the next visit; milestones after leaving stay unknown.
            withdrawn = min(anchor, last_date + dt.timedelta(days=rng.randint(30, 100)))
            break
    end = min(d for d in (anchor, withdrawn, death) if d is not None)
    for kind, when in sorted(dates.items(), key=lambda item: item[1]):
        if when < end or (kind == EventKind.DEATH and when == end and when < anchor):
            services.event_create(user=user, subject=subject, kind=kind, date=when)
            counts["events"] += 1
    if withdrawn is not None and withdrawn < anchor and (death is None or withdrawn < death):
        services.event_create(user=user, subject=subject, kind=EventKind.WITHDRAWAL, date=withdrawn)
        counts["events"] += 1
    if group == Group.SUSPECTED:
        counts["diagnoses"] = counts.get("diagnoses", 0) + _suspected_diagnoses(
            rng, subject, outcome, v1_date, anchor, user
        )
    return subject


def _with_events(items: dict[str, Any], dates: dict[str, dt.date], on: dt.date) -> dict[str, Any]:
    """Make the form agree with the events before it: item 5 answered with a gastrostomy after
    one; ventilation caps item 12 (3 intermittent NIV, 1 continuous, 0 invasive)."""
    items = dict(items)

    def before(kind: str) -> bool:
        return kind in dates and dates[kind] <= on

    if before(EventKind.GASTROSTOMY):
        items["q5_gastrostomy"] = True
    for kind, cap in ((EventKind.NIV, 3), (EventKind.PAV, 1), (EventKind.TRACHEOSTOMY, 0)):
        if before(kind):
            items["q12"] = min(items["q12"], cap)
    return items


def _suspected_diagnoses(
    rng: random.Random,
    subject: Subject,
    outcome: str,
    v1_date: dt.date,
    anchor: dt.date,
    user: Acting,
) -> int:
    """A working diagnosis a month after V1 and, once the study's follow-up has passed (or the
    subject died or withdrew), the final diagnosis: the reference standard."""
    mimic = outcome == Group.MIMIC
    alternative = rng.choice(MIMIC_DIAGNOSES) if mimic else ""
    ended = subject.events.filter(kind__in=(EventKind.DEATH, EventKind.WITHDRAWAL)).first()
    first = min(anchor - dt.timedelta(days=1), v1_date + dt.timedelta(days=rng.randint(20, 45)))
    if ended is not None:
        first = min(first, ended.date)
    made = 0
    if first > subject.enrolled_on:
        # Early on, a mimic often still looks like possible ALS.
        early_mimic = mimic and rng.random() < 0.5
        services.diagnosis_create(
            user=user,
            subject=subject,
            date=first,
            gold_coast="not_met",
            el_escorial=None if early_mimic else "possible",
            phenotype=Phenotype.MIMIC if early_mimic else Phenotype.ALS,
            alternative=alternative if early_mimic else "",
            comment="working diagnosis",
        )
        made += 1
    due = Study.current().reference_standard_due(subject.enrolled_on)
    final = due + dt.timedelta(days=rng.randint(0, 60))
    if ended is not None and ended.date < final:
        final = ended.date
    if final >= anchor or final <= first:
        return made
    services.diagnosis_create(
        user=user,
        subject=subject,
        date=final,
        gold_coast="not_met" if mimic else "met",
        el_escorial=None
        if mimic or outcome == Group.PLS
        else rng.choice(["definite", "probable", "probable_lab"]),
        phenotype=Phenotype(outcome),
        alternative=alternative,
        reference_standard=True,
        comment="final diagnosis at follow-up",
    )
    return made + 1


def create_demo_users() -> list[tuple[str, str, tuple[str, ...]]]:
    """Create (or reset) one demo user per role, all with the documented demo password."""
    for username, role, sites in DEMO_USERS:
        services.study_user_save(username=username, role=role, sites=sites, password=DEMO_PASSWORD)
    return list(DEMO_USERS)
