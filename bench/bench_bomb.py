"""Peak memory of the server while it refuses hostile images, through the real upload endpoint.

Each case runs in a fresh Python process (Django on a temporary SQLite database and media folder,
never var/): it creates a coordinator and a visit, uploads one file to POST /api/v1/scans/ with the
coordinator's token (django.test's in-process client, so the whole request path runs: middleware,
upload handlers, the service's checks) and reports the answer, its message, the time, and the
process's peak resident memory before and after the request (``ru_maxrss``). The cases:

* ``gzip bomb 130 kB``: a NIfTI header declaring 512³ uint8 (128 MiB) followed by 128 MiB of zeros,
  gzipped to about 130 kB;
* ``gzip bomb 3 MB``: a header declaring 64³ float32 (1 MiB) followed by 3 GiB of zeros (3 MB on
  disk), in one gzip member or as many concatenated members: the inflated size does not match the
  header;
* ``declared 4 GiB``: a header declaring 2048³ uint8 (8 GiB) with 1 kB of data;
* ``no geometry``: a 10³ volume with zero voxel sizes and no qform/sform.

Before the fixes of issue 20 the 3 MB bomb took the server from 416 MB to 3,509 MB. Figures, not a
gate. Run: ``.venv/bin/python bench/bench_bomb.py``.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CASES = [
    "gzip bomb 130 kB",
    "gzip bomb 3 MB, one member",
    "gzip bomb 3 MB, many members",
    "declared 4 GiB",
    "no geometry",
]


def figure(name: str, value: float, unit: str, target: str = "") -> None:
    print(f"FIGURE|{name}|{value:.4g}|{unit}|{target}|", flush=True)


def _header(shape: tuple[int, int, int], dtype: str) -> bytes:
    import nibabel as nib
    import numpy as np

    header = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.eye(4)).header.copy()
    header.set_data_dtype(np.dtype(dtype))
    header.set_data_shape(shape)
    header.set_zooms((1.0, 1.0, 1.0))
    return bytes(header.binaryblock) + b"\0" * 4  # 348-byte NIfTI-1 header + extension flag


def _gzip_member(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip member
    return compressor.compress(data) + compressor.flush()


def write_case(case: str, path: Path) -> Path:
    if case == "gzip bomb 130 kB":
        with gzip.open(path, "wb", compresslevel=9) as out:
            out.write(_header((512, 512, 512), "uint8"))
            for _ in range(8):
                out.write(bytes(16 * 1024**2))
    elif case == "gzip bomb 3 MB, one member":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        chunk = bytes(16 * 1024**2)
        with path.open("wb") as out:
            out.write(compressor.compress(_header((64, 64, 64), "float32")))
            for _ in range(192):  # 192 x 16 MiB = 3 GiB inflated
                out.write(compressor.compress(chunk))
            out.write(compressor.flush())
    elif case == "gzip bomb 3 MB, many members":
        zeros = _gzip_member(bytes(16 * 1024**2))  # about 16 kB on disk
        with path.open("wb") as out:
            out.write(_gzip_member(_header((64, 64, 64), "float32")))
            for _ in range(192):
                out.write(zeros)
    elif case == "declared 4 GiB":
        with gzip.open(path, "wb") as out:
            out.write(_header((2048, 2048, 2048), "uint8") + bytes(1024))
    elif case == "no geometry":
        import nibabel as nib
        import numpy as np

        image = nib.Nifti1Image(np.random.default_rng(1).random((10, 10, 10), np.float32), None)
        image.header["pixdim"][1:4] = 0
        image.header.set_qform(None, code=0)
        image.header.set_sform(None, code=0)
        path = path.with_name("nogeometry.nii")
        nib.save(image, path)
    return path


def child(case: str) -> None:
    """Run one upload in this (fresh) process and print its result as JSON."""
    with tempfile.TemporaryDirectory(prefix="motorband-bench-bomb-") as tmp:
        folder = Path(tmp)
        os.environ["MOTORBAND_VAR"] = str(folder)
        os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
        os.environ["MEDIA_ROOT"] = str(folder / "media")
        os.environ.pop("CELERY_BROKER_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motorband.settings")
        import datetime as dt

        import django

        django.setup()
        from django.core.management import call_command
        from knox.models import AuthToken
        from rest_framework.test import APIClient

        from cohort import services

        call_command("migrate", verbosity=0, interactive=False)
        site = services.site_create(user=None, code="EDM", name="Edmonton")
        user = services.study_user_save(username="coord", role="coordinator", sites=["EDM"])
        subject = services.subject_create(
            user=None,
            study_id="EDM-0001",
            site=site,
            group="CONTROL",
            sex="F",
            birth_date=dt.date(1960, 1, 1),
            handedness="R",
            enrolled_on=dt.date(2026, 1, 5),
        )
        visit = services.visit_create(
            user=None,
            subject=subject,
            visit_code="V1",
            date=dt.date(2026, 1, 5),
            status="completed",
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
        # Warm up: one refused upload loads every module the upload path imports, so the figure
        # below is what the hostile file costs, not the first request's imports.
        warm = write_case("no geometry", folder / "warm.nii.gz")
        with warm.open("rb") as handle:
            client.post("/api/v1/scans/", {"visit": visit.pk, "kind": "swi", "file": handle})
        warm.unlink()
        path = write_case(case, folder / "upload.nii.gz")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        with path.open("rb") as handle:
            response = client.post(
                "/api/v1/scans/", {"visit": visit.pk, "kind": "swi", "file": handle}
            )
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from imaging.models import Scan

        stored_files = [p for p in (folder / "media").rglob("*") if p.is_file()]
        print(
            json.dumps(
                {
                    "case": case,
                    "file_mb": path.stat().st_size / 1024**2,
                    "status": response.status_code,
                    "answer": response.content.decode()[:300],
                    "seconds": seconds,
                    "rss_before_mb": before,
                    "rss_peak_mb": peak,
                    "scans_stored": Scan.objects.count(),
                    "files_left": len(stored_files),
                }
            )
        )


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2])
        return 0
    worst = 0.0
    for case in CASES:
        done = subprocess.run(
            [sys.executable, __file__, "--child", case],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            print(f"{case}: the child failed\n{done.stderr[-2000:]}")
            return 1
        result = json.loads(done.stdout.strip().splitlines()[-1])
        growth = result["rss_peak_mb"] - result["rss_before_mb"]
        worst = max(worst, growth)
        print(
            f"{case}: {result['file_mb']:.2f} MB file -> HTTP {result['status']} in "
            f"{result['seconds']:.2f} s; peak RSS {result['rss_before_mb']:.0f} -> "
            f"{result['rss_peak_mb']:.0f} MB (+{growth:.0f} MB); scans stored "
            f"{result['scans_stored']}, files left {result['files_left']}\n  {result['answer']}"
        )
        figure(f"peak memory growth, {case}", growth, "MB", "< 100 MB")
    figure("peak memory growth, worst case", worst, "MB", "< 100 MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
