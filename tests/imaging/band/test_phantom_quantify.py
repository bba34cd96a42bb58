"""Known-truth recovery on generated phantoms, and the QC picture."""

from __future__ import annotations

import math
import time
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imaging.band import (
    ALGORITHM_VERSION,
    MEASUREMENT_FIELDS,
    SEGMENTS,
    Parameters,
    QuantResult,
    make_phantom,
    make_qsm_phantom,
    quantify,
    quantify_files,
    render_qc_png,
)
from imaging.band import labels as fs

TOLERANCE = 0.02


def run(phantom: Any, params: Parameters | None = None) -> QuantResult:
    swi, labels = phantom
    return quantify(
        swi.get_fdata(dtype=np.float32),
        swi.affine,
        np.asanyarray(labels.dataobj),
        labels.affine,
        params,
    )


def measurement(result: QuantResult, hemisphere: str, segment: str = "whole") -> dict[str, Any]:
    (found,) = [
        m for m in result.measurements if m["hemisphere"] == hemisphere and m["segment"] == segment
    ]
    return found


def assert_recovers(result: QuantResult, truth: tuple[float, float]) -> None:
    for hemisphere, contrast in zip(("L", "R"), truth, strict=True):
        row = measurement(result, hemisphere)
        assert row["reason"] is None
        assert row["band_contrast"] == pytest.approx(contrast, abs=TOLERANCE), hemisphere


def test_measurements_have_the_contract_shape() -> None:
    result = run(make_phantom(band_contrast=0.15))
    assert [(m["hemisphere"], m["segment"]) for m in result.measurements] == [
        (h, s) for h in ("L", "R") for s in SEGMENTS
    ]
    for row in result.measurements:
        assert tuple(row) == MEASUREMENT_FIELDS
        assert row["n_voxels"] >= 50
        assert not any(isinstance(v, float) and math.isnan(v) for v in row.values())
    assert result.algorithm_version == ALGORITHM_VERSION
    assert result.parameters == Parameters().as_dict()


def test_recovers_band_with_noise() -> None:
    result = run(make_phantom(band_contrast=0.15, noise_sd=5.0, seed=1))
    assert_recovers(result, (0.15, 0.15))
    for segment in SEGMENTS:
        row = measurement(result, "L", segment)
        assert row["band_contrast"] == pytest.approx(0.15, abs=TOLERANCE), segment


def test_no_band_measures_zero() -> None:
    result = run(make_phantom(band_contrast=0.0, noise_sd=5.0, seed=2))
    assert_recovers(result, (0.0, 0.0))
    assert measurement(result, "L")["band_extent"] < 0.05


def test_recovers_band_with_anisotropic_voxels() -> None:
    phantom = make_phantom(
        (128, 128, 48), (0.5, 0.5, 1.5), band_contrast=(0.2, 0.1), noise_sd=3.0, seed=3
    )
    assert_recovers(run(phantom), (0.2, 0.1))


def test_recovers_band_with_oblique_affine() -> None:
    phantom = make_phantom(band_contrast=(0.1, 0.2), noise_sd=3.0, rotation_deg=(17.0, 10.0, -15.0))
    assert not np.allclose(phantom.swi.affine[:3, :3], np.diag(np.diag(phantom.swi.affine)[:3]))
    assert_recovers(run(phantom), (0.1, 0.2))


def test_recovers_band_with_label_map_on_another_grid() -> None:
    phantom = make_phantom(
        (80, 80, 80),
        (1.2, 1.2, 1.2),
        band_contrast=0.15,
        noise_sd=3.0,
        rotation_deg=15.0,
        label_shape=(128, 128, 128),
        label_voxel_size_mm=(0.75, 0.75, 0.75),
        label_rotation_deg=0.0,
    )
    assert phantom.labels.shape != phantom.swi.shape
    assert_recovers(run(phantom), (0.15, 0.15))


def test_hemispheres_are_kept_apart() -> None:
    result = run(make_phantom(band_contrast=(0.2, 0.0), noise_sd=3.0))
    assert_recovers(result, (0.2, 0.0))
    assert measurement(result, "R")["band_extent"] < 0.05
    assert measurement(result, "L")["band_extent"] > 0.9


def test_too_few_voxels_gives_none_with_reason() -> None:
    result = run(make_phantom(band_contrast=0.15), Parameters(min_voxels=100_000))
    for row in result.measurements:
        assert row["reason"] is not None and "minimum 100000" in row["reason"]
        assert all(row[key] is None for key in ("band_contrast", "deep_mean", "band_extent"))


def test_missing_hemisphere_gives_none_with_reason() -> None:
    swi, labels = make_phantom()
    data = np.asanyarray(labels.dataobj).copy()
    data[fs.cortex_mask(data, "R")] = 0
    result = quantify(swi.get_fdata(), swi.affine, data, labels.affine)
    right = [m for m in result.measurements if m["hemisphere"] == "R"]
    assert all(m["band_contrast"] is None and m["reason"] for m in right)
    assert measurement(result, "L")["reason"] is None


def test_qsm_kind_is_recorded() -> None:
    result = run(make_qsm_phantom(band_ppb=30.0), Parameters(input_kind="qsm"))
    assert result.parameters["input_kind"] == "qsm"
    row = measurement(result, "L")
    assert row["reason"] is None
    assert row["band_contrast"] is None and row["laminar_contrast"] is None
    assert row["deep_minus_reference_ppb"] == pytest.approx(30.0, abs=1.0)
    assert row["band_extent"] > 0.9  # brighter than reference + 2 SD


def test_quantify_files_with_integer_swi(tmp_path: Any) -> None:
    phantom = make_phantom(band_contrast=0.2, noise_sd=3.0, swi_dtype=np.int16)
    nib.save(phantom.swi, tmp_path / "swi.nii.gz")
    nib.save(phantom.labels, tmp_path / "dseg.nii.gz")
    result = quantify_files(tmp_path / "swi.nii.gz", tmp_path / "dseg.nii.gz")
    assert_recovers(result, (0.2, 0.2))


def test_phantom_is_fast() -> None:
    start = time.perf_counter()
    make_phantom((96, 96, 96), (1.0, 1.0, 1.0), noise_sd=5.0, rotation_deg=15.0)
    assert time.perf_counter() - start < 1.0


def test_qc_png_shows_both_views() -> None:
    result = run(make_phantom((96, 96, 48), (1.0, 1.0, 2.0), band_contrast=(0.2, 0.0)))
    png = render_qc_png(result.swi_crop, result.deep_mask, result.band_mask, result.crop_affine)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    from io import BytesIO

    from PIL import Image

    image = Image.open(BytesIO(png)).convert("RGB")
    assert image.height >= 320
    pixels = np.asarray(image)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 120)
    cyan = (pixels[..., 2] > 200) & (pixels[..., 0] < 60)
    assert red.any() and cyan.any()
    # Band only in the left hemisphere, drawn on the image's left half of each panel.
    columns = np.flatnonzero(red.any(axis=0))
    assert columns.min() < image.width // 4


def test_quantify_files_takes_one_echo_of_a_multi_echo_swi(tmp_path: Any) -> None:
    from imaging.band import VolumeError

    swi, labels = make_phantom(band_contrast=0.2, noise_sd=2.0)
    first = swi.get_fdata(dtype=np.float32)
    echoes = np.stack([first, first * 0.5], axis=-1)  # later echo: darker, same band ratio
    nib.save(nib.Nifti1Image(echoes, swi.affine), tmp_path / "me.nii.gz")
    nib.save(labels, tmp_path / "dseg.nii.gz")
    with pytest.raises(VolumeError, match="2 echoes"):
        quantify_files(tmp_path / "me.nii.gz", tmp_path / "dseg.nii.gz")
    result = quantify_files(tmp_path / "me.nii.gz", tmp_path / "dseg.nii.gz", echo=1)
    assert measurement(result, "L")["reference_mean"] == pytest.approx(50.0, abs=1.0)
    assert_recovers(result, (0.2, 0.2))
