"""Scan upload, validation and versioned quantification runs through the imaging services."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from imaging import band, services
from imaging.models import QuantificationRun, RunStatus, Scan

pytestmark = pytest.mark.django_db


def upload(visit, kind: str, path: Path, **extra) -> Scan:
    with path.open("rb") as handle:
        return services.scan_upload(
            user=None, visit=visit, kind=kind, upload=handle, name=path.name, **extra
        )


def stored_files(media_root: Path) -> list[Path]:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []


def test_upload_stores_file_with_hash_and_metadata(visit, phantom_files, media_root):
    scan = upload(visit, "swi", phantom_files["swi"], field_strength=3.0, manufacturer="Siemens")
    assert scan.sha256 == hashlib.sha256(phantom_files["swi"].read_bytes()).hexdigest()
    assert scan.shape == [64, 64, 64]
    assert scan.voxel_size == pytest.approx([1.5, 1.5, 1.5])
    assert (scan.field_strength, scan.manufacturer, scan.qc_notes) == (3.0, "Siemens", "")
    assert scan.qc_status == "pending"  # a person decides
    assert Path(scan.file.path).read_bytes() == phantom_files["swi"].read_bytes()
    # The stored name carries the pseudonymous code, not the subject.
    assert scan.code in scan.file.name and visit.subject.study_id not in scan.file.name
    assert scan.history.count() == 1


def test_missing_field_strength_is_a_qc_warning(visit, phantom_files):
    scan = upload(visit, "swi", phantom_files["swi"])
    assert "Field strength" in scan.qc_notes


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("notes.txt", b"hello", "is not a .nii"),
        ("scan.nii", b"not a nifti at all" * 30, "scan.nii"),
        ("scan.nii.gz", b"\x1f\x8b\x08\x00garbage", "scan.nii.gz"),
        ("empty.nii", b"", "empty"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_kept(
    visit, media_root, name, content, words, tmp_path
):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", path)
    assert words in " ".join(exc.value.message_dict["file"])
    assert Scan.objects.count() == 0
    assert stored_files(media_root) == []


def test_nan_voxels_are_kept_with_a_qc_warning(visit, tmp_path):
    """Masked QSM/CLEARSWI outputs are NaN outside the brain by design: the upload keeps them
    and says so; only a run refuses NaN, where it falls in the measured cortex."""
    data = np.ones((20, 20, 20), dtype=np.float32)
    data[3, 4, 5] = np.nan
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    scan = upload(visit, "swi", path, field_strength=3.0)
    assert "1 voxels hold no value (NaN)" in scan.qc_notes


def test_infinite_voxels_are_refused(visit, tmp_path, media_root):
    data = np.ones((20, 20, 20), dtype=np.float32)
    data[3, 4, 5] = np.inf
    path = tmp_path / "inf.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", path)
    assert "infinite" in " ".join(exc.value.message_dict["file"])
    assert stored_files(media_root) == []


def test_a_phase_image_is_refused_as_swi_and_kept_as_phase(visit, shared_data, media_root):
    """The real GRE phase of ../shared/data is no magnitude: refused as swi, at the door."""
    phase = shared_data / "gre-3echo-crop" / "Phase.nii"
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", phase, echo=1)
    assert "phase" in " ".join(exc.value.message_dict["file"])
    assert stored_files(media_root) == []
    assert upload(visit, "gre_phase", phase, echo=1).kind == "gre_phase"


def test_negative_image_is_refused_as_swi(visit, tmp_path, media_root):
    rng = np.random.default_rng(0)
    data = rng.normal(0.0, 0.05, (24, 24, 24)).astype(np.float32)  # a QSM map in ppm
    path = tmp_path / "qsm_as_swi.nii.gz"
    nib.save(nib.Nifti1Image(data, np.eye(4)), path)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", path)
    assert "negative" in " ".join(exc.value.message_dict["file"])
    assert Scan.objects.count() == 0 and stored_files(media_root) == []


def test_duplicate_upload_is_detected(visit, phantom_files, media_root):
    from tests.factories import make_subject, make_visit

    first = upload(visit, "swi", phantom_files["swi"])
    other_visit = make_visit(make_subject(), "V1")
    with pytest.raises(ValidationError) as exc:
        upload(other_visit, "swi", phantom_files["swi"])
    assert first.code in " ".join(exc.value.message_dict["file"])
    assert len(stored_files(media_root)) == 1


def test_one_scan_per_kind_per_visit(visit, phantom_files, tmp_path):
    upload(visit, "swi", phantom_files["swi"])
    copy = tmp_path / "again.nii.gz"
    img = nib.load(phantom_files["swi"])
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj) + 1, img.affine), copy)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", copy)
    assert "kind" in exc.value.message_dict


def test_label_map_without_motor_labels_is_refused(visit, tmp_path):
    labels = np.zeros((30, 30, 30), dtype=np.int32)
    labels[5:10, 5:10, 5:10] = 2
    path = tmp_path / "aseg.nii.gz"
    nib.save(nib.Nifti1Image(labels, np.eye(4)), path)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "labels", path)
    assert "precentral" in " ".join(exc.value.message_dict["file"]).lower()


def test_label_map_must_overlap_the_swi(visit, phantom_files, tmp_path, media_root):
    upload(visit, "swi", phantom_files["swi"])
    img = nib.load(phantom_files["labels"])
    moved = img.affine.copy()
    moved[:3, 3] += 500.0  # half a metre away
    path = tmp_path / "moved_dseg.nii.gz"
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), moved), path)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "labels", path)
    assert "overlap" in " ".join(exc.value.message_dict["file"]).lower()
    assert len(stored_files(media_root)) == 1


def _zip_dicoms(shared_data: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for dcm in sorted((shared_data / "siemens-xa30-gre" / "dicom").glob("*.dcm")):
            archive.write(dcm, f"series/{dcm.name}")
    return target


def test_dicom_zip_converts_to_the_reference_nifti(visit, shared_data, tmp_path):
    archive = _zip_dicoms(shared_data, tmp_path / "gre.zip")
    with pytest.raises(ValidationError) as exc:
        upload(visit, "gre_magnitude", archive)
    assert "2 echoes" in " ".join(exc.value.message_dict["echo"])
    scan = upload(visit, "gre_magnitude", archive, echo=1)
    reference = nib.load(shared_data / "siemens-xa30-gre" / "nifti" / "8_gre_field_mapping_e1.nii")
    stored = nib.load(scan.file.path)
    assert np.array_equal(np.asarray(stored.dataobj), np.asarray(reference.dataobj))
    assert np.allclose(stored.affine, reference.affine, atol=1e-5)
    assert scan.shape == [64, 64, 33]
    assert (scan.manufacturer, scan.field_strength, scan.echo_time) == (
        "Siemens",
        3.0,
        pytest.approx(10.0),
    )
    # The model too: a scanner group is manufacturer + model (a missing model once left a
    # one-scan group that broke ComBat).
    assert scan.scanner_model == "MAGNETOM Prisma Fit"


def test_zip_with_traversal_is_refused(visit, tmp_path, media_root):
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("../../etc/evil.dcm", b"x" * 100)
    with pytest.raises(ValidationError) as exc:
        upload(visit, "swi", path)
    assert ".." in " ".join(exc.value.message_dict["file"])
    assert stored_files(media_root) == []


def test_multi_echo_4d_needs_an_echo(visit, shared_data):
    mag = shared_data / "gre-3echo-crop" / "Mag.nii.gz"
    with pytest.raises(ValidationError) as exc:
        upload(visit, "gre_magnitude", mag)
    assert "3" in " ".join(exc.value.message_dict["file"])
    scan = upload(visit, "gre_magnitude", mag, echo=2)
    stored = nib.load(scan.file.path)
    assert stored.shape == (51, 51, 41)
    expected = np.asarray(nib.load(mag).dataobj)[..., 1]
    assert np.allclose(np.asarray(stored.dataobj), expected)


def test_quantification_run_measures_and_is_versioned(visit, phantom_files):
    swi = upload(visit, "swi", phantom_files["swi"])
    with pytest.raises(ValidationError) as exc:
        services.run_request(user=None, scan=swi)
    assert "labels" in exc.value.message_dict
    upload(visit, "labels", phantom_files["labels"])
    run, queued = services.run_request(user=None, scan=swi, enqueue=False)
    assert queued and run.status == RunStatus.QUEUED
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.DONE and run.qc_image.name.endswith(".png")
    assert Path(run.qc_image.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert run.algorithm_version == band.ALGORITHM_VERSION
    assert run.parameters["depth_cut"] == 0.5 and run.parameters["threshold_sd"] == 2.0
    whole = {m.hemisphere: m for m in run.measurements.filter(segment="whole")}
    assert whole["L"].band_contrast == pytest.approx(0.2, abs=0.02)
    assert whole["R"].band_contrast == pytest.approx(0.05, abs=0.02)
    assert run.measurements.count() == 10  # L, R × whole, leg, hand, face, paracentral
    # Every row records its coverage (the phantom lies whole inside the image); ppb is QSM's.
    assert set(run.measurements.values_list("coverage", flat=True)) == {1.0}
    assert set(run.measurements.values_list("deep_minus_reference_ppb", flat=True)) == {None}
    # Same scan, same method: a no-op returning the same run.
    again, queued = services.run_request(user=None, scan=swi, enqueue=False)
    assert (again.pk, queued) == (run.pk, False)
    assert QuantificationRun.objects.count() == 1
    # Another parameter set is another run.
    other, queued = services.run_request(
        user=None, scan=swi, parameters=band.Parameters(threshold_sd=3.0), enqueue=False
    )
    assert queued and other.pk != run.pk
    # N4 bias-field correction is a recorded parameter: another hash, another run.
    corrected, queued = services.run_request(user=None, scan=swi, enqueue=False, n4=True)
    assert queued and corrected.pk not in (run.pk, other.pk)
    assert corrected.parameters["n4"] is True and run.parameters["n4"] is False
    assert corrected.parameters_hash != run.parameters_hash
    corrected = services.run_execute(corrected.pk)
    assert corrected.status == RunStatus.DONE, corrected.error
    n4_whole = {m.hemisphere: m for m in corrected.measurements.filter(segment="whole")}
    assert n4_whole["L"].band_contrast == pytest.approx(0.2, abs=0.02)
    assert n4_whole["L"].band_contrast != whole["L"].band_contrast


def test_failed_run_is_recorded_and_retryable(visit, phantom_files):
    swi = upload(visit, "swi", phantom_files["swi"])
    upload(visit, "labels", phantom_files["labels"])
    run, _ = services.run_request(user=None, scan=swi, enqueue=False)
    content = Path(swi.file.path).read_bytes()
    Path(swi.file.path).write_bytes(b"corrupted")
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.FAILED and run.error
    Path(swi.file.path).write_bytes(content)
    retry, queued = services.run_request(user=None, scan=swi, enqueue=False)
    assert queued and retry.pk == run.pk and retry.status == RunStatus.QUEUED
    assert services.run_execute(run.pk).status == RunStatus.DONE
    assert QuantificationRun.objects.get(pk=run.pk).attempts == 2


def test_abandoned_running_run_is_failed(visit, phantom_files):
    swi = upload(visit, "swi", phantom_files["swi"])
    upload(visit, "labels", phantom_files["labels"])
    run, _ = services.run_request(user=None, scan=swi, enqueue=False)
    QuantificationRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=timezone.now() - dt.timedelta(hours=2)
    )
    assert services.runs_fail_stale() == 1
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "worker stopped" in run.error


def test_request_enqueues_after_commit_and_runs_in_process(
    visit, phantom_files, django_capture_on_commit_callbacks
):
    swi = upload(visit, "swi", phantom_files["swi"])
    upload(visit, "labels", phantom_files["labels"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        run, queued = services.run_request(user=None, scan=swi)
    assert queued and len(callbacks) == 1
    run.refresh_from_db()
    assert run.status == RunStatus.DONE


def test_bert_real_cortex_quantifies_to_finite_values(visit, shared_data):
    bert = shared_data / "freesurfer-bert"
    swi = upload(visit, "swi", bert / "norm.mgz", field_strength=1.5)
    upload(visit, "labels", bert / "aparc+aseg.mgz")
    run, _ = services.run_request(user=None, scan=swi, enqueue=False)
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.DONE, run.error
    rows = list(run.measurements.all())
    assert {(m.hemisphere, m.segment) for m in rows} == {
        (h, s) for h in "LR" for s in ("whole", "leg", "hand", "face", "paracentral")
    }
    for m in rows:
        assert m.band_contrast is not None and np.isfinite(m.band_contrast), (
            m.hemisphere,
            m.segment,
            m.reason,
        )
        assert m.n_voxels >= 50


def test_delete_scan_removes_files_and_runs(
    visit, phantom_files, media_root, django_capture_on_commit_callbacks
):
    swi = upload(visit, "swi", phantom_files["swi"])
    labels = upload(visit, "labels", phantom_files["labels"])
    run, _ = services.run_request(user=None, scan=swi, enqueue=False)
    services.run_execute(run.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.scan_delete(labels, user=None, reason="wrong subject")
        services.scan_delete(swi, user=None, reason="wrong subject")
    assert QuantificationRun.objects.count() == 0
    assert stored_files(media_root) == []


def test_qsm_run_stores_differences_in_ppb_and_no_ratios(visit, tmp_path):
    phantom = band.make_qsm_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_ppb=(30.0, 10.0), offset_ppm=0.01, noise_ppb=2.0
    )
    qsm, labels = tmp_path / "chi.nii.gz", tmp_path / "dseg.nii.gz"
    nib.save(phantom.swi, qsm)
    nib.save(phantom.labels, labels)
    scan = upload(visit, "qsm", qsm, field_strength=3.0)
    upload(visit, "labels", labels)
    run, _ = services.run_request(user=None, scan=scan, enqueue=False)
    run = services.run_execute(run.pk)
    assert run.status == RunStatus.DONE and run.input_kind == "qsm"
    whole = {m.hemisphere: m for m in run.measurements.filter(segment="whole")}
    assert whole["L"].deep_minus_reference_ppb == pytest.approx(30.0, abs=3.0)
    assert whole["R"].deep_minus_reference_ppb == pytest.approx(10.0, abs=3.0)
    assert whole["L"].band_contrast is None and whole["L"].laminar_contrast is None
    with pytest.raises(ValidationError, match="magnitude"):
        services.run_request(user=None, scan=scan, enqueue=False, n4=True)
