"""Non-diagnostic reads: the outcome rules, and what they do to consensus, adjudication, agreement
and the analysis frame."""

from __future__ import annotations

import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from analysis import reads
from analysis.frames import _reads as frame_reads
from analysis.stats import agreement
from cohort.models import Visit
from imaging import reading
from imaging.models import Read
from tests.imaging.reads import make_rater, make_swi

pytestmark = pytest.mark.django_db


@pytest.fixture
def raters(users):
    return [users["rater"], make_rater("rater_b"), make_rater("rater_c")]


@pytest.fixture
def scans(tmp_path, sites, raters):
    scans = [make_swi(tmp_path) for _ in range(4)]
    for rater in raters:
        reading.read_assignments_create(user=None, rater=rater, scans=scans, seed=1)
    return scans


def graded(rater, scan, left, right, confidence=2):
    return reading.read_submit(
        rater=rater, scan=scan, left_grade=left, right_grade=right, confidence=confidence
    )


def non_diagnostic(rater, scan, reason="motion", detail=""):
    return reading.read_submit(
        rater=rater,
        scan=scan,
        outcome="non_diagnostic",
        non_diagnostic_reason=reason,
        non_diagnostic_detail=detail,
    )


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as info:
        call()
    return info.value.message_dict


# --- the outcome rules --------------------------------------------------------------------------


def test_a_non_diagnostic_read_has_a_reason_and_no_grade(raters, scans):
    read = non_diagnostic(raters[0], scans[0], "coverage")
    read.refresh_from_db()
    assert (read.outcome, read.non_diagnostic_reason) == ("non_diagnostic", "coverage")
    assert (read.left_grade, read.right_grade, read.confidence) == (None, None, None)
    assert read.non_diagnostic_label == "coverage" and not read.is_graded
    other = non_diagnostic(raters[1], scans[0], "other", "  dental braces ")
    assert other.non_diagnostic_detail == "dental braces"
    assert other.non_diagnostic_label == "other: dental braces"
    # The default outcome is graded, as before.
    assert graded(raters[2], scans[0], 1, 0).outcome == "graded"


def test_grades_with_a_non_diagnostic_outcome_are_refused(raters, scans):
    errors = errors_of(
        lambda: reading.read_submit(
            rater=raters[0],
            scan=scans[0],
            outcome="non_diagnostic",
            non_diagnostic_reason="motion",
            left_grade=1,
            right_grade=0,
            confidence=2,
        )
    )
    assert set(errors) == {"left_grade", "right_grade", "confidence"}
    assert "non-diagnostic read has no grades" in errors["left_grade"][0]
    assert not Read.objects.exists()


def test_a_non_diagnostic_read_needs_its_reason(raters, scans):
    errors = errors_of(lambda: non_diagnostic(raters[0], scans[0], reason=""))
    assert "Say why the scan is non-diagnostic" in errors["non_diagnostic_reason"][0]
    errors = errors_of(lambda: non_diagnostic(raters[0], scans[0], reason="blurry"))
    assert "non_diagnostic_reason" in errors
    errors = errors_of(lambda: non_diagnostic(raters[0], scans[0], reason="other"))
    assert errors["non_diagnostic_detail"] == ["Describe what made the scan non-diagnostic."]
    errors = errors_of(lambda: non_diagnostic(raters[0], scans[0], "motion", "and more"))
    assert "reason 'other' only" in errors["non_diagnostic_detail"][0]


def test_a_graded_read_needs_grades_and_no_reason(raters, scans):
    errors = errors_of(
        lambda: reading.read_submit(rater=raters[0], scan=scans[0], left_grade=1, confidence=2)
    )
    assert list(errors) == ["right_grade"]
    assert "graded read needs both hemispheres' grades" in errors["right_grade"][0]
    assert "non-diagnostic outcome" in errors["right_grade"][0]
    errors = errors_of(
        lambda: reading.read_submit(
            rater=raters[0],
            scan=scans[0],
            left_grade=1,
            right_grade=1,
            confidence=2,
            non_diagnostic_reason="motion",
        )
    )
    assert "graded read has no non-diagnostic reason" in errors["non_diagnostic_reason"][0]
    errors = errors_of(
        lambda: reading.read_submit(
            rater=raters[0], scan=scans[0], outcome="unsure", left_grade=1, right_grade=1
        )
    )
    assert "outcome" in errors


def test_the_database_refuses_a_read_whose_grades_contradict_its_outcome(raters, scans):
    with pytest.raises(IntegrityError), transaction.atomic():
        Read.objects.create(
            scan=scans[0],
            rater=raters[0],
            outcome="non_diagnostic",
            non_diagnostic_reason="motion",
            left_grade=1,
            right_grade=1,
            confidence=2,
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        Read.objects.create(scan=scans[0], rater=raters[0], outcome="graded")


def test_a_correction_may_change_the_outcome(raters, scans):
    first = graded(raters[0], scans[0], 2, 2)
    second = reading.read_correct(
        rater=raters[0],
        read=first,
        reason="motion ghosting mistaken for a band",
        outcome="non_diagnostic",
        non_diagnostic_reason="motion",
    )
    assert second.outcome == "non_diagnostic" and second.left_grade is None
    third = reading.read_correct(
        rater=raters[0],
        read=second,
        reason="the second echo is usable",
        left_grade=1,
        right_grade=0,
        confidence=1,
    )
    assert third.outcome == "graded" and (third.left_grade, third.right_grade) == (1, 0)


# --- consensus and adjudication -----------------------------------------------------------------


def consensus_of(scan):
    return reads.scan_consensus(scan)


def test_a_scan_read_non_diagnostic_by_everyone_has_no_consensus(raters, scans, users):
    non_diagnostic(raters[0], scans[0], "motion")
    non_diagnostic(raters[1], scans[0], "artefact")
    entry = consensus_of(scans[0])
    assert (entry.left, entry.right, entry.mbs_positive) == (None, None, None)
    assert entry.non_diagnostic and entry.n_non_diagnostic == 2 and entry.n_graded == 0
    assert entry.non_diagnostic_reasons == ["artefact", "motion"]
    assert not entry.needs_adjudication
    assert scans[0].pk not in [e.scan_id for e in reads.adjudication_queue()]
    # Nothing to adjudicate: the final read is graded only.
    errors = errors_of(
        lambda: reading.adjudication_save(
            user=users["investigator"], scan=scans[0], left_grade=1, right_grade=1
        )
    )
    assert "non-diagnostic" in errors["scan"][0] and "graded only" in errors["scan"][0]


def test_too_few_graded_reads_wait_for_the_final_read(raters, scans, users):
    graded(raters[0], scans[0], 2, 1)
    non_diagnostic(raters[1], scans[0], "coverage")
    entry = consensus_of(scans[0])
    assert (entry.left, entry.right, entry.mbs_positive) == (None, None, None)
    assert entry.too_few_graded and entry.needs_adjudication and not entry.non_diagnostic
    assert [e.scan_id for e in reads.adjudication_queue()] == [scans[0].pk]
    # A final read is graded: both grades are needed.
    errors = errors_of(
        lambda: reading.adjudication_save(
            user=users["investigator"], scan=scans[0], left_grade=None, right_grade=1
        )
    )
    assert "never non-diagnostic" in errors["left_grade"][0]
    reading.adjudication_save(
        user=users["investigator"], scan=scans[0], left_grade=2, right_grade=0
    )
    entry = consensus_of(scans[0])
    assert (entry.left, entry.right, entry.mbs_positive) == (2.0, 0.0, True)
    assert reads.adjudication_queue() == []


def test_a_graded_majority_keeps_its_consensus(raters, scans):
    graded(raters[0], scans[0], 0, 0)
    graded(raters[1], scans[0], 1, 0)
    non_diagnostic(raters[2], scans[0], "motion")
    entry = consensus_of(scans[0])
    assert (entry.left, entry.right, entry.mbs_positive) == (0.5, 0.0, False)
    assert (entry.n_graded, entry.n_non_diagnostic) == (2, 1)
    assert not entry.needs_adjudication
    # Spreads are over graded reads only.
    assert (entry.left_spread, entry.right_spread) == (1, 0)


def test_the_consensus_rule_by_hand():
    assert agreement.graded_reads_suffice(1, 0)
    assert agreement.graded_reads_suffice(2, 1)
    assert not agreement.graded_reads_suffice(1, 1)
    assert not agreement.graded_reads_suffice(0, 2)
    assert agreement.settled_scan_grades([2, 1], [1, 1], n_non_diagnostic=1) == (1.5, 1.0)
    assert agreement.settled_scan_grades([2], [1], n_non_diagnostic=1) == (None, None)
    assert agreement.settled_scan_grades([], [], n_non_diagnostic=2) == (None, None)
    assert agreement.settled_scan_grades([], [], n_non_diagnostic=2, adjudicated=(1, 0)) == (
        1.0,
        0.0,
    )
    with pytest.raises(ValueError):
        agreement.graded_reads_suffice(-1, 0)


# --- agreement and the analysis frame -----------------------------------------------------------


def test_agreement_counts_graded_reads_only_and_says_what_it_left_out(raters, scans):
    a, b, c = raters
    # Scans 0-2 graded by a and b; scan 3 graded by a, non-diagnostic for b; c reads two scans
    # as non-diagnostic.
    pairs = [((2, 1), (2, 1)), ((0, 0), (1, 0)), ((1, 2), (1, 2))]
    for scan, (ga, gb) in zip(scans[:3], pairs, strict=True):
        graded(a, scan, *ga)
        graded(b, scan, *gb)
    graded(a, scans[3], 2, 2)
    non_diagnostic(b, scans[3], "motion")
    non_diagnostic(c, scans[0], "artefact")
    non_diagnostic(c, scans[1], "other", "dental braces")
    report = reads.agreement_report()
    assert report["non_diagnostic"] == {
        "count": 3,
        "by_rater": [{"rater": "rater_b", "count": 1}, {"rater": "rater_c", "count": 2}],
    }
    assert report["warnings"][0] == (
        "3 non-diagnostic reads left out (no grade to compare): rater_b 1, rater_c 2."
    )
    # Only a and b have grades; c has none, so no pair with c.
    assert report["n_raters"] == 2 and report["n_scans"] == 4
    (pair,) = report["pairs"]
    assert (pair["rater_a"], pair["rater_b"]) == ("rater", "rater_b")
    assert pair["n"] == 6  # the 3 scans both graded, 2 hemispheres each
    expected = agreement.cohen_kappa([2, 1, 0, 0, 1, 2], [2, 1, 1, 0, 1, 2])
    assert pair["kappa"] == pytest.approx(expected["kappa"])
    frame = reads.reads_frame()
    assert set(frame["rater"]) == {"rater", "rater_b"} and len(frame) == 14


def test_the_analysis_frame_ignores_non_diagnostic_reads(raters, scans, users):
    a, b, c = raters
    graded(a, scans[0], 2, 1)
    graded(b, scans[0], 1, 1)
    non_diagnostic(c, scans[0], "motion")  # a graded majority: consensus of a and b
    non_diagnostic(a, scans[1], "motion")
    non_diagnostic(b, scans[1], "coverage")  # all non-diagnostic: none
    graded(a, scans[2], 0, 0)
    non_diagnostic(b, scans[2], "artefact")  # one and one: none until adjudicated
    graded(a, scans[3], 0, 0)
    non_diagnostic(b, scans[3], "artefact")
    reading.adjudication_save(
        user=users["investigator"], scan=scans[3], left_grade=0, right_grade=1
    )
    frame = frame_reads(Visit.objects.all()).set_index("visit_id")
    rows = {i: frame.loc[scans[i].visit_id] for i in range(4)}
    assert (rows[0]["mbs_left"], rows[0]["mbs_right"], rows[0]["mbs"]) == (1.5, 1.0, True)
    assert rows[0]["mbs_score"] == 2.5
    for i in (1, 2):
        assert pd.isna(rows[i]["mbs_left"]) and pd.isna(rows[i]["mbs_right"])
        assert pd.isna(rows[i]["mbs"])
    assert (rows[3]["mbs_left"], rows[3]["mbs_right"], rows[3]["mbs"]) == (0.0, 1.0, True)
