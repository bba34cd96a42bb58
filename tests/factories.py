"""Test factories: build valid study rows through the services, overriding only what a test needs."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from cohort import scales, services
from cohort.models import Site, Subject, Visit

_numbers = itertools.count(1)

ENROLLED = dt.date(2025, 1, 10)


def make_site(code: str = "EDM", name: str = "Edmonton") -> Site:
    existing = Site.objects.filter(code=code).first()
    return existing or services.site_create(user=None, code=code, name=name)


def subject_fields(**overrides: Any) -> dict[str, Any]:
    group = overrides.get("group", "ALS")
    fields: dict[str, Any] = {
        "study_id": f"TST-{next(_numbers):04d}",
        "group": group,
        "sex": "F",
        "birth_date": dt.date(1965, 3, 2),
        "handedness": "R",
        "enrolled_on": ENROLLED,
    }
    if group != "CONTROL":
        fields.update(
            onset_date=dt.date(2024, 1, 10),
            onset_region="upper_limb",
            diagnosis_date=dt.date(2024, 9, 1),
        )
    fields.update(overrides)
    if "site" not in fields:
        fields["site"] = make_site()
    return fields


def make_subject(**overrides: Any) -> Subject:
    return services.subject_create(user=None, **subject_fields(**overrides))


def make_visit(
    subject: Subject, code: str = "V1", date: dt.date | None = None, **extra: Any
) -> Visit:
    if date is None:
        date = ENROLLED + dt.timedelta(days=(int(code[1:]) - 1) * 122)
    return services.visit_create(
        user=None,
        subject=subject,
        visit_code=code,
        date=date,
        status=extra.pop("status", "completed"),
        **extra,
    )


def umn_items(total: int = 0) -> dict[str, int]:
    """Items with the first ``total`` items (in scale order) present."""
    return {item: int(i < total) for i, item in enumerate(scales.UMN_ITEMS)}


def alsfrs_items(**overrides: Any) -> dict[str, Any]:
    items: dict[str, Any] = dict.fromkeys(scales.ALSFRS_ITEMS, 4)
    items["q5_gastrostomy"] = False
    items.update(overrides)
    return items
