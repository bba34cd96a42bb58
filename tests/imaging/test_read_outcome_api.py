"""Non-diagnostic reads through the API and the reading page: fields, validation messages, and
the reviewers' agreement and consensus answers."""

from __future__ import annotations

import pytest
from django.test import Client

from imaging import reading
from imaging.models import Read
from tests.imaging.reads import make_rater, make_swi

pytestmark = pytest.mark.django_db

API = "/api/v1/"
PASSWORD = "pw-Test-123!"


@pytest.fixture
def queued(users, tmp_path, sites):
    """Two SWI scans in the queues of the rater and of rater_b."""
    scans = [make_swi(tmp_path) for _ in range(2)]
    other = make_rater("rater_b")
    for rater in (users["rater"], other):
        reading.read_assignments_create(user=None, rater=rater, scans=scans, seed=3)
    return {"scans": scans, "other": other}


def test_the_api_takes_a_non_diagnostic_read(queued, api):
    scan = queued["scans"][0]
    answer = api("rater").post(
        f"{API}reads/",
        {"scan": scan.pk, "outcome": "non_diagnostic", "non_diagnostic_reason": "artefact"},
        format="json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["outcome"] == "non_diagnostic"
    assert body["non_diagnostic_reason"] == "artefact" and body["non_diagnostic_detail"] == ""
    assert (body["left_grade"], body["right_grade"], body["confidence"]) == (None, None, None)
    listed = api("rater").get(f"{API}reads/", {"scan": scan.pk}).json()["results"]
    assert [r["outcome"] for r in listed] == ["non_diagnostic"]
    # A graded read without an outcome is graded, as before version 2.
    graded = api("rater").post(
        f"{API}reads/",
        {"scan": queued["scans"][1].pk, "left_grade": 1, "right_grade": 0, "confidence": 2},
        format="json",
    )
    assert graded.status_code == 201 and graded.json()["outcome"] == "graded"
    assert graded.json()["non_diagnostic_reason"] == ""


def test_the_api_refuses_grades_that_contradict_the_outcome(queued, api):
    scan = queued["scans"][0]
    both = api("rater").post(
        f"{API}reads/",
        {
            "scan": scan.pk,
            "outcome": "non_diagnostic",
            "non_diagnostic_reason": "motion",
            "left_grade": 2,
            "right_grade": 2,
            "confidence": 3,
        },
        format="json",
    )
    assert both.status_code == 400
    assert set(both.json()) == {"left_grade", "right_grade", "confidence"}
    assert "non-diagnostic read has no grades" in both.json()["left_grade"][0]
    no_reason = api("rater").post(
        f"{API}reads/", {"scan": scan.pk, "outcome": "non_diagnostic"}, format="json"
    )
    assert no_reason.status_code == 400
    assert "Say why the scan is non-diagnostic" in no_reason.json()["non_diagnostic_reason"][0]
    other = api("rater").post(
        f"{API}reads/",
        {"scan": scan.pk, "outcome": "non_diagnostic", "non_diagnostic_reason": "other"},
        format="json",
    )
    assert other.json() == {
        "non_diagnostic_detail": ["Describe what made the scan non-diagnostic."]
    }
    no_grades = api("rater").post(
        f"{API}reads/", {"scan": scan.pk, "outcome": "graded", "confidence": 2}, format="json"
    )
    assert no_grades.status_code == 400 and set(no_grades.json()) == {"left_grade", "right_grade"}
    reason_too = api("rater").post(
        f"{API}reads/",
        {
            "scan": scan.pk,
            "left_grade": 1,
            "right_grade": 1,
            "confidence": 2,
            "non_diagnostic_reason": "motion",
        },
        format="json",
    )
    assert reason_too.status_code == 400
    assert (
        "graded read has no non-diagnostic reason"
        in (reason_too.json()["non_diagnostic_reason"][0])
    )
    bad_reason = api("rater").post(
        f"{API}reads/",
        {"scan": scan.pk, "outcome": "non_diagnostic", "non_diagnostic_reason": "blurry"},
        format="json",
    )
    assert bad_reason.status_code == 400 and "non_diagnostic_reason" in bad_reason.json()
    assert not Read.objects.exists()


def test_a_correction_through_the_api_changes_the_outcome(queued, api):
    scan = queued["scans"][0]
    read = (
        api("rater")
        .post(
            f"{API}reads/",
            {"scan": scan.pk, "left_grade": 2, "right_grade": 1, "confidence": 2},
            format="json",
        )
        .json()
    )
    corrected = api("rater").post(
        f"{API}reads/{read['id']}/correct/",
        {
            "outcome": "non_diagnostic",
            "non_diagnostic_reason": "other",
            "non_diagnostic_detail": "wrong sequence (T1)",
            "reason": "the series is not an SWI",
        },
        format="json",
    )
    assert corrected.status_code == 201, corrected.content
    body = corrected.json()
    assert body["outcome"] == "non_diagnostic" and body["supersedes"] == read["id"]
    assert body["non_diagnostic_detail"] == "wrong sequence (T1)"
    refused = api("rater").post(
        f"{API}reads/{body['id']}/correct/",
        {"outcome": "non_diagnostic", "left_grade": 1, "reason": "x"},
        format="json",
    )
    assert refused.status_code == 400
    assert {"left_grade", "non_diagnostic_reason"} <= set(refused.json())


def test_agreement_and_consensus_answers_count_non_diagnostic_reads(queued, api, users):
    first, second = queued["scans"]
    reading.read_submit(rater=users["rater"], scan=first, left_grade=2, right_grade=1, confidence=3)
    reading.read_submit(
        rater=queued["other"], scan=first, left_grade=2, right_grade=0, confidence=2
    )
    reading.read_submit(
        rater=users["rater"],
        scan=second,
        outcome="non_diagnostic",
        non_diagnostic_reason="motion",
    )
    reading.read_submit(
        rater=queued["other"], scan=second, left_grade=0, right_grade=0, confidence=2
    )
    client = api("investigator")
    agreement = client.get(f"{API}agreement/").json()
    assert agreement["non_diagnostic"] == {
        "count": 1,
        "by_rater": [{"rater": "rater", "count": 1}],
    }
    assert agreement["n_scans"] == 2
    assert (agreement["pairs"][0]["n"], agreement["n_items"]) == (2, 4)
    assert any("1 non-diagnostic read left out" in w for w in agreement["warnings"])
    consensus = {c["scan_code"]: c for c in client.get(f"{API}consensus/").json()["results"]}
    settled, split = consensus[first.code], consensus[second.code]
    assert (settled["left_consensus"], settled["n_graded"], settled["non_diagnostic"]) == (
        2.0,
        2,
        False,
    )
    assert (split["left_consensus"], split["mbs_positive"]) == (None, None)
    assert (split["n_graded"], split["n_non_diagnostic"]) == (1, 1)
    assert split["awaiting_adjudication"] is True
    assert split["non_diagnostic_reasons"] == ["motion"]
    outcomes = {r["rater"]: r["outcome"] for r in split["reads"]}
    assert outcomes == {"rater": "non_diagnostic", "rater_b": "graded"}
    queue = client.get(f"{API}adjudication/").json()
    assert [e["scan_code"] for e in queue["results"]] == [second.code]
    final = client.post(
        f"{API}adjudications/",
        {"scan": second.pk, "left_grade": 0, "right_grade": 0},
        format="json",
    )
    assert final.status_code == 201, final.content
    assert client.get(f"{API}adjudication/").json()["count"] == 0
    web = Client()
    web.login(username="investigator", password=PASSWORD)
    page = web.get("/reading/agreement/").content.decode()
    assert "Non-diagnostic reads left out: 1 (rater 1)" in page


def test_the_reading_page_submits_a_non_diagnostic_read(queued, users):
    scan = queued["scans"][0]
    web = Client()
    web.login(username="rater", password=PASSWORD)
    page = web.get(f"/reading/{scan.code}/").content.decode()
    assert 'value="non_diagnostic"' in page and "Why non-diagnostic" in page
    assert 'data-part="graded"' in page and 'data-part="non_diagnostic"' in page
    both = web.post(
        f"/reading/{scan.code}/",
        {"outcome": "non_diagnostic", "non_diagnostic_reason": "motion", "left_grade": "1"},
    )
    assert both.status_code == 400
    assert "A non-diagnostic read has no grades" in both.content.decode()
    missing = web.post(f"/reading/{scan.code}/", {"outcome": "non_diagnostic"})
    assert missing.status_code == 400
    assert "Say why the scan is non-diagnostic" in missing.content.decode()
    done = web.post(
        f"/reading/{scan.code}/",
        {
            "outcome": "non_diagnostic",
            "non_diagnostic_reason": "other",
            "non_diagnostic_detail": "dental braces",
        },
        follow=True,
    )
    text = done.content.decode()
    assert "Submitted and locked" in text
    assert "Non-diagnostic: Other (describe) (dental braces)" in text
    read = Read.objects.get(scan=scan, rater=users["rater"])
    assert (read.outcome, read.non_diagnostic_reason) == ("non_diagnostic", "other")
    # The correction form starts from the locked read's outcome.
    assert 'name="correct-outcome" value="non_diagnostic"' in text
    corrected = web.post(
        f"/reading/{scan.code}/",
        {
            "action": "correct",
            "correct-outcome": "graded",
            "correct-left_grade": "1",
            "correct-right_grade": "1",
            "correct-confidence": "1",
            "correct-reason": "readable after all",
        },
        follow=True,
    )
    assert "Your corrected read" in corrected.content.decode()
    current = Read.objects.get(scan=scan, rater=users["rater"], is_current=True)
    assert (current.outcome, current.left_grade) == ("graded", 1)
