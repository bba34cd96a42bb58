"""Segments defined on the whole label map, coverage per row, and slabs that miss the strip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imaging.band import (
    MIN_SEGMENT_COVERAGE,
    SEGMENTS,
    Parameters,
    QuantResult,
    VolumeError,
    check_overlap,
    load_label_map,
    load_volume,
    make_phantom,
    quantify,
    quantify_files,
    segment_frame,
)
from imaging.band import labels as fs

VALUE_TOLERANCE = 0.02


def rows(result: QuantResult) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["hemisphere"], m["segment"]): m for m in result.measurements}


def run(swi_data: np.ndarray, swi_affine: np.ndarray, labels: Any) -> QuantResult:
    return quantify(swi_data, swi_affine, np.asanyarray(labels.dataobj), labels.affine)


def precentral_top_mm(swi: Any, labels: Any) -> float:
    ijk = np.argwhere(np.asanyarray(labels.dataobj) == fs.PRECENTRAL["L"])
    return float((ijk @ labels.affine[:3, :3].T + labels.affine[:3, 3])[:, 2].max())


def axial_slab(swi: Any, z_low_mm: float, z_high_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The part of an axis-aligned phantom SWI between two world heights (mm), and its affine."""
    z_mm = swi.affine[2, 2] * np.arange(swi.shape[2]) + swi.affine[2, 3]
    keep = np.flatnonzero((z_mm >= z_low_mm) & (z_mm <= z_high_mm))
    affine = swi.affine.copy()
    affine[:3, 3] += affine[:3, 2] * keep[0]
    return swi.get_fdata(dtype=np.float32)[:, :, keep[0] : keep[-1] + 1], affine


def test_full_coverage_is_recorded_as_one() -> None:
    swi, labels = make_phantom(band_contrast=0.15)
    for row in run(swi.get_fdata(dtype=np.float32), swi.affine, labels).measurements:
        assert row["coverage"] == pytest.approx(1.0)


def test_a_slab_cutting_the_top_of_the_gyrus_nulls_the_upper_segments_only() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0, seed=4)
    full = rows(run(swi.get_fdata(dtype=np.float32), swi.affine, labels))
    top = precentral_top_mm(swi, labels)
    data, affine = axial_slab(swi, -1000.0, top - 20.0)  # the top 20 mm are not imaged
    cut = rows(run(data, affine, labels))
    for hemisphere in fs.HEMISPHERES:
        for segment in ("whole", "leg", "hand"):
            row = cut[(hemisphere, segment)]
            assert row["coverage"] < MIN_SEGMENT_COVERAGE, row
            assert row["band_contrast"] is None and row["deep_mean"] is None
            assert "coverage" in row["reason"] and "field of view" in row["reason"]
        face = cut[(hemisphere, "face")]
        assert MIN_SEGMENT_COVERAGE <= face["coverage"] <= 1.0
        assert face["reason"] is None
        for key in ("band_contrast", "laminar_contrast", "band_extent"):
            expected = full[(hemisphere, "face")][key]
            assert face[key] == pytest.approx(expected, abs=VALUE_TOLERANCE), key
        # The segments did not move: the face keeps (nearly) its voxels.
        assert (
            abs(face["n_voxels"] - full[(hemisphere, "face")]["n_voxels"])
            <= 0.05 * face["n_voxels"]
        )


def test_a_slab_missing_the_motor_strip_is_refused_for_coverage(tmp_path: Path) -> None:
    swi, labels = make_phantom((64, 64, 64), (1.5, 1.5, 1.5), band_contrast=0.15)
    floor_mm = -0.1 * 0.42 * 96.0  # make_phantom's default motor floor for this field of view
    data, affine = axial_slab(swi, -1000.0, floor_mm - 6.0)
    with pytest.raises(VolumeError) as caught:
        run(data, affine, labels)
    message = str(caught.value)
    assert "coverage" in message and "0% of the precentral, postcentral and paracentral" in message
    assert "wrong subject" not in message
    nib.save(nib.Nifti1Image(data, affine), tmp_path / "slab.nii.gz")
    nib.save(labels, tmp_path / "dseg.nii.gz")
    with pytest.raises(VolumeError, match="does not cover the motor cortex"):
        quantify_files(tmp_path / "slab.nii.gz", tmp_path / "dseg.nii.gz")
    with pytest.raises(VolumeError, match="does not cover the motor cortex"):
        check_overlap(
            load_volume(tmp_path / "slab.nii.gz"), load_label_map(tmp_path / "dseg.nii.gz")
        )


def test_a_hemisphere_outside_the_image_says_coverage_not_missing_labels() -> None:
    swi, labels = make_phantom(band_contrast=0.15)
    data = swi.get_fdata(dtype=np.float32)[: swi.shape[0] // 2 - 2]  # left half only
    result = rows(run(data, swi.affine, labels))
    for segment in SEGMENTS:
        assert result[("L", segment)]["reason"] is None
        right = result[("R", segment)]
        assert right["coverage"] == 0.0 and "coverage 0%" in right["reason"]


def test_one_stray_label_voxel_does_not_move_the_segments() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0, seed=6)
    label_data = np.asanyarray(labels.dataobj)
    clean = rows(run(swi.get_fdata(dtype=np.float32), swi.affine, labels))
    stray = label_data.copy()
    # One precentral voxel deep in the left white matter, about 20 mm below the strip's floor.
    ijk = np.rint(
        np.linalg.solve(labels.affine[:3, :3], [-15.0, 10.0, -25.0] - labels.affine[:3, 3])
    )
    i, j, k = (int(v) for v in ijk)
    assert stray[i, j, k] == fs.WHITE_MATTER["L"]
    stray[i, j, k] = fs.PRECENTRAL["L"]
    moved = rows(
        quantify(swi.get_fdata(dtype=np.float32), swi.affine, stray, labels.affine, Parameters())
    )
    for segment in SEGMENTS:
        before, after = clean[("L", segment)], moved[("L", segment)]
        assert abs(after["n_voxels"] - before["n_voxels"]) <= 2, segment
        assert after["band_contrast"] == pytest.approx(before["band_contrast"], abs=1e-3)
    # The frame itself: every precentral voxel keeps its position to within 1% of the extent.
    world = np.argwhere(label_data == fs.PRECENTRAL["L"]) @ labels.affine[:3, :3].T
    stray_world = np.vstack([world, np.array([[i, j, k]]) @ labels.affine[:3, :3].T])
    np.testing.assert_allclose(
        segment_frame(stray_world).position(world), segment_frame(world).position(world), atol=0.01
    )
