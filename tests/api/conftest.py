"""API fixtures: token clients per role and one small clinical world per site (EDM and TOR)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from cohort import services
from cohort.models import AlsfrsR, ClinicalEvent, Site, Subject, UmnExam, Visit
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

API = "/api/v1/"


@dataclass
class SiteWorld:
    """One site's records: a subject with a completed V1 (with both forms) and V2, and an event."""

    site: Site
    subject: Subject
    v1: Visit
    v2: Visit
    umn: UmnExam
    alsfrs: AlsfrsR
    event: ClinicalEvent


def build_site_world(site: Site, study_id: str) -> SiteWorld:
    subject = make_subject(site=site, study_id=study_id)
    v1 = make_visit(subject, "V1")
    v2 = make_visit(subject, "V2")
    umn = services.umn_exam_save(user=None, visit=v1, items=umn_items(5))
    alsfrs = services.alsfrs_save(user=None, visit=v1, items=alsfrs_items())
    event = services.event_create(
        user=None, subject=subject, kind="niv", date=ENROLLED + dt.timedelta(days=30)
    )
    return SiteWorld(site, subject, v1, v2, umn, alsfrs, event)


@pytest.fixture
def world(sites: dict[str, Site]) -> dict[str, SiteWorld]:
    return {code: build_site_world(site, f"{code}-0001") for code, site in sites.items()}
