"""Registration across real contrasts: a same-session Siemens T1w (2 mm) to the GRE magnitude
(3.4 mm) of the XA30 series in ``shared/data``, misplaced by known rigid transforms.

The two series' true alignment is not known (the subject may have moved between them), so the
truth is relative: registering the T1 moved by ``M`` must give the transform of the unmoved T1
composed with ``M``'s inverse. A misplacement beyond what the method can recover must be refused,
never returned as a registration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import numpy.typing as npt
import pytest
from scipy.spatial.transform import Rotation

from imaging.band import VolumeError, register_anatomy
from imaging.band import labels as fs
from imaging.band.register import motor_displacement_mm

#: Largest error (mm, RMS over the labelled voxels) against the unmoved T1's registration: under
#: a third of the GRE's 3.4 mm voxel.
RECOVERY_TOLERANCE_MM = 1.0
AXIS = np.array([1.0, -1.0, 2.0]) / np.sqrt(6.0)


def _rigid(degrees: float, translation_mm: list[float]) -> npt.NDArray[np.float64]:
    matrix = np.eye(4)
    matrix[:3, :3] = Rotation.from_rotvec(np.deg2rad(degrees) * AXIS).as_matrix()
    matrix[:3, 3] = translation_mm
    return matrix


@pytest.fixture(scope="module")
def series(shared_data: Path) -> dict[str, Any]:
    folder = shared_data / "siemens-xa30-gre" / "nifti"
    t1 = nib.load(folder / "5_anat-T1w_acq-tfl.nii")
    gre = nib.load(folder / "8_gre_field_mapping_e1.nii")
    t1_data = np.asarray(t1.dataobj, dtype=np.float32)
    # Stand-in "motor" labels on the T1 (registration uses them only to place its crops and to
    # measure displacement): brain-bright voxels in a 6 cm slab below the vertex.
    bright = t1_data > np.percentile(t1_data[t1_data > 0], 50)
    top = int(np.nonzero(bright.any(axis=(0, 1)))[0].max())
    labels = np.zeros(t1_data.shape, dtype=np.int16)
    labels[:, :, top - 35 : top - 5][bright[:, :, top - 35 : top - 5]] = fs.PRECENTRAL["L"]
    return {
        "t1": t1_data,
        "t1_affine": np.asarray(t1.affine, dtype=np.float64),
        "gre": np.asarray(gre.dataobj, dtype=np.float32),
        "gre_affine": np.asarray(gre.affine, dtype=np.float64),
        "labels": labels,
    }


def _register(series: dict[str, Any], move: npt.NDArray[np.float64]) -> Any:
    moved = move @ series["t1_affine"]
    return register_anatomy(
        series["gre"], series["gre_affine"], series["t1"], moved, series["labels"], moved
    )


@pytest.fixture(scope="module")
def unmoved(series: dict[str, Any]) -> Any:
    return _register(series, np.eye(4))


def test_same_session_series_need_little_correction(unmoved: Any) -> None:
    assert unmoved.displacement_rms_mm < 2.0


@pytest.mark.parametrize(
    ("degrees", "translation_mm"), [(4.0, [3.0, -2.0, 2.0]), (3.0, [0.0, 5.0, 0.0])]
)
def test_a_misplaced_t1_is_brought_back(
    series: dict[str, Any], unmoved: Any, degrees: float, translation_mm: list[float]
) -> None:
    move = _rigid(degrees, translation_mm)
    labels, aligned_affine = series["labels"], unmoved.transform @ series["t1_affine"]
    moved_by, _ = motor_displacement_mm(np.linalg.inv(move), labels, move @ series["t1_affine"])
    assert moved_by > 4.0
    registered = _register(series, move)
    error, _ = motor_displacement_mm(
        registered.transform @ move @ np.linalg.inv(unmoved.transform), labels, aligned_affine
    )
    assert error < RECOVERY_TOLERANCE_MM


def test_a_misplacement_beyond_reach_is_recovered_or_refused(
    series: dict[str, Any], unmoved: Any
) -> None:
    """6 degrees and 6 mm of a 2 mm T1 against a 3.4 mm field map: beyond what this pair lets
    the method recover; what matters is that it is never returned wrong."""
    move = _rigid(6.0, [-4.0, 3.0, -3.0])
    try:
        registered = _register(series, move)
    except VolumeError as exc:
        assert "implausible" in str(exc) or "failed" in str(exc)
        return
    error, _ = motor_displacement_mm(
        registered.transform @ move @ np.linalg.inv(unmoved.transform),
        series["labels"],
        unmoved.transform @ series["t1_affine"],
    )
    assert error < RECOVERY_TOLERANCE_MM
