"""Response of ``band_contrast`` on a real folded cortex: FreeSurfer's bert, known darkening, SWI grids.

The band engine's numbers are an index, not tissue contrast: partial volume and the depth split at
a clinical grid's resolution attenuate them. This script measures by how much, with known truth:

1. bert's ``norm.mgz`` (no band) and ``aparc+aseg.mgz``, cropped to the motor labels plus 15 mm;
2. the deep half of the LEFT precentral cortex darkened by a fraction f; depth from a 3-D Euclidean
   distance transform computed here (scipy), independent of the engine's own depth code;
3. resampled (trilinear) to an oblique SWI-like grid (voxel size v, rotated 12° about two axes),
   with Rician noise (SNR 25 in white matter);
4. quantified with the label map on its own 1 mm grid (the engine resamples it through the
   affines), default parameters of the current method.

Reported per voxel size: the response (measured − measured at f = 0) ÷ f for the left ``whole``
precentral gyrus and its ``leg``, ``hand`` and ``face`` segments, and the right (undarkened)
``whole`` change, which should stay near 0. Figures, not a gate.
Run: ``.venv/bin/python bench/bench_bert_response.py`` (about a minute per voxel size).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BERT = ROOT.parent / "shared" / "data" / "freesurfer-bert"

VOXEL_SIZES: list[tuple[float, float, float]] = [
    (0.5, 0.5, 1.2),
    (0.7, 0.7, 1.5),
    (0.9, 0.9, 2.0),
    (1.0, 1.0, 1.0),
]
FRACTIONS = (0.1, 0.2)
ROTATION_DEG = 12.0
SNR_WM = 25.0
LEFT_PRECENTRAL, RIGHT_PRECENTRAL = 1024, 2024
LEFT_WM, RIGHT_WM = 2, 41


def figure(name: str, value: float, unit: str, target: str = "") -> None:
    print(f"FIGURE|{name}|{value:.4g}|{unit}|{target}|", flush=True)


def own_depth(labels: npt.NDArray[np.integer], cortex: int, white: int) -> npt.NDArray[np.float64]:
    """Normalized depth (0 at white matter, 1 at the pial side) of one cortical label, 1 mm grid."""
    inside = labels == cortex
    d_wm = ndimage.distance_transform_edt(labels != white)
    cortical = (labels >= 1000) | np.isin(labels, (LEFT_WM, RIGHT_WM))
    d_out = ndimage.distance_transform_edt(cortical)
    depth = np.full(labels.shape, np.nan)
    depth[inside] = d_wm[inside] / (d_wm[inside] + d_out[inside])
    return depth


def rotation(degrees: float) -> npt.NDArray[np.float64]:
    a = np.deg2rad(degrees)
    about_x = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    about_z = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return about_z @ about_x


def oblique_grid(
    source_affine: npt.NDArray[np.float64], source_shape: tuple[int, ...], voxel: tuple[float, ...]
) -> tuple[npt.NDArray[np.float64], tuple[int, int, int]]:
    """An affine and shape of a rotated grid of ``voxel`` spacing covering the source volume."""
    corners = np.array(
        [
            [i, j, k, 1]
            for i in (0, source_shape[0])
            for j in (0, source_shape[1])
            for k in (0, source_shape[2])
        ]
    )
    world = (source_affine @ corners.T).T[:, :3]
    turn = rotation(ROTATION_DEG)
    local = world @ turn  # coordinates along the rotated axes
    low, high = local.min(axis=0), local.max(axis=0)
    shape = tuple(int(np.ceil((high[i] - low[i]) / voxel[i])) for i in range(3))
    affine = np.eye(4)
    affine[:3, :3] = turn @ np.diag(voxel)
    affine[:3, 3] = turn @ low
    return affine, shape  # type: ignore[return-value]


def resample(
    image: npt.NDArray[np.float32],
    source_affine: npt.NDArray[np.float64],
    target_affine: npt.NDArray[np.float64],
    shape: tuple[int, int, int],
) -> npt.NDArray[np.float32]:
    mapping = np.linalg.inv(source_affine) @ target_affine
    return ndimage.affine_transform(
        image, mapping[:3, :3], mapping[:3, 3], output_shape=shape, order=1, cval=0.0
    ).astype(np.float32)


def rician(image: npt.NDArray[np.float32], sigma: float, seed: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    real = image + rng.normal(0, sigma, image.shape)
    imaginary = rng.normal(0, sigma, image.shape)
    return np.sqrt(real**2 + imaginary**2).astype(np.float32)


def measured(result: Any) -> dict[tuple[str, str], float | None]:
    return {(m["hemisphere"], m["segment"]): m["band_contrast"] for m in result.measurements}


def main() -> int:
    if not BERT.is_dir():
        print(f"bert not found at {BERT}: skipped")
        return 0
    from imaging import band

    norm = band.load_volume(BERT / "norm.mgz")
    aseg = band.load_label_map(BERT / "aparc+aseg.mgz")
    labels_full = np.asarray(aseg.data, dtype=np.int32)
    box = band.motor_crop(labels_full, aseg.affine, norm.affine, norm.data.shape, 15.0)
    image = np.asarray(norm.data, dtype=np.float32)[box]
    labels = np.ascontiguousarray(labels_full[box])
    affine = band.crop_affine(np.asarray(norm.affine, dtype=np.float64), box)
    depth = own_depth(labels, LEFT_PRECENTRAL, LEFT_WM)
    deep_left = (labels == LEFT_PRECENTRAL) & (depth < 0.5)
    sigma = float(np.median(image[np.isin(labels, (LEFT_WM, RIGHT_WM))])) / SNR_WM
    print(
        f"bert motor crop {image.shape} at 1 mm; deep left precentral voxels {int(deep_left.sum())}; "
        f"rotation {ROTATION_DEG}°, Rician sigma {sigma:.2f} (SNR {SNR_WM:g} in white matter)"
    )
    rows = []
    for voxel in VOXEL_SIZES:
        started = time.perf_counter()
        target_affine, shape = oblique_grid(affine, image.shape, voxel)
        values: dict[float, dict[tuple[str, str], float | None]] = {}
        for f in (0.0, *FRACTIONS):
            darkened = image.copy()
            darkened[deep_left] *= 1.0 - f
            swi = rician(resample(darkened, affine, target_affine, shape), sigma, seed=7)
            values[f] = measured(band.quantify(swi, target_affine, labels, affine))
        seconds = time.perf_counter() - started
        for f in FRACTIONS:
            row: dict[str, Any] = {"voxel": voxel, "f": f}
            for segment in ("whole", "leg", "hand", "face"):
                now, base = values[f][("L", segment)], values[0.0][("L", segment)]
                row[segment] = None if now is None or base is None else (now - base) / f
            now, base = values[f][("R", "whole")], values[0.0][("R", "whole")]
            row["right"] = None if now is None or base is None else now - base
            rows.append(row)
        print(f"  {voxel} mm grid {shape}: {seconds:.1f} s", flush=True)

    def cell(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    print("\n| voxel size (mm) | f | L whole | L leg | L hand | L face | R whole change |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        size = "×".join(f"{v:g}" for v in row["voxel"])
        print(
            f"| {size} | {row['f']:g} | {cell(row['whole'])} | {cell(row['leg'])} | "
            f"{cell(row['hand'])} | {cell(row['face'])} | {row['right']:+.3f} |"
        )
        if row["f"] == FRACTIONS[-1] and row["whole"] is not None:
            figure(f"bert response L whole at {size} mm (f {row['f']:g})", row["whole"], "× f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
