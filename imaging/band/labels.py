"""FreeSurfer aparc+aseg label numbers used by the motor band quantification."""

from __future__ import annotations

from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

Hemisphere = Literal["L", "R"]

HEMISPHERES: Final[tuple[Hemisphere, ...]] = ("L", "R")

#: Precentral gyrus cortex (primary motor cortex), left / right.
PRECENTRAL: Final[dict[Hemisphere, int]] = {"L": 1024, "R": 2024}
#: Postcentral gyrus cortex (primary somatosensory cortex): the reference region.
POSTCENTRAL: Final[dict[Hemisphere, int]] = {"L": 1022, "R": 2022}
#: Paracentral lobule cortex: the medial (leg) part of the motor strip.
PARACENTRAL: Final[dict[Hemisphere, int]] = {"L": 1017, "R": 2017}
#: Cerebral white matter (aseg), left / right.
WHITE_MATTER: Final[dict[Hemisphere, int]] = {"L": 2, "R": 41}

#: aparc cortical parcels of each hemisphere, inclusive range. The whole range is cortex, so
#: the border between precentral and a neighbouring gyrus is not mistaken for the pial surface.
CORTEX_RANGE: Final[dict[Hemisphere, tuple[int, int]]] = {"L": (1000, 1035), "R": (2000, 2035)}

#: Every label whose bounding box defines the quantification crop.
MOTOR_LABELS: Final[tuple[int, ...]] = (
    PRECENTRAL["L"],
    POSTCENTRAL["L"],
    PARACENTRAL["L"],
    PRECENTRAL["R"],
    POSTCENTRAL["R"],
    PARACENTRAL["R"],
)

#: Labels of the other cortical parcels used by the phantom (superior frontal, superior parietal).
SUPERIOR_FRONTAL: Final[dict[Hemisphere, int]] = {"L": 1028, "R": 2028}
SUPERIOR_PARIETAL: Final[dict[Hemisphere, int]] = {"L": 1029, "R": 2029}

#: aseg cerebrospinal fluid label (used by the phantom for sulcal/extra-cerebral fluid).
CSF: Final[int] = 24


def cortex_mask(labels: npt.NDArray[np.integer], hemisphere: Hemisphere) -> npt.NDArray[np.bool_]:
    """Voxels of any aparc cortical parcel of one hemisphere.

    Parameters
    ----------
    labels : ndarray of int, any shape
        FreeSurfer aparc+aseg label numbers.
    hemisphere : {"L", "R"}

    Returns
    -------
    ndarray of bool, same shape as ``labels``
    """
    low, high = CORTEX_RANGE[hemisphere]
    return (labels >= low) & (labels <= high)


def _fits_table(labels: npt.NDArray[np.integer]) -> bool:
    """Whether a 64 Ki-entry lookup table covers every value of ``labels``' dtype: one gather per
    voxel is the fastest exact test for the int8/int16/uint16 maps scanners and FreeSurfer write
    (negative numbers land on entries no label uses)."""
    return labels.dtype.itemsize <= 2 and labels.dtype.kind in "iu" and labels.dtype.isnative


def _looked_up(labels: npt.NDArray[np.integer], table: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``table[labels]`` for labels that :func:`_fits_table`."""
    index = labels.view(np.uint16) if labels.dtype.itemsize == 2 else labels.astype(np.uint16)
    return np.asarray(table[index])


def label_codes(labels: npt.NDArray[np.integer], codes: dict[int, int]) -> npt.NDArray[np.uint8]:
    """Map label numbers to small codes (0 for every label not in ``codes``).

    Parameters
    ----------
    labels : ndarray of int, any shape
    codes : dict of int to int
        Label number to code (1-255).

    Returns
    -------
    ndarray of uint8, same shape as ``labels``
    """
    if _fits_table(labels):
        table = np.zeros(2**16, dtype=np.uint8)
        for label, code in codes.items():
            if 0 <= label < 2**16:
                table[label] = code
        return _looked_up(labels, table)
    out = np.zeros(labels.shape, dtype=np.uint8)
    for label, code in codes.items():
        out[labels == label] = code
    return out


def motor_mask(labels: npt.NDArray[np.integer]) -> npt.NDArray[np.bool_]:
    """Voxels of precentral, postcentral or paracentral cortex of either hemisphere.

    Parameters
    ----------
    labels : ndarray of int, any shape

    Returns
    -------
    ndarray of bool, same shape as ``labels``
    """
    if _fits_table(labels):
        table = np.zeros(2**16, dtype=bool)
        table[np.asarray(MOTOR_LABELS)] = True
        return _looked_up(labels, table)
    mask = labels == MOTOR_LABELS[0]
    for value in MOTOR_LABELS[1:]:
        mask |= labels == value
    return mask
