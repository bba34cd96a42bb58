"""Cortical depth on tiny label arrays whose distances are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from imaging.band import labels as fs
from imaging.band.depth import cortical_depth

WM, CTX, CSF = fs.WHITE_MATTER["L"], fs.PRECENTRAL["L"], fs.CSF


def ribbon(n_cortex: int, axis: int = 0, width: int = 5) -> np.ndarray:
    """A flat slab: 3 voxels of WM, ``n_cortex`` of cortex, 3 of CSF along ``axis``."""
    profile = np.array([WM] * 3 + [CTX] * n_cortex + [CSF] * 3, dtype=np.int16)
    shape = [width, width, width]
    shape[axis] = profile.size
    view = [1, 1, 1]
    view[axis] = profile.size
    return np.broadcast_to(profile.reshape(view), shape).copy()


@pytest.mark.parametrize("n_cortex", [2, 3, 4, 6])
def test_flat_ribbon_depth_is_voxel_centre_position(n_cortex: int) -> None:
    depth = cortical_depth(ribbon(n_cortex), "L", (1.0, 1.0, 1.0))
    line = depth[3 : 3 + n_cortex, 2, 2]
    expected = (np.arange(1, n_cortex + 1) - 0.5) / n_cortex
    np.testing.assert_allclose(line, expected, atol=1e-6)


def test_uniform_ribbon_depth_is_symmetric() -> None:
    depth = cortical_depth(ribbon(4), "L", (1.0, 1.0, 1.0))
    values = depth[np.isfinite(depth)]
    assert np.mean(values) == pytest.approx(0.5)
    assert np.count_nonzero(values < 0.5) == np.count_nonzero(values >= 0.5)


def test_depth_honours_anisotropic_voxels() -> None:
    # The slab runs along the 1.5 mm axis; normalized depth must not change with voxel size.
    depth = cortical_depth(ribbon(4, axis=2), "L", (0.5, 0.5, 1.5))
    np.testing.assert_allclose(depth[2, 2, 3:7], [0.125, 0.375, 0.625, 0.875], atol=1e-6)


def test_border_between_gyri_is_not_pial_surface() -> None:
    labels = ribbon(4)
    labels[:, :2, :][labels[:, :2, :] == CTX] = fs.SUPERIOR_FRONTAL["L"]
    depth = cortical_depth(labels, "L", (1.0, 1.0, 1.0))
    np.testing.assert_allclose(depth[3:7, 3, 2], [0.125, 0.375, 0.625, 0.875], atol=1e-6)


def test_other_hemisphere_counts_as_outside() -> None:
    labels = ribbon(4)
    labels[labels == CSF] = fs.PRECENTRAL["R"]  # right cortex touching the left ribbon
    depth = cortical_depth(labels, "L", (1.0, 1.0, 1.0))
    np.testing.assert_allclose(depth[3:7, 2, 2], [0.125, 0.375, 0.625, 0.875], atol=1e-6)
    assert np.isnan(depth[labels == fs.PRECENTRAL["R"]]).all()


def test_no_white_matter_gives_nan() -> None:
    labels = ribbon(4)
    labels[labels == WM] = CSF
    assert np.isnan(cortical_depth(labels, "L", (1.0, 1.0, 1.0))).all()


def test_where_restricts_the_voxels() -> None:
    labels = ribbon(4)
    where = np.zeros(labels.shape, dtype=bool)
    where[4, 2, 2] = True
    depth = cortical_depth(labels, "L", (1.0, 1.0, 1.0), where=where)
    assert np.count_nonzero(np.isfinite(depth)) == 1
    assert depth[4, 2, 2] == pytest.approx(0.375)


@pytest.mark.parametrize("voxel_size_mm", [(1.0, 1.0, 1.0), (0.45, 0.45, 1.0), (1.5, 0.5, 0.7)])
def test_nearest_features_match_scipy_3d_distance_transform(
    voxel_size_mm: tuple[float, float, float],
) -> None:
    from scipy import ndimage

    from imaging.band.depth import nearest_feature_steps

    rng = np.random.default_rng(7)
    features = rng.random((23, 17, 19)) < 0.02
    points = np.nonzero(~features)
    sampling = np.asarray(voxel_size_mm)
    steps = nearest_feature_steps(features, points, sampling)
    ours = np.sqrt(((steps * sampling[:, None]) ** 2).sum(axis=0))
    reference = ndimage.distance_transform_edt(~features, sampling=sampling)[points]
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


def test_nearest_features_within_reach_are_exact() -> None:
    from scipy import ndimage

    from imaging.band.depth import nearest_feature_steps

    rng = np.random.default_rng(11)
    features = rng.random((30, 26, 12)) < 0.01
    sampling = np.array([0.5, 0.5, 1.5])
    points = np.nonzero(~features)
    reference = ndimage.distance_transform_edt(~features, sampling=sampling)[points]
    steps = nearest_feature_steps(features, points, sampling, reach_mm=4.0)
    ours = np.sqrt(((steps * sampling[:, None]) ** 2).sum(axis=0))
    near = reference <= 4.0
    np.testing.assert_allclose(ours[near], reference[near], rtol=1e-6)
    far = ours[~near]
    assert np.all((far == 0) | (far > 4.0))  # not found, or no nearer than the true distance
