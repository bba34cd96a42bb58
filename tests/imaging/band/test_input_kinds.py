"""Inputs judged on their own scale: negative and phase-like "SWI", and where NaN may lie."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imaging.band import (
    Parameters,
    QuantResult,
    VolumeError,
    check_intensity_kind,
    cortical_depth,
    load_volume,
    make_phantom,
    make_qsm_phantom,
    quantify,
    quantify_files,
)
from imaging.band import labels as fs


def run(swi: Any, labels: Any, data: np.ndarray | None = None, **params: Any) -> QuantResult:
    return quantify(
        swi.get_fdata(dtype=np.float32) if data is None else data,
        swi.affine,
        np.asanyarray(labels.dataobj),
        labels.affine,
        Parameters(**params),
    )


def wrapped_phase(labels: np.ndarray, affine: np.ndarray, half_range: float) -> np.ndarray:
    """A wrapped phase over the labelled voxels: a smooth field ramp folded into ±half_range."""
    ijk = np.indices(labels.shape).reshape(3, -1).T
    world = ijk @ affine[:3, :3].T + affine[:3, 3]
    field_rad = 0.9 * world[:, 0] + 0.7 * world[:, 1] + 1.3 * world[:, 2]
    phase = np.angle(np.exp(1j * field_rad)).reshape(labels.shape) * (half_range / math.pi)
    return np.where(labels != 0, phase, 0.0).astype(np.float32)


# ---------------------------------------------------------------- negative and phase-like


def test_a_qsm_map_measured_as_swi_is_refused() -> None:
    qsm, labels = make_qsm_phantom(noise_ppb=5.0)
    with pytest.raises(VolumeError, match=r"% of the voxels inside the brain labels are negative"):
        run(qsm, labels, input_kind="swi")
    with pytest.raises(VolumeError, match="probably a QSM susceptibility map in ppm"):
        run(qsm, labels, input_kind="swi")


def test_a_negative_valued_image_is_refused_with_what_was_found() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0)
    shifted = swi.get_fdata(dtype=np.float32) - 97.5  # white matter now below zero
    with pytest.raises(VolumeError) as caught:
        run(swi, labels, shifted)
    message = str(caught.value)
    assert "negative" in message and "never negative" in message
    assert "1st-99th percentile" in message


def test_a_few_negative_voxels_of_interpolation_ringing_are_accepted() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0)
    data = swi.get_fdata(dtype=np.float32)
    ringing = np.flatnonzero((np.asanyarray(labels.dataobj) == fs.CSF).ravel())[::50]
    data.ravel()[ringing] = -1.0  # about 1% of the labelled voxels
    result = run(swi, labels, data)
    assert all(row["reason"] is None for row in result.measurements)


@pytest.mark.parametrize(("half_range", "words"), [(math.pi, "radians"), (4096.0, "-4096 to 4096")])
def test_a_phase_image_measured_as_swi_or_qsm_is_refused(half_range: float, words: str) -> None:
    swi, labels = make_phantom()
    phase = wrapped_phase(np.asanyarray(labels.dataobj), swi.affine, half_range)
    for kind in ("swi", "qsm"):
        with pytest.raises(VolumeError, match="phase image") as caught:
            run(swi, labels, phase, input_kind=kind)
        assert words in str(caught.value)


def test_the_real_gre_phase_is_refused_as_swi_on_loading(shared_data: Path) -> None:
    phase = shared_data / "gre-3echo-crop" / "Phase.nii"
    assert load_volume(phase, echo=0).data.shape == (51, 51, 41)  # the file itself is valid
    with pytest.raises(VolumeError, match=r"Phase\.nii: .* negative .* phase image"):
        load_volume(phase, echo=0, kind="swi")


def test_real_magnitudes_pass_the_swi_kind_check(shared_data: Path) -> None:
    for path, echo in (
        (shared_data / "gre-3echo-crop" / "Mag.nii.gz", 0),
        (shared_data / "siemens-xa30-gre" / "nifti" / "8_gre_field_mapping_e1.nii", None),
        (shared_data / "freesurfer-bert" / "norm.mgz", None),
    ):
        load_volume(path, echo=echo, kind="swi")


def test_check_intensity_kind_ignores_zeros_and_nan() -> None:
    values = np.array([0.0, 0.0, np.nan, 5.0, 6.0, 7.0])
    check_intensity_kind(values, "swi")
    with pytest.raises(ValueError, match="kind"):
        check_intensity_kind(values, "t1")  # type: ignore[arg-type]


# ---------------------------------------------------------------- NaN


def test_nan_outside_the_brain_is_accepted(tmp_path: Path) -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0)
    reference = run(swi, labels)
    data = swi.get_fdata(dtype=np.float32)
    data[np.asanyarray(labels.dataobj) == 0] = np.nan  # as a QSM/CLEARSWI brain mask leaves it
    nib.save(nib.Nifti1Image(data, swi.affine), tmp_path / "swi.nii.gz")
    nib.save(labels, tmp_path / "dseg.nii.gz")
    result = quantify_files(tmp_path / "swi.nii.gz", tmp_path / "dseg.nii.gz")
    assert result.measurements == reference.measurements


def test_nan_in_other_brain_regions_is_accepted() -> None:
    swi, labels = make_phantom(band_contrast=0.15)
    label_data = np.asanyarray(labels.dataobj)
    data = swi.get_fdata(dtype=np.float32)
    data[(label_data == fs.SUPERIOR_FRONTAL["L"]) | (label_data == fs.WHITE_MATTER["R"])] = np.nan
    result = run(swi, labels, data)
    assert all(row["reason"] is None for row in result.measurements)


def test_nan_in_the_measured_ribbon_is_refused() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0)
    clean = run(swi, labels)
    ribbon = clean.deep_mask & (clean.labels_crop == fs.PRECENTRAL["L"])
    offset = np.array([s.start for s in clean.crop])
    data = swi.get_fdata(dtype=np.float32)
    for ijk in np.argwhere(ribbon)[:3] + offset:
        data[tuple(ijk)] = np.nan
    with pytest.raises(
        VolumeError, match=r"NaN \(no value\) in 3 of .* left precentral/paracentral cortex"
    ):
        run(swi, labels, data)


def test_nan_in_the_reference_region_is_refused() -> None:
    swi, labels = make_phantom(band_contrast=0.15, noise_sd=3.0)
    label_data = np.asanyarray(labels.dataobj)
    postcentral = label_data == fs.POSTCENTRAL["R"]
    depth = cortical_depth(label_data, "R", (1.0, 1.0, 1.0), where=postcentral)
    deep_postcentral = postcentral & (depth < 0.25)  # deep by any depth cut near 0.5
    assert deep_postcentral.sum() > 10
    data = swi.get_fdata(dtype=np.float32)
    data[deep_postcentral] = np.nan
    with pytest.raises(
        VolumeError, match=r"right deep postcentral cortex \(the reference region\)"
    ):
        run(swi, labels, data)
