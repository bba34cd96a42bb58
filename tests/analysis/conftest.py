"""Fixtures of the analysis tests: a small quantified cohort and clients per role.

Nothing here is autouse: tests/analysis/stats runs without Django (``-p no:django``). Django
imports happen inside the fixtures for the same reason.
"""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

#: Version used for the band measurements of the test cohort.
VERSION = "1.0.0"
_hashes = itertools.count(1)


@pytest.fixture
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def add_band(
    visit: Any,
    left: float | None,
    right: float | None,
    *,
    version: str = VERSION,
    manufacturer: str = "Siemens",
    model: str = "Prisma",
    field_strength: float = 3.0,
    extent: float = 0.5,
) -> Any:
    """Attach an swi scan (no file: the analysis never opens it) and a done run of ``version``.

    A fast stand-in for upload + quantification (test_frames.py runs the real pipeline once):
    measurements are written as run_execute writes them, "whole" segment per hemisphere.
    """
    from django.utils import timezone

    from imaging.models import Measurement, QuantificationRun, RunStatus, Scan

    scan = Scan.objects.filter(visit=visit, kind="swi").first()
    if scan is None:
        scan = Scan.objects.create(
            visit=visit,
            kind="swi",
            file=f"scans/test/{visit.pk}.nii.gz",
            sha256=f"{next(_hashes):064x}",
            manufacturer=manufacturer,
            scanner_model=model,
            field_strength=field_strength,
        )
        labels = Scan.objects.create(
            visit=visit,
            kind="labels",
            file=f"scans/test/{visit.pk}_dseg.nii.gz",
            sha256=f"{next(_hashes):064x}",
        )
    else:
        labels = Scan.objects.get(visit=visit, kind="labels")
    run = QuantificationRun.objects.create(
        scan=scan,
        labels=labels,
        algorithm_version=version,
        parameters={"version": version},
        parameters_hash=f"{next(_hashes):064x}",
        status=RunStatus.DONE,
        finished_at=timezone.now(),
    )
    for hemisphere, value in (("L", left), ("R", right)):
        for segment in ("whole", "hand"):
            Measurement.objects.create(
                run=run,
                hemisphere=hemisphere,
                segment=segment,
                band_contrast=value if segment == "whole" else 0.99,
                band_extent=extent if value is not None else None,
                laminar_contrast=None if value is None else value / 2,
                n_voxels=500,
            )
    return run


def add_read(scan: Any, rater: Any, left: int, right: int, *, current: bool = True) -> Any:
    from imaging.models import Read

    return Read.objects.create(
        scan=scan,
        rater=rater,
        left_grade=left,
        right_grade=right,
        confidence=2,
        is_current=current,
    )


@pytest.fixture
def cohort(db: Any, sites: dict[str, Any]) -> dict[str, Any]:
    """Six ALS (UMN rising ~1 point per visit) and six controls over EDM (Siemens) and TOR (GE),
    three visits each (34 in all), band contrast measured (TOR reads 0.03 higher: a scanner
    offset); EDM-0001 and TOR-0004 (ALS) die after their V2."""
    from cohort import services
    from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

    subjects = []
    for index in range(12):
        group = "ALS" if index < 6 else "CONTROL"
        site = sites["EDM"] if index % 2 == 0 else sites["TOR"]
        subject = make_subject(
            study_id=f"{site.code}-{index + 1:04d}",
            group=group,
            site=site,
            sex="F" if index % 3 else "M",
            birth_date=dt.date(1950 + index, 1 + index % 12, 5),
        )
        scanner = ("Siemens", "Prisma") if site.code == "EDM" else ("GE", "Discovery MR750")
        offset = 0.03 if site.code == "TOR" else 0.0
        dies = index in (0, 3)  # ALS, one per site
        for number in range(2 if dies else 3):
            code = f"V{number + 1}"
            visit = make_visit(subject, code, ENROLLED + dt.timedelta(days=122 * number + index))
            rising = group == "ALS"
            umn = (4 + index + number * (1 + index % 3)) if rising else index % 2
            services.umn_exam_save(user=None, visit=visit, items=umn_items(min(umn, 32)))
            q = max(0, 4 - number - index % 2) if rising else 4
            services.alsfrs_save(user=None, visit=visit, items=alsfrs_items(q1=q, q8=q))
            # Deterministic "noise" so that the mixed models are identifiable.
            noise = 0.004 * ((index * 7 + number * 3) % 5 - 2)
            slope = 0.01 + 0.003 * (index % 3) if rising else 0.001 * (index % 2)
            base = (0.08 if rising else 0.01) + slope * number + 0.002 * index + noise
            add_band(
                visit,
                base + offset,
                base + offset + 0.01,
                manufacturer=scanner[0],
                model=scanner[1],
            )
        if dies:
            # After their V2, before anyone's V3: the others are still at risk.
            services.event_create(
                user=None,
                subject=subject,
                kind="death",
                date=ENROLLED + dt.timedelta(days=122 + 40 + 20 * index),
            )
        subjects.append(subject)
    return {"subjects": subjects}
