"""Nearest-neighbour resampling of the label map into a motor-cortex crop of the SWI grid."""

from __future__ import annotations

import itertools
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

from imaging.band import labels as fs

Crop = tuple[slice, slice, slice]

#: Tolerance for recognising that two grids coincide (voxel units).
_SAME_GRID_ATOL: Final[float] = 1e-4


class EmptyCropError(ValueError):
    """The label map has no motor labels inside the target grid."""


def memory_order(array: npt.NDArray[Any]) -> Literal["F", "C"]:
    """The order to ravel ``array`` in without a copy: "F" for Fortran-ordered arrays (NIfTI data
    as nibabel reads it), else "C"."""
    return "F" if array.flags.f_contiguous and not array.flags.c_contiguous else "C"


def _mask_bbox(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Inclusive low and high voxel index of the True voxels, per axis."""
    lows, highs = [], []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=others))
        lows.append(present[0])
        highs.append(present[-1])
    return np.asarray(lows, dtype=np.int64), np.asarray(highs, dtype=np.int64)


def motor_crop(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    target_affine: npt.NDArray[np.float64],
    target_shape: tuple[int, ...],
    margin_mm: float,
    *,
    motor: npt.NDArray[np.bool_] | None = None,
) -> Crop:
    """Crop of the target (SWI) grid holding the motor labels plus a margin.

    The bounding box of precentral, postcentral and paracentral voxels is taken in label-map
    voxel space, its corners (voxel edges, not centres) mapped through both affines into target
    voxel space, widened by ``margin_mm`` per axis (voxel sizes honoured) and clipped.

    Parameters
    ----------
    label_data : ndarray of int, shape (U, V, W)
    label_affine, target_affine : ndarray, shape (4, 4)
        Voxel to world (mm) transforms.
    target_shape : tuple of int
        Shape of the target grid (first three axes used).
    margin_mm : float
        Margin added on every side (mm).
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.

    Returns
    -------
    tuple of 3 slices
        Index ranges into the target grid.

    Raises
    ------
    EmptyCropError
        No motor labels, or none inside the target grid.
    """
    mask = fs.motor_mask(label_data) if motor is None else motor
    if not mask.any():
        raise EmptyCropError("the label map holds no precentral, postcentral or paracentral voxels")
    low, high = _mask_bbox(mask)
    # The box's outer voxel edges, half a voxel beyond the extreme centres.
    corners = np.array(
        list(itertools.product(*zip(low - 0.5, high + 0.5, strict=True))), dtype=np.float64
    )
    to_target = np.linalg.inv(target_affine) @ label_affine
    target_ijk = corners @ to_target[:3, :3].T + to_target[:3, 3]
    voxel_size_mm = np.sqrt((target_affine[:3, :3] ** 2).sum(axis=0))
    margin_vox = margin_mm / voxel_size_mm
    lo = np.floor(target_ijk.min(axis=0) - margin_vox).astype(np.int64)
    hi = np.ceil(target_ijk.max(axis=0) + margin_vox).astype(np.int64) + 1
    shape = np.asarray(target_shape[:3], dtype=np.int64)
    lo = np.clip(lo, 0, shape)
    hi = np.clip(hi, 0, shape)
    if np.any(hi <= lo):
        raise EmptyCropError("the label map's motor labels lie outside the SWI field of view")
    return (
        slice(int(lo[0]), int(hi[0])),
        slice(int(lo[1]), int(hi[1])),
        slice(int(lo[2]), int(hi[2])),
    )


def resample_labels(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    target_affine: npt.NDArray[np.float64],
    crop: Crop,
) -> npt.NDArray[Any]:
    """Nearest-neighbour labels at the voxel centres of a crop of the target grid.

    Parameters
    ----------
    label_data : ndarray of int, shape (U, V, W)
    label_affine, target_affine : ndarray, shape (4, 4)
        Voxel to world (mm) transforms.
    crop : tuple of 3 slices
        Region of the target grid to fill.

    Returns
    -------
    ndarray, shape of the crop, dtype of ``label_data``
        Label of the nearest label-map voxel; 0 where the centre falls outside the label map.
    """
    to_label = np.linalg.inv(label_affine) @ target_affine
    starts = np.array([s.start for s in crop], dtype=np.float64)
    sizes = [s.stop - s.start for s in crop]
    label_shape = label_data.shape[:3]
    linear = to_label[:3, :3]
    offset = to_label[:3, 3] + linear @ starts
    # Same grid up to an integer shift: plain slicing, no coordinate arrays.
    if np.allclose(linear, np.eye(3), atol=_SAME_GRID_ATOL) and np.allclose(
        offset, np.round(offset), atol=_SAME_GRID_ATOL
    ):
        start = np.round(offset).astype(np.int64)
        stop = start + np.asarray(sizes)
        if np.all(start >= 0) and np.all(stop <= np.asarray(label_shape)):
            return np.array(label_data[start[0] : stop[0], start[1] : stop[1], start[2] : stop[2]])
    grids = [np.arange(n, dtype=np.float32) for n in sizes]
    # One flat index into the label map in its memory order, gathered with a single take.
    order = memory_order(label_data)
    labels_flat = label_data.ravel(order=order)
    strides = (
        (1, label_shape[0], label_shape[0] * label_shape[1])
        if order == "F"
        else (label_shape[1] * label_shape[2], label_shape[2], 1)
    )
    flat_index = np.zeros(sizes, dtype=np.intp)
    valid = np.ones(sizes, dtype=bool)
    for row in range(3):
        # Broadcast sum of three 1-D terms: never materialises a (N, 3) coordinate array.
        coord = (
            np.float32(linear[row, 0]) * grids[0][:, None, None]
            + np.float32(linear[row, 1]) * grids[1][None, :, None]
            + np.float32(linear[row, 2]) * grids[2][None, None, :]
            + np.float32(offset[row] + 0.5)
        )
        np.floor(coord, out=coord)
        valid &= (coord >= 0) & (coord < label_shape[row])
        np.clip(coord, 0, label_shape[row] - 1, out=coord)
        flat_index += coord.astype(np.intp) * strides[row]
    out = np.take(labels_flat, flat_index)
    out[~valid] = 0
    return out


def crop_affine(affine: npt.NDArray[np.float64], crop: Crop) -> npt.NDArray[np.float64]:
    """Voxel-to-world affine of a crop (its voxel 0 is the crop's first voxel).

    Parameters
    ----------
    affine : ndarray, shape (4, 4)
    crop : tuple of 3 slices

    Returns
    -------
    ndarray, shape (4, 4)
    """
    shift = np.eye(4)
    shift[:3, 3] = [s.start for s in crop]
    return np.asarray(affine @ shift, dtype=np.float64)
