"""Motor band sign quantification: pure numpy/scipy/nibabel, no Django.

The method is domain.md's "Quantification (MotorBand's method)"; ``ALGORITHM_VERSION`` changes
whenever a result could change, so runs of different methods are never mixed.
"""

from typing import Final

ALGORITHM_VERSION: Final[str] = "2.1.0"

from imaging.band.bias import n4_correct  # noqa: E402
from imaging.band.depth import cortical_depth, cortical_depth_at  # noqa: E402
from imaging.band.io import (  # noqa: E402
    StoredIntensities,
    Volume,
    VolumeError,
    check_intensity_kind,
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
    MIN_SEGMENT_COVERAGE,
    SEGMENTS,
    Parameters,
    QuantResult,
    SegmentFractions,
    SegmentFrame,
    TissueMeans,
    band_measurement,
    quantify,
    quantify_files,
    segment_frame,
    tissue_means,
)
from imaging.band.phantom import Phantom, make_phantom, make_qsm_phantom  # noqa: E402
from imaging.band.qc_png import render_qc_png  # noqa: E402
from imaging.band.register import (  # noqa: E402
    MAX_DISPLACEMENT_MM,
    Registration,
    carry_labels,
    register_anatomy,
)
from imaging.band.resample import crop_affine, motor_crop, resample_labels  # noqa: E402

__all__ = [
    "ALGORITHM_VERSION",
    "MAX_DISPLACEMENT_MM",
    "MEASUREMENT_FIELDS",
    "MIN_SEGMENT_COVERAGE",
    "SEGMENTS",
    "Parameters",
    "Phantom",
    "QuantResult",
    "Registration",
    "SegmentFractions",
    "SegmentFrame",
    "StoredIntensities",
    "TissueMeans",
    "Volume",
    "VolumeError",
    "band_measurement",
    "carry_labels",
    "check_intensity_kind",
    "check_label_map",
    "check_overlap",
    "check_overlap_geometry",
    "convert_dicom_zip",
    "cortical_depth",
    "cortical_depth_at",
    "crop_affine",
    "load_label_map",
    "load_volume",
    "make_phantom",
    "make_qsm_phantom",
    "motor_crop",
    "n4_correct",
    "quantify",
    "quantify_files",
    "read_intensities",
    "register_anatomy",
    "render_qc_png",
    "resample_labels",
    "segment_frame",
    "tissue_means",
    "volume_geometry",
]
