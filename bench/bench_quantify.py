"""Benchmark: full motor band quantification from files against a plain nibabel load.

Run as ``.venv/bin/python bench/bench_quantify.py``. Prints one line per figure and the ratio
(target at most 2.0).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

import nibabel as nib
import numpy as np
from nibabel.processing import resample_to_output

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from imaging.band import labels as fs
from imaging.band import load_label_map, load_volume, make_phantom, quantify, quantify_files

#: A clinical 3 T SWI matrix and resolution.
SHAPE: Final[tuple[int, int, int]] = (512, 448, 144)
VOXEL_SIZE_MM: Final[tuple[float, float, float]] = (0.45, 0.45, 1.0)
#: Phantom geometry sized so that the motor crop is about a fifth of the volume.
RADIUS_MM: Final[float] = 72.0
GYRUS_WIDTH_MM: Final[float] = 30.0
MOTOR_FLOOR_MM: Final[float] = -20.0
NOISE_SD: Final[float] = 6.0
REPEATS: Final[int] = 3
TARGET_RATIO: Final[float] = 2.0
#: With rigid registration of the label map's T1 to the SWI (issue: "crop before registering").
TARGET_RATIO_REGISTERED: Final[float] = 4.0
#: How far the label map and its T1 sit from the SWI (mm along x), for the registered run.
MISPLACEMENT_MM: Final[float] = 3.0


def best_of(function: Callable[[], object], repeats: int = REPEATS) -> float:
    """Fastest wall-clock time (s) of ``repeats`` calls."""
    return best_of_both(function, repeats)[0]


def best_of_both(function: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Fastest wall-clock time and fastest CPU time (s, all threads) of ``repeats`` calls."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def main() -> int:
    """Generate the volumes, time both paths and print the figures."""
    with tempfile.TemporaryDirectory(prefix="motorband-bench-") as tmp:
        swi_path, labels_path = Path(tmp) / "swi.nii.gz", Path(tmp) / "dseg.nii.gz"
        t1_path, moved_labels_path = Path(tmp) / "t1.nii.gz", Path(tmp) / "moved_dseg.nii.gz"
        start = time.perf_counter()
        swi, labels = make_phantom(
            SHAPE,
            VOXEL_SIZE_MM,
            band_contrast=(0.12, 0.05),
            noise_sd=NOISE_SD,
            rotation_deg=(8.0, 0.0, 0.0),
            radius_mm=RADIUS_MM,
            gyrus_width_mm=GYRUS_WIDTH_MM,
            motor_floor_mm=MOTOR_FLOOR_MM,
            swi_dtype=np.int16,
        )
        nib.save(swi, swi_path)
        nib.save(labels, labels_path)
        # The label map and "its T1" (the SWI's contrast, rescaled) misplaced by a known shift.
        shift = np.eye(4)
        shift[0, 3] = MISPLACEMENT_MM
        nib.save(
            nib.Nifti1Image(np.asanyarray(labels.dataobj), shift @ labels.affine), moved_labels_path
        )
        # A T1 as FreeSurfer's are: 1 mm isotropic (here the SWI's contrast resampled).
        t1_data = (np.asanyarray(swi.dataobj).astype(np.float32) * 1.3 + 5).astype(np.int16)
        t1 = resample_to_output(nib.Nifti1Image(t1_data, swi.affine), voxel_sizes=1.0, order=1)
        nib.save(nib.Nifti1Image(np.asanyarray(t1.dataobj), shift @ t1.affine), t1_path)
        print(f"setup (phantom + save)        {time.perf_counter() - start:8.3f} s")
        label_data = np.asanyarray(labels.dataobj)
        motor = fs.motor_mask(label_data)
        box = [
            np.flatnonzero(motor.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)
        ]
        box_fraction = np.prod([(b[-1] - b[0] + 1) / n for b, n in zip(box, SHAPE, strict=True)])
        print(f"volume                        {SHAPE} voxels of {VOXEL_SIZE_MM} mm, int16 .nii.gz")
        print(f"motor label bounding box      {box_fraction:8.3f} of the volume")

        load_s, load_cpu = best_of_both(lambda: nib.load(swi_path).get_fdata())
        # The reference: the SWI and the label map loaded with nibabel.
        loads_s = best_of(
            lambda: (nib.load(swi_path).get_fdata(), np.asanyarray(nib.load(labels_path).dataobj))
        )
        quantify_s, quantify_cpu = best_of_both(lambda: quantify_files(swi_path, labels_path))
        result = quantify_files(swi_path, labels_path)
        crop_fraction = np.prod(
            [(s.stop - s.start) / n for s, n in zip(result.crop, SHAPE, strict=True)]
        )
        swi_volume, label_volume = load_volume(swi_path), load_label_map(labels_path)
        compute_s = best_of(
            lambda: quantify(
                swi_volume.data, swi_volume.affine, label_volume.data, label_volume.affine
            )
        )
        ratio = quantify_s / load_s
        print(f"crop (labels + 5 mm margin)   {crop_fraction:8.3f} of the volume")
        print(f"nibabel load get_fdata (best) {load_s:8.3f} s")
        print(f"quantify_files (best)         {quantify_s:8.3f} s")
        print(f"  of which compute (arrays)   {compute_s:8.3f} s   (quantify on loaded arrays)")
        print(f"ratio quantify / load         {ratio:8.2f}   (target <= {TARGET_RATIO})")
        print(
            f"cpu time load / quantify      {load_cpu:8.3f} / {quantify_cpu:.3f} s "
            f"(ratio {quantify_cpu / load_cpu:.2f}; independent of other processes)"
        )
        print(f"cpu cores / load average      {os.cpu_count()} / {os.getloadavg()[0]:.2f}")
        whole = {
            m["hemisphere"]: m["band_contrast"]
            for m in result.measurements
            if m["segment"] == "whole"
        }
        print(
            f"whole band contrast L / R     {whole['L']:.4f} / {whole['R']:.4f} (truth 0.12 / 0.05)"
        )
        registered_s = best_of(
            lambda: quantify_files(swi_path, moved_labels_path, anatomy=t1_path), repeats=2
        )
        registered = quantify_files(swi_path, moved_labels_path, anatomy=t1_path)
        unregistered_s = best_of(lambda: quantify_files(swi_path, labels_path))
        print(f"nibabel load SWI + labels     {loads_s:8.3f} s")
        print(
            f"quantify, no registration     {unregistered_s:8.3f} s   "
            f"({unregistered_s / loads_s:.2f}x the two loads, target <= {TARGET_RATIO})"
        )
        print(
            f"quantify with registration    {registered_s:8.3f} s   "
            f"({registered_s / loads_s:.2f}x the two loads, target <= {TARGET_RATIO_REGISTERED}); "
            f"recovered {registered.registration['displacement_mm']:.2f} mm "
            f"of {MISPLACEMENT_MM} mm"
        )
        registered_whole = {
            m["hemisphere"]: m["band_contrast"]
            for m in registered.measurements
            if m["segment"] == "whole"
        }
        print(
            f"registered whole L / R        {registered_whole['L']:.4f} / "
            f"{registered_whole['R']:.4f} (truth 0.12 / 0.05)"
        )
        print(
            f"FIGURE|quantify vs two loads|{unregistered_s:.3f}|s|<= {TARGET_RATIO}x|"
            f"{unregistered_s / loads_s:.2f}x"
        )
        print(
            f"FIGURE|quantify + registration vs two loads|{registered_s:.3f}|s|"
            f"<= {TARGET_RATIO_REGISTERED}x|{registered_s / loads_s:.2f}x"
        )
        verdict = "within" if ratio <= TARGET_RATIO else "ABOVE"
        print(f"target                        {verdict} the {TARGET_RATIO}x target")
        print(f"FIGURE|quantify vs load|{quantify_s:.3f}|s|<= {TARGET_RATIO}x|{ratio:.2f}x")
    # Figures, not a gate: the ratio moves with whatever else the machine runs.
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
