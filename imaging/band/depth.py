"""Normalized cortical depth (0 at white matter, 1 at the pial surface) from a label map."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from scipy import ndimage

from imaging.band import labels as fs

#: Half a voxel: distance transforms measure centre to centre, the tissue border lies between.
_HALF: Final[float] = 0.5


def _border_distance(
    steps: npt.NDArray[np.int64], voxel_size_mm: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Distance (mm) from voxel centres to the border of their nearest feature voxel.

    ``steps`` is the whole-voxel offset ``n`` from a point p to its nearest feature voxel
    centre q. The border is where the segment p→q enters q's box, ``t = min_k (s_k/2)/|u_k|``
    before q along the unit direction u, that is ``|v| / (2 max_k |n_k|)``. For a flat ribbon
    of n voxels this gives depths (i - 1/2)/n, symmetric about 1/2, where centre-to-centre
    distances would give i/(n + 1).

    Parameters
    ----------
    steps : ndarray of int, shape (3, N)
    voxel_size_mm : ndarray, shape (3,)

    Returns
    -------
    ndarray of float64, shape (N,)
    """
    vector_mm = steps * voxel_size_mm[:, None]
    length = np.sqrt((vector_mm**2).sum(axis=0))
    longest = np.abs(steps).max(axis=0)
    return np.asarray(length * (1.0 - _HALF / np.maximum(longest, 1)), dtype=np.float64)


def nearest_feature_steps(
    features: npt.NDArray[np.bool_],
    points: tuple[npt.NDArray[np.intp], ...],
    voxel_size_mm: npt.NDArray[np.float64],
    reach_mm: float | None = None,
) -> npt.NDArray[np.int64]:
    """Offset (whole voxels) from each point to its nearest feature voxel, Euclidean in mm.

    Exact 3-D nearest features, computed as 2-D feature transforms of every slice across the
    coarsest axis followed by a search over nearby slices at the requested points only:
    ``d(p)^2 = min_k [(s_0 (p_0 - k))^2 + d_k(p_1, p_2)^2]`` where ``d_k`` is the in-plane
    distance within slice k. With a reach, each slice's transform is also confined to the
    rectangle around the points that can use it. About 1.5 times cheaper than scipy's 3-D
    feature transform of the whole grid when only a ribbon of points needs an answer, and
    identical for every point whose nearest feature lies within the reach.

    Parameters
    ----------
    features : ndarray of bool, shape (X, Y, Z)
        True at feature voxels.
    points : tuple of 3 index arrays, each shape (N,)
    voxel_size_mm : ndarray, shape (3,)
    reach_mm : float, optional
        Search only this far (mm) across slices and within each slice; a nearest feature
        farther away may be missed (it is then farther than ``reach_mm``). Default: no limit.

    Returns
    -------
    ndarray of int64, shape (3, N)
        ``q - p`` along the array axes; zero for a point without any feature in reach.
    """
    axis = int(np.argmax(voxel_size_mm))  # fewest slices within reach
    others = [a for a in range(3) if a != axis]
    stacked = np.moveaxis(features, axis, 0)
    spacing = float(voxel_size_mm[axis])
    plane_mm = voxel_size_mm[others]
    n_slices, n_rows, n_cols = stacked.shape
    p0, p1, p2 = (points[axis], points[others[0]], points[others[1]])
    steps = np.zeros((3, p0.size), dtype=np.int64)
    if p0.size == 0:
        return steps
    reach = n_slices if reach_mm is None else int(np.ceil(reach_mm / spacing))
    low = max(int(p0.min()) - reach, 0)
    high = min(int(p0.max()) + reach + 1, n_slices)
    # Per slice, only the rectangle around the points that search it (those within `reach`
    # slices) widened by the in-plane reach can hold a feature within reach of them.
    window = 2 * reach + 1
    rows_seen = np.zeros((n_slices, n_rows), dtype=bool)
    cols_seen = np.zeros((n_slices, n_cols), dtype=bool)
    rows_seen[p0, p1] = True
    cols_seen[p0, p2] = True
    rows_seen = ndimage.maximum_filter1d(rows_seen, size=window, axis=0, mode="constant")
    cols_seen = ndimage.maximum_filter1d(cols_seen, size=window, axis=0, mode="constant")
    plane_reach = (
        np.full(2, n_rows + n_cols)
        if reach_mm is None
        else np.ceil(reach_mm / plane_mm).astype(np.int64)
    )
    # `reach` featureless (infinitely far) slices pad both ends so every search step exists.
    padded = high - low + 2 * reach
    offsets = np.zeros((2, padded, n_rows, n_cols), dtype=np.int32)
    plane_d2 = np.full((padded, n_rows, n_cols), np.inf, dtype=np.float32)
    for k in range(low, high):
        row_hits = np.flatnonzero(rows_seen[k])
        col_hits = np.flatnonzero(cols_seen[k])
        if row_hits.size == 0 or col_hits.size == 0:
            continue
        r0 = max(int(row_hits[0] - plane_reach[0]), 0)
        r1 = min(int(row_hits[-1] + plane_reach[0]) + 1, n_rows)
        c0 = max(int(col_hits[0] - plane_reach[1]), 0)
        c1 = min(int(col_hits[-1] + plane_reach[1]) + 1, n_cols)
        plane = stacked[k, r0:r1, c0:c1]
        if not plane.any():
            continue
        nearest = ndimage.distance_transform_edt(
            ~plane, sampling=plane_mm, return_distances=False, return_indices=True
        )
        nearest[0] -= np.arange(r1 - r0, dtype=np.int32)[:, None]
        nearest[1] -= np.arange(c1 - c0, dtype=np.int32)[None, :]
        slot = k - low + reach
        offsets[:, slot, r0:r1, c0:c1] = nearest
        along_rows = nearest[0].astype(np.float32) * np.float32(plane_mm[0])
        along_cols = nearest[1].astype(np.float32) * np.float32(plane_mm[1])
        plane_d2[slot, r0:r1, c0:c1] = along_rows * along_rows + along_cols * along_cols
    plane_size = n_rows * n_cols
    flat_d2 = plane_d2.reshape(-1)
    base = ((p0 - low + reach) * plane_size + p1 * n_cols + p2).astype(np.int64)
    # Nearer slices first, each candidate replacing the best only when strictly nearer: of equal
    # candidates the first, the smaller step, is kept. A slice `shift` away adds (shift·s)^2,
    # so points already nearer than that are settled and leave the search (most cortex lies
    # within a few mm of both white matter and the surface in its own slice).
    best = flat_d2[base]
    best_shift = np.zeros(p0.size, dtype=np.int64)
    active = np.arange(p0.size)
    for shift in sorted(range(-reach, reach + 1), key=abs)[1:]:
        added = np.float32((shift * spacing) ** 2)
        active = active[best[active] > added]
        if active.size == 0:
            break
        candidate = flat_d2[base[active] + shift * plane_size] + added
        nearer = candidate < best[active]
        improved = active[nearer]
        best[improved] = candidate[nearer]
        best_shift[improved] = shift
    found = np.isfinite(best)
    where = base + best_shift * plane_size
    steps[axis] = best_shift
    steps[others[0]] = offsets[0].reshape(-1)[where]
    steps[others[1]] = offsets[1].reshape(-1)[where]
    steps[:, ~found] = 0
    return steps


def _depth_at(
    labels: npt.NDArray[np.integer],
    hemisphere: fs.Hemisphere,
    sampling: npt.NDArray[np.float64],
    points: tuple[npt.NDArray[np.intp], ...],
    reach_mm: float | None,
) -> npt.NDArray[np.float64] | None:
    """Depth at the given voxels of ``labels``; None without white matter or outside."""
    cortex = fs.cortex_mask(labels, hemisphere)
    white = labels == fs.WHITE_MATTER[hemisphere]
    outside = ~(cortex | white)
    if not white.any() or not outside.any():
        return None
    d_wm = _border_distance(nearest_feature_steps(white, points, sampling, reach_mm), sampling)
    d_out = _border_distance(nearest_feature_steps(outside, points, sampling, reach_mm), sampling)
    total = d_wm + d_out
    depth = np.full(total.shape, np.nan)
    # A point with no feature within reach on one side has a zero step there: no depth.
    found = (d_wm > 0) & (d_out > 0)
    depth[found] = d_wm[found] / total[found]
    return depth


def cortical_depth(
    labels: npt.NDArray[np.integer],
    hemisphere: fs.Hemisphere,
    voxel_size_mm: tuple[float, float, float] | npt.NDArray[np.float64],
    *,
    where: npt.NDArray[np.bool_] | None = None,
    reach_mm: float | None = None,
) -> npt.NDArray[np.float32]:
    """Normalized depth of cortex voxels of one hemisphere.

    ``d_wm`` is the distance (mm) to the nearest white matter voxel of the same hemisphere,
    ``d_out`` the distance to the nearest voxel that is neither cortex nor white matter of that
    hemisphere (so the other hemisphere, across the midline, counts as outside);
    ``depth = d_wm / (d_wm + d_out)``. All cortex parcels count as cortex, so the border between
    two gyri is not a pial surface. Distances run to the border of the nearest voxel (half-voxel
    convention, see :func:`_border_distance`).

    Parameters
    ----------
    labels : ndarray of int, shape (X, Y, Z)
        FreeSurfer labels on the grid of interest (e.g. the SWI crop).
    hemisphere : {"L", "R"}
    voxel_size_mm : sequence of 3 float
        Voxel edge lengths (mm) along the array axes.
    where : ndarray of bool, shape (X, Y, Z), optional
        Only these voxels (intersected with the hemisphere's cortex) need a depth; default all.
    reach_mm : float, optional
        Largest distance (mm) at which white matter and outside voxels are sought across
        slices (see :func:`nearest_feature_steps`); default unlimited. The quantification
        passes its crop margin, which already bounds what lies inside the crop.

    Returns
    -------
    ndarray of float32, shape (X, Y, Z)
        Depth in [0, 1] at the requested cortex voxels; NaN elsewhere, and everywhere where the
        grid holds no white matter or no outside voxel of that hemisphere.
    """
    depth = np.full(labels.shape, np.nan, dtype=np.float32)
    wanted = fs.cortex_mask(labels, hemisphere)
    if where is not None:
        wanted &= where
    if not wanted.any():
        return depth
    points = np.nonzero(wanted)
    depth[points] = cortical_depth_at(labels, hemisphere, voxel_size_mm, points, reach_mm=reach_mm)
    return depth


def cortical_depth_at(
    labels: npt.NDArray[np.integer],
    hemisphere: fs.Hemisphere,
    voxel_size_mm: tuple[float, float, float] | npt.NDArray[np.float64],
    points: tuple[npt.NDArray[np.intp], ...],
    *,
    reach_mm: float | None = None,
) -> npt.NDArray[np.float32]:
    """Normalized depth (see :func:`cortical_depth`) at the given cortex voxels only.

    The same values as ``cortical_depth(...)[points]``, without a volume-sized result: for
    callers that keep voxel sets as index arrays.

    Parameters
    ----------
    labels : ndarray of int, shape (X, Y, Z)
    hemisphere : {"L", "R"}
    voxel_size_mm : sequence of 3 float
    points : tuple of 3 index arrays, each shape (N,)
        Voxels of the hemisphere's cortex (as from ``np.nonzero``).
    reach_mm : float, optional
        See :func:`cortical_depth`.

    Returns
    -------
    ndarray of float32, shape (N,)
        Depth in [0, 1]; NaN where the grid holds no white matter or no outside voxel of that
        hemisphere, or where none lies within the reach.
    """
    sampling = np.asarray(voxel_size_mm, dtype=np.float64)
    if points[0].size == 0:
        return np.zeros(0, dtype=np.float32)
    values = _depth_at(labels, hemisphere, sampling, points, reach_mm)
    if values is None:
        return np.full(points[0].size, np.nan, dtype=np.float32)
    return values.astype(np.float32)
