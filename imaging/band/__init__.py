"""Motor band sign quantification: pure numpy/scipy/nibabel, no Django.

The method is domain.md's "Quantification (MotorBand's method)"; ``ALGORITHM_VERSION`` changes
whenever a result could change, so runs of different methods are never mixed.
"""

from typing import Final

ALGORITHM_VERSION: Final[str] = "1.0.0"

from imaging.band.depth import cortical_depth  # noqa: E402
from imaging.band.io import (  # noqa: E402
    StoredIntensities,
    Volume,
    VolumeError,
    check_label_map,
    check_overlap,
    check_overlap_geometry,
    convert_dicom_zip,
    load_label_map,
    load_volume,
    read_intensities,
    volume_geometry,
)
from imaging.band.measure import (  # noqa: E402
    MEASUREMENT_FIELDS,
    SEGMENTS,
    Parameters,
    QuantResult,
    SegmentFractions,
    band_measurement,
    quantify,
    quantify_files,
)
from imaging.band.phantom import Phantom, make_phantom  # noqa: E402
from imaging.band.qc_png import render_qc_png  # noqa: E402
from imaging.band.resample import crop_affine, motor_crop, resample_labels  # noqa: E402

__all__ = [
    "ALGORITHM_VERSION",
    "MEASUREMENT_FIELDS",
    "SEGMENTS",
    "Parameters",
    "Phantom",
    "QuantResult",
    "SegmentFractions",
    "StoredIntensities",
    "Volume",
    "VolumeError",
    "band_measurement",
    "check_label_map",
    "check_overlap",
    "check_overlap_geometry",
    "convert_dicom_zip",
    "cortical_depth",
    "crop_affine",
    "load_label_map",
    "load_volume",
    "make_phantom",
    "motor_crop",
    "quantify",
    "quantify_files",
    "read_intensities",
    "render_qc_png",
    "resample_labels",
    "volume_geometry",
]
