"""Fixtures of the motor band engine tests: the shared real MRI files, bert's motor region."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from imaging.band import cortical_depth, crop_affine, load_label_map, load_volume, motor_crop
from imaging.band import labels as fs


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Read-only folder of real MRI files described in ``shared/data/SOURCES.md``."""
    path = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    if not path.is_dir():
        pytest.skip(f"shared MRI data not found at {path}")
    return path


@dataclass(frozen=True)
class BertMotor:
    """FreeSurfer's bert (real folded cortex) cropped to its motor labels plus a margin."""

    norm: npt.NDArray[np.float32]  # norm.mgz intensities (no band, already bias-corrected)
    labels: npt.NDArray[np.int32]  # aparc+aseg on the same grid
    affine: npt.NDArray[np.float64]

    def darkened(
        self, region: dict[fs.Hemisphere, int], fraction: float
    ) -> npt.NDArray[np.float32]:
        """``norm`` with the deep half (depth < 0.5) of one label per hemisphere darkened."""
        image = self.norm.copy()
        for hemisphere in fs.HEMISPHERES:
            mask = self.labels == region[hemisphere]
            depth = cortical_depth(self.labels, hemisphere, (1.0, 1.0, 1.0), where=mask)
            image[mask & (depth < 0.5)] *= 1.0 - fraction
        return image


#: Margin (mm) of bert's crop around its motor labels.
BERT_MOTOR_MARGIN_MM = 10.0


@pytest.fixture(scope="session")
def bert_motor(shared_data: Path) -> BertMotor:
    folder = shared_data / "freesurfer-bert"
    norm = load_volume(folder / "norm.mgz")
    aseg = load_label_map(folder / "aparc+aseg.mgz")
    labels = np.asarray(aseg.data, dtype=np.int32)
    box = motor_crop(labels, aseg.affine, norm.affine, norm.data.shape, BERT_MOTOR_MARGIN_MM)
    return BertMotor(
        np.asarray(norm.data, dtype=np.float32)[box],
        np.ascontiguousarray(labels[box]),
        crop_affine(np.asarray(norm.affine, dtype=np.float64), box),
    )
