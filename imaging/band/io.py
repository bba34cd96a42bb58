"""Loading, validating and converting MRI volumes for the motor band quantification."""

from __future__ import annotations

import gzip
import importlib
import json
import math
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import nibabel as nib
import numpy as np
import numpy.typing as npt

from imaging.band import labels as fs

#: Accepted voxel edge lengths (mm): below is a unit error (metres, microns), above is not MRI.
MIN_VOXEL_SIZE_MM: Final[float] = 0.05
MAX_VOXEL_SIZE_MM: Final[float] = 10.0
#: Accepted matrix size per spatial axis.
MIN_DIM: Final[int] = 2
MAX_DIM: Final[int] = 2048
#: Largest decoded image MotorBand accepts (bytes, as declared by the header): a 512 x 512 x 512
#: float64 volume; a brain MRI at 0.5 mm isotropic in float32 is a fifth of it.
MAX_DATA_BYTES: Final[int] = 1024**3
#: Deflate cannot compress better than about 1032:1, so a gzip file declaring more is lying.
MAX_DEFLATE_RATIO: Final[int] = 1032
#: Compression ratio beyond which a compressed intensity image is refused before it is inflated:
#: MRI magnitudes, phases and susceptibility maps compress 2-20:1 (50:1 with a large masked
#: background); a file far beyond that is mostly constant, i.e. a decompression bomb. Label maps
#: (mostly background) compress much better: FreeSurfer's aparc+aseg.mgz about 170:1.
MAX_INTENSITY_RATIO: Final[int] = 100
MAX_LABEL_RATIO: Final[int] = MAX_DEFLATE_RATIO
#: The ratio is judged from this decoded size up: a small constant image (a mask, a test
#: phantom) compresses as well as a bomb but costs nothing to inflate.
BOMB_MIN_BYTES: Final[int] = 64 * 1024**2
#: Smallest |det| of an affine's 3x3 part over the product of its column norms.
MIN_AFFINE_DET: Final[float] = 1e-6

#: Motor-label voxels sampled to test that the label map overlaps the SWI.
OVERLAP_SAMPLE: Final[int] = 20_000
#: Smallest share of motor-label voxels (precentral, postcentral, paracentral) inside the image's
#: field of view. Partial coverage is handled per segment (``measure.MIN_SEGMENT_COVERAGE``);
#: below this share the image misses the motor strip and nothing could be measured.
MIN_MOTOR_COVERAGE: Final[float] = 0.1
#: Below this share of all labelled voxels inside the field of view the label map does not
#: overlap the image at all: another subject, session or space rather than a partial slab.
MIN_LABEL_OVERLAP: Final[float] = 0.02

IntensityKind = Literal["swi", "qsm"]
#: What each input kind is, in messages.
KIND_NAMES: Final[dict[str, str]] = {
    "swi": "an SWI or T2*-weighted magnitude",
    "qsm": "a QSM susceptibility map",
}
#: Largest share of negative voxels a magnitude image may hold (inside the brain labels, or among
#: the non-zero voxels of a file): interpolation rings a few edge voxels below zero, but a
#: magnitude is never negative, so more than this is a signed map (QSM, field map, phase).
MAX_NEGATIVE_FRACTION: Final[float] = 0.05
#: A phase image is wrapped: its values are symmetric about 0 (|min + max| at most this share of
#: max - min) ...
PHASE_SYMMETRY_TOLERANCE: Final[float] = 0.1
#: ... and spread evenly over that range: interquartile range at least this share of the half
#: range (1 for a uniform wrap; tissue maps such as QSM, peaked near 0, stay far below).
PHASE_MIN_IQR_FRACTION: Final[float] = 0.25
#: Half ranges of the phase conventions MotorBand names (radians; Siemens' 12-bit scanner units),
#: and the relative tolerance of the match.
PHASE_HALF_RANGES: Final[tuple[tuple[str, float], ...]] = (
    ("radians (-pi to pi)", math.pi),
    ("scanner units (-4096 to 4096)", 4096.0),
)
PHASE_RANGE_TOLERANCE: Final[float] = 0.05
#: Brain susceptibility in ppm stays within about +-0.5 (veins, iron); a map whose 1st-99th
#: percentile reaches beyond this many units is in ppb, and one that stays within it is in ppm.
QSM_PPM_BOUND: Final[float] = 5.0
#: Voxels sampled by the input-kind checks of a whole file.
KIND_CHECK_SAMPLE: Final[int] = 1_000_000

#: Limits of :func:`convert_dicom_zip`.
DEFAULT_MAX_ZIP_BYTES: Final[int] = 2 * 1024**3
DEFAULT_MAX_ZIP_MEMBERS: Final[int] = 10_000
DEFAULT_MAX_ZIP_RATIO: Final[int] = 200
#: Small members compress very well without being bombs; the ratio test starts above this size.
ZIP_RATIO_MIN_BYTES: Final[int] = 1024**2
DCM2NIIX_TIMEOUT_S: Final[float] = 600.0
_COPY_CHUNK_BYTES: Final[int] = 1024**2

_NIFTI_SUFFIXES: Final[tuple[str, ...]] = (".nii", ".nii.gz", ".mgz")
#: zlib window bits that select the gzip container (header and CRC).
_GZIP_WBITS: Final[int] = 31

#: Inflater with zlib's ``decompressobj`` interface: ISA-L's (PyPI "isal") where installed,
#: about 1.5 times faster than zlib on a clinical SWI and checking the CRC all the same.
_inflate: Any = zlib
_INFLATE_ERRORS: tuple[type[Exception], ...] = (zlib.error,)
try:
    _inflate = importlib.import_module("isal.isal_zlib")
    _INFLATE_ERRORS = (zlib.error, _inflate.error)
except ImportError:  # pragma: no cover - depends on the environment
    pass
#: Errors of a damaged or truncated image file while its data are read.
_READ_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    EOFError,
    ValueError,
    gzip.BadGzipFile,
    *_INFLATE_ERRORS,
)
_S_PER_MS: Final[float] = 1e-3


class VolumeError(ValueError):
    """An MRI file that MotorBand cannot use; the message names the problem for a coordinator."""


@dataclass(frozen=True)
class Volume:
    """One validated 3-D MRI volume.

    Attributes
    ----------
    data : ndarray, shape (X, Y, Z)
        float32 intensities (:func:`load_volume`) or integer labels (:func:`load_label_map`).
    affine : ndarray, shape (4, 4)
        Voxel index to world (scanner RAS, mm) transform.
    voxel_size_mm : tuple of 3 float
        Voxel edge lengths (mm) along the array axes.
    metadata : dict
        ``shape``, ``voxel_size`` (mm), ``field_strength`` (T), ``manufacturer``, ``echo_time``
        (ms), each None where the file does not say.
    """

    data: npt.NDArray[Any]
    affine: npt.NDArray[np.float64]
    voxel_size_mm: tuple[float, float, float]
    metadata: dict[str, Any] = field(default_factory=dict)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in _NIFTI_SUFFIXES:
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _sidecar_path(path: Path) -> Path:
    name = path.name
    for suffix in _NIFTI_SUFFIXES:
        if name.lower().endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".json")
    return path.with_suffix(".json")


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        return {}
    try:
        loaded = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VolumeError(f"{sidecar.name}: the JSON sidecar is not valid JSON ({exc})") from exc
    return loaded if isinstance(loaded, dict) else {}


def _open_image(path: Path) -> nib.spatialimages.SpatialImage:
    path = Path(path)
    if not path.is_file():
        raise VolumeError(f"{path.name}: file not found")
    if _suffix(path) not in _NIFTI_SUFFIXES:
        raise VolumeError(
            f"{path.name}: not a NIfTI or MGZ file (expected .nii, .nii.gz or .mgz; "
            "DICOM series are uploaded as a .zip)"
        )
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for a damaged header
        raise VolumeError(f"{path.name}: not a readable NIfTI/MGZ image ({exc})") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image | nib.MGHImage):
        raise VolumeError(f"{path.name}: not a NIfTI or MGZ image")
    return img


def _check_voxel_sizes(path: Path, img: nib.spatialimages.SpatialImage) -> None:
    """Refuse headers without voxel sizes: nibabel would silently read them as 1 mm."""
    if isinstance(img, nib.MGHImage):
        sizes = np.asarray(img.header["delta"], dtype=np.float64)
    else:
        # The header as written: nibabel's loader replaces zero voxel sizes with 1 mm.
        header_class: Any = type(img.header)
        with nib.openers.ImageOpener(str(path)) as handle:
            written = header_class.from_fileobj(handle, check=False)
        sizes = np.asarray(written["pixdim"][1:4], dtype=np.float64)
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise VolumeError(
            f"{path.name}: the header gives no voxel size ({', '.join(f'{s:g}' for s in sizes)} "
            "mm); it cannot be measured in millimetres. Export the image again with its voxel "
            "sizes."
        )


def _check_declared_size(
    path: Path, img: nib.spatialimages.SpatialImage, *, max_ratio: int = MAX_DEFLATE_RATIO
) -> None:
    """Refuse headers that declare more data than the file can hold (truncated or forged), and
    compressed files that would inflate beyond ``max_ratio`` of their size (bombs)."""
    shape = tuple(int(n) for n in img.shape)
    itemsize = np.dtype(img.get_data_dtype()).itemsize
    declared = math.prod(shape) * itemsize
    if declared > MAX_DATA_BYTES:
        raise VolumeError(
            f"{path.name}: the header declares {declared / 1024**3:.1f} GiB of image data, more "
            f"than the {MAX_DATA_BYTES // 1024**3} GiB MotorBand accepts"
        )
    offset = int(getattr(img.dataobj, "offset", 0))
    file_size = path.stat().st_size
    if _suffix(path) == ".nii":
        if file_size < offset + declared:
            raise VolumeError(
                f"{path.name}: file is truncated: the header declares {declared} bytes of image "
                f"data but the file holds only {max(file_size - offset, 0)}"
            )
        return
    if (offset + declared) > file_size * MAX_DEFLATE_RATIO:
        raise VolumeError(
            f"{path.name}: the header declares {declared} bytes of image data, more than a "
            f"compressed file of {file_size} bytes can hold"
        )
    if declared >= BOMB_MIN_BYTES and (offset + declared) > file_size * max_ratio:
        raise VolumeError(
            f"{path.name}: a {file_size / 1024**2:.1f} MiB compressed file declaring "
            f"{declared / 1024**2:.0f} MiB of image data ({(offset + declared) / file_size:.0f}:1) "
            f"is almost entirely constant: MRI images compress at most about {max_ratio}:1. "
            "It was refused before being decompressed."
        )
    # A single-member gzip stores its uncompressed size modulo 2^32 in its last four bytes.
    if offset + declared < 2**32:
        with open(path, "rb") as handle:
            handle.seek(-4, os.SEEK_END)
            stored = int.from_bytes(handle.read(4), "little")
        if stored < offset + declared:
            raise VolumeError(
                f"{path.name}: file is truncated: the header declares {declared} bytes of image "
                f"data but the compressed stream holds only {max(stored - offset, 0)}"
            )


def _check_affine(name: str, affine: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise VolumeError(f"{name}: the voxel-to-world affine holds NaN or infinite values")
    sizes = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    for axis, size in enumerate(sizes):
        if not MIN_VOXEL_SIZE_MM <= size <= MAX_VOXEL_SIZE_MM:
            raise VolumeError(
                f"{name}: voxel size {size:.4g} mm along axis {axis} is outside "
                f"{MIN_VOXEL_SIZE_MM}-{MAX_VOXEL_SIZE_MM} mm (wrong units in the header?)"
            )
    # Determinant relative to the voxel volume: 1 for any rotation, 0 for collapsed axes.
    det = float(np.linalg.det(affine[:3, :3])) / float(np.prod(sizes))
    if not abs(det) > MIN_AFFINE_DET:
        raise VolumeError(
            f"{name}: the voxel-to-world affine is singular (axes are parallel); "
            "the file's orientation is broken"
        )
    return (float(sizes[0]), float(sizes[1]), float(sizes[2]))


def _check_shape(name: str, shape: tuple[int, ...], echo: int | None) -> int | None:
    """Validate dimensions; return the index of the 4th-axis volume to read, if any."""
    if len(shape) < 3:
        raise VolumeError(f"{name}: image has {len(shape)} dimensions; a 3-D volume is needed")
    if len(shape) > 4:
        raise VolumeError(
            f"{name}: image has {len(shape)} dimensions (shape {shape}); a 3-D volume is needed"
        )
    for axis, size in enumerate(shape[:3]):
        if not MIN_DIM <= size <= MAX_DIM:
            raise VolumeError(
                f"{name}: {size} voxels along axis {axis}; each axis must have "
                f"{MIN_DIM}-{MAX_DIM} voxels"
            )
    if len(shape) == 3:
        if echo not in (None, 0):
            raise VolumeError(f"{name}: echo {echo} requested but the file holds a single volume")
        return None
    volumes = shape[3]
    if volumes == 1:
        if echo not in (None, 0):
            raise VolumeError(f"{name}: echo {echo} requested but the file holds a single volume")
        return 0
    if echo is None:
        raise VolumeError(
            f"{name}: 4-D image with {volumes} echoes/volumes; MotorBand quantifies one 3-D "
            f"volume: choose the echo to use (0-{volumes - 1}) or upload a single echo"
        )
    if not 0 <= echo < volumes:
        raise VolumeError(f"{name}: echo {echo} requested but the file holds {volumes} echoes")
    return echo


def _metadata(
    path: Path,
    img: nib.spatialimages.SpatialImage,
    shape: tuple[int, int, int],
    voxel_size_mm: tuple[float, float, float],
    echo: int | None,
) -> dict[str, Any]:
    sidecar = _read_sidecar(path)
    field_strength = sidecar.get("MagneticFieldStrength")
    manufacturer = sidecar.get("Manufacturer")
    model = sidecar.get("ManufacturersModelName")  # BIDS' name; dcm2niix writes it from DICOM
    echo_time_s = sidecar.get("EchoTime")
    if isinstance(echo_time_s, list):
        echo_time_s = echo_time_s[echo or 0] if len(echo_time_s) > (echo or 0) else None
    echo_time_ms = float(echo_time_s) / _S_PER_MS if isinstance(echo_time_s, int | float) else None
    if echo_time_ms is None and isinstance(img, nib.MGHImage):
        te_ms = float(img.header["te"])
        echo_time_ms = te_ms if te_ms > 0 else None
    return {
        "shape": list(shape),
        "voxel_size": [round(v, 6) for v in voxel_size_mm],
        "field_strength": float(field_strength)
        if isinstance(field_strength, int | float)
        else None,
        "manufacturer": str(manufacturer) if manufacturer else None,
        "model": str(model).strip() if model else None,
        "echo_time": echo_time_ms,
        "echo_index": echo,
    }


def _read_gzip_nifti(path: Path, img: nib.spatialimages.SpatialImage) -> npt.NDArray[Any] | None:
    """Stored values of a .nii.gz in one inflate call; None where nibabel should read the file.

    nibabel inflates gzip through Python's chunked reader, copies into the array and runs a
    separate CRC pass; one ``decompressobj`` call (ISA-L's where installed, else zlib's) does
    all of it in C, releasing the GIL. The array is a read-only view of the inflated bytes.
    """
    if _suffix(path) != ".nii.gz" or not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        return None
    shape = tuple(int(n) for n in img.shape)
    offset = int(getattr(img.dataobj, "offset", img.header.get_data_offset()))
    dtype = np.dtype(img.get_data_dtype())
    count = math.prod(shape)
    inflated = _inflate_bounded(path, offset + count * dtype.itemsize + TRAILING_BYTES_ALLOWED)
    if inflated is None:
        return None  # truncated or damaged: let nibabel read it (and report the error)
    if len(inflated) < offset + count * dtype.itemsize:
        raise VolumeError(f"{path.name}: file is truncated: less image data than the header says")
    flat = np.frombuffer(inflated, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F")


#: Bytes a .nii.gz may hold after the image data its header declares (padding some writers add);
#: beyond that the file is refused: a decompression bomb hides its payload there.
TRAILING_BYTES_ALLOWED: Final[int] = 1024**2


def _inflate_bounded(path: Path, limit: int) -> bytes | None:
    """Every gzip member of ``path`` inflated, never more than ``limit`` bytes in memory.

    A file that inflates beyond the limit holds more than its header declares (a decompression
    bomb behind a modest header, or a damaged file) and is refused before that memory is spent;
    a truncated stream answers None, for nibabel to read and name the error; a corrupt one raises.
    """
    remaining = path.read_bytes()
    parts: list[bytes] = []
    total = 0
    while remaining:
        if parts and not remaining.strip(b"\0"):
            break  # zero padding after the last member, as gzip readers allow
        inflater = _inflate.decompressobj(wbits=_GZIP_WBITS)
        part = inflater.decompress(remaining, limit - total + 1)  # a bad CRC raises: refused
        total += len(part)
        if total > limit:
            raise VolumeError(
                f"{path.name}: the file inflates to more data than its header declares "
                f"({(limit - TRAILING_BYTES_ALLOWED) / 1024**2:.1f} MiB): a damaged file or a "
                "decompression bomb. It was refused before being decompressed whole."
            )
        parts.append(part)
        if not inflater.eof:
            return None
        remaining = inflater.unused_data
    return b"".join(parts)


def _read_raw(
    path: Path, img: nib.spatialimages.SpatialImage, volume_index: int | None
) -> npt.NDArray[Any]:
    """Stored (unscaled) values of the volume; scaling is applied by the caller, once."""
    proxy = img.dataobj
    try:
        raw = _read_gzip_nifti(path, img)
        if raw is None:
            raw = np.asanyarray(proxy.get_unscaled() if hasattr(proxy, "get_unscaled") else proxy)
        if volume_index is not None:
            raw = raw[..., volume_index]
    except VolumeError:
        raise
    except _READ_ERRORS as exc:
        raise VolumeError(
            f"{path.name}: image data cannot be read: truncated or corrupt ({exc})"
        ) from exc
    return raw


def _open_checked(
    path: Path | str, echo: int | None, *, max_ratio: int = MAX_INTENSITY_RATIO
) -> tuple[Path, nib.spatialimages.SpatialImage, int | None, tuple[float, float, float]]:
    path = Path(path)
    img = _open_image(path)
    shape = tuple(int(n) for n in img.shape)
    volume_index = _check_shape(path.name, shape, echo)
    _check_voxel_sizes(path, img)
    _check_declared_size(path, img, max_ratio=max_ratio)
    voxel_size_mm = _check_affine(path.name, np.asarray(img.affine, dtype=np.float64))
    return path, img, volume_index, voxel_size_mm


def volume_geometry(
    path: Path | str, *, echo: int | None = None
) -> tuple[npt.NDArray[np.float64], tuple[int, int, int]]:
    """Validated affine and 3-D shape of an image file, from its header only.

    Parameters
    ----------
    path : path to a .nii, .nii.gz or .mgz file
    echo : int, optional
        As for :func:`load_volume`.

    Returns
    -------
    affine : ndarray, shape (4, 4)
    shape : tuple of 3 int

    Raises
    ------
    VolumeError
        The header checks of :func:`load_volume` (not the data checks).
    """
    _, img, _, _ = _open_checked(path, echo)
    shape = tuple(int(n) for n in img.shape[:3])
    return np.asarray(img.affine, dtype=np.float64), (shape[0], shape[1], shape[2])


def load_volume(
    path: Path | str, *, echo: int | None = None, kind: IntensityKind | None = None
) -> Volume:
    """Load and validate an intensity volume (SWI, T2*-weighted magnitude, QSM).

    Parameters
    ----------
    path : path to a .nii, .nii.gz or .mgz file
        A BIDS JSON sidecar with the same stem (as dcm2niix writes) adds field strength,
        manufacturer and echo time.
    echo : int, optional
        For a 4-D multi-echo file, the 0-based echo to take. Without it such a file is refused
        rather than silently reduced to one echo.
    kind : {"swi", "qsm"}, optional
        What the file is uploaded as; where given, its values must fit that kind
        (:func:`check_intensity_kind` over the file's non-zero voxels).

    Returns
    -------
    Volume
        ``data`` is float32 with shape (X, Y, Z); NaN voxels are kept (QSM and CLEARSWI write
        NaN outside the brain) and counted in ``metadata["nan_voxels"]``.

    Raises
    ------
    VolumeError
        Unreadable or non-NIfTI file, wrong number of dimensions, several volumes without
        ``echo``, absurd voxel size or matrix, truncated data, infinite values, no value at all
        (every voxel NaN), broken affine, values that do not fit ``kind``.
    """
    path, img, volume_index, voxel_size_mm = _open_checked(path, echo)
    stored = _stored(path, img, _read_raw(path, img, volume_index))
    if kind is not None:
        check_intensity_kind(
            stored.sample(), kind, name=path.name, where="in the image (zeros and NaN aside)"
        )
    data = stored.as_float32()
    shape3 = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    meta = _metadata(path, img, shape3, voxel_size_mm, volume_index if echo is not None else None)
    meta["nan_voxels"] = stored.nan_voxels
    return Volume(data, np.asarray(img.affine, dtype=np.float64), voxel_size_mm, meta)


@dataclass(frozen=True)
class StoredIntensities:
    """Validated stored values of an intensity file, before conversion to float32.

    Attributes
    ----------
    raw : ndarray, shape (X, Y, Z)
        Values as stored (e.g. int16).
    slope, inter : float
        Header scaling: intensity = raw · slope + inter.
    nan_voxels : int
        Voxels stored as NaN (outside a QSM or CLEARSWI brain mask, typically).
    """

    raw: npt.NDArray[Any]
    slope: float
    inter: float
    nan_voxels: int = 0

    def sample(self, max_voxels: int = KIND_CHECK_SAMPLE) -> npt.NDArray[np.float64]:
        """Scaled values of an evenly spread sample of at most ``max_voxels`` voxels, 1-D."""
        flat = self.raw.ravel(order="K")
        part = flat[:: max(1, flat.size // max_voxels)].astype(np.float64)
        return np.asarray(part * self.slope + self.inter, dtype=np.float64)

    def as_float32(
        self, region: tuple[slice, slice, slice] | None = None
    ) -> npt.NDArray[np.float32]:
        """Scaled float32 intensities of ``region`` (default: the whole volume)."""
        part = self.raw if region is None else self.raw[region]
        data = np.asarray(part, dtype=np.float32)
        if self.slope != 1.0 or self.inter != 0.0:
            data = data * np.float32(self.slope) + np.float32(self.inter)
        return np.asarray(data, dtype=np.float32)


def _stored(
    path: Path, img: nib.spatialimages.SpatialImage, raw: npt.NDArray[Any]
) -> StoredIntensities:
    """Validate stored values and scaling over the whole volume."""
    slope, inter = _scaling(img)
    if not (math.isfinite(slope) and math.isfinite(inter)):
        raise VolumeError(f"{path.name}: the header's intensity scaling is NaN or infinite")
    nan_voxels = 0
    if raw.dtype.kind == "f":
        finite = np.isfinite(raw)
        if not finite.all():
            # NaN is how QSM and CLEARSWI mark voxels outside their brain mask: accepted here,
            # refused by the measurement only where it falls in the measured regions.
            nan_voxels = int(np.count_nonzero(np.isnan(raw)))
            infinite = int(raw.size - np.count_nonzero(finite)) - nan_voxels
            if infinite:
                raise VolumeError(f"{path.name}: {infinite} voxels are infinite")
            if nan_voxels == raw.size:
                raise VolumeError(f"{path.name}: every voxel is NaN; the image holds no values")
    elif raw.dtype.kind not in "iub":
        raise VolumeError(f"{path.name}: unsupported voxel type {raw.dtype} (complex or RGB?)")
    if raw.size and (slope != 1.0 or inter != 0.0):
        # Scaling is monotonic: its extremes decide whether any value overflows float32.
        extremes = np.array([np.nanmin(raw), np.nanmax(raw)], dtype=np.float64) * slope + inter
        if not np.isfinite(extremes.astype(np.float32)).all():
            raise VolumeError(f"{path.name}: scaled intensities overflow (slope {slope:g})")
    return StoredIntensities(raw, slope, inter, nan_voxels)


def read_intensities(
    path: Path | str, *, echo: int | None = None, kind: IntensityKind | None = None
) -> StoredIntensities:
    """Read and validate an intensity file like :func:`load_volume`, without converting it.

    Parameters
    ----------
    path : path to a .nii, .nii.gz or .mgz file
    echo, kind : optional
        As for :func:`load_volume`.

    Returns
    -------
    StoredIntensities
        Convert only what is needed with :meth:`StoredIntensities.as_float32`.

    Raises
    ------
    VolumeError
        As :func:`load_volume`.
    """
    path, img, volume_index, _ = _open_checked(path, echo)
    stored = _stored(path, img, _read_raw(path, img, volume_index))
    if kind is not None:
        check_intensity_kind(
            stored.sample(), kind, name=path.name, where="in the image (zeros and NaN aside)"
        )
    return stored


def _phase_scale(low: float, high: float, finite: npt.NDArray[np.float64]) -> str | None:
    """The phase convention a value distribution looks like, or None where it is no phase.

    A wrapped phase is symmetric about 0 and spread evenly over its range. Only the named
    conventions (:data:`PHASE_HALF_RANGES`) are told with confidence; any other symmetric, even
    spread is reported as "arbitrary units", a hint rather than a proof (a low-noise map with
    two tissue classes can look like that).
    """
    if not low < 0.0 < high or abs(low + high) > PHASE_SYMMETRY_TOLERANCE * (high - low):
        return None
    half = max(-low, high)
    q1, q3 = np.percentile(finite, [25.0, 75.0])
    if float(q3 - q1) < PHASE_MIN_IQR_FRACTION * half:
        return None
    for label, expected in PHASE_HALF_RANGES:
        if abs(half - expected) <= PHASE_RANGE_TOLERANCE * expected:
            return label
    return _ARBITRARY_PHASE


_ARBITRARY_PHASE: Final[str] = "arbitrary units"


def check_intensity_kind(
    values: npt.NDArray[np.floating],
    kind: IntensityKind,
    *,
    name: str = "image",
    where: str = "inside the brain labels",
) -> None:
    """Check that intensities are on the scale of their input kind.

    An SWI/T2* magnitude is never negative; a wrapped phase image (values spread evenly and
    symmetrically about 0, e.g. -pi..pi or -4096..4096) is neither a magnitude nor a
    susceptibility map. Zeros (masked background) and NaN are ignored.

    Parameters
    ----------
    values : ndarray, shape (N,)
        Intensities to judge: those inside the brain labels, or a sample of a whole file.
    kind : {"swi", "qsm"}
    name : str
        File name used in messages.
    where : str
        Where the values come from, for messages.

    Raises
    ------
    VolumeError
        A phase-like distribution (either kind), or more than :data:`MAX_NEGATIVE_FRACTION`
        negative values for ``swi``; the message says what was found and what the image
        probably is.
    """
    if kind not in KIND_NAMES:
        raise ValueError(f"kind must be one of {sorted(KIND_NAMES)}, got {kind!r}")
    flat = np.asarray(values).ravel()
    if flat.dtype.kind != "f":
        flat = flat.astype(np.float64)
    finite = flat[np.isfinite(flat) & (flat != 0.0)]
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    if low < 0.0:
        # Percentiles (phase test, messages) are taken in float64; a magnitude never gets here.
        finite = finite.astype(np.float64)
    phase = _phase_scale(low, high, finite)
    if phase is not None and phase != _ARBITRARY_PHASE:
        raise VolumeError(
            f"{name}: values {where} run from {low:.4g} to {high:.4g}, spread evenly and "
            f"symmetrically about 0: this looks like a phase image in {phase}, not "
            f"{KIND_NAMES[kind]}; upload the magnitude or SWI image (or a QSM map computed from "
            "the phase, as QSM)"
        )
    if kind != "swi":
        return
    negative = float(np.count_nonzero(finite < 0.0)) / finite.size
    if negative <= MAX_NEGATIVE_FRACTION:
        return
    p1, p99 = (float(v) for v in np.percentile(finite, [1.0, 99.0]))
    if max(abs(p1), abs(p99)) <= QSM_PPM_BOUND:
        candidates = ["a QSM susceptibility map in ppm (upload it as QSM)"]
    else:
        candidates = ["a QSM map in ppb (upload it as QSM)", "a field map"]
    if phase is not None:
        candidates.append(
            "a phase image in arbitrary units (values spread evenly and symmetrically about 0; "
            "upload the magnitude instead)"
        )
    raise VolumeError(
        f"{name}: {negative:.0%} of the voxels {where} are negative (1st-99th percentile "
        f"{p1:.4g} to {p99:.4g}); {KIND_NAMES[kind]} is never negative, so this is probably "
        f"{', or '.join(candidates)}"
    )


def _scaling(img: nib.spatialimages.SpatialImage) -> tuple[float, float]:
    slope = getattr(img.dataobj, "slope", 1.0)
    inter = getattr(img.dataobj, "inter", 0.0)
    slope = 1.0 if slope is None or (isinstance(slope, float) and math.isnan(slope)) else slope
    inter = 0.0 if inter is None or (isinstance(inter, float) and math.isnan(inter)) else inter
    return float(slope), float(inter)


def load_label_map(path: Path | str, *, check: bool = True) -> Volume:
    """Load and validate a FreeSurfer-numbered label map (aparc+aseg or a BIDS dseg).

    Parameters
    ----------
    path : path to a .nii, .nii.gz or .mgz file
    check : bool
        Run :func:`check_label_map` (callers that go on to compute the motor mask anyway
        may run it themselves with that mask).

    Returns
    -------
    Volume
        ``data`` holds integer labels with shape (X, Y, Z) in the file's integer type (int32 where
        the file stores floats).

    Raises
    ------
    VolumeError
        As :func:`load_volume`, plus non-integer labels or no precentral/postcentral labels.
    """
    path, img, volume_index, voxel_size_mm = _open_checked(path, None, max_ratio=MAX_LABEL_RATIO)
    raw = _read_raw(path, img, volume_index)
    slope, inter = _scaling(img)
    if raw.dtype.kind in "iu" and slope == 1.0 and inter == 0.0:
        data = raw
    else:
        values = raw.astype(np.float64) * slope + inter
        if not np.isfinite(values).all():
            raise VolumeError(f"{path.name}: label map holds NaN or infinite values")
        if not np.array_equal(values, np.round(values)):
            raise VolumeError(
                f"{path.name}: label map holds non-integer values; it looks like an intensity "
                "image, not a FreeSurfer label map"
            )
        data = values.astype(np.int32)
    if check:
        check_label_map(data, name=path.name)
    shape3 = (int(data.shape[0]), int(data.shape[1]), int(data.shape[2]))
    meta = _metadata(path, img, shape3, voxel_size_mm, None)
    return Volume(data, np.asarray(img.affine, dtype=np.float64), voxel_size_mm, meta)


def check_label_map(
    labels: Volume | nib.spatialimages.SpatialImage | npt.NDArray[Any],
    *,
    name: str = "label map",
    motor: npt.NDArray[np.bool_] | None = None,
) -> None:
    """Check that a label map is integer-valued and holds a precentral and postcentral gyrus.

    Parameters
    ----------
    labels : Volume, nibabel image or ndarray, shape (X, Y, Z)
    name : str
        File name used in messages.
    motor : ndarray of bool, optional
        ``labels.motor_mask(data)`` where the caller has it already.

    Raises
    ------
    VolumeError
        Non-integer values, or no hemisphere with both precentral and postcentral labels.
    """
    if isinstance(labels, Volume):
        data = labels.data
    elif isinstance(labels, nib.spatialimages.SpatialImage):
        data = np.asanyarray(labels.dataobj)
    else:
        data = np.asarray(labels)
    if data.dtype.kind == "f":
        if not np.isfinite(data).all() or not np.array_equal(data, np.round(data)):
            raise VolumeError(f"{name}: label map holds non-integer values")
    elif data.dtype.kind not in "iu":
        raise VolumeError(f"{name}: label map has non-numeric type {data.dtype}")
    if motor is None:
        motor = fs.motor_mask(data)
    values = _masked_values(data, motor)
    for hemisphere in fs.HEMISPHERES:
        if np.any(values == fs.PRECENTRAL[hemisphere]) and np.any(
            values == fs.POSTCENTRAL[hemisphere]
        ):
            return
    raise VolumeError(
        f"{name}: label map holds no hemisphere with both a precentral "
        f"({fs.PRECENTRAL['L']}/{fs.PRECENTRAL['R']}) and a postcentral "
        f"({fs.POSTCENTRAL['L']}/{fs.POSTCENTRAL['R']}) gyrus label; FreeSurfer aparc+aseg "
        "numbering is required"
    )


def _same_layout(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> bool:
    return a.shape == b.shape and (
        (a.flags.c_contiguous and b.flags.c_contiguous)
        or (a.flags.f_contiguous and b.flags.f_contiguous)
    )


def _masked_values(data: npt.NDArray[Any], mask: npt.NDArray[np.bool_]) -> npt.NDArray[Any]:
    """``data[mask]`` in memory order: NIfTI arrays are Fortran-ordered, C-order gathers crawl."""
    if _same_layout(data, mask):
        return data.ravel(order="K")[mask.ravel(order="K")]
    return data[mask]


def _sample_indices(mask: npt.NDArray[np.bool_], max_points: int) -> npt.NDArray[np.int64]:
    """Voxel indices (N, 3) of an evenly spread sample of at most ``max_points`` True voxels."""
    if mask.flags.c_contiguous or mask.flags.f_contiguous:
        order: Literal["C", "F"] = "C" if mask.flags.c_contiguous else "F"
        flat = np.flatnonzero(mask.ravel(order=order))
        flat = flat[:: max(1, flat.size // max_points)]
        return np.stack(np.unravel_index(flat, mask.shape, order=order), axis=1)
    ijk = np.argwhere(mask)
    return np.asarray(ijk[:: max(1, ijk.shape[0] // max_points)], dtype=np.int64)


def check_overlap(
    swi: Volume, labels: Volume, *, motor: npt.NDArray[np.bool_] | None = None
) -> None:
    """Check that the label map's motor labels lie inside the SWI field of view (world space).

    Parameters
    ----------
    swi : Volume
        Intensity volume, shape (X, Y, Z).
    labels : Volume
        Label map on any grid.
    motor : ndarray of bool, optional
        ``labels.motor_mask(labels.data)`` where the caller has it already.

    Raises
    ------
    VolumeError
        As :func:`check_overlap_geometry`.
    """
    mask = fs.motor_mask(labels.data) if motor is None else motor
    check_overlap_geometry(swi.affine, swi.data.shape, labels.affine, mask, labels=labels.data)


def _fraction_inside(
    mask: npt.NDArray[np.bool_],
    label_affine: npt.NDArray[np.float64],
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
) -> float:
    """Share of a sample of the True voxels whose centre falls inside the SWI grid."""
    # A sample bounds the work on large label maps; the fraction is what matters.
    ijk = _sample_indices(mask, OVERLAP_SAMPLE).astype(np.float64)
    to_swi = np.linalg.inv(swi_affine) @ label_affine
    swi_ijk = ijk @ to_swi[:3, :3].T + to_swi[:3, 3]
    shape = np.asarray(swi_shape[:3], dtype=np.float64)
    inside = np.all((swi_ijk > -0.5) & (swi_ijk < shape - 0.5), axis=1)
    return float(inside.mean())


def check_overlap_geometry(
    swi_affine: npt.NDArray[np.float64],
    swi_shape: tuple[int, ...],
    label_affine: npt.NDArray[np.float64],
    motor: npt.NDArray[np.bool_],
    *,
    labels: npt.NDArray[np.integer] | None = None,
) -> None:
    """:func:`check_overlap` from the SWI header alone (before its data are read).

    Two failures are told apart: a label map that does not overlap the image at all (fewer than
    :data:`MIN_LABEL_OVERLAP` of its labelled voxels inside: another subject, session or space)
    and an image that overlaps the brain but misses the motor strip (fewer than
    :data:`MIN_MOTOR_COVERAGE` of the motor labels inside: a coverage problem of the slab).
    Partial coverage above that is judged per segment by the measurement.

    Parameters
    ----------
    swi_affine : ndarray, shape (4, 4)
    swi_shape : tuple of int
    label_affine : ndarray, shape (4, 4)
    motor : ndarray of bool, shape of the label map
        Motor-label voxels (``labels.motor_mask``).
    labels : ndarray of int, shape of the label map, optional
        The label map, to tell a slab that misses the motor strip from a label map that misses
        the image altogether; without it a failure is reported as a coverage problem.

    Raises
    ------
    VolumeError
        No motor labels, or fewer than :data:`MIN_MOTOR_COVERAGE` of them inside the SWI
        field of view.
    """
    if not motor.any():
        raise VolumeError("label map holds no precentral, postcentral or paracentral voxels")
    coverage = _fraction_inside(motor, label_affine, swi_affine, swi_shape)
    if coverage >= MIN_MOTOR_COVERAGE:
        return
    if labels is not None:
        overlap = _fraction_inside(labels != 0, label_affine, swi_affine, swi_shape)
        if overlap < MIN_LABEL_OVERLAP:
            raise VolumeError(
                f"label map does not overlap the SWI: only {overlap:.0%} of the labelled "
                "voxels fall inside the SWI field of view in world coordinates (wrong subject, "
                "session or space?)"
            )
    raise VolumeError(
        f"the image does not cover the motor cortex: only {coverage:.0%} of the precentral, "
        "postcentral and paracentral labels lie inside its field of view (coverage minimum "
        f"{MIN_MOTOR_COVERAGE:.0%}); the slab misses the motor strip, so nothing can be measured"
    )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    mode = info.external_attr >> 16
    return stat.S_ISLNK(mode)


def _check_member_name(name: str) -> None:
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise VolumeError(f"ZIP member {name!r} has an absolute path; the archive is refused")
    if any(part == ".." for part in normalized.split("/")):
        raise VolumeError(f"ZIP member {name!r} points outside the archive ('..'); refused")
    if normalized.lower().endswith((".zip", ".tar", ".tgz", ".gz", ".7z", ".rar")):
        raise VolumeError(
            f"ZIP member {name!r} is itself an archive; upload one ZIP holding the DICOM files"
        )


def _check_zip(
    archive: zipfile.ZipFile, max_total_bytes: int, max_members: int, max_ratio: float
) -> list[zipfile.ZipInfo]:
    members = archive.infolist()
    if len(members) > max_members:
        raise VolumeError(
            f"ZIP holds {len(members)} files, more than the {max_members} MotorBand accepts"
        )
    total = 0
    files: list[zipfile.ZipInfo] = []
    for info in members:
        _check_member_name(info.filename)
        if _is_symlink(info):
            raise VolumeError(f"ZIP member {info.filename!r} is a symbolic link; refused")
        if info.flag_bits & 0x1:
            raise VolumeError(f"ZIP member {info.filename!r} is encrypted; upload it unencrypted")
        if info.is_dir():
            continue
        total += info.file_size
        if total > max_total_bytes:
            raise VolumeError(
                f"ZIP declares more than {max_total_bytes / 1024**3:.1f} GiB once unpacked "
                f"({total} bytes by member {info.filename!r}); refused as a possible ZIP bomb"
            )
        if info.file_size >= ZIP_RATIO_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > max_ratio:
                raise VolumeError(
                    f"ZIP member {info.filename!r} expands {ratio:.0f}-fold (limit {max_ratio}); "
                    "refused as a possible ZIP bomb"
                )
        files.append(info)
    return files


def _extract(
    archive: zipfile.ZipFile, files: list[zipfile.ZipInfo], dest: Path, max_total_bytes: int
) -> None:
    """Extract the checked members, counting real bytes: a forged header cannot lie its way in."""
    written = 0
    dest = dest.resolve()
    for info in files:
        target = (dest / info.filename.replace("\\", "/")).resolve()
        if not target.is_relative_to(dest):
            raise VolumeError(f"ZIP member {info.filename!r} points outside the archive; refused")
        target.parent.mkdir(parents=True, exist_ok=True)
        member_written = 0
        with archive.open(info) as source, open(target, "wb") as sink:
            while chunk := source.read(_COPY_CHUNK_BYTES):
                member_written += len(chunk)
                written += len(chunk)
                if member_written > info.file_size or written > max_total_bytes:
                    raise VolumeError(
                        f"ZIP member {info.filename!r} unpacks to more than it declares; refused"
                    )
                sink.write(chunk)


def _dcm2niix_binary() -> str:
    beside_python = Path(sys.executable).with_name("dcm2niix")
    try:
        import dcm2niix  # the PyPI wheel ships the binary inside the package

        packaged: Path | None = Path(dcm2niix.bin_path)
    except ImportError:
        packaged = None
    for candidate in (packaged, beside_python):
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("dcm2niix")
    if found is None:
        raise VolumeError("DICOM conversion is unavailable: dcm2niix is not installed")
    return found


def convert_dicom_zip(
    zip_path: Path | str,
    out_dir: Path | str,
    *,
    max_total_bytes: int = DEFAULT_MAX_ZIP_BYTES,
    max_members: int = DEFAULT_MAX_ZIP_MEMBERS,
    max_ratio: float = DEFAULT_MAX_ZIP_RATIO,
) -> list[Path]:
    """Convert a ZIP of one DICOM series to NIfTI with dcm2niix, safely.

    Every member is checked before anything is extracted: absolute paths, ``..`` traversal,
    symbolic links, nested archives, encryption, the declared unpacked size and the compression
    ratio of each member.

    Parameters
    ----------
    zip_path : path to the uploaded .zip
    out_dir : directory that receives the NIfTI files and their BIDS JSON sidecars
    max_total_bytes : int
        Largest total unpacked size (bytes).
    max_members : int
        Largest number of members.
    max_ratio : float
        Largest unpacked/compressed size ratio of a member of at least 1 MiB.

    Returns
    -------
    list of Path
        The NIfTI files (``<series>_<protocol>_e<echo>.nii``, uncompressed), sorted; one per
        echo for a multi-echo series, each with a ``.json`` sidecar beside it.

    Raises
    ------
    VolumeError
        Unsafe or invalid archive, no DICOM series, more than one series, conversion failure.
    """
    zip_path = Path(zip_path)
    out_dir = Path(out_dir)
    if not zip_path.is_file():
        raise VolumeError(f"{zip_path.name}: file not found")
    if not zipfile.is_zipfile(zip_path):
        raise VolumeError(f"{zip_path.name}: not a ZIP archive")
    with tempfile.TemporaryDirectory(prefix="motorband-dicom-") as tmp:
        work = Path(tmp)
        dicom_dir, nifti_dir = work / "dicom", work / "nifti"
        dicom_dir.mkdir()
        nifti_dir.mkdir()
        try:
            with zipfile.ZipFile(zip_path) as archive:
                files = _check_zip(archive, max_total_bytes, max_members, max_ratio)
                if not files:
                    raise VolumeError(f"{zip_path.name}: the ZIP is empty")
                _extract(archive, files, dicom_dir, max_total_bytes)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise VolumeError(f"{zip_path.name}: damaged or unsupported ZIP ({exc})") from exc
        command = [
            _dcm2niix_binary(),
            "-z",
            "n",
            "-b",
            "y",
            "-f",
            "%s_%p_e%e",
            "-o",
            str(nifti_dir),
            str(dicom_dir),
        ]
        try:
            run = subprocess.run(
                command, capture_output=True, text=True, timeout=DCM2NIIX_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise VolumeError(f"{zip_path.name}: DICOM conversion timed out") from exc
        produced = sorted(nifti_dir.glob("*.nii"))
        if not produced:
            raise VolumeError(f"{zip_path.name}: no DICOM series found in the ZIP")
        if run.returncode not in (0,):
            last = (run.stderr or run.stdout).strip().splitlines()[-1:]
            raise VolumeError(f"{zip_path.name}: DICOM conversion failed ({' '.join(last)})")
        series = {_series_key(nii) for nii in produced}
        if len(series) > 1:
            names = ", ".join(sorted(str(key) for key in series))
            raise VolumeError(
                f"{zip_path.name}: the ZIP holds more than one series ({names}); upload one "
                "series per ZIP"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        results: list[Path] = []
        for nii in produced:
            target = out_dir / nii.name
            shutil.move(str(nii), target)
            sidecar = _sidecar_path(nii)
            if sidecar.is_file():
                shutil.move(str(sidecar), _sidecar_path(target))
            results.append(target)
    return results


def _series_key(nii: Path) -> str:
    """Series number and protocol from dcm2niix's sidecar (file name as fallback)."""
    sidecar = _read_sidecar(nii)
    number = sidecar.get("SeriesNumber")
    protocol = sidecar.get("ProtocolName") or sidecar.get("SeriesDescription")
    if number is None:
        return nii.name.split("_", 1)[0]
    return f"series {number} {protocol or ''}".strip()
