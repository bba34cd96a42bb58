"""The synthetic demo study: three sites, four groups, three visits with realistic trajectories.

Reproducible from a seed: the same seed and anchor date give the same study. Imaging and reads are
added by the functions named in ``settings.MOTORBAND_DEMO_EXTENSIONS`` (each called with the random
generator and the acting user after the clinical data exist).
"""

from __future__ import annotations

import datetime as dt
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

DEFAULT_SEED = 20261125
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


@dataclass(frozen=True)
class Trajectory:
    """A subject's latent course: baseline and monthly change of the UMN total and ALSFRS-R."""

    umn_baseline: float
    umn_slope: float
    alsfrs_baseline: float
    alsfrs_slope: float


def _trajectory(rng: random.Random, group: str) -> Trajectory:
    if group == Group.ALS:
        return Trajectory(
            rng.gauss(12, 5),
            max(0.0, rng.gauss(0.25, 0.15)),
            rng.gauss(38, 4),
            -max(0.1, rng.gauss(0.9, 0.4)),
        )
    if group == Group.PLS:
        return Trajectory(
            rng.gauss(20, 4),
            max(0.0, rng.gauss(0.15, 0.1)),
            rng.gauss(40, 3),
            -max(0.0, rng.gauss(0.3, 0.15)),
        )
    if group == Group.MIMIC:
        return Trajectory(rng.uniform(0, 4), 0.0, rng.gauss(42, 3), -max(0.0, rng.gauss(0.1, 0.1)))
    # Healthy controls sit near the ceiling, some a point or two below it (handwriting, sleep).
    return Trajectory(rng.uniform(0, 1), 0.0, rng.uniform(45.5, 48.4), 0.0)


def _umn_items(rng: random.Random, total: int) -> dict[str, int]:
    """Spread a UMN total over the 32 items, limbs first (as UMN signs in ALS usually are)."""
    total = max(0, min(scales.UMN_TOTAL_MAX, total))
    weights = {item: (0.6 if item in scales.UMN_BULBAR_ITEMS else 1.0) for item in scales.UMN_ITEMS}
    order = sorted(
        scales.UMN_ITEMS, key=lambda item: rng.random() ** (1 / weights[item]), reverse=True
    )
    present = set(order[:total])
    return {item: int(item in present) for item in scales.UMN_ITEMS}


def _grow_umn(rng: random.Random, previous: dict[str, int], total: int) -> dict[str, int]:
    """Next visit's items: signs already present stay, new ones appear (UMN signs rarely vanish)."""
    items = dict(previous)
    absent = [item for item, v in items.items() if v == 0]
    rng.shuffle(absent)
    for item in absent[: max(0, total - sum(items.values()))]:
        items[item] = 1
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

    ``extensions=False`` skips the imaging and reads extensions (clinical data only);
    ``progress`` is told, in a sentence, each step as it starts.
    """
    say = progress or (lambda message: None)
    rng = random.Random(seed)
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
    # Patients under investigation enrolled first enough for most to reach the 12-month diagnosis.
    first, last = (200, 700) if group == Group.SUSPECTED else (30, 600)
    enrolled = anchor - dt.timedelta(days=rng.randint(first, last))
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
    if group == Group.SUSPECTED:
        # Under investigation: symptoms, no diagnosis yet; the course is the disease they have.
        earlier = Subject.objects.filter(group=Group.SUSPECTED).count()
        outcome = SUSPECTED_OUTCOMES[earlier % len(SUSPECTED_OUTCOMES)]
        fields["diagnosis_date"] = None
    subject = services.subject_create(user=user, **fields)
    counts["subjects"] += 1
    course = _trajectory(rng, outcome)
    schedule_days = [0, 122, 243]
    death_after: int | None = None
    if outcome == Group.ALS and rng.random() < 0.15:
        death_after = rng.choice([1, 2])  # dies after V1 or V2: later visits never happen
    withdraws_after = 2 if (death_after is None and rng.random() < 0.06) else None
    umn_items: dict[str, int] | None = None
    last_date = enrolled
    v1_date = _date_between(rng, enrolled, enrolled + dt.timedelta(days=14))
    for index, offset in enumerate(schedule_days):
        code = f"V{index + 1}"
        if death_after is not None and index >= death_after:
            break
        if withdraws_after is not None and index >= withdraws_after:
            break
        jitter = rng.choice(
            [rng.randint(-20, 20)] * 9 + [rng.randint(35, 50)]
        )  # ~10% out of window
        date = v1_date if index == 0 else v1_date + dt.timedelta(days=offset + jitter)
        if date >= anchor:
            break  # not yet due: the home page lists it as due
        if index > 0 and rng.random() < 0.06:
            services.visit_create(
                user=user, subject=subject, visit_code=code, status=VisitStatus.MISSED
            )
            counts["visits"] += 1
            continue
        visit = services.visit_create(
            user=user, subject=subject, visit_code=code, date=date, status=VisitStatus.COMPLETED
        )
        counts["visits"] += 1
        months = (date - v1_date).days / scales.MONTH_DAYS
        umn_total = round(course.umn_baseline + course.umn_slope * months + rng.gauss(0, 1))
        umn_items = (
            _umn_items(rng, umn_total)
            if umn_items is None
            else _grow_umn(rng, umn_items, umn_total)
        )
        services.umn_exam_save(user=user, visit=visit, items=umn_items)
        alsfrs_total = round(
            course.alsfrs_baseline + course.alsfrs_slope * months + rng.gauss(0, 1)
        )
        services.alsfrs_save(
            user=user,
            visit=visit,
            items=_alsfrs_items(rng, min(alsfrs_total, 48), fields.get("onset_region")),
        )
        last_date = date
    if outcome == Group.ALS:
        for kind, probability in ((EventKind.NIV, 0.2), (EventKind.GASTROSTOMY, 0.2)):
            if rng.random() < probability:
                when = _date_between(rng, enrolled, last_date)
                services.event_create(user=user, subject=subject, kind=kind, date=when)
                counts["events"] += 1
        if death_after is not None:
            when = min(
                anchor - dt.timedelta(days=1), last_date + dt.timedelta(days=rng.randint(20, 110))
            )
            if rng.random() < 0.2:
                services.event_create(
                    user=user,
                    subject=subject,
                    kind=EventKind.TRACHEOSTOMY,
                    date=last_date
                    + dt.timedelta(days=rng.randint(1, max(1, (when - last_date).days - 1))),
                )
                counts["events"] += 1
            services.event_create(user=user, subject=subject, kind=EventKind.DEATH, date=when)
            counts["events"] += 1
    if withdraws_after is not None:
        when = min(
            anchor - dt.timedelta(days=1), last_date + dt.timedelta(days=rng.randint(30, 90))
        )
        services.event_create(user=user, subject=subject, kind=EventKind.WITHDRAWAL, date=when)
        counts["events"] += 1
    if group == Group.SUSPECTED:
        counts["diagnoses"] = counts.get("diagnoses", 0) + _suspected_diagnoses(
            rng, subject, outcome, v1_date, anchor, user
        )
    return subject


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
