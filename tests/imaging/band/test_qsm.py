"""QSM measured as susceptibility differences in ppb, whatever the map's arbitrary zero."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest

from imaging.band import (
    SEGMENTS,
    Parameters,
    QuantResult,
    VolumeError,
    make_qsm_phantom,
    quantify,
    quantify_files,
)

PPB_FIELDS = ("deep_minus_reference_ppb", "deep_minus_superficial_ppb")


def run(phantom: Any, data: np.ndarray | None = None, **params: Any) -> QuantResult:
    qsm, labels = phantom
    return quantify(
        qsm.get_fdata() if data is None else data,
        qsm.affine,
        np.asanyarray(labels.dataobj),
        labels.affine,
        Parameters(input_kind="qsm", **params),
    )


def test_qsm_rows_carry_ppb_differences_and_no_ratios() -> None:
    result = run(make_qsm_phantom(band_ppb=(40.0, 0.0), noise_ppb=3.0, seed=5))
    for row in result.measurements:
        assert row["reason"] is None, row
        assert row["band_contrast"] is None and row["laminar_contrast"] is None
        truth = 40.0 if row["hemisphere"] == "L" else 0.0
        assert row["deep_minus_reference_ppb"] == pytest.approx(truth, abs=2.0), row
        # Depth misclassification at a 1 mm grid mixes a little band into the superficial half.
        assert row["deep_minus_superficial_ppb"] == pytest.approx(truth, abs=0.15 * 40.0), row


@pytest.mark.parametrize("offset_ppm", [0.0, 0.002, 0.01, -0.002])
def test_ppb_values_do_not_move_with_a_constant_offset(offset_ppm: float) -> None:
    phantom = make_qsm_phantom(band_ppb=30.0, noise_ppb=5.0, seed=7)
    base = run(phantom)
    shifted = run(phantom, phantom.swi.get_fdata() + offset_ppm)
    for before, after in zip(base.measurements, shifted.measurements, strict=True):
        assert after["reason"] is None
        for key in PPB_FIELDS:
            assert after[key] == pytest.approx(before[key], abs=1e-6), (after["segment"], key)
        # The means themselves do move: the invariance is the differences'.
        assert after["deep_mean"] == pytest.approx(before["deep_mean"] + offset_ppm, abs=1e-6)


def test_a_qsm_map_in_ppb_is_refused_as_ppm_and_measured_as_ppb(tmp_path: Path) -> None:
    qsm, labels = make_qsm_phantom(band_ppb=30.0, noise_ppb=3.0, seed=2)
    in_ppm = run((qsm, labels))
    in_ppb = qsm.get_fdata() * 1000.0
    with pytest.raises(VolumeError, match="probably in ppb"):
        run((qsm, labels), in_ppb)
    result = run((qsm, labels), in_ppb, qsm_unit="ppb")
    for ppm_row, ppb_row in zip(in_ppm.measurements, result.measurements, strict=True):
        for key in PPB_FIELDS:
            assert ppb_row[key] == pytest.approx(ppm_row[key], abs=1e-3)
    with pytest.raises(VolumeError, match="probably in ppm"):
        run((qsm, labels), qsm_unit="ppb")


def test_qsm_file_with_nan_background_quantifies(tmp_path: Path) -> None:
    qsm, labels = make_qsm_phantom(band_ppb=30.0, noise_ppb=3.0, seed=3)
    assert np.isnan(qsm.get_fdata()).any()
    nib.save(nib.Nifti1Image(qsm.get_fdata(dtype=np.float32), qsm.affine), tmp_path / "qsm.nii")
    nib.save(labels, tmp_path / "dseg.nii.gz")
    result = quantify_files(
        tmp_path / "qsm.nii", tmp_path / "dseg.nii.gz", Parameters(input_kind="qsm")
    )
    assert [row["segment"] for row in result.measurements[: len(SEGMENTS)]] == list(SEGMENTS)
    assert all(row["deep_minus_reference_ppb"] > 20.0 for row in result.measurements)


def test_qc_png_of_a_qsm_with_nan_background() -> None:
    from imaging.band import render_qc_png

    result = run(make_qsm_phantom(band_ppb=30.0, noise_ppb=3.0, seed=4))
    assert np.isnan(result.swi_crop).any()
    png = render_qc_png(result.swi_crop, result.deep_mask, result.band_mask, result.crop_affine)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
