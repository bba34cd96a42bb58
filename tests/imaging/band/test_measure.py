"""Measurement formulas, parameters and segments on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from imaging.band import (
    ALGORITHM_VERSION,
    MEASUREMENT_FIELDS,
    SEGMENTS,
    Parameters,
    band_measurement,
)
from imaging.band.measure import SegmentFractions, somatotopic_position


def test_band_measurement_formulas() -> None:
    deep = np.array([80.0, 90.0, 70.0, 100.0])
    superficial = np.array([100.0, 100.0])
    reference = np.array([98.0, 100.0, 102.0])
    values = band_measurement(deep, superficial, reference)
    assert values["deep_mean"] == pytest.approx(85.0)
    assert values["superficial_mean"] == pytest.approx(100.0)
    assert values["reference_mean"] == pytest.approx(100.0)
    assert values["reference_sd"] == pytest.approx(2.0)  # sample SD, ddof=1
    assert values["band_contrast"] == pytest.approx(0.15)
    assert values["laminar_contrast"] == pytest.approx(0.15)
    # Threshold 100 - 2*2 = 96: 80, 90, 70 lie below, 100 does not.
    assert values["band_extent"] == pytest.approx(0.75)


def test_band_measurement_on_qsm_counts_voxels_above_the_reference() -> None:
    reference = np.array([0.01, 0.02, 0.03])
    deep = np.array([0.05, 0.02, 0.06, 0.01])
    values = band_measurement(deep, np.array([0.02]), reference, input_kind="qsm")
    assert values["band_extent"] == pytest.approx(0.5)  # above 0.02 + 2*0.01
    # Ratios of a map whose zero is arbitrary mean nothing; differences in ppb do.
    assert values["band_contrast"] is None and values["laminar_contrast"] is None
    assert values["deep_minus_reference_ppb"] == pytest.approx((0.035 - 0.02) * 1000)
    assert values["deep_minus_superficial_ppb"] == pytest.approx((0.035 - 0.02) * 1000)


def test_band_measurement_on_qsm_in_ppb_is_not_scaled_again() -> None:
    values = band_measurement(
        np.array([35.0, 35.0]),
        np.array([20.0]),
        np.array([19.0, 21.0]),
        input_kind="qsm",
        qsm_unit="ppb",
    )
    assert values["deep_minus_reference_ppb"] == pytest.approx(15.0)


def test_band_measurement_on_swi_has_no_ppb_values() -> None:
    values = band_measurement(np.array([80.0, 90.0]), np.array([100.0]), np.array([99.0, 101.0]))
    assert values["deep_minus_reference_ppb"] is None
    assert values["deep_minus_superficial_ppb"] is None


def test_band_measurement_without_superficial_voxels_is_none_not_nan() -> None:
    values = band_measurement(np.array([1.0, 2.0]), np.array([]), np.array([2.0, 2.0, 2.0]))
    assert values["laminar_contrast"] is None
    assert values["superficial_mean"] is None
    assert not any(isinstance(v, float) and math.isnan(v) for v in values.values())


def test_parameters_defaults_and_record() -> None:
    recorded = Parameters().as_dict()
    assert recorded == {
        "depth_cut": 0.5,
        "threshold_sd": 2.0,
        "segment_fractions": {"leg": 0.2, "hand": 0.4, "face": 0.4},
        "margin_mm": 5.0,
        "min_voxels": 50,
        "input_kind": "swi",
        "qsm_unit": "ppm",
        "reference": "segment",
        "n4": False,
    }
    # 1.1.0: segments fitted on the whole label map with a robust (1st-99th percentile) extent.
    # 2.0.0: each segment's reference is the deep postcentral cortex in its slab of the axis.
    # 2.1.0: the paracentral lobule is its own segment (leg is precentral only); optional N4.
    assert ALGORITHM_VERSION == "2.1.0"
    assert SEGMENTS == ("whole", "leg", "hand", "face", "paracentral")
    assert MEASUREMENT_FIELDS[-1] == "reason"
    assert {"coverage", "deep_minus_reference_ppb", "deep_minus_superficial_ppb"} <= set(
        MEASUREMENT_FIELDS
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"depth_cut": 1.0},
        {"threshold_sd": 0.0},
        {"segment_fractions": SegmentFractions(0.5, 0.4, 0.4)},
        {"margin_mm": -1.0},
        {"min_voxels": 1},
        {"input_kind": "t1"},
        {"qsm_unit": "ppt"},
        {"reference": "gyrus"},
        {"n4": "yes"},
        {"n4": True, "input_kind": "qsm"},
    ],
)
def test_parameters_refuse_nonsense(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Parameters(**kwargs)  # type: ignore[arg-type]


def test_parameters_accept_a_plain_tuple_of_fractions() -> None:
    params = Parameters(segment_fractions=(0.3, 0.3, 0.4))  # type: ignore[arg-type]
    assert params.segment_fractions.leg == 0.3


def test_somatotopic_position_runs_inferior_to_superior() -> None:
    # Voxels on a line rising laterally and upwards; the affine flips the z axis of the array.
    ijk = np.array([[i, 0, i] for i in range(11)])
    affine = np.diag([1.0, 1.0, -1.0, 1.0])
    position = somatotopic_position(ijk, affine, extent_percentiles=(0.0, 100.0))
    assert position[0] == pytest.approx(1.0)  # array z = 0 is world z = 0: the top here
    assert position[-1] == pytest.approx(0.0)
    np.testing.assert_allclose(np.diff(position), -0.1)


def test_somatotopic_position_ignores_a_stray_voxel() -> None:
    # 101 voxels on a vertical line, and one stray voxel 60 mm above its top.
    line = np.array([[0, 0, k] for k in range(101)])
    stray = np.vstack([line, [[0, 0, 160]]])
    affine = np.eye(4)
    clean = somatotopic_position(line, affine)
    with_stray = somatotopic_position(stray, affine)[:-1]
    # Full extent would rescale every position by 100/160; the robust extent moves by a voxel.
    np.testing.assert_allclose(with_stray, clean, atol=0.02)
    assert somatotopic_position(stray, affine)[-1] > 1.5  # the stray joins the top segment
