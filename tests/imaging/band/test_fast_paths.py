"""The fast paths of the band engine give what the plain formulas give.

Each test compares an optimised function with a direct implementation of its definition on
random inputs (both memory orders where the code branches on it), so a change in a result
fails here, not only a change in speed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from scipy.spatial.transform import Rotation

from imaging.band import cortical_depth, cortical_depth_at, resample_labels
from imaging.band import labels as fs
from imaging.band.measure import tissue_means
from imaging.band.register import _pyramid, block_average, motor_displacement_mm


def _random_affine(rng: np.random.Generator, seed: int) -> npt.NDArray[np.float64]:
    affine = np.eye(4)
    scales = np.diag(rng.uniform(0.4, 2.0, 3))
    affine[:3, :3] = Rotation.random(random_state=seed).as_matrix() @ scales
    affine[:3, 3] = rng.uniform(-100.0, 100.0, 3)
    return affine


@pytest.mark.parametrize("fortran", [False, True])
def test_motor_displacement_equals_the_distance_of_every_voxel(fortran: bool) -> None:
    rng = np.random.default_rng(3)
    for seed in range(8):
        mask = rng.random((30, 25, 20)) > 0.7
        if fortran:
            mask = np.asfortranarray(mask)
        affine = _random_affine(rng, seed)
        transform = np.eye(4)
        transform[:3, :3] = Rotation.from_rotvec(rng.normal(0.0, 0.1, 3)).as_matrix()
        transform[:3, 3] = rng.normal(0.0, 5.0, 3)
        labels = np.where(mask, fs.PRECENTRAL["L"], 0).astype(np.int16)

        world = np.argwhere(mask).astype(np.float64) @ affine[:3, :3].T + affine[:3, 3]
        moved = world @ transform[:3, :3].T + transform[:3, 3]
        distance = np.sqrt(((moved - world) ** 2).sum(axis=1))

        rms, largest = motor_displacement_mm(transform, labels, affine, motor=mask)
        assert rms == pytest.approx(np.sqrt(np.mean(distance**2)), rel=1e-9)
        assert largest == pytest.approx(distance.max(), rel=1e-12)


def test_block_average_is_the_mean_of_each_block_at_its_centre() -> None:
    rng = np.random.default_rng(5)
    data = rng.random((9, 8, 5)).astype(np.float32)
    affine = np.diag([0.45, 0.45, 1.0, 1.0])
    affine[:3, 3] = [10.0, -20.0, 30.0]
    averaged, averaged_affine = block_average(data, affine, 1.0)
    # 0.45 mm -> blocks of 2, 1.0 mm -> 1: the last odd row of axis 0 is dropped.
    assert averaged.shape == (4, 4, 5)
    expected = data[:8].reshape(4, 2, 4, 2, 5).mean(axis=(1, 3))
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    # Block (1, 2, 3) holds voxels i 2-3, j 4-5, k 3: its centre is voxel (2.5, 4.5, 3).
    centre = averaged_affine @ np.array([1.0, 2.0, 3.0, 1.0])
    assert centre == pytest.approx(affine @ np.array([2.5, 4.5, 3.0, 1.0]))


def test_pyramid_levels_equal_direct_block_averages() -> None:
    rng = np.random.default_rng(6)
    data = rng.random((40, 36, 16)).astype(np.float32)
    affine = np.diag([0.45, 0.45, 1.0, 1.0])
    coarse_to_fine = _pyramid(data, affine)
    assert [level.shape for level, _ in coarse_to_fine] == [(5, 4, 4), (10, 9, 8), (20, 18, 16)]
    # The 4 mm level averages 8x8x4 original voxels (2x2x1, then 2x2x2 twice).
    coarse, coarse_affine = coarse_to_fine[0]
    direct = data[:40, :32, :16].reshape(5, 8, 4, 8, 4, 4).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(coarse, direct, rtol=1e-5)
    assert coarse_affine @ np.array([0.0, 0.0, 0.0, 1.0]) == pytest.approx(
        affine @ np.array([3.5, 3.5, 1.5, 1.0])
    )


def _resample_reference(
    labels: npt.NDArray[np.integer],
    label_affine: npt.NDArray[np.float64],
    target_affine: npt.NDArray[np.float64],
    crop: tuple[slice, slice, slice],
) -> npt.NDArray[np.integer]:
    """Nearest neighbour, voxel by voxel in vector form: the definition."""
    ijk = np.stack(
        np.meshgrid(*(np.arange(s.start, s.stop) for s in crop), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    to_label = np.linalg.inv(label_affine) @ target_affine
    position = ijk @ to_label[:3, :3].T + to_label[:3, 3]
    nearest = np.floor(position + 0.5).astype(np.int64)
    inside = np.all((nearest >= 0) & (nearest < np.asarray(labels.shape)), axis=1)
    out = np.zeros(len(ijk), dtype=labels.dtype)
    out[inside] = labels[tuple(nearest[inside].T)]
    return out.reshape([s.stop - s.start for s in crop])


@pytest.mark.parametrize("fortran", [False, True])
def test_resampled_labels_are_the_nearest_label_voxel(fortran: bool) -> None:
    rng = np.random.default_rng(8)
    for seed in range(6):
        labels = rng.integers(0, 3000, (40, 35, 30)).astype(np.int16)
        if fortran:
            labels = np.asfortranarray(labels)
        label_affine = np.eye(4)
        label_affine[:3, :3] = Rotation.random(random_state=seed).as_matrix() * 1.1
        label_affine[:3, 3] = rng.normal(0.0, 3.0, 3)
        target = np.diag([0.5, 0.6, 0.9, 1.0])
        target[:3, 3] = [-10.0, -8.0, -6.0]
        crop = (slice(2, 60), slice(3, 50), slice(1, 40))
        ours = resample_labels(labels, label_affine, target, crop)
        reference = _resample_reference(labels, label_affine, target, crop)
        # float32 coordinates may round a centre lying within ~1e-5 voxel of a boundary the
        # other way; a random oblique grid has no such centre.
        np.testing.assert_array_equal(ours, reference)


def test_depth_at_points_equals_the_depth_volume() -> None:
    rng = np.random.default_rng(9)
    labels = np.zeros((30, 30, 12), dtype=np.int16)
    labels[:, :, :4] = fs.WHITE_MATTER["L"]
    labels[:, :, 4:9] = fs.PRECENTRAL["L"]
    labels[rng.random(labels.shape) < 0.05] = 0
    voxel = (0.45, 0.45, 1.0)
    volume = cortical_depth(labels, "L", voxel, reach_mm=5.0)
    points = np.nonzero(labels == fs.PRECENTRAL["L"])
    at = cortical_depth_at(labels, "L", voxel, points, reach_mm=5.0)
    assert at.dtype == np.float32
    np.testing.assert_array_equal(at, volume[points])
    assert np.isfinite(at).mean() > 0.9


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.int32, np.uint8])
def test_label_codes_match_comparisons(dtype: type[np.integer]) -> None:
    rng = np.random.default_rng(10)
    high = 255 if dtype == np.uint8 else 2100
    low = -5 if np.issubdtype(dtype, np.signedinteger) else 0
    labels = rng.integers(low, high, (20, 20, 20)).astype(dtype)
    codes = {2: 1, 41: 1, 3: 2, 1024: 2, 2024: 3, 200: 4}
    expected = np.zeros(labels.shape, dtype=np.uint8)
    for label, code in codes.items():
        expected[labels == label] = code
    np.testing.assert_array_equal(fs.label_codes(labels, codes), expected)


def test_tissue_means_are_the_means_over_the_labelled_voxels() -> None:
    rng = np.random.default_rng(12)
    labels = rng.choice(np.array([0, 2, 41, 3, 42, 1024, 2022, 17], dtype=np.int16), (25, 25, 25))
    image = rng.normal(100.0, 20.0, labels.shape).astype(np.float32)
    image[rng.random(labels.shape) < 0.02] = np.nan
    finite = np.isfinite(image)
    white = np.isin(labels, [2, 41]) & finite
    cortex = np.isin(labels, [3, 42, 1024, 2022]) & finite
    means = tissue_means(image, labels)
    assert means.n_white_matter == np.count_nonzero(white)
    assert means.n_cortex == np.count_nonzero(cortex)
    assert means.white_matter_mean == pytest.approx(float(np.mean(image[white], dtype=np.float64)))
    assert means.cortex_mean == pytest.approx(float(np.mean(image[cortex], dtype=np.float64)))
