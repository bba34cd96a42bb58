"""The reference-standard assessor is blinded: no MBS read or band value through any page or
endpoint, while the clinical record and the diagnosis history are theirs to read and complete."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.test import Client

from cohort import services
from tests.imaging.test_reading_api import (  # noqa: F401  (blinded_world is a fixture)
    API,
    PASSWORD,
    STUDY_ID,
    _api_paths,
    blinded_world,
)

pytestmark = pytest.mark.django_db

#: The clinical record: what an assessor may read through the API.
CLINICAL_PATHS = (
    "sites/",
    "subjects/",
    "visits/",
    "umn-exams/",
    "alsfrs/",
    "events/",
    "diagnoses/",
)


def unblinding_patterns(world: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    patterns = {
        "band field": re.compile(r"band_contrast|band_extent|laminar_contrast|deep_minus"),
        "read field": re.compile(r"left_grade|right_grade|\"mbs\""),
        "other read's grades": re.compile(r'"left_grade":\s*2'),
    }
    for i, value in enumerate(world["contrasts"]):
        forms = {repr(value), f"{value:.4f}", f"{value:.3f}"}
        patterns[f"band contrast {i}"] = re.compile("|".join(re.escape(f) for f in forms))
    return patterns


def test_the_assessor_reaches_the_clinical_record_and_nothing_of_imaging(blinded_world, api, users):  # noqa: F811
    world = blinded_world
    subject = world["subject"]
    services.diagnosis_create(
        user=users["coordinator"] if subject.site.code == "EDM" else None,
        subject=subject,
        date=subject.enrolled_on + dt.timedelta(days=20),
        gold_coast="not_met",
        phenotype="PLS",
    )
    patterns = unblinding_patterns(world)
    client = api("assessor")
    checked = 0

    def check(response: Any, where: str) -> None:
        nonlocal checked
        text = response.content.decode("utf-8", errors="replace") + "\n".join(
            f"{k}: {v}" for k, v in response.items()
        )
        leaks = {name: m.group(0) for name, p in patterns.items() if (m := p.search(text))}
        assert leaks == {}, f"{where} shows {leaks}"
        checked += 1

    keys = {
        str(k)
        for k in (
            world["scan"].pk,
            world["scan"].code,
            world["labels"].pk,
            world["visit"].pk,
            subject.pk,
            STUDY_ID,
            world["run"].pk,
            world["other_read"].pk,
        )
    }
    reachable = []
    for path in _api_paths(client):
        if "{" in path:
            urls = [re.sub(r"\{[^}]+\}", key, path) for key in sorted(keys)]
        else:
            urls = [path, f"{path}?subject={STUDY_ID}", f"{path}?scan={world['scan'].pk}"]
        for url in urls:
            response = client.get(url)
            check(response, f"GET {url}")
            if response.status_code == 200:
                reachable.append(url)
    allowed = tuple(f"{API}{p}" for p in CLINICAL_PATHS)
    outside = [u for u in reachable if not u.startswith(allowed)]
    assert outside == [], outside
    assert client.get(f"{API}subjects/", {"study_id": STUDY_ID}).json()["count"] == 1
    assert client.get(f"{API}diagnoses/", {"subject": STUDY_ID}).json()["count"] == 1

    web = Client()
    assert web.login(username="assessor", password=PASSWORD)
    for url in ("/", "/diagnoses/?group=all", f"/subjects/{STUDY_ID}/diagnoses/"):
        response = web.get(url)
        assert response.status_code == 200, url
        check(response, f"page {url}")
    for url in (
        "/subjects/",
        f"/subjects/{STUDY_ID}/",
        f"/subjects/{STUDY_ID}/visits/V1/",
        "/reading/",
        f"/reading/{world['scan'].code}/",
        f"/reading/{world['scan'].code}/image.nii.gz",
        "/reading/agreement/",
        "/reading/adjudication/",
        "/analysis/",
        "/analysis/diagnostic/",
        "/analysis/stard/",
        f"/analysis/subjects/{STUDY_ID}/",
        "/analysis/exports/",
    ):
        response = web.get(url)
        assert response.status_code in (302, 403, 404), (url, response.status_code)
        check(response, f"page {url}")
    assert checked > 60


def test_the_assessor_records_the_final_diagnosis_in_the_page(blinded_world, users):  # noqa: F811
    subject = blinded_world["subject"]
    web = Client()
    assert web.login(username="assessor", password=PASSWORD)
    when = subject.enrolled_on + dt.timedelta(days=400)
    page = web.get(f"/subjects/{STUDY_ID}/diagnoses/")
    assert "reference standard" in page.content.decode()
    response = web.post(
        f"/subjects/{STUDY_ID}/diagnoses/",
        {
            "date": when.isoformat(),
            "phenotype": "PLS",
            "gold_coast": "met",
            "el_escorial": "",
            "reference_standard": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    made = subject.diagnoses.get()
    assert made.reference_standard and made.assessor == users["assessor"]
    listed = web.get("/diagnoses/?group=PLS").content.decode()
    assert "PLS · " + when.isoformat() in listed

    # The coordinator's form has no reference box, and the service refuses it anyway.
    coordinator = Client()
    coordinator.force_login(users["investigator"])
    assert coordinator.get(f"/subjects/{STUDY_ID}/diagnoses/").status_code == 200
    assert coordinator.post(f"/subjects/{STUDY_ID}/diagnoses/", {}).status_code == 403
