"""Motor band measurements per hemisphere and somatotopic segment (domain.md, Quantification)."""

from __future__ import annotations

import concurrent.futures
import itertools
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from imaging.band import io
from imaging.band import labels as fs
from imaging.band.bias import n4_correct
from imaging.band.depth import cortical_depth_at
from imaging.band.register import Registration, carry_labels, register_anatomy, swi_region
from imaging.band.resample import (
    Crop,
    EmptyCropError,
    crop_affine,
    memory_order,
    motor_crop,
    resample_labels,
)

InputKind = io.IntensityKind
QsmUnit = Literal["ppm", "ppb"]
ReferenceMode = Literal["segment", "whole"]
Segment = Literal["whole", "leg", "hand", "face", "paracentral"]

#: The anatomical image a label map was made from, as (data, voxel-to-world RAS+ affine), or a
#: loaded :class:`io.Volume`.
Anatomy = tuple[npt.NDArray[Any], npt.NDArray[np.float64]] | io.Volume

SEGMENTS: Final[tuple[Segment, ...]] = ("whole", "leg", "hand", "face", "paracentral")
INPUT_KINDS: Final[tuple[str, ...]] = ("swi", "qsm")
QSM_UNITS: Final[tuple[str, ...]] = ("ppm", "ppb")
REFERENCE_MODES: Final[tuple[str, ...]] = ("segment", "whole")
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
    "deep_minus_reference_ppb",
    "deep_minus_superficial_ppb",
    "n_voxels",
    "coverage",
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
    "deep_minus_reference_ppb",
    "deep_minus_superficial_ppb",
)
#: Values each input kind leaves None by design: ratios are meaningless on a QSM map, whose zero
#: is arbitrary (domain.md, method 2.0.0), and differences in ppb are QSM's only.
_NOT_FOR_KIND: Final[dict[str, tuple[str, ...]]] = {
    "swi": ("deep_minus_reference_ppb", "deep_minus_superficial_ppb"),
    "qsm": ("band_contrast", "laminar_contrast"),
}
#: Extent of a hemisphere's precentral label along its principal axis, as percentiles of the
#: voxels' projections: one stray voxel cannot stretch the segments.
SEGMENT_EXTENT_PERCENTILES: Final[tuple[float, float]] = (1.0, 99.0)
#: Smallest share of a segment's labelled voxels (in the whole label map) that must lie inside the
#: image's field of view for its row to hold values: below it the segment is not what it names.
MIN_SEGMENT_COVERAGE: Final[float] = 0.8
#: Parts per billion in a part per million.
PPB_PER_PPM: Final[float] = 1000.0
_FRACTION_SUM_TOLERANCE: Final[float] = 1e-6
#: Smallest search reach (mm) for white matter and pial surface: FreeSurfer caps cortical
#: thickness at 5 mm, so no cortex voxel is farther than that from both.
MIN_DEPTH_REACH_MM: Final[float] = 5.0
#: aseg cerebral cortex labels (left, right) of label maps without aparc parcels.
ASEG_CORTEX: Final[dict[fs.Hemisphere, int]] = {"L": 3, "R": 42}
#: Fewest white matter and cortex voxels with a value for the tissue means to be reported.
MIN_TISSUE_VOXELS: Final[int] = 50


_WHITE_MATTER_CODE: Final[int] = 1
_CORTEX_CODE: Final[int] = 2
#: Tissue of :func:`tissue_means` by label: aseg white matter, and as cortex every aparc parcel
#: and aseg 3/42 (aparc+aseg replaces 3/42 by the parcels; a map holding both counts both).
_TISSUE_CODES: Final[dict[int, int]] = {
    **{fs.WHITE_MATTER[h]: _WHITE_MATTER_CODE for h in fs.HEMISPHERES},
    **{
        label: _CORTEX_CODE
        for h in fs.HEMISPHERES
        for label in range(fs.CORTEX_RANGE[h][0], fs.CORTEX_RANGE[h][1] + 1)
    },
    **{ASEG_CORTEX[h]: _CORTEX_CODE for h in fs.HEMISPHERES},
}


class TissueMeans(NamedTuple):
    """Mean image intensity of cerebral white matter and of cortex where the labels say so.

    Taken over the analysed region (the motor crop, inside the image's field of view), both
    hemispheres together, from the image on its own grid with the label map resampled onto it;
    voxels without a value (NaN) are left out. White matter is aseg 2/41; cortex is every aparc
    parcel (1000-1035, 2000-2035), or aseg 3/42 in an aseg-only map. The fit check
    ``tissue_ordering`` (``imaging.checks``) compares them on SWI/T2* magnitude, where white
    matter is brighter than cortex on average (domain.md, method 2.0.0).

    Attributes
    ----------
    white_matter_mean, cortex_mean : float or None
        None where fewer than :data:`MIN_TISSUE_VOXELS` voxels of the tissue have a value.
    n_white_matter, n_cortex : int
        Voxels with a value that were averaged.
    """

    white_matter_mean: float | None
    cortex_mean: float | None
    n_white_matter: int
    n_cortex: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready values."""
        return self._asdict()


def tissue_means(image: npt.NDArray[np.floating], labels: npt.NDArray[np.integer]) -> TissueMeans:
    """:class:`TissueMeans` of an image and the label map on the same grid.

    Parameters
    ----------
    image : ndarray, shape (X, Y, Z)
        Intensities (NaN where the image has no value).
    labels : ndarray of int, shape (X, Y, Z)
        FreeSurfer aparc+aseg (or aseg) labels resampled onto the image's grid.
    """
    return _tissue_means(image, fs.label_codes(labels, _TISSUE_CODES))


def _tissue_means(image: npt.NDArray[np.floating], tissue: npt.NDArray[np.uint8]) -> TissueMeans:
    """:func:`tissue_means` from the labels' tissue codes (``_TISSUE_CODES``)."""
    white_matter, cortex = tissue == _WHITE_MATTER_CODE, tissue == _CORTEX_CODE
    finite = np.isfinite(image)

    def mean(mask: npt.NDArray[np.bool_]) -> tuple[float | None, int]:
        values = image[mask & finite]
        if values.size < MIN_TISSUE_VOXELS:
            return None, int(values.size)
        return float(np.mean(values, dtype=np.float64)), int(values.size)

    wm_mean, n_wm = mean(white_matter)
    cortex_mean, n_cortex = mean(cortex)
    return TissueMeans(wm_mean, cortex_mean, n_wm, n_cortex)


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
    qsm_unit : {"ppm", "ppb"}
        Unit of a QSM map's values. MotorBand assumes ppm, the unit most QSM pipelines write;
        the ``*_ppb`` differences are then ppm differences times :data:`PPB_PER_PPM`. A map
        whose brain values do not fit the declared unit (1st-99th percentile beyond, or within,
        ``io.QSM_PPM_BOUND``) is refused rather than scaled a thousandfold wrong. Ignored for SWI.
    reference : {"segment", "whole"}
        Which deep postcentral voxels each segment is compared with. ``"segment"`` (method
        2.0.0): those in the same slab of the precentral principal axis as the segment (the
        whole postcentral gyrus for ``whole``), so a smooth bias field along the gyrus cancels.
        ``"whole"``: the whole postcentral gyrus for every segment (methods 1.x).
    n4 : bool
        Divide the magnitude by its N4 bias field (:func:`bias.n4_correct`, fitted on the
        cerebral white matter inside the motor crop) before measuring. A field across the
        precentral axis (anterior-posterior, medial-lateral) is not cancelled by the
        segment-matched reference; N4 removes most of it. SWI/T2* magnitude only: refused for
        QSM.
    """

    depth_cut: float = 0.5
    threshold_sd: float = 2.0
    segment_fractions: SegmentFractions = field(default_factory=SegmentFractions)
    margin_mm: float = 5.0
    min_voxels: int = 50
    input_kind: InputKind = "swi"
    qsm_unit: QsmUnit = "ppm"
    reference: ReferenceMode = "segment"
    n4: bool = False

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
        if self.qsm_unit not in QSM_UNITS:
            raise ValueError(f"qsm_unit must be 'ppm' or 'ppb', got {self.qsm_unit!r}")
        if self.reference not in REFERENCE_MODES:
            raise ValueError(f"reference must be 'segment' or 'whole', got {self.reference!r}")
        if not isinstance(self.n4, bool):
            raise ValueError(f"n4 must be true or false, got {self.n4!r}")
        if self.n4 and self.input_kind == "qsm":
            raise ValueError(
                "n4 (bias-field correction) applies to SWI/T2* magnitude only: a QSM map has no "
                "receive-coil field"
            )

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
        Ten dicts (hemisphere L, R × segment whole, leg, hand, face, paracentral) with the keys
        of :data:`MEASUREMENT_FIELDS`; values are floats or None (with ``reason``), never NaN.
        ``coverage`` (0-1) is the share of the segment's labelled voxels inside the image's
        field of view; below :data:`MIN_SEGMENT_COVERAGE` the row's values are None.
    crop : tuple of 3 slices
        Region of the SWI grid that was analysed.
    crop_affine : ndarray, shape (4, 4)
        Voxel-to-world transform of the crop.
    voxel_size_mm : tuple of 3 float
    swi_crop : ndarray of float32, shape (X, Y, Z) of the crop
        The intensities measured: after N4 bias-field correction where ``Parameters.n4``.
    labels_crop : ndarray of int, shape of the crop
        Label map resampled into the crop.
    deep_mask : ndarray of bool, shape of the crop
        Deep precentral and paracentral voxels (the measured ribbon) of both hemispheres.
    band_mask : ndarray of bool, shape of the crop
        Deep ribbon voxels beyond their leg, hand, face or paracentral segment's
        ``reference_mean ∓ threshold_sd · SD`` (segments without values show none).
    parameters : dict
        :meth:`Parameters.as_dict`.
    algorithm_version : str
    registration_detail : Registration or None
        The rigid registration of the label map's anatomical image to the SWI, with its
        ``transform`` (anatomy world to SWI world, RAS+ mm; the label map was carried by it)
        for the QC picture; None where world coordinates were trusted (no anatomy given).
    tissue : TissueMeans or None
        Mean intensity of white matter and of cortex in the analysed region, for the fit check
        of tissue ordering (a label map that does not match the image).
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
    registration_detail: Registration | None = None
    tissue: TissueMeans | None = None

    @property
    def registration(self) -> dict[str, Any] | None:
        """``{method, metric, displacement_mm}`` of the registration, or None without one."""
        detail = self.registration_detail
        return None if detail is None else detail.as_dict()


def _null_measurement(
    hemisphere: fs.Hemisphere,
    segment: Segment,
    n_voxels: int,
    reason: str,
    coverage: float | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {"hemisphere": hemisphere, "segment": segment}
    row.update(dict.fromkeys(_VALUE_FIELDS))
    row["n_voxels"] = n_voxels
    row["coverage"] = coverage
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
    qsm_unit: QsmUnit = "ppm",
) -> dict[str, float | None]:
    """Band measurements from the intensities of one segment and its reference.

    Parameters
    ----------
    deep : ndarray, shape (N,)
        Intensities of deep precentral (segment) voxels.
    superficial : ndarray, shape (M,)
        Intensities of superficial precentral (segment) voxels; may be empty.
    reference : ndarray, shape (K,), K >= 2
        Intensities of the segment's reference: deep postcentral voxels of the same hemisphere
        (in the segment's slab of the precentral axis, ``Parameters.reference``).
    threshold_sd : float
        Band voxels lie beyond ``reference_mean - threshold_sd · reference_sd`` (SWI), or above
        ``reference_mean + threshold_sd · reference_sd`` on QSM where iron raises the value.
    input_kind : {"swi", "qsm"}
    qsm_unit : {"ppm", "ppb"}
        Unit of QSM intensities (ignored for SWI).

    Returns
    -------
    dict
        ``band_contrast = 1 - deep_mean / reference_mean``, ``laminar_contrast =
        1 - deep_mean / superficial_mean``, ``band_extent`` (fraction of deep voxels beyond the
        threshold), ``deep_mean``, ``superficial_mean``, ``reference_mean``, ``reference_sd``
        (sample SD, ddof=1), in the input's units. On QSM the ratios are None (a map's zero is
        arbitrary) and ``deep_minus_reference_ppb = deep_mean - reference_mean`` and
        ``deep_minus_superficial_ppb = deep_mean - superficial_mean`` hold the susceptibility
        differences in ppb (positive: more iron in the deep layers; unchanged by a constant
        offset of the map); on SWI these two are None. A value that is undefined (no
        superficial voxel, zero denominator) is None.
    """
    deep_mean = float(np.mean(deep, dtype=np.float64))
    reference_mean = float(np.mean(reference, dtype=np.float64))
    reference_sd = float(np.std(reference, dtype=np.float64, ddof=1))
    superficial_mean = (
        float(np.mean(superficial, dtype=np.float64)) if superficial.size > 0 else None
    )
    if input_kind == "qsm":
        beyond = deep > reference_mean + threshold_sd * reference_sd
        to_ppb = PPB_PER_PPM if qsm_unit == "ppm" else 1.0
        band_contrast = laminar_contrast = None
        minus_reference: float | None = (deep_mean - reference_mean) * to_ppb
        minus_superficial = (
            None if superficial_mean is None else (deep_mean - superficial_mean) * to_ppb
        )
    else:
        beyond = deep < reference_mean - threshold_sd * reference_sd
        band_contrast = _ratio_contrast(deep_mean, reference_mean)
        laminar_contrast = _ratio_contrast(deep_mean, superficial_mean)
        minus_reference = minus_superficial = None
    return {
        "band_contrast": band_contrast,
        "band_extent": float(np.count_nonzero(beyond)) / deep.size,
        "laminar_contrast": laminar_contrast,
        "deep_mean": deep_mean,
        "superficial_mean": superficial_mean,
        "reference_mean": reference_mean,
        "reference_sd": reference_sd,
        "deep_minus_reference_ppb": minus_reference,
        "deep_minus_superficial_ppb": minus_superficial,
    }


class SegmentFrame(NamedTuple):
    """Principal axis of one hemisphere's precentral label, in world coordinates (mm).

    Attributes
    ----------
    origin_mm : ndarray, shape (3,)
        Centre of the label's voxels (outliers trimmed).
    axis : ndarray, shape (3,)
        Unit vector of the first principal axis, oriented so that world +z (superior) is
        positive.
    low_mm, high_mm : float
        Robust inferior and superior ends: percentiles of the voxels' projections on the axis
        (:data:`SEGMENT_EXTENT_PERCENTILES`), relative to ``origin_mm``.
    """

    origin_mm: npt.NDArray[np.float64]
    axis: npt.NDArray[np.float64]
    low_mm: float
    high_mm: float

    def position(self, world_mm: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
        """Position of world points (N, 3) along the axis: 0 inferior end, 1 superior end.

        Points beyond the robust ends fall below 0 or above 1 (they join the end segments).
        """
        projection = (np.asarray(world_mm, dtype=np.float64) - self.origin_mm) @ self.axis
        span = self.high_mm - self.low_mm
        if span <= 0:
            return np.full(projection.shape, 0.5)
        return np.asarray((projection - self.low_mm) / span, dtype=np.float64)


def _world(
    ijk: npt.NDArray[np.integer], affine: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    return np.asarray(ijk.astype(np.float64) @ affine[:3, :3].T + affine[:3, 3], dtype=np.float64)


def segment_frame(
    world_mm: npt.NDArray[np.floating],
    *,
    extent_percentiles: tuple[float, float] = SEGMENT_EXTENT_PERCENTILES,
) -> SegmentFrame:
    """Robust principal axis and extent of a set of voxels (one hemisphere's precentral label).

    The axis is fitted to the voxels inside the per-axis ``extent_percentiles`` box (so a
    stray voxel far away cannot tilt it); the extent is those percentiles of all voxels'
    projections on it (so a stray voxel cannot stretch it).

    Parameters
    ----------
    world_mm : ndarray, shape (N, 3), N >= 1
        World coordinates (mm) of the voxels.
    extent_percentiles : (low, high)
        Percentiles (0-100) defining the ends; (0, 100) gives the full extent.

    Returns
    -------
    SegmentFrame
    """
    world = np.asarray(world_mm, dtype=np.float64)
    box_low, box_high = np.percentile(world, extent_percentiles, axis=0)
    core = np.all((world >= box_low) & (world <= box_high), axis=1)
    fitted = world[core] if np.count_nonzero(core) >= 3 else world
    origin = fitted.mean(axis=0)
    centred = fitted - origin
    _, vectors = np.linalg.eigh(centred.T @ centred)
    axis = vectors[:, -1]
    if axis[2] < 0:
        axis = -axis
    low, high = np.percentile((world - origin) @ axis, extent_percentiles)
    return SegmentFrame(origin, np.asarray(axis, dtype=np.float64), float(low), float(high))


def somatotopic_position(
    ijk: npt.NDArray[np.integer],
    affine: npt.NDArray[np.float64],
    *,
    extent_percentiles: tuple[float, float] = SEGMENT_EXTENT_PERCENTILES,
) -> npt.NDArray[np.float64]:
    """Position of voxels along their principal axis, 0 = inferior end, 1 = superior end.

    Parameters
    ----------
    ijk : ndarray of int, shape (N, 3)
        Voxel indices (e.g. of one hemisphere's precentral voxels).
    affine : ndarray, shape (4, 4)
        Voxel-to-world transform of the grid the indices refer to.
    extent_percentiles : (low, high)
        See :func:`segment_frame`; voxels beyond the robust ends lie below 0 or above 1.

    Returns
    -------
    ndarray of float64, shape (N,)
        Projection on the first principal axis of the world coordinates, oriented so that world
        +z (superior) is positive, scaled to 0..1 over the voxels' (robust) extent.
    """
    world = _world(ijk, affine)
    return segment_frame(world, extent_percentiles=extent_percentiles).position(world)


def _segment_of(
    position: npt.NDArray[np.float64], fractions: SegmentFractions
) -> dict[Segment, npt.NDArray[np.bool_]]:
    """Leg, hand and face membership of precentral voxels from their axis position."""
    leg_start = 1.0 - fractions.leg
    return {
        "leg": position >= leg_start,
        "hand": (position >= fractions.face) & (position < leg_start),
        "face": position < fractions.face,
    }


def _segment_members(
    is_precentral: npt.NDArray[np.bool_],
    is_paracentral: npt.NDArray[np.bool_],
    precentral_world_mm: npt.NDArray[np.float64],
    fractions: SegmentFractions,
    frame: SegmentFrame,
) -> dict[Segment, npt.NDArray[np.bool_]]:
    """Whole, leg, hand, face and paracentral membership (domain.md, method 2.1.0) of points.

    ``whole``, ``leg``, ``hand`` and ``face`` are precentral voxels only (leg the superior
    share of the precentral extent); ``paracentral`` is the paracentral lobule's label, its own
    segment (mostly sensory leg cortex on the medial wall).

    Parameters
    ----------
    is_precentral, is_paracentral : ndarray of bool, shape (N,)
        Which of the points carry one hemisphere's precentral and paracentral labels.
    precentral_world_mm : ndarray, shape (P, 3)
        World coordinates (mm) of the precentral points, in their order.
    fractions : SegmentFractions
    frame : SegmentFrame
        The hemisphere's axis, fitted on the whole label map (not on this grid, which may be
        cut by the image's field of view).

    Returns
    -------
    dict of ndarray of bool, shape (N,)
    """
    members: dict[Segment, npt.NDArray[np.bool_]] = {"whole": is_precentral}
    precentral = np.flatnonzero(is_precentral)
    position = frame.position(precentral_world_mm)
    for segment, chosen in _segment_of(position, fractions).items():
        member = np.zeros(is_precentral.shape, dtype=bool)
        member[precentral[chosen]] = True
        members[segment] = member
    members["paracentral"] = is_paracentral
    return members


def _reference_members(
    is_reference: npt.NDArray[np.bool_],
    reference_world_mm: npt.NDArray[np.float64],
    fractions: SegmentFractions,
    frame: SegmentFrame,
    mode: ReferenceMode,
    paracentral_slab: tuple[float, float] | None,
) -> dict[Segment, npt.NDArray[np.bool_]]:
    """Deep postcentral voxels (of the points) each segment is compared with (method 2.0.0).

    ``is_reference`` marks the deep postcentral points and ``reference_world_mm`` (R, 3) holds
    their world coordinates, in their order. With ``mode="segment"`` the postcentral voxels are cut into leg,
    hand and face slabs along the precentral principal axis with the precentral segments'
    bounds (the end slabs open, as the precentral ones are); ``whole`` keeps the whole gyrus.
    ``paracentral`` (method 2.1.0) gets the deep postcentral voxels in the paracentral lobule's
    own slab of the same axis: the robust (1st-99th percentile) extent of the paracentral
    label's positions on it, taken from the whole label map. That slab is the superior
    postcentral gyrus beside the lobule, so a smooth bias field along the axis cancels for the
    lobule as it does for leg, hand and face; the lobule reaches lower on the axis than the leg
    slab (the medial wall runs down to the cingulate sulcus), which is why it does not share
    the leg slab's reference. With ``mode="whole"`` every segment gets the whole gyrus.
    """
    members: dict[Segment, npt.NDArray[np.bool_]] = {"whole": is_reference}
    if mode == "whole":
        members.update(dict.fromkeys(SEGMENTS[1:], is_reference))
        return members
    reference = np.flatnonzero(is_reference)
    position = frame.position(reference_world_mm)
    for segment, chosen in _segment_of(position, fractions).items():
        member = np.zeros(is_reference.shape, dtype=bool)
        member[reference[chosen]] = True
        members[segment] = member
    slab = np.zeros(is_reference.shape, dtype=bool)
    if paracentral_slab is not None:
        low, high = paracentral_slab
        slab[reference[(position >= low) & (position <= high)]] = True
    members["paracentral"] = slab
    return members


@dataclass(frozen=True)
class _LabelSegments:
    """What the whole label map (before any crop) decides for one hemisphere's segments."""

    frame: SegmentFrame | None
    coverage: dict[Segment, float | None]
    #: Robust extent (1st-99th percentile) of the paracentral label's positions on ``frame``'s
    #: axis (0 inferior end, 1 superior end of the precentral extent); None without the label.
    paracentral_slab: tuple[float, float] | None = None


def _mask_indices(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], ...]:
    """``np.nonzero(mask)`` in memory order: NIfTI arrays are Fortran-ordered."""
    if memory_order(mask) == "F":
        flat = np.flatnonzero(mask.ravel(order="F"))
        return tuple(np.unravel_index(flat, mask.shape, order="F"))
    return tuple(np.nonzero(mask))


def _label_segments(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
    motor: npt.NDArray[np.bool_],
    fractions: SegmentFractions,
) -> dict[fs.Hemisphere, _LabelSegments]:
    """Segment frames and coverage of both hemispheres, from the whole label map.

    Coverage of a segment is the share of its labelled voxels (precentral voxels of the
    segment; paracentral voxels for ``paracentral``) whose centre lies inside the image grid.
    """
    index = _mask_indices(motor)
    values = label_data[index]
    # Segments and coverage need the precentral and paracentral voxels only.
    segmented = np.isin(
        values,
        [fs.PRECENTRAL[h] for h in fs.HEMISPHERES] + [fs.PARACENTRAL[h] for h in fs.HEMISPHERES],
    )
    index = tuple(axis[segmented] for axis in index)
    values = values[segmented]
    ijk = np.stack(index, axis=1)
    world = _world(ijk, label_affine)
    to_swi = np.linalg.inv(swi_affine)
    shape = np.asarray(swi_shape[:3], dtype=np.float64)

    def within(world_mm: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        swi_ijk = world_mm @ to_swi[:3, :3].T + to_swi[:3, 3]
        return np.asarray(np.all((swi_ijk > -0.5) & (swi_ijk < shape - 0.5), axis=1))

    # The image grid is a box and the voxels lie in their own bounding box: when its eight
    # corners are inside, every voxel is (the usual case of a label map covering the image).
    inside = np.ones(len(ijk), dtype=bool)
    if ijk.size:
        corners = np.array(list(itertools.product(*((a.min(), a.max()) for a in index))))
        if not within(_world(corners, label_affine)).all():
            inside = within(world)
    out: dict[fs.Hemisphere, _LabelSegments] = {}
    for hemisphere in fs.HEMISPHERES:
        precentral = values == fs.PRECENTRAL[hemisphere]
        if not precentral.any():
            out[hemisphere] = _LabelSegments(None, dict.fromkeys(SEGMENTS))
            continue
        precentral_world = world[precentral]
        frame = segment_frame(precentral_world)
        members = _segment_of(frame.position(precentral_world), fractions)
        inside_pre = inside[precentral]
        paracentral = values == fs.PARACENTRAL[hemisphere]
        inside_para = inside[paracentral]
        coverage: dict[Segment, float | None] = {"whole": float(inside_pre.mean())}
        for segment, member in members.items():
            labelled = int(np.count_nonzero(member))
            seen = int(np.count_nonzero(inside_pre[member]))
            coverage[segment] = seen / labelled if labelled else None
        slab: tuple[float, float] | None = None
        if inside_para.size:
            coverage["paracentral"] = float(inside_para.mean())
            low, high = np.percentile(
                frame.position(world[paracentral]), SEGMENT_EXTENT_PERCENTILES
            )
            slab = (float(low), float(high))
        else:
            coverage["paracentral"] = None
        out[hemisphere] = _LabelSegments(frame, coverage, slab)
    return out


@dataclass(frozen=True)
class _HemisphereGeometry:
    """What the label map alone decides for one hemisphere: its box, depth classes, segments.

    Voxel sets are flat indices into the hemisphere's box (C order, ascending), so that
    measuring is a gather of the values they name rather than a pass over the box per segment.
    """

    hemisphere: fs.Hemisphere
    box: Crop | None
    reason: str | None
    counts: dict[Segment, int]
    coverage: dict[Segment, float | None]
    #: Deep and superficial voxels of each segment.
    deep: dict[Segment, npt.NDArray[np.intp]] | None = None
    superficial: dict[Segment, npt.NDArray[np.intp]] | None = None
    #: Deep postcentral voxels each segment is compared with (``Parameters.reference``).
    references: dict[Segment, npt.NDArray[np.intp]] | None = None
    #: Deep precentral and paracentral voxels (the measured ribbon).
    ribbon: npt.NDArray[np.intp] | None = None
    #: Precentral and paracentral cortex (deep and superficial): where values are read.
    measured_cortex: npt.NDArray[np.intp] | None = None
    #: Deep postcentral voxels (the reference region).
    reference: npt.NDArray[np.intp] | None = None

    @property
    def box_shape(self) -> tuple[int, int, int]:
        """Shape of the box (its slices are bounded)."""
        if self.box is None:
            return (0, 0, 0)
        x, y, z = (int(s.stop) - int(s.start) for s in self.box)
        return (x, y, z)


@dataclass(frozen=True)
class _LabelGeometry:
    crop: Crop
    labels_crop: npt.NDArray[Any]
    affine: npt.NDArray[np.float64]
    voxel_size_mm: tuple[float, float, float]
    hemispheres: list[_HemisphereGeometry]
    #: Labelled voxels of the crop (any label but 0).
    brain: npt.NDArray[np.bool_]
    #: ``_TISSUE_CODES`` of the crop's labels, for :func:`tissue_means`.
    tissue: npt.NDArray[np.uint8]


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
    segments_of: Callable[[], dict[fs.Hemisphere, _LabelSegments]],
) -> _HemisphereGeometry:
    """One hemisphere's geometry; ``segments_of()`` gives the label map's segments when they
    are needed (they are computed meanwhile, after the depth here)."""

    def null(reason: str, counts: dict[Segment, int] | None = None) -> _HemisphereGeometry:
        coverage = segments_of()[hemisphere].coverage
        return _HemisphereGeometry(hemisphere, None, reason, counts or {}, coverage)

    margin_vox = np.ceil(params.margin_mm / np.asarray(voxel_size_mm)).astype(np.int64)
    box = _hemisphere_box(labels, hemisphere, margin_vox)
    if box is None:
        return null("no precentral, postcentral or paracentral labels in this hemisphere")
    labels_box = labels[box]
    # Everything is decided on the measured gyri's voxels (points, in C order) alone.
    points = np.nonzero(
        (labels_box == fs.PRECENTRAL[hemisphere])
        | (labels_box == fs.PARACENTRAL[hemisphere])
        | (labels_box == fs.POSTCENTRAL[hemisphere])
    )
    point_labels = labels_box[points]
    is_precentral = point_labels == fs.PRECENTRAL[hemisphere]
    is_paracentral = point_labels == fs.PARACENTRAL[hemisphere]
    is_postcentral = point_labels == fs.POSTCENTRAL[hemisphere]
    if not is_precentral.any():
        return null("no precentral voxels in this hemisphere")
    # The crop margin is also the search reach: the crop already assumes white matter and pial
    # surface lie that close to the motor labels.
    depth = cortical_depth_at(
        labels_box,
        hemisphere,
        voxel_size_mm,
        points,
        reach_mm=max(params.margin_mm, MIN_DEPTH_REACH_MM),
    )
    label_segments = segments_of()[hemisphere]
    coverage = label_segments.coverage
    if label_segments.frame is None:
        return null("no precentral voxels in this hemisphere")
    deep = depth < params.depth_cut  # NaN (no depth) compares False
    superficial = depth >= params.depth_cut
    if not np.any(deep | superficial):
        return null("no white matter or no cortical surface: cortical depth is undefined")
    box_affine = crop_affine(affine, box)
    segments = _segment_members(
        is_precentral,
        is_paracentral,
        _world(np.stack([p[is_precentral] for p in points], axis=1), box_affine),
        params.segment_fractions,
        label_segments.frame,
    )
    counts: dict[Segment, int] = {s: int(np.count_nonzero(deep & segments[s])) for s in SEGMENTS}
    minimum = params.min_voxels
    is_reference = deep & is_postcentral
    n_reference = int(np.count_nonzero(is_reference))
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
    references = _reference_members(
        is_reference,
        _world(np.stack([p[is_reference] for p in points], axis=1), box_affine),
        params.segment_fractions,
        label_segments.frame,
        params.reference,
        label_segments.paracentral_slab,
    )
    flat = np.ravel_multi_index(points, labels_box.shape)
    measured = is_precentral | is_paracentral
    return _HemisphereGeometry(
        hemisphere,
        box,
        None,
        counts,
        coverage,
        deep={s: flat[deep & segments[s]] for s in SEGMENTS},
        superficial={s: flat[superficial & segments[s]] for s in SEGMENTS},
        references={s: flat[references[s]] for s in SEGMENTS},
        ribbon=flat[deep & measured],
        measured_cortex=flat[(deep | superficial) & measured],
        reference=flat[is_reference],
    )


def _coverage_reason(segment: Segment, coverage: float | None) -> str | None:
    """Why a segment's row is null for coverage, or None where its coverage suffices."""
    if coverage is None:
        return f"the label map holds no voxels of the {segment} segment"
    if coverage < MIN_SEGMENT_COVERAGE:
        return (
            f"coverage {coverage:.0%}: only {coverage:.0%} of the {segment} segment's labelled "
            f"voxels lie inside the image's field of view (minimum {MIN_SEGMENT_COVERAGE:.0%})"
        )
    return None


def _box_values(
    swi_crop: npt.NDArray[np.float32], geometry: _HemisphereGeometry
) -> npt.NDArray[np.float32]:
    """The hemisphere box's intensities, flat in C order (what its index sets refer to)."""
    if geometry.box is None:
        return np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(swi_crop[geometry.box]).reshape(-1)


def _hemisphere_measurements(
    swi_crop: npt.NDArray[np.float32], geometry: _HemisphereGeometry, params: Parameters
) -> tuple[list[dict[str, Any]], npt.NDArray[np.intp] | None]:
    """Measurement rows of one hemisphere and its band voxels (flat indices into its box)."""
    hemisphere = geometry.hemisphere
    coverage = geometry.coverage
    if (
        geometry.reason is not None
        or geometry.box is None
        or geometry.deep is None
        or geometry.superficial is None
        or geometry.references is None
    ):
        why = geometry.reason or "cortical depth is undefined"
        nulls = [
            _null_measurement(
                hemisphere,
                s,
                geometry.counts.get(s, 0),
                _coverage_reason(s, coverage.get(s)) or why,
                coverage.get(s),
            )
            for s in SEGMENTS
        ]
        return nulls, None
    values_box = _box_values(swi_crop, geometry)
    minimum = params.min_voxels
    band: list[npt.NDArray[np.intp]] = []
    by_design = _NOT_FOR_KIND[params.input_kind]
    rows = []
    for segment in SEGMENTS:
        deep = geometry.deep[segment]
        n_deep = geometry.counts[segment]
        reference = values_box[geometry.references[segment]]
        too_little = _coverage_reason(segment, coverage.get(segment))
        if too_little is None and n_deep < minimum:
            too_little = f"only {n_deep} deep voxels in the {segment} segment (minimum {minimum})"
        if too_little is None and reference.size < minimum:
            too_little = (
                f"only {reference.size} deep postcentral (reference) voxels in the slab of the "
                f"{segment} segment (minimum {minimum})"
            )
        if too_little is not None:
            rows.append(
                _null_measurement(hemisphere, segment, n_deep, too_little, coverage.get(segment))
            )
            continue
        deep_values = values_box[deep]
        values = band_measurement(
            deep_values,
            values_box[geometry.superficial[segment]],
            reference,
            threshold_sd=params.threshold_sd,
            input_kind=params.input_kind,
            qsm_unit=params.qsm_unit,
        )
        undefined = [
            name for name, value in values.items() if value is None and name not in by_design
        ]
        reason = (
            None
            if not undefined
            else f"{', '.join(undefined)} undefined (no superficial voxels or a zero mean)"
        )
        row: dict[str, Any] = {"hemisphere": hemisphere, "segment": segment, **values}
        row["n_voxels"] = n_deep
        row["coverage"] = coverage.get(segment)
        row["reason"] = reason
        rows.append({key: row[key] for key in MEASUREMENT_FIELDS})
        if segment == "whole":
            continue
        # The QC picture's band voxels: each ribbon voxel against its own segment's reference
        # (leg, hand, face and paracentral together cover the ribbon).
        mean = float(values["reference_mean"] or 0.0)
        sd = float(values["reference_sd"] or 0.0)
        if params.input_kind == "qsm":
            band.append(deep[deep_values > mean + params.threshold_sd * sd])
        else:
            band.append(deep[deep_values < mean - params.threshold_sd * sd])
    return rows, (np.concatenate(band) if band else np.zeros(0, dtype=np.intp))


def _as_3d(name: str, data: npt.NDArray[Any]) -> npt.NDArray[Any]:
    array = np.asanyarray(data)
    if array.ndim == 4 and array.shape[3] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise io.VolumeError(f"{name} must be a 3-D volume, got shape {array.shape}")
    return array


@dataclass(frozen=True)
class _Prepared:
    """The label map's geometry, the SWI's crop, and what was checked of it while waiting."""

    geometry: _LabelGeometry
    swi_crop: npt.NDArray[np.float32]
    #: Tissue means of the crop as read (None where N4 will change the intensities first).
    tissue: TissueMeans | None


def _prepare(
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
    params: Parameters,
    motor: npt.NDArray[np.bool_] | None,
    swi_crop_of: Callable[[Crop], npt.NDArray[np.float32]],
    name: str,
) -> _Prepared:
    """Everything the label map decides, and the SWI crop's checks, computed side by side.

    The hemispheres' depth (most of the work) runs on two threads as soon as the crop is known;
    this thread meanwhile fits the segments on the whole label map, prepares the crop's tissue
    classes, takes the SWI's crop (``swi_crop_of``, which may wait for the file to be read) and
    checks its intensities. Refusals come in the order: label map against the image (overlap,
    crop), then intensities (input kind, QSM unit); NaN in the measured regions is checked by
    :func:`_result`, which needs the geometry.
    """
    if label_data.dtype.kind not in "iu":
        rounded = np.rint(label_data)
        if not np.array_equal(rounded, label_data):
            raise io.VolumeError("label map holds non-integer values")
        label_data = rounded.astype(np.int32)
    if motor is None:
        motor = fs.motor_mask(label_data)
    io.check_overlap_geometry(swi_affine, swi_shape, label_affine, motor, labels=label_data)
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
    segments: concurrent.futures.Future[dict[fs.Hemisphere, _LabelSegments]] = (
        concurrent.futures.Future()
    )
    # The hemispheres are independent and scipy's distance transforms release the GIL for
    # most of their work, so two threads use both cores.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(fs.HEMISPHERES)) as pool:
        futures = [
            pool.submit(
                _hemisphere_geometry,
                labels_crop,
                affine,
                voxel_size_mm,
                hemisphere,
                params,
                segments.result,
            )
            for hemisphere in fs.HEMISPHERES
        ]
        # Segments are fitted on the whole label map: an image that cuts the gyrus must not
        # move them, only lower the coverage of the segments it cuts.
        try:
            segments.set_result(
                _label_segments(
                    label_data, label_affine, swi_affine, swi_shape, motor, params.segment_fractions
                )
            )
        except BaseException as exc:
            segments.set_exception(exc)
            raise
        brain = labels_crop != 0
        tissue_codes = fs.label_codes(labels_crop, _TISSUE_CODES)
        swi_crop = swi_crop_of(crop)
        _check_kind(swi_crop[brain], params, name)
        # N4 changes the intensities first; otherwise the tissue means are taken now.
        tissue = None if params.n4 else _tissue_means(swi_crop, tissue_codes)
        hemispheres = [future.result() for future in futures]
    geometry = _LabelGeometry(
        crop, labels_crop, affine, voxel_size_mm, hemispheres, brain, tissue_codes
    )
    return _Prepared(geometry, swi_crop, tissue)


_HEMISPHERE_NAMES: Final[dict[str, str]] = {"L": "left", "R": "right"}


def _check_kind(brain: npt.NDArray[np.float32], params: Parameters, name: str) -> None:
    """Refuse intensities (of the labelled voxels) that do not fit the input kind or unit."""
    io.check_intensity_kind(brain, params.input_kind, name=name)
    if params.input_kind == "qsm":
        _check_qsm_unit(brain, params.qsm_unit, name)


def _check_measured_values(
    swi_crop: npt.NDArray[np.float32], geometry: _LabelGeometry, name: str
) -> None:
    """Refuse NaN where the band is measured (the ribbon) or its reference."""
    missing = []
    for hemisphere in geometry.hemispheres:
        cortex, reference = hemisphere.measured_cortex, hemisphere.reference
        if hemisphere.box is None or cortex is None or reference is None:
            continue
        values_box = _box_values(swi_crop, hemisphere)
        side = _HEMISPHERE_NAMES[hemisphere.hemisphere]
        for region, index in (
            (f"{side} precentral/paracentral cortex (the measured ribbon)", cortex),
            (f"{side} deep postcentral cortex (the reference region)", reference),
        ):
            n_nan = int(np.count_nonzero(np.isnan(values_box[index])))
            if n_nan:
                missing.append(f"{n_nan} of {index.size} voxels of the {region}")
    if missing:
        raise io.VolumeError(
            f"{name}: the image is NaN (no value) in {'; '.join(missing)}: the band cannot be "
            "measured there (a brain mask that cuts into the cortex?); NaN is accepted only "
            "outside the measured regions"
        )


def _check_qsm_unit(values: npt.NDArray[np.floating], unit: QsmUnit, name: str) -> None:
    """Refuse a QSM map whose brain values do not fit the declared unit (ppm vs ppb)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    p1, p99 = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    reach = max(abs(p1), abs(p99))
    if unit == "ppm" and reach > io.QSM_PPM_BOUND:
        raise io.VolumeError(
            f"{name}: the QSM values inside the brain labels run from {p1:.4g} to {p99:.4g} "
            f"(1st-99th percentile), beyond the +-{io.QSM_PPM_BOUND:g} ppm brain susceptibility "
            "can reach: the map is probably in ppb; quantify it with the QSM unit ppb"
        )
    if unit == "ppb" and reach <= io.QSM_PPM_BOUND:
        raise io.VolumeError(
            f"{name}: the QSM values inside the brain labels run from {p1:.4g} to {p99:.4g} "
            f"(1st-99th percentile), within +-{io.QSM_PPM_BOUND:g}: the map is probably in ppm, "
            "not ppb; quantify it with the QSM unit ppm"
        )


def _result(
    prepared: _Prepared,
    params: Parameters,
    *,
    name: str,
    registration: Registration | None = None,
) -> QuantResult:
    # Imported here: the package module defines the version and imports this module.
    from imaging.band import ALGORITHM_VERSION

    geometry, swi_crop = prepared.geometry, prepared.swi_crop
    _check_measured_values(swi_crop, geometry, name)
    if params.n4:
        # Fitted on white matter alone: on every labelled voxel N4 takes the band for field.
        white_matter = np.isin(geometry.labels_crop, list(fs.WHITE_MATTER.values()))
        try:
            swi_crop = n4_correct(swi_crop, white_matter, geometry.voxel_size_mm)
        except ValueError as exc:
            raise io.VolumeError(f"{name}: {exc}") from exc
    deep_mask = np.zeros(swi_crop.shape, dtype=bool)
    band_mask = np.zeros(swi_crop.shape, dtype=bool)
    measurements: list[dict[str, Any]] = []
    for hemisphere in geometry.hemispheres:
        rows, band = _hemisphere_measurements(swi_crop, hemisphere, params)
        measurements.extend(rows)
        if hemisphere.box is None:
            continue
        if hemisphere.ribbon is not None:
            deep_mask[hemisphere.box][np.unravel_index(hemisphere.ribbon, hemisphere.box_shape)] = (
                True
            )
        if band is not None:
            band_mask[hemisphere.box][np.unravel_index(band, hemisphere.box_shape)] = True
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
        registration_detail=registration,
        tissue=(
            prepared.tissue
            if prepared.tissue is not None
            else _tissue_means(swi_crop, geometry.tissue)
        ),
    )


def quantify(
    swi_data: npt.NDArray[Any],
    swi_affine: npt.NDArray[np.float64],
    label_data: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    params: Parameters | None = None,
    *,
    motor: npt.NDArray[np.bool_] | None = None,
    anatomy: Anatomy | None = None,
) -> QuantResult:
    """Quantify the motor band sign of one SWI (or QSM) volume with its label map.

    With ``anatomy`` (the image the label map was made from), that image is first registered
    rigidly to the SWI (:func:`register.register_anatomy`) and the label map follows the
    transform (its affine becomes ``transform @ label_affine``); without it world coordinates
    are trusted, and the result's ``registration`` is None.

    Parameters
    ----------
    swi_data : ndarray, shape (X, Y, Z)
        Intensities (any real dtype; only the motor crop is converted to float32). NaN is
        accepted outside the measured regions (QSM and CLEARSWI mask the background so).
    swi_affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) transform of the SWI.
    label_data : ndarray of int, shape (U, V, W)
        FreeSurfer aparc+aseg labels on any grid overlapping the SWI; the whole map defines
        the segments, whatever part of it the SWI covers.
    label_affine : ndarray, shape (4, 4)
        Voxel-to-world (mm) transform of the label map.
    params : Parameters, optional
        Defaults to :class:`Parameters()`.
    motor : ndarray of bool, shape (U, V, W), optional
        ``labels.motor_mask(label_data)`` where the caller has it already.
    anatomy : (ndarray, ndarray) or Volume, optional
        The anatomical image the label map was made on (FreeSurfer ``norm.mgz``/``T1.mgz``, a
        T1w NIfTI), as (data of shape (A, B, C), voxel-to-world RAS+ affine), in the label map's
        world. Registration needs a magnitude image as ``swi_data``.

    Returns
    -------
    QuantResult
        Ten measurements (L/R × whole/leg/hand/face/paracentral) plus the crop and masks for the
        QC image, and the registration where ``anatomy`` was given.

    Raises
    ------
    VolumeError
        Wrong dimensions, no motor labels, an image that misses the motor strip (coverage) or
        the label map altogether, intensities that do not fit ``params.input_kind`` (a negative
        or phase-like "SWI", a QSM map in the other unit), or NaN in the measured ribbon or the
        reference region; with ``anatomy``, any refusal of :func:`register.register_anatomy`
        (no overlap with the SWI, a failed or diverged registration).
    """
    params = params or Parameters()
    swi_data = _as_3d("SWI", swi_data)
    label_data = _as_3d("label map", label_data)
    swi_affine = np.asarray(swi_affine, dtype=np.float64)
    label_affine = np.asarray(label_affine, dtype=np.float64)
    registration = None
    if anatomy is not None:
        anatomy_data, anatomy_affine = _anatomy_arrays(anatomy)
        registration = register_anatomy(
            swi_data,
            swi_affine,
            anatomy_data,
            anatomy_affine,
            label_data,
            label_affine,
            motor=motor,
        )
        label_affine = carry_labels(label_affine, registration)
    name = params.input_kind.upper()
    prepared = _prepare(
        label_data,
        label_affine,
        swi_affine,
        swi_data.shape,
        params,
        motor,
        lambda crop: np.asarray(swi_data[crop], dtype=np.float32),
        name,
    )
    return _result(prepared, params, name=name, registration=registration)


def _anatomy_arrays(anatomy: Anatomy) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """(data, affine) of the anatomical image, 3-D."""
    if isinstance(anatomy, io.Volume):
        data, affine = anatomy.data, anatomy.affine
    else:
        data, affine = anatomy
    return _as_3d("anatomical image", data), np.asarray(affine, dtype=np.float64)


def quantify_files(
    swi_path: Path | str,
    labels_path: Path | str,
    params: Parameters | None = None,
    *,
    echo: int | None = None,
    anatomy: Path | str | None = None,
) -> QuantResult:
    """Load, validate and quantify an SWI (or QSM) file with its label map file.

    Parameters
    ----------
    swi_path : path to a .nii, .nii.gz or .mgz intensity volume
    labels_path : path to a .nii, .nii.gz or .mgz FreeSurfer label map
    params : Parameters, optional
    echo : int, optional
        Echo to take from a 4-D multi-echo SWI/T2* file.
    anatomy : path to a .nii, .nii.gz or .mgz file, optional
        The anatomical image the label map was made from (FreeSurfer ``mri/norm.mgz`` or
        ``mri/T1.mgz``, or the T1w NIfTI): registered rigidly to the SWI first, and the label
        map follows (see :func:`quantify`). Without it world coordinates are trusted.

    Returns
    -------
    QuantResult

    Raises
    ------
    VolumeError
        Any validation failure of any file, or any refusal of :func:`quantify`.
    """
    params = params or Parameters()
    swi_affine, swi_shape = io.volume_geometry(swi_path, echo=echo)
    # Reading the SWI is mostly zlib work, which releases the GIL: it runs on the other core
    # while the label map is read and the label-side work (crop, resampling) is done; only the
    # crop is converted to float32, and checked while the depth is computed (see _prepare).
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        swi_future = pool.submit(io.read_intensities, swi_path, echo=echo)
        try:
            labels = io.load_label_map(labels_path, check=False)
            # One pass over the full label map serves the check, the overlap test and the crop.
            motor = fs.motor_mask(labels.data)
            io.check_label_map(labels, name=Path(labels_path).name, motor=motor)
            label_affine = labels.affine
            registration = None
            if anatomy is not None:
                anatomy_volume = io.load_volume(anatomy)
                # Only the registration's crop of the SWI is converted to float32.
                region = swi_region(labels.data, label_affine, swi_affine, swi_shape, motor=motor)
                registration = register_anatomy(
                    swi_future.result().as_float32(region),
                    crop_affine(swi_affine, region),
                    anatomy_volume.data,
                    anatomy_volume.affine,
                    labels.data,
                    label_affine,
                    motor=motor,
                )
                label_affine = carry_labels(label_affine, registration)
            name = Path(swi_path).name
            prepared = _prepare(
                labels.data,
                label_affine,
                swi_affine,
                swi_shape,
                params,
                motor,
                lambda crop: swi_future.result().as_float32(crop),
                name,
            )
        except BaseException:
            swi_future.cancel()
            raise
    return _result(prepared, params, name=name, registration=registration)
