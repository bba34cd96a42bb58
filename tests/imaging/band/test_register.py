"""Rigid registration of the label map's T1 to the SWI: conventions, known truth on bert, refusals."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
import SimpleITK as sitk
from scipy.spatial.transform import Rotation

from imaging.band import (
    MAX_DISPLACEMENT_MM,
    QuantResult,
    Registration,
    VolumeError,
    carry_labels,
    cortical_depth,
    crop_affine,
    motor_crop,
    quantify,
    quantify_files,
    register_anatomy,
    resample_labels,
)
from imaging.band import labels as fs
from imaging.band.register import (
    _lps_matrix,
    lps_affine,
    motor_displacement_mm,
    ras_transform_from_lps,
    sitk_image,
)

#: The known misplacement of bert's T1 and label map: 4 mm translation, 5° rotation.
TRUE_TRANSLATION_MM = np.array([2.0, -2.0, 2.0 * np.sqrt(2.0)])
TRUE_ROTATION_DEG = 5.0
TRUE_ROTATION_AXIS = np.array([1.0, 2.0, -1.0]) / np.sqrt(6.0)
#: Fraction by which deep precentral voxels of the target are darkened.
BAND_FRACTION = 0.3
RECOVERY_TOLERANCE_MM = 1.0
CONTRAST_TOLERANCE = 0.02
#: Bert is cropped to the motor labels plus this margin (mm) to keep the tests light.
BERT_MARGIN_MM = 50.0

# An asymmetric voxel-to-world (RAS) affine: permuted, flipped, anisotropic, oblique, offset.
ASYMMETRIC_AFFINE = np.array(
    [
        [0.0, -1.5, 0.0, 10.0],
        [0.0, 0.0, 2.0, -20.0],
        [-0.5, 0.0, 0.0, 30.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
ASYMMETRIC_AFFINE[:3, :3] = (
    Rotation.from_euler("xyz", [10, -20, 30], degrees=True).as_matrix()
    @ (ASYMMETRIC_AFFINE[:3, :3])
)


def world(affine: npt.NDArray[np.float64], ijk: tuple[float, float, float]) -> np.ndarray:
    return np.asarray(affine @ np.array([*ijk, 1.0]))[:3]


# ---------------------------------------------------------------- LPS / RAS conventions


def test_sitk_image_places_voxels_at_their_lps_world_points() -> None:
    data = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    image = sitk_image(data, ASYMMETRIC_AFFINE)
    assert image.GetSize() == (3, 4, 5)
    assert image.GetSpacing() == pytest.approx((0.5, 1.5, 2.0))
    for ijk in [(0, 0, 0), (2, 0, 0), (0, 3, 0), (1, 2, 4), (2, 3, 4)]:
        assert image[ijk] == data[ijk]
        ras = world(ASYMMETRIC_AFFINE, ijk)
        lps = image.TransformIndexToPhysicalPoint(ijk)
        assert lps == pytest.approx((-ras[0], -ras[1], ras[2]))


def test_lps_affine_flips_world_x_and_y_only() -> None:
    lps = lps_affine(ASYMMETRIC_AFFINE)
    assert lps[:2] == pytest.approx(-ASYMMETRIC_AFFINE[:2])
    assert lps[2:] == pytest.approx(ASYMMETRIC_AFFINE[2:])
    assert lps_affine(lps) == pytest.approx(ASYMMETRIC_AFFINE)


def test_ras_transform_inverts_itk_fixed_to_moving_lps() -> None:
    euler = sitk.Euler3DTransform()
    euler.SetCenter((5.0, -7.0, 11.0))
    euler.SetRotation(0.1, -0.2, 0.05)
    euler.SetTranslation((3.0, -4.0, 1.5))
    lps_matrix = _lps_matrix(euler)
    fixed_lps = (12.0, 3.0, -8.0)
    moving_lps = euler.TransformPoint(fixed_lps)
    assert (lps_matrix @ np.array([*fixed_lps, 1.0]))[:3] == pytest.approx(moving_lps)
    # The RAS result maps the moving (anatomy) point to the fixed (SWI) point.
    transform = ras_transform_from_lps(lps_matrix)
    moving_ras = np.array([-moving_lps[0], -moving_lps[1], moving_lps[2], 1.0])
    fixed_ras = (transform @ moving_ras)[:3]
    assert fixed_ras == pytest.approx([-fixed_lps[0], -fixed_lps[1], fixed_lps[2]])


def test_carry_labels_moves_the_label_map_in_ras_world() -> None:
    labels = np.zeros((6, 6, 6), dtype=np.int16)
    labels[1, 2, 3] = fs.PRECENTRAL["L"]
    shift = np.eye(4)
    shift[:3, 3] = [2.0, 0.0, 0.0]  # 2 mm to the right (RAS +x)
    carried = carry_labels(ASYMMETRIC_AFFINE, shift)
    assert world(carried, (1, 2, 3)) == pytest.approx(
        world(ASYMMETRIC_AFFINE, (1, 2, 3)) + np.array([2.0, 0.0, 0.0])
    )
    # A 1 mm label map stored LPS-like (x and y flipped, axes permuted), resampled into a 1 mm
    # RAS grid: after the carry the label lands 2 voxels further along +x (to the right).
    flipped = np.array(
        [[0.0, -1.0, 0.0, 3.0], [-1.0, 0.0, 0.0, 4.0], [0.0, 0.0, 1.0, -2.0], [0, 0, 0, 1]]
    )
    target = np.eye(4)
    target[:3, 3] = [-10.0, -10.0, -10.0]
    crop = (slice(0, 20), slice(0, 20), slice(0, 20))
    before = np.argwhere(resample_labels(labels, flipped, target, crop))
    after = np.argwhere(resample_labels(labels, carry_labels(flipped, shift), target, crop))
    assert before.tolist() == [[11, 13, 11]]  # world (1, 3, 1) mm
    assert after.tolist() == [[before[0, 0] + 2, before[0, 1], before[0, 2]]]


def test_motor_displacement_of_a_translation_is_its_length() -> None:
    labels = np.zeros((4, 4, 4), dtype=np.int16)
    labels[1:3, 1:3, 1:3] = fs.POSTCENTRAL["R"]
    shift = np.eye(4)
    shift[:3, 3] = [3.0, 0.0, 4.0]
    assert motor_displacement_mm(shift, labels, ASYMMETRIC_AFFINE) == pytest.approx((5.0, 5.0))


def test_sheared_affine_is_refused_in_words() -> None:
    sheared = np.eye(4)
    sheared[0, 1] = 0.3
    with pytest.raises(VolumeError, match="sheared"):
        sitk_image(np.zeros((2, 2, 2), dtype=np.float32), sheared)


# ---------------------------------------------------------------- known truth on bert


@dataclass(frozen=True)
class Bert:
    """bert cropped to its motor region, a synthetic band, and the known misplacement."""

    anatomy: npt.NDArray[np.float32]  # norm.mgz, no band: the "T1" the labels were made on
    target: npt.NDArray[np.float32]  # norm.mgz with the deep precentral cortex darkened: "SWI"
    labels: npt.NDArray[np.int32]
    affine: npt.NDArray[np.float64]  # the aligned affine of all three
    moved_affine: npt.NDArray[np.float64]  # truth @ affine: the T1 and labels misplaced
    truth: npt.NDArray[np.float64]  # moved world to target world (RAS mm): inverse of the move


def _rigid(rotation_deg: float, axis: np.ndarray, translation_mm: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_rotvec(np.deg2rad(rotation_deg) * axis).as_matrix()
    matrix[:3, 3] = translation_mm
    return matrix


@pytest.fixture(scope="module")
def bert(shared_data: Path) -> Bert:
    folder = shared_data / "freesurfer-bert"
    norm = nib.load(folder / "norm.mgz")
    aseg = nib.load(folder / "aparc+aseg.mgz")
    labels_full = np.asarray(aseg.dataobj, dtype=np.int32)
    box = motor_crop(labels_full, aseg.affine, norm.affine, norm.shape, BERT_MARGIN_MM)
    affine = crop_affine(np.asarray(norm.affine, dtype=np.float64), box)
    anatomy = np.asarray(norm.dataobj, dtype=np.float32)[box]
    labels = np.ascontiguousarray(labels_full[box])
    target = anatomy.copy()
    voxel_mm = tuple(float(v) for v in norm.header.get_zooms()[:3])
    for hemisphere in fs.HEMISPHERES:
        precentral = labels == fs.PRECENTRAL[hemisphere]
        depth = cortical_depth(labels, hemisphere, voxel_mm, where=precentral)
        target[precentral & (depth < 0.5)] *= 1.0 - BAND_FRACTION
    move = _rigid(TRUE_ROTATION_DEG, TRUE_ROTATION_AXIS, TRUE_TRANSLATION_MM)
    return Bert(anatomy, target, labels, affine, move @ affine, np.linalg.inv(move))


@pytest.fixture(scope="module")
def registration(bert: Bert) -> Registration:
    return register_anatomy(
        bert.target, bert.affine, bert.anatomy, bert.moved_affine, bert.labels, bert.moved_affine
    )


@pytest.fixture(scope="module")
def registered(bert: Bert) -> QuantResult:
    """Quantification of the target with the misplaced labels and their T1."""
    return quantify(
        bert.target,
        bert.affine,
        bert.labels,
        bert.moved_affine,
        anatomy=(bert.anatomy, bert.moved_affine),
    )


def contrasts(result: QuantResult) -> dict[tuple[str, str], float]:
    return {(m["hemisphere"], m["segment"]): m["band_contrast"] for m in result.measurements}


def test_registration_recovers_the_known_misplacement(
    bert: Bert, registration: Registration
) -> None:
    # The misplacement is real: world coordinates are off by several mm over the motor cortex.
    true_rms, true_max = motor_displacement_mm(bert.truth, bert.labels, bert.moved_affine)
    assert 4.0 < true_rms < true_max < 10.0
    # Where the recovered transform puts each motor label voxel vs where it truly belongs.
    error = registration.transform @ np.linalg.inv(bert.truth)
    error_rms, error_max = motor_displacement_mm(error, bert.labels, bert.affine)
    assert error_rms <= error_max < RECOVERY_TOLERANCE_MM
    assert registration.displacement_rms_mm == pytest.approx(true_rms, abs=RECOVERY_TOLERANCE_MM)
    assert registration.displacement_max_mm == pytest.approx(true_max, abs=RECOVERY_TOLERANCE_MM)
    assert registration.iterations > 0
    assert np.isfinite(registration.metric) and registration.metric < 0
    assert set(registration.as_dict()) == {"method", "metric", "displacement_mm"}
    assert "Mattes" in registration.method and "3 levels" in registration.method


def test_registered_quantification_matches_the_aligned_one(
    bert: Bert, registration: Registration, registered: QuantResult
) -> None:
    aligned = contrasts(quantify(bert.target, bert.affine, bert.labels, bert.affine))
    shifted_result = quantify(bert.target, bert.affine, bert.labels, bert.moved_affine)
    shifted = contrasts(shifted_result)
    assert shifted_result.registration is None and shifted_result.registration_detail is None
    record = registered.registration
    assert record is not None and record["method"] == registration.method
    assert record["displacement_mm"] == pytest.approx(registration.displacement_rms_mm)
    detail = registered.registration_detail
    assert detail is not None and detail.transform == pytest.approx(registration.transform)
    # The synthetic band is there when the labels sit right.
    for hemisphere in fs.HEMISPHERES:
        assert aligned[(hemisphere, "whole")] > 0.1
    for key, value in aligned.items():
        assert contrasts(registered)[key] == pytest.approx(value, abs=CONTRAST_TOLERANCE), key
    # Without registration the misplaced labels read a clearly different band.
    worst = max(abs(shifted[key] - value) for key, value in aligned.items())
    assert worst > 5 * CONTRAST_TOLERANCE


def test_quantify_files_registers_the_anatomy_file(
    bert: Bert, registered: QuantResult, tmp_path: Path
) -> None:
    nib.save(nib.Nifti1Image(bert.target, bert.affine), tmp_path / "swi.nii")
    nib.save(nib.Nifti1Image(bert.labels, bert.moved_affine), tmp_path / "aparc+aseg.nii")
    nib.save(nib.Nifti1Image(bert.anatomy, bert.moved_affine), tmp_path / "norm.nii")
    plain = quantify_files(tmp_path / "swi.nii", tmp_path / "aparc+aseg.nii")
    assert plain.registration is None
    result = quantify_files(
        tmp_path / "swi.nii", tmp_path / "aparc+aseg.nii", anatomy=tmp_path / "norm.nii"
    )
    # NIfTI headers store affines in float32: the same registration up to that rounding.
    assert result.registration is not None and registered.registration is not None
    assert result.registration["displacement_mm"] == pytest.approx(
        registered.registration["displacement_mm"], abs=0.05
    )
    assert contrasts(result) == pytest.approx(contrasts(registered), abs=0.005)


# ---------------------------------------------------------------- refusals


def test_anatomy_outside_the_label_map_is_refused(bert: Bert) -> None:
    far = bert.affine.copy()
    far[:3, 3] += [0.0, 0.0, 300.0]
    with pytest.raises(VolumeError, match="anatomical image: the label map's motor labels lie"):
        register_anatomy(bert.target, bert.affine, bert.anatomy, far, bert.labels, bert.affine)


def test_anatomy_that_barely_overlaps_the_swi_is_refused(bert: Bert) -> None:
    # A T1 whose field of view sits 100 mm above the label map's (another space): it still
    # holds the motor labels' box, but little of the SWI's neighbourhood around it.
    away = bert.affine.copy()
    away[:3, 3] += [0.0, 0.0, 100.0]
    with pytest.raises(VolumeError, match="does not overlap the SWI around the motor cortex"):
        register_anatomy(bert.target, bert.affine, bert.anatomy, away, bert.labels, bert.affine)


def test_constant_swi_is_refused(bert: Bert) -> None:
    flat = np.full(bert.target.shape, 7.0, dtype=np.float32)
    with pytest.raises(VolumeError, match="constant"):
        register_anatomy(flat, bert.affine, bert.anatomy, bert.affine, bert.labels, bert.affine)


@pytest.mark.slow
def test_implausibly_large_displacement_is_refused(bert: Bert) -> None:
    move = _rigid(0.0, TRUE_ROTATION_AXIS, np.array([0.0, 25.0, 0.0])) @ bert.affine
    with pytest.raises(VolumeError, match=f"beyond the {MAX_DISPLACEMENT_MM:g} mm"):
        register_anatomy(bert.target, bert.affine, bert.anatomy, move, bert.labels, move)


def test_quantify_without_anatomy_is_unchanged(bert: Bert) -> None:
    result: Any = quantify(bert.target, bert.affine, bert.labels, bert.affine)
    assert result.registration is None
    assert "register" not in result.parameters
