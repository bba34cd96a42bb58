"""Imaging fixtures: phantom files written to disk and a visit to upload them to."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import pytest

from imaging import band


@pytest.fixture
def visit(db):
    from tests.factories import make_subject, make_visit

    return make_visit(make_subject(), "V1")


@pytest.fixture
def phantom_files(tmp_path: Path) -> dict[str, Path]:
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )
    paths = {"swi": tmp_path / "sub_swi.nii.gz", "labels": tmp_path / "sub_dseg.nii.gz"}
    nib.save(phantom.swi, paths["swi"])
    nib.save(phantom.labels, paths["labels"])
    return paths
