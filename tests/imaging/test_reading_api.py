"""Blinded reads through the API and the pages: blinding, permissions, lock and correction."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
from django.test import Client

from cohort import services as cohort_services
from cohort.models import Site
from imaging import band, reading, services
from imaging.models import Measurement, Read, Scan
from tests.factories import make_subject, make_visit
from tests.imaging.reads import make_rater, make_swi

pytestmark = pytest.mark.django_db

API = "/api/v1/"
PASSWORD = "pw-Test-123!"
STUDY_ID = "QXZ-7391"
SITE_CODE = "QXZ"
SITE_NAME = "Blindtown Royal Infirmary"
BIRTH, ONSET, DIAGNOSIS, ENROLLED, VISIT_DATE = (
    dt.date(1961, 7, 19),
    dt.date(2023, 2, 27),
    dt.date(2023, 11, 13),
    dt.date(2024, 5, 6),
    dt.date(2024, 5, 17),
)
OTHER_COMMENT = "Other-rater-note: faint band at the knob"


def _date_forms(day: dt.date) -> list[str]:
    return [
        day.isoformat(),
        day.strftime("%d/%m/%Y"),
        day.strftime("%m/%d/%Y"),
        f"{day.strftime('%B')} {day.day}, {day.year}",
        f"{day.strftime('%b')}. {day.day}, {day.year}",
    ]


@pytest.fixture
def blinded_world(users, tmp_path) -> dict[str, Any]:
    """A PLS subject at a distinctive site with a quantified SWI queued for two raters; the other
    rater has already read it."""
    site = cohort_services.site_create(user=None, code=SITE_CODE, name=SITE_NAME)
    subject = make_subject(
        study_id=STUDY_ID,
        site=site,
        group="PLS",
        birth_date=BIRTH,
        onset_date=ONSET,
        diagnosis_date=DIAGNOSIS,
        enrolled_on=ENROLLED,
    )
    visit = make_visit(subject, "V1", date=VISIT_DATE)
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.21, 0.07), noise_sd=2.0, seed=5
    )
    swi = phantom.swi
    # The file as a scanner console or a site's pipeline might write it: identifying header text,
    # a header extension and an identifying file name.
    swi.header["descrip"] = f"{STUDY_ID} {SITE_NAME} {VISIT_DATE}".encode()[:80]
    swi.header["aux_file"] = STUDY_ID.encode()
    swi.header["db_name"] = SITE_CODE.encode()
    swi.header["intent_name"] = b"PLS"
    swi.header.extensions.append(
        nib.nifti1.Nifti1Extension("comment", f"PatientID={STUDY_ID}".encode())
    )
    paths = {
        "swi": tmp_path / f"sub-QXZ7391_ses-V1_{VISIT_DATE}_swi.nii.gz",
        "labels": tmp_path / "sub-QXZ7391_ses-V1_dseg.nii.gz",
    }
    nib.save(swi, paths["swi"])
    nib.save(phantom.labels, paths["labels"])
    stored = {}
    for kind, path in paths.items():
        with path.open("rb") as handle:
            stored[kind] = services.scan_upload(
                user=None,
                visit=visit,
                kind=kind,
                upload=handle,
                name=path.name,
                field_strength=3.0 if kind == "swi" else None,
                manufacturer="QXZ Imaging",
            )
    scan = stored["swi"]
    run, _ = services.run_request(user=None, scan=scan, enqueue=False)
    services.run_execute(run.pk)
    rater, other = users["rater"], make_rater("rater_other")
    for who in (rater, other):
        reading.read_assignments_create(user=None, rater=who, scans=[scan], seed=1)
    other_read = reading.read_submit(
        rater=other, scan=scan, left_grade=2, right_grade=1, confidence=3, comment=OTHER_COMMENT
    )
    contrasts = [
        v
        for v in Measurement.objects.filter(run__scan=scan).values_list("band_contrast", flat=True)
        if v is not None
    ]
    assert contrasts
    return {
        "site": site,
        "subject": subject,
        "visit": visit,
        "scan": scan,
        "labels": stored["labels"],
        "run": run,
        "rater": rater,
        "other": other,
        "other_read": other_read,
        "contrasts": contrasts,
    }


def forbidden_patterns(world: dict[str, Any]) -> dict[str, re.Pattern[str]]:
    """What a blinded rater must never see, by name."""
    literal = {
        "study id": STUDY_ID,
        "participant label": "QXZ7391",
        "site name": SITE_NAME,
        "site name (part)": "Blindtown",
        "scanner manufacturer": "QXZ Imaging",
        "original file name": "sub-QXZ7391",
        "other rater": world["other"].username,
        "other rater's comment": OTHER_COMMENT,
        "other rater's comment (part)": "Other-rater-note",
    }
    patterns = {name: re.compile(re.escape(value)) for name, value in literal.items()}
    patterns["site code"] = re.compile(rf"\b{SITE_CODE}\b")
    patterns["group"] = re.compile(r"\bPLS\b|Primary lateral sclerosis")
    patterns["visit code"] = re.compile(r"\bV1\b")
    for label, day in (
        ("birth date", BIRTH),
        ("onset date", ONSET),
        ("diagnosis date", DIAGNOSIS),
        ("enrolment date", ENROLLED),
        ("visit date", VISIT_DATE),
    ):
        patterns[label] = re.compile("|".join(re.escape(f) for f in _date_forms(day)))
    for i, value in enumerate(world["contrasts"]):
        forms = {repr(value), f"{value:.4f}", f"{value:.3f}"}
        patterns[f"band contrast {i}"] = re.compile("|".join(re.escape(f) for f in forms))
    patterns["other read's grades"] = re.compile(
        r'"left_grade":\s*2,\s*"right_grade":\s*1,\s*"confidence":\s*3'
    )
    return patterns


def assert_blind(text: str, where: str, patterns: dict[str, re.Pattern[str]]) -> None:
    leaks = {name: m.group(0) for name, p in patterns.items() if (m := p.search(text))}
    assert leaks == {}, f"{where} shows {leaks}"


def _api_paths(client: Any) -> list[str]:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    return sorted(json.loads(schema.content)["paths"])


def test_a_rater_sees_nothing_that_unblinds_a_queued_scan(blinded_world, api):
    """Every API answer and page a rater can reach for a queued scan, and its image."""
    world = blinded_world
    scan = world["scan"]
    patterns = forbidden_patterns(world)
    client = api("rater")
    seen: list[str] = []

    def check(response: Any, where: str) -> None:
        body = response.content.decode("utf-8", errors="replace")
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        assert_blind(body + "\n" + headers, where, patterns)
        seen.append(where)

    # The queue lists the scan by id, code, position and status only.
    queue = client.get(f"{API}reading-queue/")
    assert queue.status_code == 200
    (item,) = queue.json()["results"]
    assert item == {
        "scan": scan.pk,
        "scan_code": scan.code,
        "position": 1,
        "status": "pending",
        "read": None,
    }
    check(queue, "GET reading-queue/")

    # Pages before reading: home, queue and the reading page with its grading form.
    web = Client()
    assert web.login(username="rater", password=PASSWORD)
    for url in ("/", "/reading/", f"/reading/{scan.code}/"):
        response = web.get(url)
        assert response.status_code == 200, url
        check(response, f"page {url} (unread)")

    # Before reading: no read of anyone.
    reads = client.get(f"{API}reads/", {"scan": scan.pk})
    assert reads.json()["count"] == 0
    check(reads, "GET reads/?scan=")

    created = client.post(
        f"{API}reads/",
        {"scan": scan.pk, "left_grade": 1, "right_grade": 0, "confidence": 2, "comment": "mine"},
        format="json",
    )
    assert created.status_code == 201, created.content
    check(created, "POST reads/")
    read_id = created.json()["id"]
    corrected = client.post(
        f"{API}reads/{read_id}/correct/",
        {"left_grade": 1, "right_grade": 1, "confidence": 3, "reason": "second look"},
        format="json",
    )
    assert corrected.status_code == 201, corrected.content
    check(corrected, "POST reads/{id}/correct/")
    new_id = corrected.json()["id"]

    # Every GET of the API schema, with every key of the world's records in its path.
    keys = {
        str(k)
        for k in (
            scan.pk,
            scan.code,
            world["labels"].pk,
            world["visit"].pk,
            world["subject"].pk,
            STUDY_ID,
            SITE_CODE,
            world["run"].pk,
            world["other_read"].pk,
            read_id,
            new_id,
        )
    }
    reachable = []
    for path in _api_paths(client):
        if "{" in path:
            urls = [re.sub(r"\{[^}]+\}", key, path) for key in sorted(keys)]
        else:
            urls = [path, f"{path}?scan={scan.pk}", f"{path}?subject={STUDY_ID}"]
        for url in urls:
            response = client.get(url)
            check(response, f"GET {url}")
            if response.status_code == 200:
                reachable.append(url)
    # Whatever the rater reaches is their own queue and reads; the rest is 403/404.
    assert all(u.startswith((f"{API}reads/", f"{API}reading-queue/")) for u in reachable), reachable
    mine = client.get(f"{API}reads/").json()["results"]
    assert {r["id"] for r in mine} == {read_id, new_id}
    assert {r["rater"] for r in mine} == {"rater"}
    assert client.get(f"{API}reads/{world['other_read'].pk}/").status_code == 404

    # Pages after reading (locked read, correction form) and every other page tried.
    for url in ("/reading/",):
        check(web.get(url), f"page {url} (read)")
    page = web.get(f"/reading/{scan.code}/")
    assert "Submitted and locked" in page.content.decode()
    check(page, "reading page (read)")
    for url in (
        "/reading/agreement/",
        "/reading/adjudication/",
        "/analysis/",
        "/subjects/",
        f"/subjects/{STUDY_ID}/",
        "/admin/",
    ):
        check(web.get(url), f"page {url}")

    # The image: file name, headers, gzip header and every NIfTI header field.
    for query in ("", "?minip=8"):
        response = web.get(f"/reading/{scan.code}/image.nii.gz{query}")
        assert response.status_code == 200
        payload = b"".join(response.streaming_content)
        disposition = response["Content-Disposition"]
        suffix = "_minip" if query else ""
        assert f'filename="{scan.code}{suffix}.nii.gz"' in disposition
        assert "Last-Modified" not in response
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        assert_blind(headers, f"image headers {query}", patterns)
        raw = gzip.decompress(payload)
        assert payload[3] & 0x08 == 0, "the gzip stream names a file"
        image = nib.Nifti1Image.from_bytes(raw)
        for field in ("descrip", "aux_file", "intent_name", "db_name"):
            assert image.header[field].item() == b"", field
        assert len(image.header.extensions) == 0
        header_text = str(image.header) + raw[:352].decode("latin-1")
        assert_blind(header_text, f"NIfTI header {query}", patterns)
        assert b"QXZ" not in raw and b"PatientID" not in raw
        stored = nib.load(scan.file.path)
        np.testing.assert_allclose(image.affine, stored.affine, atol=1e-5)
        if not query:
            np.testing.assert_allclose(image.get_fdata(), stored.get_fdata())
        seen.append(f"image {query}")
    assert len(seen) > 40


def test_raters_reach_only_their_own_queue(blinded_world, api, users, tmp_path):
    world = blinded_world
    unassigned = make_swi(tmp_path)
    client = api("rater")
    # Naming a scan outside the queue reads as "does not exist", like any unknown id.
    answer = client.post(
        f"{API}reads/",
        {"scan": unassigned.pk, "left_grade": 0, "right_grade": 0, "confidence": 1},
        format="json",
    )
    assert answer.status_code == 400 and "scan" in answer.json()
    missing = client.post(
        f"{API}reads/",
        {"scan": 10**9, "left_grade": 0, "right_grade": 0, "confidence": 1},
        format="json",
    )
    assert missing.json()["scan"][0].replace(str(10**9), "N") == answer.json()["scan"][0].replace(
        str(unassigned.pk), "N"
    )
    web = Client()
    web.login(username="rater", password=PASSWORD)
    assert web.get(f"/reading/{unassigned.code}/").status_code == 404
    assert web.get(f"/reading/{unassigned.code}/image.nii.gz").status_code == 404
    assert web.get("/reading/SCN-NOSUCH00/").status_code == 404
    # Another rater's read is not found; the other rater sees only theirs.
    assert client.get(f"{API}reads/{world['other_read'].pk}/").status_code == 404
    assert client.get(f"{API}reads/", {"rater": "rater_other"}).json()["count"] == 0


@pytest.mark.parametrize("who", ["coordinator", "investigator", "data_manager", "admin"])
def test_only_raters_submit_reads(blinded_world, api, who):
    answer = api(who).post(
        f"{API}reads/",
        {"scan": blinded_world["scan"].pk, "left_grade": 0, "right_grade": 0, "confidence": 1},
        format="json",
    )
    assert answer.status_code == 403
    assert api(who).get(f"{API}reading-queue/").status_code == 403


def test_coordinators_see_no_reads_and_no_reading_pages(blinded_world, api, users):
    client = api("coordinator")
    for path in ("reads/", "agreement/", "adjudication/", "consensus/"):
        assert client.get(f"{API}{path}").status_code == 403, path
    assert api(None).get(f"{API}reads/").status_code == 401
    web = Client()
    web.login(username="coordinator", password=PASSWORD)
    code = blinded_world["scan"].code
    for url in ("/reading/", f"/reading/{code}/", "/reading/agreement/"):
        assert web.get(url).status_code == 403, url
    web.login(username="investigator", password=PASSWORD)
    assert web.get(f"/reading/{code}/").status_code == 403
    assert web.get(f"/reading/{code}/image.nii.gz").status_code == 403
    assert Client().get("/reading/").status_code == 302  # to the login page


def test_reviewers_see_every_read_agreement_and_adjudication(blinded_world, api):
    world = blinded_world
    scan = world["scan"]
    mine = api("rater").post(
        f"{API}reads/",
        {"scan": scan.pk, "left_grade": 0, "right_grade": 1, "confidence": 2},
        format="json",
    )
    assert mine.status_code == 201
    client = api("investigator")
    reads = client.get(f"{API}reads/", {"scan": scan.pk}).json()
    assert {r["rater"] for r in reads["results"]} == {"rater", "rater_other"}
    assert client.get(f"{API}reads/", {"rater": "rater_other"}).json()["count"] == 1
    agreement = client.get(f"{API}agreement/").json()
    assert agreement["n_scans"] == 1 and agreement["n_raters"] == 2
    (pair,) = agreement["pairs"]
    assert pair["n"] == 2 and pair["percent_agreement"] == 50.0
    # Left grades 2 and 0: more than one grade apart → adjudication, and no consensus until then.
    adjudication = client.get(f"{API}adjudication/").json()
    assert adjudication["count"] == 1
    entry = adjudication["results"][0]
    assert (entry["scan_code"], entry["left_spread"], entry["left_consensus"]) == (
        scan.code,
        2,
        None,
    )
    assert entry["awaiting_adjudication"] is True and len(entry["reads"]) == 2
    assert api("rater").post(f"{API}adjudications/", {}, format="json").status_code == 403
    assert api("coordinator").get(f"{API}adjudications/").status_code == 403
    final = client.post(
        f"{API}adjudications/",
        {"scan": scan.pk, "left_grade": 2, "right_grade": 1, "comment": "band on both"},
        format="json",
    )
    assert final.status_code == 201, final.content
    assert final.json()["adjudicator"] == "investigator"
    assert client.get(f"{API}adjudication/").json()["count"] == 0
    settled = client.get(f"{API}consensus/").json()["results"][0]
    assert (settled["left_consensus"], settled["right_consensus"]) == (2.0, 1.0)
    assert settled["adjudication"]["comment"] == "band on both"
    again = client.patch(
        f"{API}adjudications/{final.json()['id']}/", {"left_grade": 1}, format="json"
    )
    assert again.status_code == 400 and "reason" in again.json()
    again = client.patch(
        f"{API}adjudications/{final.json()['id']}/",
        {"left_grade": 1, "reason": "second look"},
        format="json",
    )
    assert again.status_code == 200 and again.json()["version"] == 2
    consensus = client.get(f"{API}consensus/").json()["results"]
    assert [c["scan"] for c in consensus] == [scan.pk]
    web = Client()
    web.login(username="investigator", password=PASSWORD)
    page = web.get("/reading/agreement/").content.decode()
    assert "Cohen" in page and "rater_other" in page
    page = web.get("/reading/adjudication/").content.decode()
    assert scan.code in page and "Final reads recorded" in page


def test_the_api_locks_a_read_and_corrects_it_with_a_reason(blinded_world, api):
    scan = blinded_world["scan"]
    client = api("rater")
    body = {"scan": scan.pk, "left_grade": 2, "right_grade": 2, "confidence": 3}
    first = client.post(f"{API}reads/", body, format="json")
    assert first.status_code == 201
    assert first.json()["rater"] == "rater" and first.json()["is_current"] is True
    again = client.post(f"{API}reads/", body, format="json")
    assert again.status_code == 400 and "locked" in again.json()["scan"][0]
    read_id = first.json()["id"]
    assert client.put(f"{API}reads/{read_id}/", body, format="json").status_code == 405
    assert client.delete(f"{API}reads/{read_id}/").status_code == 405
    bad = client.post(f"{API}reads/", {**body, "left_grade": 3, "confidence": 0}, format="json")
    assert bad.status_code == 400 and {"left_grade", "confidence"} <= set(bad.json())
    no_reason = client.post(
        f"{API}reads/{read_id}/correct/",
        {"left_grade": 1, "right_grade": 2, "confidence": 3},
        format="json",
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    fixed = client.post(
        f"{API}reads/{read_id}/correct/",
        {"left_grade": 1, "right_grade": 2, "confidence": 3, "reason": "window too narrow"},
        format="json",
    )
    assert fixed.status_code == 201
    assert fixed.json()["supersedes"] == read_id and fixed.json()["reason"] == "window too narrow"
    old = client.get(f"{API}reads/{read_id}/").json()
    assert old["is_current"] is False and (old["left_grade"], old["right_grade"]) == (2, 2)
    assert client.get(f"{API}reads/", {"current": "true"}).json()["count"] == 1
    history = client.get(f"{API}reads/{read_id}/history/").json()
    assert history[0]["user"] == "rater" and "window too narrow" in history[0]["reason"]
    queue = client.get(f"{API}reading-queue/").json()["results"]
    assert queue[0]["status"] == "submitted" and queue[0]["read"] == fixed.json()["id"]


def test_the_reading_page_submits_locks_and_corrects(blinded_world):
    scan = blinded_world["scan"]
    web = Client()
    web.login(username="rater", password=PASSWORD)
    page = web.get(f"/reading/{scan.code}/").content.decode()
    assert "niivue.umd.js" in page and f'data-name="{scan.code}.nii.gz"' in page
    assert "minIP" in page and 'id="window-width"' in page
    bad = web.post(f"/reading/{scan.code}/", {"left_grade": "5", "confidence": "2"})
    assert bad.status_code == 400 and not Read.objects.filter(rater__username="rater").exists()
    done = web.post(
        f"/reading/{scan.code}/",
        {"left_grade": "1", "right_grade": "0", "confidence": "2", "comment": "faint"},
        follow=True,
    )
    assert "Submitted and locked" in done.content.decode()
    read = Read.objects.get(rater__username="rater")
    assert (read.left_grade, read.right_grade, read.comment) == (1, 0, "faint")
    # A second plain submission changes nothing: the read is locked.
    web.post(f"/reading/{scan.code}/", {"left_grade": "2", "right_grade": "2", "confidence": "3"})
    read.refresh_from_db()
    assert (read.left_grade, read.is_current) == (1, True)
    no_reason = web.post(
        f"/reading/{scan.code}/",
        {
            "action": "correct",
            "correct-left_grade": "2",
            "correct-right_grade": "0",
            "correct-confidence": "3",
        },
    )
    assert no_reason.status_code == 400
    web.post(
        f"/reading/{scan.code}/",
        {
            "action": "correct",
            "correct-left_grade": "2",
            "correct-right_grade": "0",
            "correct-confidence": "3",
            "correct-reason": "rechecked on the minIP",
        },
    )
    current = Read.objects.get(rater__username="rater", is_current=True)
    assert current.left_grade == 2 and current.supersedes_id == read.pk


def test_image_rejects_a_bad_slab(blinded_world):
    web = Client()
    web.login(username="rater", password=PASSWORD)
    code = blinded_world["scan"].code
    assert web.get(f"/reading/{code}/image.nii.gz?minip=0.1").status_code == 400
    assert web.get(f"/reading/{code}/image.nii.gz?minip=abc").status_code == 400


def test_demo_reads_follow_the_band(db, settings, users):
    """The demo extension: both demo raters read every quantified SWI, grades follow the band."""
    from imaging.demo import add_reads

    subject = make_subject(site=Site.objects.get(code="EDM"))
    visit = make_visit(subject, "V1")
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.3, 0.0), noise_sd=2.0, seed=9
    )
    tmp = Path(settings.MEDIA_ROOT).parent
    scans = {}
    for kind, image in (("swi", phantom.swi), ("labels", phantom.labels)):
        path = tmp / f"demo_{kind}.nii.gz"
        nib.save(image, path)
        with path.open("rb") as handle:
            scans[kind] = services.scan_upload(
                user=None, visit=visit, kind=kind, upload=handle, name=path.name
            )
    run, _ = services.run_request(user=None, scan=scans["swi"], enqueue=False)
    services.run_execute(run.pk)
    import random

    assert add_reads(rng=random.Random(1), user=None) == 2
    reads = Read.objects.filter(scan=scans["swi"])
    assert {r.rater.username for r in reads} == {"rater1", "rater2"}
    assert all(r.left_grade == 2 and r.right_grade == 0 for r in reads)
    assert Scan.objects.get(pk=scans["swi"].pk).assignments.count() == 2
