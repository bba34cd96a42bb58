"""Rigid registration of the label map's anatomical image to the SWI, and carrying the labels.

A FreeSurfer label map is made on a T1-weighted image (``norm.mgz``, ``T1.mgz`` or the T1w
NIfTI it came from) and is applied to the SWI of the same visit. World coordinates alone leave
any head movement between the two series, or a header error, in the measurement: a 3-5 mm shift
moves a leg segment's ``band_contrast`` by +0.12 to -0.32. Here the anatomical image is
registered rigidly (6 degrees of freedom) to the SWI magnitude by Mattes mutual information, on
crops around the motor labels, and the label map follows the transform through its affine.

Conventions
-----------
Every affine and transform this module returns is in nibabel's convention: world coordinates
are RAS+ millimetres (x to the Right, y Anterior, z Superior), points are column vectors and an
affine maps voxel indices (i, j, k, 1) to world (x, y, z, 1).

:attr:`Registration.transform` ``T`` maps a point of the *anatomy's* world (where the label map
and its T1 live) to the same tissue point in the *SWI's* world: ``p_swi = T @ p_anatomy``. So the
label map carried onto the SWI keeps its voxels and gets the affine ``T @ label_affine``
(:func:`carry_labels`): no second resampling of labels, which the quantification then resamples
once, nearest neighbour, into the SWI grid.

SimpleITK (ITK) works in LPS+ world coordinates (x to the Left, y Posterior, z Superior), and
its registration finds the transform ``M`` that maps a *fixed* (SWI) point to the *moving*
(anatomy) point, both LPS. With ``F = diag(-1, -1, 1, 1)`` (its own inverse), a RAS affine
``A`` is the LPS affine ``F @ A``, and ``T = F @ inv(M) @ F`` (:func:`ras_transform_from_lps`).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import SimpleITK as sitk
from scipy import ndimage

from imaging.band import io
from imaging.band import labels as fs
from imaging.band.resample import EmptyCropError, crop_affine, memory_order, motor_crop

#: RAS <-> LPS flip of world coordinates (its own inverse).
RAS_TO_LPS: Final[npt.NDArray[np.float64]] = np.diag([-1.0, -1.0, 1.0, 1.0])
#: Margin (mm) around the motor labels' box for the SWI (fixed) crop: enough gyri, sulci and
#: white matter around the motor strip for the mutual information to lock on.
SWI_MARGIN_MM: Final[float] = 15.0
#: Margin (mm) for the anatomy (moving) crop: wider than the SWI crop by more than the largest
#: displacement accepted, so the transformed SWI samples stay inside the anatomy.
ANATOMY_MARGIN_MM: Final[float] = 40.0
#: Multi-resolution schedule: the spacing (mm) each level matches the images at, coarse to fine.
#: Both images are block-averaged to about that spacing (a whole number of voxels per axis): the
#: pyramid is built once, on the crops, instead of ITK smoothing the full-resolution images at
#: every level. A T1 is 1 mm, so a 0.45 mm SWI gains nothing but time from being matched finer.
LEVEL_SPACINGS_MM: Final[tuple[float, ...]] = (4.0, 2.0, 1.0)
#: Gaussian smoothing (sigma, mm) of both images at each level. The metric's gradient is taken
#: by central differences at the samples (no gradient images of the whole crops), so the finest
#: level is smoothed too: on a noisy image the unsmoothed gradient lets the rotation wander
#: along any direction the images barely constrain (up to 11 degrees on a spherical phantom,
#: against at most 0.8 with this smoothing).
LEVEL_SMOOTHING_MM: Final[tuple[float, ...]] = (2.0, 1.0, 1.0)
#: Mattes mutual information histogram bins.
HISTOGRAM_BINS: Final[int] = 32
#: Share of the SWI crop's voxels sampled by the metric per level (random, seeded below, so a
#: run is reproducible), and the most samples per level: a 32-bin joint histogram is well
#: estimated from a few thousand; 25,000 recover bert's known 7.2 mm (RMS) misplacement within
#: 0.01 mm RMS, as the full 10% share did, at a fraction of the time.
SAMPLING_FRACTION: Final[float] = 0.1
MAX_METRIC_SAMPLES: Final[int] = 25_000
SAMPLING_SEED: Final[int] = 20_240_601
#: Regular-step gradient descent: first step (mm, with physical-shift scales), smallest step
#: (mm) and iterations per level.
LEARNING_RATE_MM: Final[float] = 2.0
MIN_STEP_MM: Final[float] = 0.01
MAX_ITERATIONS: Final[int] = 200
#: Displacement (mm, largest over the motor-cortex label voxels) beyond which a registration is
#: refused as diverged: a same-session T1 and SWI of a patient in the head coil differ by a few
#: millimetres; 20 mm is a different head position the mutual information has not recovered, or a
#: different subject.
MAX_DISPLACEMENT_MM: Final[float] = 20.0
#: Smallest share of the SWI crop's voxels that must fall inside the anatomy crop (world
#: coordinates, before registration) for a registration to be attempted.
MIN_CROP_OVERLAP: Final[float] = 0.5
#: Points per axis of the regular sample that measures that overlap.
_OVERLAP_SAMPLES_PER_AXIS: Final[int] = 16
#: Tolerance on the orthonormality of an affine's direction cosines (SimpleITK needs them so).
_DIRECTION_TOLERANCE: Final[float] = 1e-4

METHOD: Final[str] = (
    f"SimpleITK {sitk.Version.MajorVersion()}.{sitk.Version.MinorVersion()} rigid (Euler 3-D) "
    f"Mattes MI ({HISTOGRAM_BINS} bins, at most {MAX_METRIC_SAMPLES} samples), "
    f"{len(LEVEL_SPACINGS_MM)} levels (block-averaged to about "
    f"{'/'.join(f'{s:g}' for s in LEVEL_SPACINGS_MM)} mm, Gaussian sigma "
    f"{'/'.join(f'{s:g}' for s in LEVEL_SMOOTHING_MM)} mm), regular-step gradient descent"
)


@dataclass(frozen=True)
class Registration:
    """Outcome of a rigid registration of the anatomical image to the SWI.

    Attributes
    ----------
    transform : ndarray, shape (4, 4)
        World-to-world transform, RAS+ mm: ``p_swi = transform @ p_anatomy`` (see the module
        docstring). A label map on the anatomy's grid is carried by :func:`carry_labels`.
    metric : float
        Final Mattes mutual information at the finest level (ITK's sign: negative, lower is a
        better match; comparable only between runs of the same method and images).
    displacement_rms_mm, displacement_max_mm : float
        Root mean square and largest distance (mm) the transform moves the motor-cortex label
        voxels (precentral, postcentral, paracentral centres): how far world coordinates were off.
    iterations : int
        Optimizer iterations summed over the levels.
    method : str
        What was run (:data:`METHOD`).
    stop_condition : str
        The optimizer's stop condition at the finest level.
    elapsed_s : float
        Wall time of the registration (s).
    """

    transform: npt.NDArray[np.float64]
    metric: float
    displacement_rms_mm: float
    displacement_max_mm: float
    iterations: int
    method: str
    stop_condition: str
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        """The run's ``registration`` record: ``{method, metric, displacement_mm}``.

        ``displacement_mm`` is the RMS displacement (mm) of the motor-cortex label voxels.
        """
        return {
            "method": self.method,
            "metric": self.metric,
            "displacement_mm": self.displacement_rms_mm,
        }


def carry_labels(
    label_affine: npt.NDArray[np.float64], transform: npt.NDArray[np.float64] | Registration
) -> npt.NDArray[np.float64]:
    """Affine of a label map carried through a world-to-world transform.

    Parameters
    ----------
    label_affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine of the label map in the anatomy's world.
    transform : ndarray, shape (4, 4), or Registration
        Anatomy world to SWI world, RAS+ mm (:attr:`Registration.transform`).

    Returns
    -------
    ndarray, shape (4, 4)
        ``transform @ label_affine``: the same label voxels, placed in the SWI's world. The
        labels themselves are untouched (no resampling here; the quantification resamples them
        once, nearest neighbour, into the SWI grid).
    """
    matrix = transform.transform if isinstance(transform, Registration) else transform
    return np.asarray(np.asarray(matrix, dtype=np.float64) @ label_affine, dtype=np.float64)


def lps_affine(affine: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """LPS+ voxel-to-world affine (ITK's world) of a RAS+ one (nibabel's), and vice versa.

    Parameters
    ----------
    affine : ndarray, shape (4, 4)

    Returns
    -------
    ndarray, shape (4, 4)
        ``diag(-1, -1, 1, 1) @ affine``: world x and y change sign, voxel indices do not.
    """
    return np.asarray(RAS_TO_LPS @ affine, dtype=np.float64)


def ras_transform_from_lps(
    lps_fixed_to_moving: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """RAS moving-to-fixed transform of an ITK (LPS fixed-to-moving) registration transform.

    Parameters
    ----------
    lps_fixed_to_moving : ndarray, shape (4, 4)
        ITK's registration result as a homogeneous matrix: maps a fixed-image point (LPS+ mm)
        to the moving-image point (LPS+ mm) that matches it.

    Returns
    -------
    ndarray, shape (4, 4)
        ``F @ inv(M) @ F`` with ``F = diag(-1, -1, 1, 1)``: maps a moving-image point (RAS+ mm)
        to the fixed-image point (RAS+ mm).
    """
    inverse = np.linalg.inv(np.asarray(lps_fixed_to_moving, dtype=np.float64))
    return np.asarray(RAS_TO_LPS @ inverse @ RAS_TO_LPS, dtype=np.float64)


def sitk_image(data: npt.NDArray[Any], affine: npt.NDArray[np.float64]) -> sitk.Image:
    """SimpleITK float32 image of a nibabel-convention array and RAS+ affine.

    Voxel ``data[i, j, k]`` becomes the ITK index (i, j, k) (SimpleITK arrays are indexed
    [k, j, i], hence the transpose) at the same physical point, expressed in LPS+.

    Parameters
    ----------
    data : ndarray, shape (X, Y, Z)
        Intensities; NaN (outside a brain mask) becomes 0.
    affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine without shear.

    Returns
    -------
    SimpleITK.Image
        float32, with spacing (mm), origin and direction from the affine.

    Raises
    ------
    VolumeError
        A sheared affine (SimpleITK images need orthogonal voxel axes).
    """
    lps = lps_affine(np.asarray(affine, dtype=np.float64))
    linear = lps[:3, :3]
    spacing = np.sqrt((linear**2).sum(axis=0))
    direction = linear / spacing
    if not np.allclose(direction.T @ direction, np.eye(3), atol=_DIRECTION_TOLERANCE):
        raise io.VolumeError(
            "the image's affine is sheared (its voxel axes are not perpendicular): it cannot be "
            "registered; reslice it to an orthogonal grid first"
        )
    values = _no_nan(data)
    image = sitk.GetImageFromArray(np.ascontiguousarray(values.transpose(2, 1, 0)))
    image.SetSpacing([float(s) for s in spacing])
    image.SetOrigin([float(o) for o in lps[:3, 3]])
    image.SetDirection([float(d) for d in direction.ravel()])
    return image


def _no_nan(data: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """float32 values with NaN (outside a brain mask) as 0; a copy only where needed."""
    values = np.asarray(data, dtype=np.float32)
    missing = np.isnan(values)
    if missing.any():
        values = np.where(missing, np.float32(0.0), values)
    return values


def _lps_matrix(transform: sitk.Euler3DTransform) -> npt.NDArray[np.float64]:
    """Homogeneous matrix of an ITK Euler transform: ``x' = R (x - c) + c + t``."""
    rotation = np.asarray(transform.GetMatrix(), dtype=np.float64).reshape(3, 3)
    centre = np.asarray(transform.GetCenter(), dtype=np.float64)
    translation = np.asarray(transform.GetTranslation(), dtype=np.float64)
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = centre + translation - rotation @ centre
    return matrix


def motor_displacement_mm(
    transform: npt.NDArray[np.float64],
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    *,
    motor: npt.NDArray[np.bool_] | None = None,
) -> tuple[float, float]:
    """RMS and largest distance (mm) a world transform moves the motor-cortex label voxels.

    Parameters
    ----------
    transform : ndarray, shape (4, 4)
        World-to-world transform (RAS+ mm).
    label_data : ndarray of int, shape (U, V, W)
    label_affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine of the label map.
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.

    Returns
    -------
    rms_mm, max_mm : float
        Over the centres of precentral, postcentral and paracentral voxels.

    Raises
    ------
    VolumeError
        The label map holds no motor-cortex voxels.
    """
    mask = fs.motor_mask(label_data) if motor is None else motor
    order = memory_order(mask)
    flat = np.flatnonzero(mask.ravel(order=order))
    if flat.size == 0:
        raise io.VolumeError("the label map holds no precentral, postcentral or paracentral voxels")
    ijk = np.stack(np.unravel_index(flat, mask.shape, order=order), axis=1).astype(np.float64)
    change = np.asarray(transform, dtype=np.float64) - np.eye(4)
    # d(p) = C p + c in voxel indices p, with C = change·L and c = change·t for the affine (L, t).
    linear = change[:3, :3] @ label_affine[:3, :3]
    shift = change[:3, :3] @ label_affine[:3, 3] + change[:3, 3]
    # Mean of |C p + c|^2 from the points' first and second moments: exact, one pass.
    mean = ijk.mean(axis=0)
    second = (ijk.T @ ijk) / flat.size
    mean_square = (
        float(np.trace(linear.T @ linear @ second))
        + 2.0 * float(shift @ linear @ mean)
        + float(shift @ shift)
    )
    # |C p + c| is convex, so along each line of voxels its largest value lies at an end: the
    # first and last motor voxel of every run along the fastest axis are all that need a look.
    column = flat // mask.shape[0 if order == "F" else 2]
    breaks = np.flatnonzero(np.diff(column))
    ends = np.unique(np.concatenate(([0], breaks, breaks + 1, [flat.size - 1])))
    moved = ijk[ends] @ linear.T + shift
    largest = float(np.sqrt((moved**2).sum(axis=1)).max())
    return float(np.sqrt(max(mean_square, 0.0))), largest


def _crop(
    name: str,
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    affine: npt.NDArray[np.float64],
    shape: tuple[int, ...],
    margin_mm: float,
    motor: npt.NDArray[np.bool_],
) -> tuple[slice, slice, slice]:
    try:
        return motor_crop(label_data, label_affine, affine, shape, margin_mm, motor=motor)
    except EmptyCropError as exc:
        raise io.VolumeError(
            f"{name}: the label map's motor labels lie outside its field of view in world "
            "coordinates, so it cannot be registered (wrong subject, session or space?)"
        ) from exc


def swi_region(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
    *,
    motor: npt.NDArray[np.bool_] | None = None,
) -> tuple[slice, slice, slice]:
    """Crop of the SWI grid that :func:`register_anatomy` registers to.

    The motor labels' bounding box plus :data:`SWI_MARGIN_MM`. A caller holding the SWI
    unconverted may pass only this crop (with :func:`resample.crop_affine`) to
    :func:`register_anatomy`: the result is the same.

    Parameters
    ----------
    label_data : ndarray of int, shape (U, V, W)
    label_affine, swi_affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affines of the label map and the SWI.
    swi_shape : tuple of int
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.

    Returns
    -------
    tuple of 3 slices

    Raises
    ------
    VolumeError
        The motor labels lie outside the SWI.
    """
    mask = fs.motor_mask(label_data) if motor is None else motor
    return _crop("SWI", label_data, label_affine, swi_affine, swi_shape, SWI_MARGIN_MM, mask)


def _fraction_inside(
    affine: npt.NDArray[np.float64],
    shape: tuple[int, ...],
    other_affine: npt.NDArray[np.float64],
    other_shape: tuple[int, ...],
) -> float:
    """Share of a grid's voxel centres (a regular sample) inside another grid, world coords."""
    steps = [np.linspace(0, n - 1, num=min(int(n), _OVERLAP_SAMPLES_PER_AXIS)) for n in shape[:3]]
    ijk = np.stack(np.meshgrid(*steps, indexing="ij"), axis=-1).reshape(-1, 3)
    ras = ijk @ affine[:3, :3].T + affine[:3, 3]
    to_other = np.linalg.inv(other_affine)
    other_ijk = ras @ to_other[:3, :3].T + to_other[:3, 3]
    bound = np.asarray(other_shape[:3], dtype=np.float64)
    return float(np.all((other_ijk > -0.5) & (other_ijk < bound - 0.5), axis=1).mean())


def block_average(
    data: npt.NDArray[np.float32], affine: npt.NDArray[np.float64], spacing_mm: float
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """Average blocks of voxels to about ``spacing_mm`` per axis: one level of the pyramid.

    Each axis takes ``max(1, round(spacing_mm / voxel size))`` voxels per block; voxels beyond
    the last whole block are dropped. A block's value is the mean of its voxels and its centre
    the centre of those voxels, so world coordinates are kept exactly. Averaging a level again
    gives the mean over the union of the blocks, so a pyramid is built level from level.

    Parameters
    ----------
    data : ndarray of float32, shape (X, Y, Z)
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of ``data``.
    spacing_mm : float

    Returns
    -------
    data : ndarray of float32, shape (X // fx, Y // fy, Z // fz)
    affine : ndarray, shape (4, 4)
        Voxel-to-world affine of the averaged grid.
    """
    voxel_mm = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    factors = [
        min(max(1, round(spacing_mm / float(v))), n)
        for v, n in zip(voxel_mm, data.shape, strict=True)
    ]
    if factors == [1, 1, 1]:
        return data, affine
    counts = [n // f for n, f in zip(data.shape, factors, strict=True)]
    total = np.zeros(counts, dtype=np.float32)
    # A sum of strided views, one per offset within the block: no 6-D reduction.
    for offset in itertools.product(*(range(f) for f in factors)):
        total += data[
            tuple(slice(o, o + n * f, f) for o, n, f in zip(offset, counts, factors, strict=True))
        ]
    total /= np.float32(np.prod(factors))
    scale = np.eye(4)
    scale[:3, :3] = np.diag(np.asarray(factors, dtype=np.float64))
    scale[:3, 3] = (np.asarray(factors, dtype=np.float64) - 1.0) / 2.0
    return total, np.asarray(affine @ scale, dtype=np.float64)


def _smooth(
    data: npt.NDArray[np.float32], affine: npt.NDArray[np.float64], sigma_mm: float
) -> npt.NDArray[np.float32]:
    """Gaussian smoothing with ``sigma_mm`` along every axis (voxel sizes honoured)."""
    if sigma_mm <= 0.0:
        return data
    voxel_mm = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    sigma = [sigma_mm / float(v) for v in voxel_mm]
    return np.asarray(
        ndimage.gaussian_filter(data, sigma=sigma, mode="nearest", truncate=3.0), dtype=np.float32
    )


def _pyramid(
    data: npt.NDArray[np.float32], affine: npt.NDArray[np.float64]
) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]]:
    """Block averages at :data:`LEVEL_SPACINGS_MM` (coarse to fine), each from the next finer."""
    levels = []
    for spacing_mm in sorted(LEVEL_SPACINGS_MM):
        data, affine = block_average(data, affine, spacing_mm)
        levels.append((data, affine))
    return levels[::-1]


def register_anatomy(
    swi_data: npt.NDArray[Any],
    swi_affine: npt.NDArray[np.float64],
    anatomy_data: npt.NDArray[Any],
    anatomy_affine: npt.NDArray[np.float64],
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    *,
    motor: npt.NDArray[np.bool_] | None = None,
) -> Registration:
    """Register the label map's anatomical image rigidly to the SWI magnitude.

    Both images are cropped to the motor labels' bounding box (precentral, postcentral,
    paracentral of both hemispheres, in the label map's world) plus :data:`SWI_MARGIN_MM` for
    the SWI and :data:`ANATOMY_MARGIN_MM` for the anatomy. A 6-dof Euler transform starts from
    world coordinates (identity) with its rotation centre at the SWI crop's centre (a
    same-session T1 and SWI share a scanner world, which crop centres need not). Mattes mutual
    information, linear interpolation, seeded random sampling (:data:`SAMPLING_FRACTION`, at most
    :data:`MAX_METRIC_SAMPLES`), regular-step gradient descent with physical-shift scales, run
    coarse to fine on both crops block-averaged to :data:`LEVEL_SPACINGS_MM` (:func:`block_average`),
    each level starting from the last one's transform.

    Parameters
    ----------
    swi_data : ndarray, shape (X, Y, Z)
        SWI (or T2*-weighted) magnitude; the whole volume or any crop of it holding the motor
        region (only the crop is read). NaN counts as 0.
    swi_affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine of ``swi_data``.
    anatomy_data : ndarray, shape (A, B, C)
        The image the label map was made from (FreeSurfer ``norm.mgz``/``T1.mgz``, a T1w NIfTI).
    anatomy_affine : ndarray, shape (4, 4)
        Its voxel-to-world (RAS+ mm) affine.
    label_data : ndarray of int, shape (U, V, W)
        FreeSurfer aparc+aseg labels, in the anatomy's world.
    label_affine : ndarray, shape (4, 4)
        Voxel-to-world (RAS+ mm) affine of the label map.
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.

    Returns
    -------
    Registration
        ``transform`` maps the anatomy's world to the SWI's (RAS+ mm); carry the label map with
        :func:`carry_labels`.

    Raises
    ------
    VolumeError
        Images that are not 3-D, a sheared affine, motor labels outside either image, an anatomy
        that does not overlap the SWI around the motor strip (fewer than
        :data:`MIN_CROP_OVERLAP` of the SWI crop inside the anatomy crop), an image without
        contrast, a registration that fails, or one that moves the motor cortex by more than
        :data:`MAX_DISPLACEMENT_MM` (diverged).
    """
    started = time.perf_counter()
    for name, array in (("SWI", swi_data), ("anatomical image", anatomy_data)):
        if np.ndim(array) != 3:
            raise io.VolumeError(f"{name} must be a 3-D volume, got shape {np.shape(array)}")
    swi_affine = np.asarray(swi_affine, dtype=np.float64)
    anatomy_affine = np.asarray(anatomy_affine, dtype=np.float64)
    label_affine = np.asarray(label_affine, dtype=np.float64)
    mask = fs.motor_mask(label_data) if motor is None else motor
    swi_box = swi_region(label_data, label_affine, swi_affine, swi_data.shape, motor=mask)
    anatomy_box = _crop(
        "anatomical image",
        label_data,
        label_affine,
        anatomy_affine,
        anatomy_data.shape,
        ANATOMY_MARGIN_MM,
        mask,
    )
    fixed_affine = crop_affine(swi_affine, swi_box)
    fixed_data = _no_nan(swi_data[swi_box])
    moving_affine = crop_affine(anatomy_affine, anatomy_box)
    moving_data = _no_nan(anatomy_data[anatomy_box])
    overlap = _fraction_inside(fixed_affine, fixed_data.shape, moving_affine, moving_data.shape)
    if overlap < MIN_CROP_OVERLAP:
        raise io.VolumeError(
            f"the anatomical image does not overlap the SWI around the motor cortex: only "
            f"{overlap:.0%} of the SWI's motor region lies inside the anatomical image in world "
            f"coordinates (minimum {MIN_CROP_OVERLAP:.0%}); is it the T1 the label map was made "
            "from, of the same subject and session?"
        )
    for name, values in (("SWI", fixed_data), ("anatomical image", moving_data)):
        if not float(values.max()) > float(values.min()):
            raise io.VolumeError(
                f"the {name} is constant around the motor cortex: there is nothing to register"
            )
    # Rotation about the centre of the SWI crop (world, LPS); identity to start with.
    centre = fixed_affine @ np.append((np.asarray(fixed_data.shape, dtype=np.float64) - 1) / 2, 1)
    euler = sitk.Euler3DTransform()
    euler.SetCenter([float(v) for v in (RAS_TO_LPS @ centre)[:3]])
    iterations = 0
    metric = float("nan")
    stop_condition = ""
    levels = (_pyramid(fixed_data, fixed_affine), _pyramid(moving_data, moving_affine))
    for (fixed_level, fixed_level_affine), (moving_level, moving_level_affine), sigma_mm in zip(
        *levels, LEVEL_SMOOTHING_MM, strict=True
    ):
        fixed = sitk_image(_smooth(fixed_level, fixed_level_affine, sigma_mm), fixed_level_affine)
        moving = sitk_image(
            _smooth(moving_level, moving_level_affine, sigma_mm), moving_level_affine
        )
        method = _level_method(fixed.GetNumberOfPixels())
        method.SetInitialTransform(euler, inPlace=True)
        try:
            method.Execute(fixed, moving)
        except RuntimeError as exc:
            raise io.VolumeError(
                "registration of the anatomical image to the SWI failed (SimpleITK: "
                f"{str(exc).strip().splitlines()[-1]}); do the two images show the same head?"
            ) from exc
        iterations += method.GetOptimizerIteration()
        metric = float(method.GetMetricValue())
        stop_condition = method.GetOptimizerStopConditionDescription()
    transform = ras_transform_from_lps(_lps_matrix(euler))
    rms_mm, max_mm = motor_displacement_mm(transform, label_data, label_affine, motor=mask)
    if not max_mm <= MAX_DISPLACEMENT_MM:
        raise io.VolumeError(
            f"registration of the anatomical image to the SWI is implausible: it would move the "
            f"motor cortex by up to {max_mm:.1f} mm (RMS {rms_mm:.1f} mm), beyond the "
            f"{MAX_DISPLACEMENT_MM:g} mm a same-session T1 and SWI can plausibly differ (the "
            "registration diverged, or the images are not of the same head position); check "
            "that the anatomical image is the one the label map was made from"
        )
    return Registration(
        transform=transform,
        metric=metric,
        displacement_rms_mm=rms_mm,
        displacement_max_mm=max_mm,
        iterations=iterations,
        method=METHOD,
        stop_condition=stop_condition,
        elapsed_s=time.perf_counter() - started,
    )


def _level_method(n_voxels: int) -> sitk.ImageRegistrationMethod:
    """The registration of one pyramid level (the images are already at its spacing)."""
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=HISTOGRAM_BINS)
    method.SetMetricSamplingStrategy(method.RANDOM)
    share = min(SAMPLING_FRACTION, MAX_METRIC_SAMPLES / max(n_voxels, 1))
    method.SetMetricSamplingPercentage(share, SAMPLING_SEED)
    # Gradients at the samples only, not gradient images of both whole crops per level.
    method.SetMetricUseFixedImageGradientFilter(False)
    method.SetMetricUseMovingImageGradientFilter(False)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(
        learningRate=LEARNING_RATE_MM,
        minStep=MIN_STEP_MM,
        numberOfIterations=MAX_ITERATIONS,
        relaxationFactor=0.5,
    )
    method.SetOptimizerScalesFromPhysicalShift()
    return method
