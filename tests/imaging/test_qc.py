"""Fit checks and a person's QC: flagged runs wait for review, failed scans and runs leave the
analyses and the reading queues, and every answer says what it left out."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import pytest
from django.core.exceptions import ValidationError

from analysis import frames, reports
from imaging import band, checks, reading, services
from imaging.models import QuantificationRun, RunStatus, Scan
from tests.imaging.reads import make_rater

pytestmark = pytest.mark.django_db


def _upload(visit, kind: str, path: Path) -> Scan:
    with path.open("rb") as handle:
        return services.scan_upload(
            user=None, visit=visit, kind=kind, upload=handle, name=path.name, field_strength=3.0
        )


def _quantified(visit, tmp_path: Path, contrast: tuple[float, float]) -> QuantificationRun:
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=contrast, noise_sd=2.0, seed=5
    )
    swi, labels = tmp_path / f"swi{visit.pk}.nii.gz", tmp_path / f"dseg{visit.pk}.nii.gz"
    nib.save(phantom.swi, swi)
    nib.save(phantom.labels, labels)
    scan = _upload(visit, "swi", swi)
    _upload(visit, "labels", labels)
    run, _ = services.run_request(user=None, scan=scan, enqueue=False)
    return services.run_execute(run.pk)


# --- the checks themselves (imaging.checks) -----------------------------------------------------


def _row(hemisphere: str, segment: str = "whole", **values) -> dict:
    row = {
        "hemisphere": hemisphere,
        "segment": segment,
        "band_contrast": 0.1,
        "reference_mean": 100.0,
        "reference_sd": 10.0,
        "coverage": 1.0,
        "deep_minus_reference_ppb": None,
        "reason": "",
    }
    row.update(values)
    return row


def test_checks_pass_on_a_plausible_run():
    found = checks.run_checks([_row("L"), _row("R")], input_kind="swi")
    assert [c.name for c in found] == [
        "whole_gyrus_measured",
        "motor_coverage",
        "band_contrast_plausible",
        "reference_homogeneity",
        "tissue_ordering",
        "registration",
    ]
    assert checks.failed(found) == []
    assert "world coordinates" in found[-1].message


@pytest.mark.parametrize(
    ("rows", "name", "words"),
    [
        ([_row("L", band_contrast=-1.3), _row("R")], "band_contrast_plausible", "another subject"),
        ([_row("L", coverage=0.62), _row("R")], "motor_coverage", "62% of the left"),
        (
            [_row("L", band_contrast=None, reason="no labels"), _row("R")],
            "whole_gyrus_measured",
            "no labels",
        ),
        ([_row("L", reference_sd=60.0), _row("R")], "reference_homogeneity", "straddles"),
    ],
)
def test_each_check_fails_with_words(rows, name, words):
    found = {c.name: c for c in checks.run_checks(rows, input_kind="swi")}
    assert not found[name].passed and words in found[name].message


def test_qsm_is_checked_in_ppb():
    rows = [_row(h, band_contrast=None, deep_minus_reference_ppb=420.0) for h in "LR"]
    found = {c.name: c for c in checks.run_checks(rows, input_kind="qsm")}
    assert "band_contrast_plausible" not in found
    assert not found["susceptibility_difference_plausible"].passed


# --- runs, review and the analyses --------------------------------------------------------------


def test_a_plausible_run_is_done_with_its_checks_recorded(visit, tmp_path):
    run = _quantified(visit, tmp_path, (0.2, 0.05))
    assert run.status == RunStatus.DONE and run.qc_status == "pending"
    assert {c["name"] for c in run.checks} >= {
        "motor_coverage",
        "band_contrast_plausible",
        "tissue_ordering",
    }
    assert all(c["passed"] for c in run.checks) and run.registration is None


def test_a_flagged_run_needs_review_and_counts_only_once_passed(visit, tmp_path, users):
    run = _quantified(visit, tmp_path, (0.8, 0.05))  # no motor band is that dark
    assert run.status == RunStatus.NEEDS_REVIEW
    assert "band_contrast_plausible" in checks.failed(run.checks)
    frame = frames.analysis_frame(user=users["investigator"])
    row = frame[frame["visit_code"] == "V1"].iloc[0]
    assert row["band_contrast_L"] is None
    assert row["band_excluded"] == "run needs review (band_contrast_plausible)"
    services.run_qc_set(run, user=users["coordinator"], status="pass", reason="checked by eye")
    row = frames.analysis_frame(user=users["investigator"]).iloc[0]
    assert row["band_contrast_L"] == pytest.approx(0.8, abs=0.05) and row["band_excluded"] is None
    history = run.history.latest()
    assert history.history_user == users["coordinator"]
    assert history.history_change_reason == "QC pass: checked by eye"


def test_a_failed_scan_leaves_analyses_and_reading_queues(visit, tmp_path, users):
    run = _quantified(visit, tmp_path, (0.2, 0.05))
    rater = make_rater("qc_rater")
    reading.read_assignments_create(user=None, rater=rater, scans=[run.scan])
    assert len(reading.reading_queue(rater=rater)) == 1
    with pytest.raises(ValidationError, match="Say why"):
        services.scan_qc_set(run.scan, user=users["coordinator"], status="fail")
    scan = services.scan_qc_set(
        run.scan, user=users["coordinator"], status="fail", reason="motion artefact"
    )
    assert (scan.qc_status, scan.qc_by, scan.version) == ("fail", users["coordinator"], 2)
    assert reading.reading_queue(rater=rater) == []
    frame = frames.analysis_frame(user=users["investigator"])
    assert frame.iloc[0]["band_excluded"] == "scan failed QC"
    answer = reports.excluded(frame, ["band_contrast"], unit="visits")
    assert answer == {
        "count": 1,
        "unit": "visits",
        "reasons": [{"reason": "scan failed QC", "count": 1}],
    }


def test_qc_is_refused_to_roles_and_sites_that_cannot_write(visit, tmp_path, users):
    run = _quantified(visit, tmp_path, (0.2, 0.05))
    for who in ("investigator", "coord_tor", "rater"):
        with pytest.raises(ValidationError, match="cannot decide QC"):
            services.run_qc_set(run, user=users[who], status="fail", reason="x")


# --- API and page -----------------------------------------------------------------------------


def test_qc_through_the_api(visit, tmp_path, api):
    run = _quantified(visit, tmp_path, (0.8, 0.05))
    coordinator = api("coordinator")
    url = f"/api/v1/quantifications/{run.pk}/"
    body = coordinator.get(url).json()
    assert body["status"] == "needs_review" and body["qc_status"] == "pending"
    assert any(not c["passed"] for c in body["checks"]) and body["registration"] is None
    refused = coordinator.post(f"{url}qc/", {"status": "fail"}, format="json")
    assert refused.status_code == 400 and "reason" in refused.json()
    passed = coordinator.post(f"{url}qc/", {"status": "pass", "reason": "ok"}, format="json")
    assert passed.status_code == 200 and passed.json()["qc_by"] == "coordinator"
    assert api("coord_tor").post(f"{url}qc/", {"status": "pass"}).status_code == 404
    assert api("investigator").post(f"{url}qc/", {"status": "pass"}).status_code == 403
    scan_url = f"/api/v1/scans/{run.scan_id}/qc/"
    failed = coordinator.post(
        scan_url, {"status": "fail", "reason": "wrong subject"}, format="json"
    )
    assert failed.status_code == 200 and failed.json()["qc_status"] == "fail"
    assert failed.json()["qc_reason"] == "wrong subject"


def test_qc_from_the_visit_page(visit, tmp_path, users, client):
    run = _quantified(visit, tmp_path, (0.2, 0.05))
    client.force_login(users["coordinator"])
    base = f"/subjects/{visit.subject.study_id}/visits/{visit.visit_code}/"
    page = client.get(base).content.decode()
    assert "Scan QC" in page and "Run QC" in page and "motor_coverage" in page
    response = client.post(
        f"{base}scans/{run.scan.code}/qc/", {"status": "fail", "reason": "motion"}, follow=True
    )
    assert "QC failed" in response.content.decode()
    assert Scan.objects.get(pk=run.scan_id).qc_reason == "motion"
    response = client.post(f"{base}scans/{run.scan.code}/runs/{run.pk}/qc/", {"status": "fail"})
    assert response.status_code == 302
    assert QuantificationRun.objects.get(pk=run.pk).qc_status == "pending"  # no reason: refused


def test_a_label_map_that_does_not_match_the_image_needs_review(visit, tmp_path):
    """The label map sits 3 mm off the SWI and no T1 corrects it: its white matter is no longer
    brighter than its cortex, so the run waits for a person, saying why."""
    import numpy as np

    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )
    shift = np.eye(4)
    shift[0, 3] = 3.0
    swi, labels = tmp_path / "swi.nii.gz", tmp_path / "labels.nii.gz"
    nib.save(phantom.swi, swi)
    nib.save(
        nib.Nifti1Image(np.asarray(phantom.labels.dataobj), shift @ phantom.labels.affine), labels
    )
    scan = _upload(visit, "swi", swi)
    _upload(visit, "labels", labels)
    run, _ = services.run_request(user=None, scan=scan, enqueue=False)
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.NEEDS_REVIEW
    assert checks.failed(run.checks) == ["tissue_ordering"]
    ordering = next(c for c in run.checks if c["name"] == "tissue_ordering")
    assert ordering["value"] < 0 and ordering["limit"] == checks.MIN_WM_OVER_CORTEX
    assert "white matter is not brighter than cortex" in run.error


def test_a_visit_t1_registers_a_misplaced_label_map(visit, tmp_path):
    """The label map and the T1 it was made from sit 3 mm off the SWI: with the T1 uploaded,
    the run registers it, records the displacement, and measures the band as if aligned."""
    import numpy as np

    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )
    shift = np.eye(4)
    shift[0, 3] = 3.0
    paths = {kind: tmp_path / f"{kind}.nii.gz" for kind in ("swi", "labels", "t1")}
    nib.save(phantom.swi, paths["swi"])
    nib.save(
        nib.Nifti1Image(np.asarray(phantom.labels.dataobj), shift @ phantom.labels.affine),
        paths["labels"],
    )
    nib.save(
        nib.Nifti1Image(np.asarray(phantom.swi.dataobj) * 1.3 + 5, shift @ phantom.swi.affine),
        paths["t1"],
    )
    scan = _upload(visit, "swi", paths["swi"])
    _upload(visit, "labels", paths["labels"])
    _upload(visit, "t1", paths["t1"])
    run, _ = services.run_request(user=None, scan=scan, enqueue=False)
    assert "anatomy_sha256" in run.parameters
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.DONE, run.error
    assert run.registration["displacement_mm"] == pytest.approx(3.0, abs=0.5)
    assert "registered" in run.checks[-1]["message"]
    whole = {m.hemisphere: m for m in run.measurements.filter(segment="whole")}
    assert whole["L"].band_contrast == pytest.approx(0.2, abs=0.02)
    assert whole["R"].band_contrast == pytest.approx(0.05, abs=0.02)
    # The QC picture shows the labels before registration (orange) beside the ribbon after.
    assert _pixels_of(run.qc_image.path, band.qc_png.BEFORE_COLOUR) > 50


def _pixels_of(path: str, colour: tuple[int, int, int]) -> int:
    import numpy as np
    from PIL import Image

    image = np.asarray(Image.open(path).convert("RGB"))
    return int((image == np.asarray(colour)).all(axis=-1).sum())


def test_a_run_without_registration_draws_no_before_outline(visit, tmp_path):
    run = _quantified(visit, tmp_path, (0.2, 0.05))
    assert run.registration is None
    assert _pixels_of(run.qc_image.path, band.qc_png.BEFORE_COLOUR) == 0
    assert _pixels_of(run.qc_image.path, band.qc_png.RIBBON_COLOUR) > 50
