"""Blinded-read services: queues, lock and correction, consensus, adjudication and agreement."""

from __future__ import annotations

import gzip
import io

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from statsmodels.stats import inter_rater

from analysis import reads
from analysis.frames import _reads as frame_reads
from cohort.models import Visit
from imaging import reading
from imaging.band.deidentify import deidentified_nifti, minimum_intensity_projection
from imaging.models import Read, ReadAssignment
from tests.imaging.reads import make_rater, make_swi

pytestmark = pytest.mark.django_db


def submit(rater, scan, left, right, confidence=2, comment=""):
    return reading.read_submit(
        rater=rater,
        scan=scan,
        left_grade=left,
        right_grade=right,
        confidence=confidence,
        comment=comment,
    )


@pytest.fixture
def raters(users):
    return [users["rater"], make_rater("rater_b"), make_rater("rater_c")]


@pytest.fixture
def scans(tmp_path, sites):
    return [make_swi(tmp_path) for _ in range(6)]


# --- assignment ---------------------------------------------------------------------------------


def test_auto_assignment_gives_each_scan_k_distinct_raters_balanced(raters, scans):
    created = reading.read_assignments_auto(user=None, k=2, seed=7)
    assert len(created) == 12
    per_scan = {
        s.pk: set(ReadAssignment.objects.filter(scan=s).values_list("rater", flat=True))
        for s in scans
    }
    assert all(len(ids) == 2 for ids in per_scan.values())
    loads = [ReadAssignment.objects.filter(rater=r).count() for r in raters]
    assert loads == [4, 4, 4]
    for rater in raters:
        positions = [i.position for i in reading.reading_queue(rater=rater)]
        assert positions == list(range(1, len(positions) + 1))
    # Asking again changes nothing: every scan already has its raters.
    assert reading.read_assignments_auto(user=None, k=2, seed=7) == []


def test_auto_assignment_is_reproducible_from_its_seed(raters, scans):
    def queues():
        return {r.username: [i.scan_id for i in reading.reading_queue(rater=r)] for r in raters}

    reading.read_assignments_auto(user=None, k=2, seed=11)
    first = queues()
    ReadAssignment.objects.all().delete()
    reading.read_assignments_auto(user=None, k=2, seed=11)
    assert queues() == first
    ReadAssignment.objects.all().delete()
    orders = set()
    for seed in range(8):
        ReadAssignment.objects.all().delete()
        reading.read_assignments_auto(user=None, k=3, seed=seed)
        orders.add(tuple(i.scan_id for i in reading.reading_queue(rater=raters[0])))
    assert len(orders) > 1  # the queue order is randomized, not the upload order


def test_auto_assignment_needs_enough_raters(users, scans):
    with pytest.raises(ValidationError) as exc:
        reading.read_assignments_auto(user=None, k=2)
    assert "only 1 active rater" in exc.value.message_dict["k"][0]


def test_explicit_assignment_by_a_data_manager_only(users, raters, scans):
    made = reading.read_assignments_create(
        user=users["data_manager"], rater=raters[1], scans=scans[:3], seed=1
    )
    assert sorted(a.scan_id for a in made) == sorted(s.pk for s in scans[:3])
    # Already-queued scans are skipped; new ones go to the end of the queue.
    more = reading.read_assignments_create(
        user=users["data_manager"], rater=raters[1], scans=scans[:4], seed=1
    )
    assert [(a.scan_id, a.position) for a in more] == [(scans[3].pk, 4)]
    for who in ("coordinator", "investigator", "rater"):
        with pytest.raises(ValidationError):
            reading.read_assignments_create(user=users[who], rater=raters[1], scans=scans)
    with pytest.raises(ValidationError) as exc:
        reading.read_assignments_create(user=None, rater=users["investigator"], scans=scans)
    assert "rater role" in exc.value.message_dict["rater"][0]


def test_assign_reads_command(raters, scans, capsys):
    call_command("assign_reads", "--k", "2", "--seed", "5")
    assert ReadAssignment.objects.count() == 12
    assert "12 assignment" in capsys.readouterr().out


# --- submission, lock, correction ---------------------------------------------------------------


def test_a_read_is_validated_locked_and_only_for_the_queue(raters, scans):
    rater, other = raters[0], raters[1]
    reading.read_assignments_create(user=None, rater=rater, scans=[scans[0]])
    with pytest.raises(ValidationError) as exc:
        submit(other, scans[0], 1, 1)
    assert "not in your reading queue" in exc.value.message_dict["scan"][0]
    with pytest.raises(ValidationError) as exc:
        reading.read_submit(rater=rater, scan=scans[0], left_grade=3, right_grade=-1, confidence=4)
    assert set(exc.value.message_dict) == {"left_grade", "right_grade", "confidence"}
    read = submit(rater, scans[0], 2, 1, confidence=3, comment="hand knob")
    assert (read.left_grade, read.right_grade, read.is_current) == (2, 1, True)
    with pytest.raises(ValidationError) as exc:
        submit(rater, scans[0], 0, 0)
    assert "locked" in exc.value.message_dict["scan"][0]
    assert Read.objects.count() == 1


def test_only_raters_submit(users, scans):
    for who in ("coordinator", "investigator", "data_manager", "admin"):
        with pytest.raises(ValidationError):
            submit(users[who], scans[0], 1, 1)


def test_a_correction_supersedes_the_read_with_an_audited_reason(raters, scans):
    rater = raters[0]
    reading.read_assignments_create(user=None, rater=rater, scans=[scans[0]])
    first = submit(rater, scans[0], 0, 1)
    with pytest.raises(ValidationError) as exc:
        reading.read_correct(
            rater=rater, read=first, reason="  ", left_grade=1, right_grade=1, confidence=2
        )
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError):
        reading.read_correct(
            rater=raters[1], read=first, reason="x", left_grade=1, right_grade=1, confidence=2
        )
    second = reading.read_correct(
        rater=rater,
        read=first,
        reason="missed the hand knob",
        left_grade=1,
        right_grade=1,
        confidence=3,
    )
    first.refresh_from_db()
    assert first.is_current is False and (first.left_grade, first.right_grade) == (0, 1)
    assert second.supersedes == first and second.is_current and second.reason
    assert reading.current_read(rater=rater, scan=scans[0]) == second
    # Audited: who and why, on both versions.
    old_history = list(first.history.order_by("history_date"))
    assert [h.history_type for h in old_history] == ["+", "~"]
    assert old_history[-1].history_user == rater
    assert "missed the hand knob" in old_history[-1].history_change_reason
    assert second.history.get().history_change_reason == "correction: missed the hand knob"
    # A superseded version cannot be corrected again.
    with pytest.raises(ValidationError):
        reading.read_correct(
            rater=rater, read=first, reason="again", left_grade=2, right_grade=2, confidence=2
        )
    # Analyses read the current version only.
    frame = frame_reads(Visit.objects.filter(pk=scans[0].visit_id))
    assert frame[["mbs_left", "mbs_right"]].iloc[0].tolist() == [1.0, 1.0]


# --- consensus and adjudication -----------------------------------------------------------------


def test_consensus_is_the_median_per_hemisphere_unless_raters_disagree(raters, scans, users):
    for rater in raters:
        reading.read_assignments_create(user=None, rater=rater, scans=scans[:3])
    for rater, (left, right) in zip(raters, [(0, 0), (1, 0), (2, 1)], strict=True):
        submit(rater, scans[0], left, right)
    for rater, (left, right) in zip(raters, [(0, 0), (0, 1), (1, 0)], strict=True):
        submit(rater, scans[1], left, right)
    submit(raters[0], scans[2], 1, 0)
    submit(raters[1], scans[2], 2, 0)
    got = {c.scan_id: c for c in reads.consensus_list()}
    # Left 0, 1 and 2: two grades apart, no consensus (not the median 1) until adjudicated.
    assert (got[scans[0].pk].left, got[scans[0].pk].right) == (None, 0.0)
    assert got[scans[0].pk].mbs_positive is None
    assert (got[scans[1].pk].left, got[scans[1].pk].right, got[scans[1].pk].mbs_positive) == (
        0.0,
        0.0,
        False,
    )
    assert got[scans[2].pk].left == 1.5
    assert reads.scan_consensus(scans[3]).mbs_positive is None
    # Only scan 0 has raters two grades apart (0 and 2 on the left).
    queue = reads.adjudication_queue()
    assert [c.scan_id for c in queue] == [scans[0].pk]
    assert queue[0].left_spread == 2 and len(queue[0].reads) == 3
    # The adjudicator's final read replaces the consensus and empties the queue.
    final = reading.adjudication_save(
        user=users["investigator"], scan=scans[0], left_grade=2, right_grade=0
    )
    settled = reads.scan_consensus(scans[0])
    assert (settled.left, settled.right, settled.mbs_positive) == (2.0, 0.0, True)
    assert settled.adjudication["adjudicator"] == "investigator"
    assert reads.adjudication_queue() == []
    with pytest.raises(ValidationError, match="Say why"):
        reading.adjudication_save(
            user=users["investigator"], scan=scans[0], left_grade=1, right_grade=0
        )
    corrected = reading.adjudication_save(
        user=users["data_manager"], scan=scans[0], left_grade=1, right_grade=0, reason="recheck"
    )
    assert corrected.pk == final.pk and corrected.version == 2
    assert corrected.history.latest().history_change_reason == "correction: recheck"


def test_adjudication_is_refused_without_disagreement_or_role(raters, scans, users):
    for rater in raters[:2]:
        reading.read_assignments_create(user=None, rater=rater, scans=scans[:1])
    submit(raters[0], scans[0], 1, 0)
    submit(raters[1], scans[0], 2, 0)
    with pytest.raises(ValidationError, match="their consensus stands"):
        reading.adjudication_save(
            user=users["investigator"], scan=scans[0], left_grade=2, right_grade=0
        )
    for who in ("rater", "coordinator"):
        with pytest.raises(ValidationError, match="Only investigators"):
            reading.adjudication_save(user=users[who], scan=scans[0], left_grade=2, right_grade=0)


# --- agreement ----------------------------------------------------------------------------------

# Hand-computed example, two raters over three scans (six hemispheres):
#   rater A: 0 1 2 0 1 2      rater B: 0 1 1 0 2 2
# Cross table A×B: n00=2, n11=1, n12=1, n21=1, n22=1 (n=6); marginals 1/3 each for both raters.
# Linear agreement weights w = 1 − |i−j|/2: observed po = (2 + 1 + ½ + ½ + 1)/6 = 5/6;
# expected pe = (1/9)·Σw = (1/9)·(3 + 4·½) = 5/9; kappa = (5/6 − 5/9)/(1 − 5/9) = 5/8.
# Exact agreement 4/6. Fleiss: category shares 1/3 each → Pe = 1/3; P̄ = 4/6; kappa = 1/2.
HAND_A = {"L": [0, 2, 1], "R": [1, 0, 2]}
HAND_B = {"L": [0, 1, 2], "R": [1, 0, 2]}


def test_agreement_matches_a_hand_computed_example(raters, scans):
    a, b = raters[0], raters[1]
    for rater, grades in ((a, HAND_A), (b, HAND_B)):
        reading.read_assignments_create(user=None, rater=rater, scans=scans[:3])
        for i, scan in enumerate(scans[:3]):
            submit(rater, scan, grades["L"][i], grades["R"][i])
    report = reads.agreement_report()
    assert (report["n_scans"], report["n_items"], report["n_raters"]) == (3, 6, 2)
    (pair,) = report["pairs"]
    assert (pair["rater_a"], pair["rater_b"], pair["n"]) == (a.username, b.username, 6)
    assert pair["kappa"] == pytest.approx(5 / 8, abs=1e-12)
    assert pair["percent_agreement"] == pytest.approx(100 * 4 / 6, abs=1e-12)
    assert pair["ci_low"] < pair["kappa"] < pair["ci_high"]
    assert report["fleiss"]["kappa"] == pytest.approx(1 / 2, abs=1e-12)
    assert report["fleiss"]["percent_agreement"] == pytest.approx(100 * 4 / 6, abs=1e-12)


def test_agreement_matches_statsmodels(raters, tmp_path, scans):
    more = scans + [make_swi(tmp_path) for _ in range(14)]
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 3, size=(len(more), 2))
    grades = {}
    for rater in raters:
        reading.read_assignments_create(user=None, rater=rater, scans=more)
        noisy = np.clip(truth + rng.choice([-1, 0, 0, 0, 1], size=truth.shape), 0, 2)
        grades[rater.username] = noisy
        for scan, (left, right) in zip(more, noisy, strict=True):
            submit(rater, scan, int(left), int(right))
    report = reads.agreement_report()
    # Items in the service's order: per scan, left then right.
    flat = {name: g.reshape(-1) for name, g in grades.items()}
    bins = np.arange(4) - 0.5  # all three grades, whether used or not
    for pair in report["pairs"]:
        table, _ = inter_rater.to_table(
            np.column_stack([flat[pair["rater_a"]], flat[pair["rater_b"]]]), bins=bins
        )
        expected = inter_rater.cohens_kappa(table, wt="linear")
        assert pair["kappa"] == pytest.approx(expected.kappa, abs=1e-9)
        assert pair["se"] == pytest.approx(expected.std_kappa, abs=1e-9)
        assert pair["n"] == 2 * len(more)
    counts, _ = inter_rater.aggregate_raters(np.column_stack(list(flat.values())), n_cat=3)
    assert report["fleiss"]["kappa"] == pytest.approx(
        inter_rater.fleiss_kappa(counts, method="fleiss"), abs=1e-9
    )
    assert report["fleiss"]["n_items"] == 2 * len(more) and report["fleiss"]["n_raters"] == 3


def test_agreement_without_reads_is_empty(raters):
    assert reads.agreement_report() == {
        "n_scans": 0,
        "n_items": 0,
        "n_raters": 0,
        "pairs": [],
        "fleiss": None,
        "mean_pairwise_kappa": None,
        "non_diagnostic": {"count": 0, "by_rater": []},
        "warnings": [],
    }


def test_reads_frame_is_long_per_hemisphere(raters, scans):
    reading.read_assignments_create(user=None, rater=raters[0], scans=[scans[0]])
    submit(raters[0], scans[0], 2, 0)
    frame = reads.reads_frame()
    expected = pd.DataFrame(
        {
            "item": [f"{scans[0].pk}:L", f"{scans[0].pk}:R"],
            "scan": [scans[0].pk] * 2,
            "hemisphere": ["L", "R"],
            "rater": ["rater"] * 2,
            "grade": [2, 0],
        }
    )
    pd.testing.assert_frame_equal(frame, expected)


# --- de-identified image ------------------------------------------------------------------------


def test_deidentified_nifti_keeps_voxels_and_geometry_only(tmp_path):
    data = np.arange(6 * 5 * 4, dtype=np.float32).reshape(6, 5, 4)
    affine = np.array([[0.9, 0, 0, -10], [0, 0.9, 0, 12], [0, 0, 1.5, 30], [0, 0, 0, 1]])
    image = nib.Nifti1Image(data, affine)
    image.header["descrip"] = b"EDM-0001 1961-07-19"
    image.header["aux_file"] = b"EDM-0001"
    image.header["intent_name"] = b"EDM"
    image.header["db_name"] = b"EDM-0001"
    image.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"EDM-0001"))
    path = tmp_path / "sub-EDM0001_ses-V1_swi.nii.gz"
    nib.save(image, path)
    payload = deidentified_nifti(path)
    assert b"EDM" not in gzip.decompress(payload) and b"sub-" not in payload[:64]
    clean = nib.Nifti1Image.from_bytes(gzip.decompress(payload))
    np.testing.assert_array_equal(clean.get_fdata(), data)
    np.testing.assert_allclose(clean.affine, affine)
    for field in ("descrip", "aux_file", "intent_name", "db_name"):
        assert clean.header[field].item() == b""
    assert len(clean.header.extensions) == 0
    # The gzip header has no file name and no time stamp.
    assert payload[3] & 0x08 == 0 and payload[4:8] == b"\0\0\0\0"
    with gzip.GzipFile(fileobj=io.BytesIO(payload)) as stream:
        stream.read()
        assert stream.name == ""


def test_minimum_intensity_projection_takes_the_slab_minimum():
    data = np.full((3, 3, 9), 10.0)
    data[1, 1, 4] = 1.0
    affine = np.diag([1.0, 1.0, 2.0, 1.0])  # 2 mm slices along z (superior)
    projected = minimum_intensity_projection(data, affine, slab_mm=6)  # 3 slices
    assert projected[1, 1].tolist() == [10, 10, 10, 1, 1, 1, 10, 10, 10]
    assert projected[0, 0].tolist() == [10.0] * 9
    with pytest.raises(ValueError, match="slab"):
        minimum_intensity_projection(data, affine, slab_mm=0.5)
