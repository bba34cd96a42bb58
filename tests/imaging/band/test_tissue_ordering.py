"""Tissue ordering inside the labels (domain.md, method 2.0.0): on SWI/T2* magnitude white matter
is brighter than cortex on average, so a label map that does not match the image shows up."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest

from imaging import checks
from imaging.band import (
    TissueMeans,
    make_phantom,
    make_qsm_phantom,
    quantify,
    tissue_means,
)

_SHAPE = (64, 64, 64)
_VOXEL = (1.5, 1.5, 1.5)


def _excess(tissue: TissueMeans | None) -> float:
    assert tissue is not None
    assert tissue.white_matter_mean is not None and tissue.cortex_mean is not None
    return tissue.white_matter_mean / tissue.cortex_mean - 1.0


def _check(tissue: TissueMeans | None, input_kind: str = "swi") -> checks.Check | None:
    rows = [
        {"hemisphere": h, "segment": "whole", "band_contrast": 0.1, "coverage": 1.0} for h in "LR"
    ]
    found = checks.run_checks(
        rows, input_kind=input_kind, tissue=None if tissue is None else tissue.as_dict()
    )
    return next((c for c in found if c.name == "tissue_ordering"), None)


def _passes(tissue: TissueMeans | None) -> bool:
    check = _check(tissue)
    assert check is not None
    return check.passed


def _shifted(affine: npt.NDArray[np.float64], axis: int, mm: float) -> npt.NDArray[np.float64]:
    shift = np.eye(4)
    shift[axis, 3] = mm
    return np.asarray(shift @ affine)


def test_tissue_means_of_aparc_and_aseg_only_maps():
    labels = np.zeros((10, 10, 10), dtype=np.int16)
    image = np.full(labels.shape, 20.0)
    labels[:5] = 2
    image[:5] = 110.0
    labels[5:, :5] = 1024
    image[5:, :5] = 100.0
    labels[5:, 5:] = 42  # aseg-only cortex counts as cortex
    image[5:, 5:] = 90.0
    image[0, 0, 0] = np.nan  # no value: left out
    means = tissue_means(image, labels)
    assert means.white_matter_mean == pytest.approx(110.0)
    assert means.cortex_mean == pytest.approx(95.0)
    assert (means.n_white_matter, means.n_cortex) == (499, 500)
    assert tissue_means(image, np.zeros_like(labels)).white_matter_mean is None


def test_the_phantom_passes():
    phantom = make_phantom(_SHAPE, _VOXEL, noise_sd=2.0, seed=5)
    result = quantify(
        np.asarray(phantom.swi.dataobj),
        phantom.swi.affine,
        np.asarray(phantom.labels.dataobj),
        phantom.labels.affine,
    )
    assert _excess(result.tissue) == pytest.approx(0.127, abs=0.01)
    check = _check(result.tissue)
    assert check is not None and check.passed and check.value == pytest.approx(0.127, abs=0.01)


@pytest.mark.parametrize(
    ("how", "highest"),
    [
        # A larger brain (radius 44 mm, this one 40 mm): its cortex lies in this one's fluid.
        # (A smaller brain's labels nest in this one's white matter and pass, +0.05: a limit.)
        ("another subject", -0.05),
        ("shifted 3 mm left-right", -0.03),
        ("shifted 5 mm up", -0.03),
    ],
)
def test_a_mismatched_label_map_fails(how, highest):
    phantom = make_phantom(_SHAPE, _VOXEL, noise_sd=2.0, seed=5)
    labels, affine = np.asarray(phantom.labels.dataobj), phantom.labels.affine
    if how == "another subject":
        labels = np.asarray(make_phantom(_SHAPE, _VOXEL, radius_mm=44.0).labels.dataobj)
    elif how == "shifted 3 mm left-right":
        affine = _shifted(affine, 0, 3.0)
    else:
        affine = _shifted(affine, 2, 5.0)
    result = quantify(np.asarray(phantom.swi.dataobj), phantom.swi.affine, labels, affine)
    assert _excess(result.tissue) < highest
    check = _check(result.tissue)
    assert check is not None and not check.passed
    assert "does not match this image: white matter is not brighter than cortex" in check.message
    assert "wrong subject, session or space?" in check.message


def test_qsm_is_not_checked():
    phantom = make_qsm_phantom(_SHAPE, _VOXEL)
    labels = np.asarray(phantom.labels.dataobj)
    tissue = tissue_means(np.asarray(phantom.swi.dataobj), labels)
    assert tissue.white_matter_mean is not None and tissue.cortex_mean is not None
    assert tissue.white_matter_mean < tissue.cortex_mean  # QSM: white matter is diamagnetic
    assert _check(tissue, "qsm") is None
    assert _check(tissue, "swi") is not None


def test_without_tissue_means_the_check_says_so():
    check = _check(None)
    assert check is not None and check.passed and check.value is None
    assert "not assessed" in check.message


def _bert_swi_like(folder: Path) -> tuple[npt.NDArray[np.float32], nib.MGHImage]:
    """bert's norm.mgz texture with SWI magnitude ordering: white matter 110, cortex 100, other
    brain and fluid 150 (long T2*), background 20, each tissue keeping its real variation."""
    norm = nib.load(folder / "norm.mgz")
    labels = np.asarray(nib.load(folder / "aparc+aseg.mgz").dataobj)
    t1 = np.asarray(norm.dataobj, dtype=np.float32)
    white = (labels == 2) | (labels == 41)
    cortex = ((labels >= 1000) & (labels <= 1035)) | ((labels >= 2000) & (labels <= 2035))
    swi = np.where(t1 > 0, np.float32(150.0), np.float32(20.0))
    swi[white] = 110.0 * t1[white] / t1[white].mean()
    swi[cortex] = 100.0 * t1[cortex] / t1[cortex].mean()
    return swi, norm


def test_bert_real_folding_matched_passes_and_mismatched_fails(shared_data):
    folder = shared_data / "freesurfer-bert"
    swi, norm = _bert_swi_like(folder)
    label_img = nib.load(folder / "aparc+aseg.mgz")
    labels = np.asarray(label_img.dataobj)
    matched = quantify(swi, norm.affine, labels, label_img.affine).tissue
    assert _excess(matched) > 0.05
    assert _passes(matched)
    for wrong, affine in (
        (labels[::-1].copy(), label_img.affine),  # flipped left to right
        (labels, _shifted(label_img.affine, 1, 5.0)),  # another session's space, 5 mm off
    ):
        tissue = quantify(swi, norm.affine, wrong, affine).tissue
        assert _excess(tissue) < 0.015
        assert not _passes(tissue)
    # On the T1 itself (bert's norm.mgz as the "SWI") fluid is dark, not bright: a T1 is not a
    # magnitude SWI, and matched labels pass there too.
    t1 = np.asarray(norm.dataobj, dtype=np.float32)
    assert _passes(quantify(t1, norm.affine, labels, label_img.affine).tissue)
