"""N4 bias-field correction of the magnitude inside the motor crop (optional, a run parameter).

A receive coil's sensitivity makes the magnitude of an SWI/T2* series vary smoothly across the
head. The segment-matched reference (domain.md, method 2.0.0) cancels the part of that field
which runs along the precentral principal axis; the part across it (anterior-posterior between
the precentral and postcentral gyri, medial-lateral between the paracentral lobule and the
convexity) remains in ``band_contrast``. N4 (Tustison 2010, IEEE TMI 29:1310; SimpleITK's
``N4BiasFieldCorrectionImageFilter``) estimates the smooth multiplicative field as a B-spline
from the intensities of the cerebral white matter and divides it out.

Two choices keep the band out of the field, both measured on the phantom (known band 0.15,
noise SD 2, ``tests/imaging/band/test_bias.py``): the field is fitted on white matter only (one
tissue, whose spread is then the field's alone; fitted on every labelled voxel, N4 "sharpened"
the darkened deep cortex into the field and erased up to 0.14 of a 0.15 band), and the B-spline
mesh is coarse (one interval across the crop, doubled over :data:`N4_FITTING_LEVELS` levels to
four: 25-40 mm on an adult motor crop), which a ribbon millimetres thick cannot shape. Without a
field the corrected values move by at most 0.005; a 30% field across the gyri (anterior-posterior,
medial-lateral or radial), which shifts segment values by up to 0.038, is brought within 0.007.
QSM maps have no receive field and are never corrected.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk

#: The field is fitted on the grid shrunk to about this spacing (mm): it is smooth, and the full
#: grid only costs time (30 s instead of 2 s on bert's 1 mm motor crop, for the same values).
#: The field is then evaluated on the full grid.
N4_FIT_SPACING_MM: Final[float] = 4.0
#: Fitting levels and iterations per level. The first level's mesh is one B-spline interval
#: across the crop; each level doubles it, so the finest has 2**(levels - 1) = 4 intervals.
N4_FITTING_LEVELS: Final[int] = 3
N4_ITERATIONS: Final[int] = 50
N4_CONVERGENCE: Final[float] = 1e-3
#: B-spline order of the field (SimpleITK's default).
_SPLINE_ORDER: Final[int] = 3
#: Fewest mask voxels for a field estimate.
MIN_N4_VOXELS: Final[int] = 1000


def _image(array: npt.NDArray[np.float32], voxel_size_mm: tuple[float, float, float]) -> sitk.Image:
    # numpy (i, j, k) becomes ITK (x=k, y=j, z=i); spacing follows. The field is fitted in the
    # grid's own frame: only distances matter for a smooth field, not the direction cosines.
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(tuple(float(v) for v in reversed(voxel_size_mm)))
    return image


def n4_correct(
    image: npt.NDArray[np.floating],
    mask: npt.NDArray[np.bool_],
    voxel_size_mm: tuple[float, float, float],
) -> npt.NDArray[np.float32]:
    """The image divided by its N4 bias field, fitted on the masked voxels.

    Parameters
    ----------
    image : ndarray, shape (X, Y, Z)
        Magnitude intensities (SWI/T2*); NaN where the image has no value (kept as NaN).
    mask : ndarray of bool, shape (X, Y, Z)
        Voxels the field is fitted on (the quantification passes the cerebral white matter);
        non-positive and NaN voxels are left out of the fit.
    voxel_size_mm : tuple of 3 float
        Voxel edge lengths (mm) of the grid.

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)
        ``image / field``, with the field's geometric mean over the fitted voxels scaled to 1
        so the corrected intensities keep the input's level.

    Raises
    ------
    ValueError
        Shapes that differ, or fewer than :data:`MIN_N4_VOXELS` usable voxels in the mask.
    """
    data = np.asarray(image, dtype=np.float32)
    if data.shape != mask.shape or data.ndim != 3:
        raise ValueError(
            f"image {data.shape} and mask {mask.shape} must be 3-D volumes of the same shape"
        )
    finite = np.isfinite(data)
    fitted = mask & finite & (data > 0)
    n_fitted = int(np.count_nonzero(fitted))
    if n_fitted < MIN_N4_VOXELS:
        raise ValueError(
            f"N4 bias-field correction needs at least {MIN_N4_VOXELS} white matter voxels with "
            f"a positive value near the motor cortex, found {n_fitted}"
        )
    filled = np.where(finite, data, np.float32(0.0)).astype(np.float32)
    full = _image(filled, voxel_size_mm)
    fit_mask = _image(fitted.astype(np.uint8), voxel_size_mm)
    shrink = [
        max(1, min(round(N4_FIT_SPACING_MM / spacing), size // 8))
        for size, spacing in zip(full.GetSize(), full.GetSpacing(), strict=True)
    ]
    small = sitk.Shrink(full, shrink)
    small_mask = sitk.Shrink(fit_mask, shrink)
    # One interval (order + 1 control points) per axis at the first level.
    points = [_SPLINE_ORDER + 1] * 3
    corrector = sitk.N4BiasFieldCorrectionImageFilter()
    corrector.SetMaximumNumberOfIterations([N4_ITERATIONS] * N4_FITTING_LEVELS)
    corrector.SetNumberOfControlPoints(points)
    corrector.SetSplineOrder(_SPLINE_ORDER)
    corrector.SetConvergenceThreshold(N4_CONVERGENCE)
    corrector.Execute(small, small_mask)
    log_field = sitk.GetArrayFromImage(corrector.GetLogBiasFieldAsImage(full)).astype(np.float64)
    log_field -= float(np.mean(log_field[fitted]))
    corrected = (data / np.exp(log_field)).astype(np.float32)
    corrected[~finite] = np.nan
    return corrected
