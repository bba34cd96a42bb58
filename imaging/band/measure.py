"""Motor band measurements per hemisphere and somatotopic segment (domain.md, Quantification)."""

from __future__ import annotations

import concurrent.futures
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from imaging.band import io
from imaging.band import labels as fs
from imaging.band.depth import cortical_depth
from imaging.band.resample import Crop, EmptyCropError, crop_affine, motor_crop, resample_labels

InputKind = Literal["swi", "qsm"]
Segment = Literal["whole", "leg", "hand", "face"]

SEGMENTS: Final[tuple[Segment, ...]] = ("whole", "leg", "hand", "face")
INPUT_KINDS: Final[tuple[str, ...]] = ("swi", "qsm")
#: Keys of every measurement dict, in order.
MEASUREMENT_FIELDS: Final[tuple[str, ...]] = (
    "hemisphere",
    "segment",
    "band_contrast",
    "band_extent",
    "laminar_contrast",
    "deep_mean",
    "superficial_mean",
    "reference_mean",
    "reference_sd",
    "n_voxels",
    "reason",
)
_VALUE_FIELDS: Final[tuple[str, ...]] = (
    "band_contrast",
    "band_extent",
    "laminar_contrast",
    "deep_mean",
    "superficial_mean",
    "reference_mean",
    "reference_sd",
)
_FRACTION_SUM_TOLERANCE: Final[float] = 1e-6
#: Smallest search reach (mm) for white matter and pial surface: FreeSurfer caps cortical
#: thickness at 5 mm, so no cortex voxel is farther than that from both.
MIN_DEPTH_REACH_MM: Final[float] = 5.0


class SegmentFractions(NamedTuple):
    """Share of the precentral extent (superior to inferior) given to each segment."""

    leg: float = 0.2
    hand: float = 0.4
    face: float = 0.4


@dataclass(frozen=True)
class Parameters:
    """Parameters of one quantification run; recorded with every result.

    Attributes
    ----------
    depth_cut : float
        Normalized depth below which cortex is "deep" (0 = white matter, 1 = pial surface).
    threshold_sd : float
        Band voxels are deep precentral voxels beyond ``reference_mean ∓ threshold_sd · SD``.
    segment_fractions : SegmentFractions
        Leg, hand, face shares of the precentral extent along its principal axis (sum 1).
    margin_mm : float
        Margin (mm) around the motor labels' bounding box for the crop.
    min_voxels : int
        Fewest deep voxels (per segment, and of postcentral reference) for a measurement.
    input_kind : {"swi", "qsm"}
        SWI/T2* magnitude (iron darkens) or QSM susceptibility (iron brightens).
    """

    depth_cut: float = 0.5
    threshold_sd: float = 2.0
    segment_fractions: SegmentFractions = field(default_factory=SegmentFractions)
    margin_mm: float = 5.0
    min_voxels: int = 50
    input_kind: InputKind = "swi"

    def __post_init__(self) -> None:
        if not 0.0 < self.depth_cut < 1.0:
            raise ValueError(f"depth_cut must lie strictly between 0 and 1, got {self.depth_cut}")
        if not self.threshold_sd > 0:
            raise ValueError(f"threshold_sd must be positive, got {self.threshold_sd}")
        fractions = SegmentFractions(*self.segment_fractions)
        if any(f <= 0 for f in fractions) or abs(sum(fractions) - 1.0) > _FRACTION_SUM_TOLERANCE:
            raise ValueError(f"segment_fractions must be positive and sum to 1, got {fractions}")
        object.__setattr__(self, "segment_fractions", fractions)
        if not self.margin_mm >= 0:
            raise ValueError(f"margin_mm must not be negative, got {self.margin_mm}")
        if self.min_voxels < 2:
            raise ValueError(f"min_voxels must be at least 2, got {self.min_voxels}")
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be 'swi' or 'qsm', got {self.input_kind!r}")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready parameters for recording with the run."""
        values = asdict(self)
        values["segment_fractions"] = self.segment_fractions._asdict()
        return values


@dataclass(frozen=True)
class QuantResult:
    """Outcome of one quantification.

    Attributes
    ----------
    measurements : list of dict
        Eight dicts (hemisphere L, R × segment whole, leg, hand, face) with the keys of
        :data:`MEASUREMENT_FIELDS`; values are floats or None (with ``reason``), never NaN.
    crop : tuple of 3 slices
        Region of the SWI grid that was analysed.
    crop_affine : ndarray, shape (4, 4)
        Voxel-to-world transform of the crop.
    voxel_size_mm : tuple of 3 float
    swi_crop : ndarray of float32, shape (X, Y, Z) of the crop
    labels_crop : ndarray of int, shape of the crop
        Label map resampled into the crop.
    deep_mask : ndarray of bool, shape of the crop
        Deep precentral and paracentral voxels (the measured ribbon) of both hemispheres.
    band_mask : ndarray of bool, shape of the crop
        Deep ribbon voxels beyond the hemisphere's ``reference_mean ∓ threshold_sd · SD``.
    parameters : dict
        :meth:`Parameters.as_dict`.
    algorithm_version : str
    """

    measurements: list[dict[str, Any]]
    crop: Crop
    crop_affine: npt.NDArray[np.float64]
    voxel_size_mm: tuple[float, float, float]
    swi_crop: npt.NDArray[np.float32]
    labels_crop: npt.NDArray[Any]
    deep_mask: npt.NDArray[np.bool_]
    band_mask: npt.NDArray[np.bool_]
    parameters: dict[str, Any]
    algorithm_version: str


def _null_measurement(
    hemisphere: fs.Hemisphere, segment: Segment, n_voxels: int, reason: str
) -> dict[str, Any]:
    row: dict[str, Any] = {"hemisphere": hemisphere, "segment": segment}
    row.update(dict.fromkeys(_VALUE_FIELDS))
    row["n_voxels"] = n_voxels
    row["reason"] = reason
    return {key: row[key] for key in MEASUREMENT_FIELDS}


def _ratio_contrast(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator == 0.0:
        return None
    value = 1.0 - numerator / denominator
    return value if np.isfinite(value) else None


def band_measurement(
    deep: npt.NDArray[np.floating],
    superficial: npt.NDArray[np.floating],
    reference: npt.NDArray[np.floating],
    *,
    threshold_sd: float = 2.0,
    input_kind: InputKind = "swi",
) -> dict[str, float | None]:
    """Band measurements from the intensities of one segment and its reference.

    Parameters
    ----------
    deep : ndarray, shape (N,)
        Intensities of deep precentral (segment) voxels.
    superficial : ndarray, shape (M,)
        Intensities of superficial precentral (segment) voxels; may be empty.
    reference : ndarray, shape (K,), K >= 2
        Intensities of deep postcentral voxels of the same hemisphere.
    threshold_sd : float
        Band voxels lie beyond ``reference_mean - threshold_sd · reference_sd`` (SWI), or above
        ``reference_mean + threshold_sd · reference_sd`` on QSM where iron raises the value.
    input_kind : {"swi", "qsm"}

    Returns
    -------
    dict
        ``band_contrast = 1 - deep_mean / reference_mean``, ``laminar_contrast =
        1 - deep_mean / superficial_mean``, ``band_extent`` (fraction of deep voxels beyond the
        threshold), ``deep_mean``, ``superficial_mean``, ``reference_mean``, ``reference_sd``
        (sample SD, ddof=1). A value that is undefined (no superficial voxel, zero denominator)
        is None.
    """
    deep_mean = float(np.mean(deep, dtype=np.float64))
    reference_mean = float(np.mean(reference, dtype=np.float64))
    reference_sd = float(np.std(reference, dtype=np.float64, ddof=1))
    superficial_mean = (
        float(np.mean(superficial, dtype=np.float64)) if superficial.size > 0 else None
    )
    if input_kind == "qsm":
        beyond = deep > reference_mean + threshold_sd * reference_sd
    else:
        beyond = deep < reference_mean - threshold_sd * reference_sd
    return {
        "band_contrast": _ratio_contrast(deep_mean, reference_mean),
        "band_extent": float(np.count_nonzero(beyond)) / deep.size,
        "laminar_contrast": _ratio_contrast(deep_mean, superficial_mean),
        "deep_mean": deep_mean,
        "superficial_mean": superficial_mean,
        "reference_mean": reference_mean,
        "reference_sd": reference_sd,
    }


def somatotopic_position(
    ijk: npt.NDArray[np.integer], affine: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Position of voxels along their principal axis, 0 = inferior end, 1 = superior end.

    Parameters
    ----------
    ijk : ndarray of int, shape (N, 3)
        Voxel indices (e.g. of one hemisphere's precentral voxels).
    affine : ndarray, shape (4, 4)
        Voxel-to-world transform of the grid the indices refer to.

    Returns
    -------
    ndarray of float64, shape (N,)
        Projection on the first principal axis of the world coordinates, oriented so that world
        +z (superior) is positive, scaled to 0..1 over the voxels' extent.
    """
    world = ijk.astype(np.float64) @ affine[:3, :3].T + affine[:3, 3]
    centred = world - world.mean(axis=0)
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axis = vectors[:, -1]
    if axis[2] < 0:
        axis = -axis
    projection = centred @ axis
    low, high = float(projection.min()), float(projection.max())
    if high - low <= 0:
        return np.full(projection.shape, 0.5)
    return np.asarray((projection - low) / (high - low), dtype=np.float64)


def _segment_masks(
    precentral: npt.NDArray[np.bool_],
    paracentral: npt.NDArray[np.bool_],
    affine: npt.NDArray[np.float64],
    fractions: SegmentFractions,
) -> dict[Segment, npt.NDArray[np.bool_]]:
    """Whole, leg, hand and face masks (domain.md step 4) on one grid.

    Parameters
    ----------
    precentral, paracentral : ndarray of bool, shape (X, Y, Z)
        One hemisphere's precentral and paracentral voxels.
    affine : ndarray, shape (4, 4)
        Voxel-to-world transform of that grid.
    fractions : SegmentFractions

    Returns
    -------
    dict of ndarray of bool, shape (X, Y, Z)
    """
    points = np.nonzero(precentral)
    position = somatotopic_position(np.stack(points, axis=1), affine)
    leg_start = 1.0 - fractions.leg
    masks: dict[Segment, npt.NDArray[np.bool_]] = {"whole": precentral}
    for segment, chosen in (
        ("leg", position >= leg_start),
        ("hand", (position >= fractions.face) & (position < leg_start)),
        ("face", position < fractions.face),
    ):
        mask = np.zeros(precentral.shape, dtype=bool)
        mask[tuple(p[chosen] for p in points)] = True
        masks[segment] = mask  # type: ignore[index]
    masks["leg"] = masks["leg"] | paracentral
    return masks


@dataclass(frozen=True)
class _HemisphereGeometry:
    """What the label map alone decides for one hemisphere: its box, depth classes, segments."""

    hemisphere: fs.Hemisphere
    box: Crop | None
    reason: str | None
    counts: dict[Segment, int]
    deep: npt.NDArray[np.bool_] | None = None
    superficial: npt.NDArray[np.bool_] | None = None
    ribbon: npt.NDArray[np.bool_] | None = None
    postcentral: npt.NDArray[np.bool_] | None = None
    segments: dict[Segment, npt.NDArray[np.bool_]] | None = None


@dataclass(frozen=True)
class _LabelGeometry:
    crop: Crop
    labels_crop: npt.NDArray[Any]
    affine: npt.NDArray[np.float64]
    voxel_size_mm: tuple[float, float, float]
    hemispheres: list[_HemisphereGeometry]


def _hemisphere_box(
    labels: npt.NDArray[np.integer],
    hemisphere: fs.Hemisphere,
    margin_vox: npt.NDArray[np.int64],
) -> Crop | None:
    """Sub-box of the crop around one hemisphere's motor labels: halves the distance maps."""
    mask = (
        (labels == fs.PRECENTRAL[hemisphere])
        | (labels == fs.POSTCENTRAL[hemisphere])
        | (labels == fs.PARACENTRAL[hemisphere])
    )
    bounds = []
    for axis in range(3):
        others = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(mask.any(axis=others))
        if present.size == 0:
            return None
        low = max(int(present[0] - margin_vox[axis]), 0)
        high = min(int(present[-1] + margin_vox[axis]) + 1, labels.shape[axis])
        bounds.append(slice(low, high))
    return (bounds[0], bounds[1], bounds[2])


def _hemisphere_geometry(
    labels: npt.NDArray[np.integer],
    affine: npt.NDArray[np.float64],
    voxel_size_mm: tuple[float, float, float],
    hemisphere: fs.Hemisphere,
    params: Parameters,
) -> _HemisphereGeometry:
    def null(reason: str, counts: dict[Segment, int] | None = None) -> _HemisphereGeometry:
        return _HemisphereGeometry(hemisphere, None, reason, counts or {})

    margin_vox = np.ceil(params.margin_mm / np.asarray(voxel_size_mm)).astype(np.int64)
    box = _hemisphere_box(labels, hemisphere, margin_vox)
    if box is None:
        return null("no precentral, postcentral or paracentral labels in this hemisphere")
    labels_box = labels[box]
    precentral = labels_box == fs.PRECENTRAL[hemisphere]
    paracentral = labels_box == fs.PARACENTRAL[hemisphere]
    postcentral = labels_box == fs.POSTCENTRAL[hemisphere]
    if not precentral.any():
        return null("no precentral voxels in this hemisphere")
    # Depth is needed on the measured gyri only. The crop margin is also the search reach: the
    # crop already assumes white matter and pial surface lie that close to the motor labels.
    depth = cortical_depth(
        labels_box,
        hemisphere,
        voxel_size_mm,
        where=precentral | paracentral | postcentral,
        reach_mm=max(params.margin_mm, MIN_DEPTH_REACH_MM),
    )
    deep = depth < params.depth_cut  # NaN (not cortex) compares False
    superficial = depth >= params.depth_cut
    if not np.any(deep | superficial):
        return null("no white matter or no cortical surface: cortical depth is undefined")
    segments = _segment_masks(
        precentral, paracentral, crop_affine(affine, box), params.segment_fractions
    )
    counts: dict[Segment, int] = {s: int(np.count_nonzero(deep & segments[s])) for s in SEGMENTS}
    minimum = params.min_voxels
    n_reference = int(np.count_nonzero(deep & postcentral))
    if counts["whole"] < minimum:
        return null(
            f"only {counts['whole']} deep precentral voxels in this hemisphere (minimum {minimum})",
            counts,
        )
    if n_reference < minimum:
        return null(
            f"only {n_reference} deep postcentral (reference) voxels in this hemisphere "
            f"(minimum {minimum})",
            counts,
        )
    return _HemisphereGeometry(
        hemisphere,
        box,
        None,
        counts,
        deep=deep,
        superficial=superficial,
        ribbon=deep & (precentral | paracentral),
        postcentral=postcentral,
        segments=segments,
    )


def _hemisphere_measurements(
    swi_crop: npt.NDArray[np.float32], geometry: _HemisphereGeometry, params: Parameters
) -> tuple[list[dict[str, Any]], npt.NDArray[np.bool_] | None]:
    """Measurement rows of one hemisphere and its band-voxel mask (within its box)."""
    hemisphere = geometry.hemisphere
    if (
        geometry.reason is not None
        or geometry.box is None
        or geometry.deep is None
        or geometry.superficial is None
        or geometry.ribbon is None
        or geometry.postcentral is None
        or geometry.segments is None
    ):
        why = geometry.reason or "cortical depth is undefined"
        nulls = [_null_measurement(hemisphere, s, geometry.counts.get(s, 0), why) for s in SEGMENTS]
        return nulls, None
    swi_box = swi_crop[geometry.box]
    deep, superficial = geometry.deep, geometry.superficial
    reference = swi_box[deep & geometry.postcentral]
    minimum = params.min_voxels
    rows = []
    for segment in SEGMENTS:
        mask = geometry.segments[segment]
        n_deep = geometry.counts[segment]
        if n_deep < minimum:
            rows.append(
                _null_measurement(
                    hemisphere,
                    segment,
                    n_deep,
                    f"only {n_deep} deep voxels in the {segment} segment (minimum {minimum})",
                )
            )
            continue
        values = band_measurement(
            swi_box[deep & mask],
            swi_box[superficial & mask],
            reference,
            threshold_sd=params.threshold_sd,
            input_kind=params.input_kind,
        )
        undefined = [name for name, value in values.items() if value is None]
        reason = (
            None
            if not undefined
            else f"{', '.join(undefined)} undefined (no superficial voxels or a zero mean)"
        )
        row: dict[str, Any] = {"hemisphere": hemisphere, "segment": segment, **values}
        row["n_voxels"] = n_deep
        row["reason"] = reason
        rows.append({key: row[key] for key in MEASUREMENT_FIELDS})
    mean = float(np.mean(reference, dtype=np.float64))
    sd = float(np.std(reference, dtype=np.float64, ddof=1))
    if params.input_kind == "qsm":
        band = geometry.ribbon & (swi_box > mean + params.threshold_sd * sd)
    else:
        band = geometry.ribbon & (swi_box < mean - params.threshold_sd * sd)
    return rows, band


def _as_3d(name: str, data: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array = np.asanyarray(data)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise io.VolumeError(f"{name} must be a 3-D volume, got shape {array.shape}")
    return array


def _label_geometry(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
    params: Parameters,
    motor: npt.NDArray[np.bool_] | None,
) -> _LabelGeometry:
    """Everything the label map decides, computed before (or while) the SWI is read."""
    if label_data.dtype.kind not in "iu":
        rounded = np.rint(label_data)
        if not np.array_equal(rounded, label_data):
            raise io.VolumeError("label map holds non-integer values")
        label_data = rounded.astype(np.int32)
    try:
        crop = motor_crop(
            label_data, label_affine, swi_affine, swi_shape, params.margin_mm, motor=motor
        )
    except EmptyCropError as exc:
        raise io.VolumeError(str(exc)) from exc
    labels_crop = resample_labels(label_data, label_affine, swi_affine, crop)
    affine = crop_affine(swi_affine, crop)
    voxel_size = np.sqrt((swi_affine[:3, :3] ** 2).sum(axis=0))
    voxel_size_mm = (float(voxel_size[0]), float(voxel_size[1]), float(voxel_size[2]))
    # The hemispheres are independent and scipy's distance transforms release the GIL for
    # most of their work, so two threads use both cores.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(fs.HEMISPHERES)) as pool:
        hemispheres = list(
            pool.map(
                lambda h: _hemisphere_geometry(labels_crop, affine, voxel_size_mm, h, params),
                fs.HEMISPHERES,
            )
        )
    return _LabelGeometry(crop, labels_crop, affine, voxel_size_mm, hemispheres)


def _result(
    swi_crop: npt.NDArray[np.float32], geometry: _LabelGeometry, params: Parameters
) -> QuantResult:
    # Imported here: the package module defines the version and imports this module.
    from imaging.band import ALGORITHM_VERSION

    deep_mask = np.zeros(swi_crop.shape, dtype=bool)
    band_mask = np.zeros(swi_crop.shape, dtype=bool)
    measurements: list[dict[str, Any]] = []
    for hemisphere in geometry.hemispheres:
        rows, band = _hemisphere_measurements(swi_crop, hemisphere, params)
        measurements.extend(rows)
        if hemisphere.box is not None and hemisphere.ribbon is not None:
            deep_mask[hemisphere.box] |= hemisphere.ribbon
        if hemisphere.box is not None and band is not None:
            band_mask[hemisphere.box] |= band
    return QuantResult(
        measurements=measurements,
        crop=geometry.crop,
        crop_affine=geometry.affine,
        voxel_size_mm=geometry.voxel_size_mm,
        swi_crop=swi_crop,
        labels_crop=geometry.labels_crop,
        deep_mask=deep_mask,
        band_mask=band_mask,
        parameters=params.as_dict(),
        algorithm_version=ALGORITHM_VERSION,
    )


def quantify(
    swi_data: npt.NDArray[Any],
    swi_affine: npt.NDArray[np.float64],
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    params: Parameters | None = None,
    *,
    motor: npt.NDArray[np.bool_] | None = None,
) -> QuantResult:
    """Quantify the motor band sign of one SWI (or QSM) volume with its label map.

    Parameters
    ----------
    swi_data : ndarray, shape (X, Y, Z)
        Intensities (any real dtype; only the motor crop is converted to float32).
    swi_affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) transform of the SWI.
    label_data : ndarray of int, shape (U, V, W)
        FreeSurfer aparc+aseg labels on any grid overlapping the SWI.
    label_affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) transform of the label map.
    params : Parameters, optional
        Defaults to :class:`Parameters()`.
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.

    Returns
    -------
    QuantResult
        Eight measurements (L/R × whole/leg/hand/face) plus the crop and masks for the QC image.

    Raises
    ------
    VolumeError
        Wrong dimensions, no motor labels, or motor labels outside the SWI field of view.
    """
    params = params or Parameters()
    swi_data = _as_3d("SWI", swi_data)
    label_data = _as_3d("label map", label_data)
    swi_affine = np.asarray(swi_affine, dtype=np.float64)
    label_affine = np.asarray(label_affine, dtype=np.float64)
    geometry = _label_geometry(label_data, label_affine, swi_affine, swi_data.shape, params, motor)
    swi_crop = np.asarray(swi_data[geometry.crop], dtype=np.float32)
    return _result(swi_crop, geometry, params)


def quantify_files(
    swi_path: Path | str,
    labels_path: Path | str,
    params: Parameters | None = None,
    *,
    echo: int | None = None,
) -> QuantResult:
    """Load, validate and quantify an SWI (or QSM) file with its label map file.

    Parameters
    ----------
    swi_path : path to a .nii, .nii.gz or .mgz intensity volume
    labels_path : path to a .nii, .nii.gz or .mgz FreeSurfer label map
    params : Parameters, optional
    echo : int, optional
        Echo to take from a 4-D multi-echo SWI/T2* file.

    Returns
    -------
    QuantResult

    Raises
    ------
    VolumeError
        Any validation failure of either file, or a label map that does not overlap the SWI.
    """
    params = params or Parameters()
    swi_affine, swi_shape = io.volume_geometry(swi_path, echo=echo)
    # Reading the SWI is mostly zlib work, which releases the GIL: it runs on the other core
    # while the label map is read and all label-side work (crop, resampling, depth) is done;
    # afterwards only the crop is converted to float32.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        swi_future = pool.submit(io.read_intensities, swi_path, echo=echo)
        try:
            labels = io.load_label_map(labels_path, check=False)
            # One pass over the full label map serves the check, the overlap test and the crop.
            motor = fs.motor_mask(labels.data)
            io.check_label_map(labels, name=Path(labels_path).name, motor=motor)
            io.check_overlap_geometry(swi_affine, swi_shape, labels.affine, motor)
            geometry = _label_geometry(
                labels.data, labels.affine, swi_affine, swi_shape, params, motor
            )
        except BaseException:
            swi_future.cancel()
            raise
        swi_crop = swi_future.result().as_float32(geometry.crop)
    return _result(swi_crop, geometry, params)
