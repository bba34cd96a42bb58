"""De-identified NIfTI copies of a volume for blinded reading, and minimum-intensity projections."""

from __future__ import annotations

import gzip
import math
from pathlib import Path
from typing import Any, Final

import nibabel as nib
import numpy as np
import numpy.typing as npt
from scipy import ndimage

#: Header text fields that may carry a name, a date, a protocol or a site: always blanked.
FREE_TEXT_FIELDS: Final[tuple[str, ...]] = ("descrip", "aux_file", "intent_name", "db_name")
#: Thinnest and thickest minimum-intensity projection slab offered (mm).
MIN_SLAB_MM: Final[float] = 2.0
MAX_SLAB_MM: Final[float] = 40.0
#: gzip level: fast; the reading page fetches the volume once per projection.
GZIP_LEVEL: Final[int] = 3


def _superior_axis(affine: npt.NDArray[np.float64]) -> int:
    """The voxel axis closest to the inferior-superior direction (the axial slices' normal)."""
    codes = nib.aff2axcodes(affine)
    for axis, code in enumerate(codes):
        if code in ("S", "I"):
            return axis
    return 2


def minimum_intensity_projection(
    data: npt.NDArray[Any], affine: npt.NDArray[np.float64], *, slab_mm: float
) -> npt.NDArray[Any]:
    """Return a sliding-slab minimum-intensity projection (minIP) along the axial direction.

    Each axial slice of the answer is the voxel-wise minimum over a slab of ``slab_mm`` millimetres
    centred on it (the usual SWI minIP: veins and the dark motor band stand out), so the volume
    keeps its shape and affine and is browsed like the original.

    Parameters
    ----------
    data : ndarray, shape (X, Y, Z)
    affine : ndarray, shape (4, 4), voxel to world (mm)
    slab_mm : slab thickness in millimetres, between MIN_SLAB_MM and MAX_SLAB_MM
    """
    if data.ndim != 3:
        raise ValueError(f"a minIP needs a 3-D volume, got {data.ndim} dimensions")
    if not (MIN_SLAB_MM <= slab_mm <= MAX_SLAB_MM) or math.isnan(slab_mm):
        raise ValueError(f"the slab must be {MIN_SLAB_MM:g}-{MAX_SLAB_MM:g} mm, got {slab_mm}")
    axis = _superior_axis(affine)
    spacing_mm = float(np.linalg.norm(affine[:3, axis])) or 1.0
    voxels = max(1, round(slab_mm / spacing_mm))
    return ndimage.minimum_filter1d(data, size=voxels, axis=axis, mode="nearest")


def deidentified_nifti(path: Path | str, *, minip_slab_mm: float | None = None) -> bytes:
    """Return a gzipped NIfTI-1 of a stored volume that carries only its voxels and geometry.

    The header is rebuilt from the data and the affine: free-text fields (``descrip``,
    ``aux_file``, ``intent_name``, ``db_name``) are empty and header extensions (which may hold DICOM
    tags or a JSON sidecar) are dropped. The gzip stream holds no file name and a zero time stamp,
    so nothing in the bytes tells who was scanned, where or when. ``minip_slab_mm`` returns the
    minimum-intensity projection (:func:`minimum_intensity_projection`) instead of the volume.
    """
    image = nib.load(str(path))
    if not isinstance(image, nib.spatialimages.SpatialImage):
        raise ValueError(f"{Path(path).name} is not a volume with voxels and an affine")
    data = np.asanyarray(image.dataobj)
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    affine = np.asarray(image.affine, dtype=np.float64)
    if minip_slab_mm is not None:
        data = minimum_intensity_projection(data, affine, slab_mm=minip_slab_mm)
    clean = nib.Nifti1Image(np.ascontiguousarray(data), affine)
    header = clean.header
    for field in FREE_TEXT_FIELDS:
        header[field] = b""
    header.set_xyzt_units("mm", "sec")
    header.extensions.clear()
    clean.set_qform(affine, code=1)
    clean.set_sform(affine, code=1)
    return gzip.compress(clean.to_bytes(), compresslevel=GZIP_LEVEL, mtime=0)
