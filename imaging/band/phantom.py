"""Synthetic SWI and label-map pairs with a known motor band, for tests, demos and benchmarks."""

from __future__ import annotations

from typing import Final, NamedTuple

import nibabel as nib
import numpy as np
import numpy.typing as npt

from imaging.band import labels as fs

#: Phantom intensities (arbitrary SWI magnitude units).
REFERENCE_INTENSITY: Final[float] = 100.0  # cortex, including the deep postcentral reference
WHITE_MATTER_INTENSITY: Final[float] = 110.0  # brighter than cortex, as on SWI (domain.md)
CSF_INTENSITY: Final[float] = 150.0
BACKGROUND_INTENSITY: Final[float] = 20.0
#: QSM phantom susceptibilities (ppm, relative to CSF as QSM pipelines often reference it).
QSM_CORTEX_PPM: Final[float] = 0.010  # cortex, including the deep postcentral reference
QSM_WHITE_MATTER_PPM: Final[float] = -0.030
QSM_CSF_PPM: Final[float] = 0.0
#: Fluid shell outside the brain (mm) and half-width of the interhemispheric fissure (mm).
CSF_SHELL_MM: Final[float] = 4.0
FISSURE_HALF_WIDTH_MM: Final[float] = 1.5
#: Default geometry as fractions of the brain radius.
_RADIUS_FRACTION_OF_FOV: Final[float] = 0.42
_GYRUS_WIDTH_FRACTION: Final[float] = 0.3
_MOTOR_FLOOR_FRACTION: Final[float] = -0.1
#: Slabs (last axis) processed at once: bounds memory for benchmark-sized volumes.
_SLAB_VOXELS: Final[int] = 4_000_000
#: Other cortical parcels filling the rest of the ribbon.
_INFERIOR_CORTEX: Final[dict[fs.Hemisphere, int]] = {"L": 1030, "R": 2030}  # superior temporal


class Phantom(NamedTuple):
    """An SWI volume and its label map (unpacks as a pair)."""

    swi: nib.Nifti1Image
    labels: nib.Nifti1Image


def rotation_matrix(angles_deg: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    """Rotation about world x, then y, then z.

    Parameters
    ----------
    angles_deg : tuple of 3 float
        Angles (degrees) about x, y, z.

    Returns
    -------
    ndarray, shape (3, 3)
    """
    ax, ay, az = np.deg2rad(angles_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, dtype=np.float64)


def centred_affine(
    shape: tuple[int, int, int],
    voxel_size_mm: tuple[float, float, float],
    rotation_deg: float | tuple[float, float, float] = 0.0,
) -> npt.NDArray[np.float64]:
    """Voxel-to-world affine whose grid centre sits at the world origin.

    Parameters
    ----------
    shape : tuple of 3 int
    voxel_size_mm : tuple of 3 float
    rotation_deg : float or tuple of 3 float
        One angle rotates about x, y and z alike (an oblique grid); three are x, y, z angles.

    Returns
    -------
    ndarray, shape (4, 4)
    """
    angles = (rotation_deg,) * 3 if isinstance(rotation_deg, int | float) else rotation_deg
    affine = np.eye(4)
    ax, ay, az = (float(a) for a in angles)
    affine[:3, :3] = rotation_matrix((ax, ay, az)) @ np.diag(voxel_size_mm)
    affine[:3, 3] = -affine[:3, :3] @ ((np.asarray(shape, dtype=np.float64) - 1) / 2)
    return affine


class _Geometry(NamedTuple):
    radius_mm: float
    thickness_mm: float
    gyrus_width_mm: float
    central_y_mm: float
    motor_floor_mm: float


def _label_and_band(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.float32],
    z: npt.NDArray[np.float32],
    geometry: _Geometry,
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    """Labels and deep-motor-ribbon mask at world points (mm), from the analytic geometry."""
    radius, thickness, width, central_y, floor = geometry
    r = np.sqrt(x * x + y * y + z * z)
    labels = np.zeros(x.shape, dtype=np.int16)
    labels[r < radius + CSF_SHELL_MM] = fs.CSF
    band = np.zeros(x.shape, dtype=bool)
    to_sphere = radius - r
    motor_rows = z >= floor
    pre_band = motor_rows & (y >= central_y) & (y < central_y + width)
    post_band = motor_rows & (y < central_y) & (y >= central_y - width)
    for hemisphere, side in zip(fs.HEMISPHERES, (-1.0, 1.0), strict=True):
        to_midline = np.float32(side) * x - np.float32(FISSURE_HALF_WIDTH_MM)
        brain = (to_midline > 0) & (to_sphere > 0)
        to_surface = np.minimum(to_sphere, to_midline)
        cortex = brain & (to_surface < thickness)
        labels[brain & ~cortex] = fs.WHITE_MATTER[hemisphere]
        medial = to_midline < to_sphere
        parcel = np.where(
            y >= central_y, fs.SUPERIOR_FRONTAL[hemisphere], fs.SUPERIOR_PARIETAL[hemisphere]
        ).astype(np.int16)
        parcel[z < floor] = _INFERIOR_CORTEX[hemisphere]
        parcel[pre_band & ~medial] = fs.PRECENTRAL[hemisphere]
        parcel[post_band & ~medial] = fs.POSTCENTRAL[hemisphere]
        parcel[(pre_band | post_band) & medial] = fs.PARACENTRAL[hemisphere]
        labels[cortex] = parcel[cortex]
        deep = cortex & (to_surface > thickness / 2)
        motor = (parcel == fs.PRECENTRAL[hemisphere]) | (parcel == fs.PARACENTRAL[hemisphere])
        band |= deep & motor
    return labels, band


def _world_slab(
    affine: npt.NDArray[np.float64], shape: tuple[int, int, int], k0: int, k1: int
) -> tuple[npt.NDArray[np.float32], ...]:
    i = np.arange(shape[0], dtype=np.float32)[:, None, None]
    j = np.arange(shape[1], dtype=np.float32)[None, :, None]
    k = np.arange(k0, k1, dtype=np.float32)[None, None, :]
    a = affine.astype(np.float32)
    return tuple(a[row, 0] * i + a[row, 1] * j + a[row, 2] * k + a[row, 3] for row in range(3))


def _rasterize(
    affine: npt.NDArray[np.float64], shape: tuple[int, int, int], geometry: _Geometry
) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    labels = np.empty(shape, dtype=np.int16)
    band = np.empty(shape, dtype=bool)
    slab = max(1, _SLAB_VOXELS // (shape[0] * shape[1]))
    for k0 in range(0, shape[2], slab):
        k1 = min(k0 + slab, shape[2])
        x, y, z = _world_slab(affine, shape, k0, k1)
        labels[..., k0:k1], band[..., k0:k1] = _label_and_band(x, y, z, geometry)
    return labels, band


def _phantom_geometry(
    shape: tuple[int, int, int],
    voxel_size_mm: tuple[float, float, float],
    radius_mm: float | None,
    cortex_thickness_mm: float,
    gyrus_width_mm: float | None,
    motor_floor_mm: float | None,
) -> _Geometry:
    fov = np.asarray(shape, dtype=np.float64) * np.asarray(voxel_size_mm)
    radius = radius_mm if radius_mm is not None else _RADIUS_FRACTION_OF_FOV * float(fov.min())
    return _Geometry(
        radius_mm=radius,
        thickness_mm=cortex_thickness_mm,
        gyrus_width_mm=gyrus_width_mm
        if gyrus_width_mm is not None
        else _GYRUS_WIDTH_FRACTION * radius,
        central_y_mm=0.0,
        motor_floor_mm=motor_floor_mm
        if motor_floor_mm is not None
        else _MOTOR_FLOOR_FRACTION * radius,
    )


def make_qsm_phantom(
    shape: tuple[int, int, int] = (96, 96, 96),
    voxel_size_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    band_ppb: float | tuple[float, float] = 30.0,
    offset_ppm: float = 0.0,
    noise_ppb: float = 0.0,
    seed: int = 0,
    nan_outside: bool = True,
) -> Phantom:
    """The geometry of :func:`make_phantom` as a QSM map (ppm) with a known deep band.

    Cortex (including the postcentral reference and the superficial precentral layers) is
    :data:`QSM_CORTEX_PPM`, white matter :data:`QSM_WHITE_MATTER_PPM`, fluid
    :data:`QSM_CSF_PPM`; deep precentral and paracentral voxels add ``band_ppb`` (so the true
    deep-minus-reference and deep-minus-superficial differences are ``band_ppb``). Every value
    is shifted by ``offset_ppm``, as a QSM's arbitrary zero would be.

    Parameters
    ----------
    shape, voxel_size_mm : as :func:`make_phantom`
    band_ppb : float or (left, right)
        Extra susceptibility of the deep motor ribbon (ppb) per hemisphere.
    offset_ppm : float
        Constant added to the whole map (ppm).
    noise_ppb : float
        SD of additive Gaussian noise (ppb).
    seed : int
        Noise generator seed.
    nan_outside : bool
        NaN outside the brain and its fluid shell (unlabelled voxels), as QSM pipelines mask.

    Returns
    -------
    Phantom
        ``(swi, labels)``: the float64 QSM map in ppm (named ``swi`` for symmetry) and labels.
    """
    bands = (
        (float(band_ppb), float(band_ppb))
        if isinstance(band_ppb, int | float)
        else (float(band_ppb[0]), float(band_ppb[1]))
    )
    geometry = _phantom_geometry(shape, voxel_size_mm, None, 5.0, None, None)
    affine = centred_affine(shape, voxel_size_mm)
    labels, band = _rasterize(affine, shape, geometry)
    qsm = np.full(shape, QSM_CSF_PPM, dtype=np.float64)
    for hemisphere, extra_ppb in zip(fs.HEMISPHERES, bands, strict=True):
        qsm[labels == fs.WHITE_MATTER[hemisphere]] = QSM_WHITE_MATTER_PPM
        cortex = fs.cortex_mask(labels, hemisphere)
        qsm[cortex] = QSM_CORTEX_PPM
        qsm[band & cortex] = QSM_CORTEX_PPM + extra_ppb / 1000.0
    if noise_ppb > 0:
        qsm += noise_ppb / 1000.0 * np.random.default_rng(seed).standard_normal(shape)
    qsm += offset_ppm
    if nan_outside:
        qsm[labels == 0] = np.nan
    qsm_img = nib.Nifti1Image(qsm, affine)
    qsm_img.header.set_xyzt_units("mm")
    label_img = nib.Nifti1Image(labels, affine)
    label_img.header.set_xyzt_units("mm")
    return Phantom(qsm_img, label_img)


def make_phantom(
    shape: tuple[int, int, int] = (96, 96, 96),
    voxel_size_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
    *,
    band_contrast: float | tuple[float, float] = 0.15,
    noise_sd: float = 0.0,
    rotation_deg: float | tuple[float, float, float] = 0.0,
    seed: int = 0,
    radius_mm: float | None = None,
    cortex_thickness_mm: float = 5.0,
    gyrus_width_mm: float | None = None,
    motor_floor_mm: float | None = None,
    label_shape: tuple[int, int, int] | None = None,
    label_voxel_size_mm: tuple[float, float, float] | None = None,
    label_rotation_deg: float | tuple[float, float, float] | None = None,
    swi_dtype: npt.DTypeLike = np.float32,
) -> Phantom:
    """A two-hemisphere brain phantom with a known deep precentral band.

    Each hemisphere is half of a sphere (left x < 0, right x > 0 in world mm) split by a CSF
    fissure; a cortical ribbon of ``cortex_thickness_mm`` covers the convexity and the medial
    wall over white matter, with fluid outside. On the convexity a precentral strip lies just
    anterior to world y = 0 and a postcentral strip just posterior, both above
    ``motor_floor_mm``; the medial wall there is paracentral. Deep precentral and paracentral
    voxels (analytic depth < 0.5) have intensity ``REFERENCE_INTENSITY · (1 - c)``; all other
    cortex, including the postcentral reference, has ``REFERENCE_INTENSITY``.

    Parameters
    ----------
    shape : tuple of 3 int
        SWI matrix.
    voxel_size_mm : tuple of 3 float
        SWI voxel edge lengths (mm); anisotropic allowed.
    band_contrast : float or (left, right)
        True band contrast c per hemisphere.
    noise_sd : float
        SD of additive Gaussian noise (intensity units; the reference is 100).
    rotation_deg : float or tuple of 3 float
        Obliquity of the SWI grid (see :func:`centred_affine`).
    seed : int
        Noise generator seed.
    radius_mm : float, optional
        Brain radius (mm); default 0.42 of the smallest field-of-view edge.
    cortex_thickness_mm : float
        Ribbon thickness (mm).
    gyrus_width_mm : float, optional
        Anterior-posterior width (mm) of each of the precentral and postcentral strips.
    motor_floor_mm : float, optional
        World z (mm) below which the strips end (the inferior, face end).
    label_shape, label_voxel_size_mm, label_rotation_deg : optional
        Put the label map on its own grid (default: the SWI grid).
    swi_dtype : numpy dtype
        float32, or an integer type (rounded, as a scanner stores magnitude).

    Returns
    -------
    Phantom
        ``(swi, labels)`` Nifti1Images; labels are int16 with FreeSurfer numbering.
    """
    contrasts = (
        (float(band_contrast), float(band_contrast))
        if isinstance(band_contrast, int | float)
        else (float(band_contrast[0]), float(band_contrast[1]))
    )
    geometry = _phantom_geometry(
        shape, voxel_size_mm, radius_mm, cortex_thickness_mm, gyrus_width_mm, motor_floor_mm
    )
    swi_affine = centred_affine(shape, voxel_size_mm, rotation_deg)
    labels, band = _rasterize(swi_affine, shape, geometry)

    swi = np.full(shape, BACKGROUND_INTENSITY, dtype=np.float32)
    swi[labels == fs.CSF] = CSF_INTENSITY
    for hemisphere, contrast in zip(fs.HEMISPHERES, contrasts, strict=True):
        swi[labels == fs.WHITE_MATTER[hemisphere]] = WHITE_MATTER_INTENSITY
        swi[fs.cortex_mask(labels, hemisphere)] = REFERENCE_INTENSITY
        side = band & fs.cortex_mask(labels, hemisphere)
        swi[side] = REFERENCE_INTENSITY * (1.0 - contrast)
    if noise_sd > 0:
        rng = np.random.default_rng(seed)
        swi += np.float32(noise_sd) * rng.standard_normal(shape, dtype=np.float32)
    if np.issubdtype(swi_dtype, np.integer):
        info = np.iinfo(np.dtype(swi_dtype))
        swi_out: npt.NDArray[np.generic] = np.clip(np.rint(swi), info.min, info.max).astype(
            swi_dtype
        )
    else:
        swi_out = swi.astype(swi_dtype, copy=False)
    swi_img = nib.Nifti1Image(swi_out, swi_affine)
    swi_img.header.set_xyzt_units("mm")

    if label_shape is None and label_voxel_size_mm is None and label_rotation_deg is None:
        label_img = nib.Nifti1Image(labels, swi_affine)
    else:
        l_shape = label_shape or shape
        l_affine = centred_affine(
            l_shape,
            label_voxel_size_mm or voxel_size_mm,
            rotation_deg if label_rotation_deg is None else label_rotation_deg,
        )
        l_labels, _ = _rasterize(l_affine, l_shape, geometry)
        label_img = nib.Nifti1Image(l_labels, l_affine)
    label_img.header.set_xyzt_units("mm")
    return Phantom(swi_img, label_img)
