"""Benchmark of quantification throughput through Celery on a loopback Redis, 1 and 2 workers.

Uploads N_SCANS phantom SWI scans with their label maps (imaging.services.scan_upload; every file
differs, since uploads are de-duplicated by sha256) into a temporary SQLite database and media
folder, then quantifies them three times from scratch:

* in-process: ``services.run_execute`` one run after the other (the baseline);
* ``celery -A motorband worker --pool prefork --concurrency N`` for N = 1 and 2, the runs
  requested with ``services.run_request(enqueue=False)`` and sent through Redis by a client app's
  ``send_task("imaging.quantify_run")``; timed from the first send until every run is done
  (worker start-up excluded).

Redis and the workers are started on 127.0.0.1 by this script and stopped at the end.
Run: ``.venv/bin/python bench/bench_celery.py``. Figures, not a gate.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_SCANS = 16
SHAPE = (96, 96, 96)
VOXEL_SIZE_MM = (1.2, 1.2, 1.2)
WORKER_COUNTS = (1, 2)
START_TIMEOUT_S = 60
RUNS_TIMEOUT_S = 300
POLL_S = 0.05


def figure(name: str, value: float, unit: str, target: str = "", ratio: str = "") -> None:
    """One line for the summary table of bench/run.py."""
    print(f"FIGURE|{name}|{value:.4g}|{unit}|{target}|{ratio}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen, timeout_s: float = 20) -> None:
    """Terminate a process started here (its own session), then its group if it lingers."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def start_redis(folder: Path) -> tuple[subprocess.Popen, str]:
    """A throw-away redis-server on a free loopback port (no persistence)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: `make bench` installs it.")
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(folder)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return server, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(server)
            raise SystemExit("redis-server did not start")
        time.sleep(0.05)


def setup_django(folder: Path) -> dict[str, str]:
    """Django on a temporary SQLite file and media folder (never var/); the workers' environment."""
    env = {
        "MOTORBAND_VAR": str(folder / "var"),
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(folder / "media"),
        "DJANGO_SETTINGS_MODULE": "motorband.settings",
    }
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)  # this process only requests and runs in-process
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return env


def upload_scans(folder: Path) -> list[Any]:
    """N_SCANS visits with a distinct phantom SWI and label map each; returns the SWI scans."""
    import nibabel as nib
    import numpy as np

    from cohort.models import Site, Subject, Visit
    from imaging import band, services

    phantom = band.make_phantom(
        SHAPE, VOXEL_SIZE_MM, band_contrast=(0.15, 0.05), noise_sd=2.0, seed=4
    )
    swi = np.asarray(phantom.swi.dataobj, dtype=np.float32)
    labels = np.asarray(phantom.labels.dataobj).copy()
    site = Site.objects.create(code="EDM", name="Edmonton")
    files = folder / "files"
    files.mkdir()
    scans = []
    for i in range(N_SCANS):
        subject = Subject.objects.create(
            study_id=f"EDM-{i:04d}",
            site=site,
            group="ALS",
            sex="F",
            birth_date=dt.date(1960, 1, 1),
            onset_date=dt.date(2022, 1, 1),
            enrolled_on=dt.date(2023, 1, 1),
        )
        visit = Visit.objects.create(
            subject=subject, visit_code="V1", date=dt.date(2023, 1, 2), status="completed"
        )
        swi_path, labels_path = files / f"swi_{i}.nii.gz", files / f"dseg_{i}.nii.gz"
        nib.save(nib.Nifti1Image(swi + i, phantom.swi.affine), swi_path)
        variant = labels.copy()
        variant[0, 0, i] = 0 if variant[0, 0, i] else 24  # another file, the same motor labels
        nib.save(nib.Nifti1Image(variant, phantom.labels.affine), labels_path)
        for kind, path in (("swi", swi_path), ("labels", labels_path)):
            with path.open("rb") as handle:
                scan = services.scan_upload(
                    user=None, visit=visit, kind=kind, upload=handle, name=path.name
                )
            if kind == "swi":
                scans.append(scan)
    return scans


def request_runs(scans: list[Any]) -> list[int]:
    """Fresh queued runs of every scan (earlier runs deleted)."""
    from imaging import services
    from imaging.models import QuantificationRun

    QuantificationRun.objects.all().delete()
    return [services.run_request(user=None, scan=s, enqueue=False)[0].pk for s in scans]


def check_done(run_ids: list[int]) -> None:
    from imaging.models import QuantificationRun, RunStatus

    failed = QuantificationRun.objects.filter(pk__in=run_ids).exclude(status=RunStatus.DONE)
    if failed.exists():
        raise SystemExit(f"runs not done: {[(r.pk, r.status, r.error) for r in failed]}")


def in_process(scans: list[Any]) -> float:
    """Seconds to run every run one after the other in this process."""
    from imaging import services

    runs = request_runs(scans)
    start = time.perf_counter()
    for run_id in runs:
        services.run_execute(run_id)
    seconds = time.perf_counter() - start
    check_done(runs)
    return seconds


def start_worker(env: dict[str, str], broker: str, concurrency: int, log: Path) -> Any:
    """A prefork Celery worker with ``concurrency`` processes; returns once it is ready."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "motorband", "worker", "--pool", "prefork"),
            *("--concurrency", str(concurrency), "-n", f"bench{concurrency}@%h"),
            *("--without-gossip", "--without-mingle", "--without-heartbeat", "--loglevel", "INFO"),
        ],
        cwd=ROOT,
        env={**os.environ, **env, "CELERY_BROKER_URL": broker},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process)
            raise SystemExit(f"the Celery worker did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def through_celery(scans: list[Any], env: dict[str, str], broker: str, workers: int) -> float:
    """Seconds from sending every run to a ``workers``-process worker until all are done."""
    from celery import Celery
    from django.db import connection

    from imaging.models import QuantificationRun, RunStatus

    runs = request_runs(scans)
    connection.close()  # no lock held by this process while the workers write
    log = Path(env["MOTORBAND_VAR"]) / f"worker-{workers}.log"
    worker = start_worker(env, broker, workers, log)
    client = Celery("motorband-bench-client", broker=broker)
    try:
        start = time.perf_counter()
        for run_id in runs:
            client.send_task("imaging.quantify_run", args=[run_id])
        finished = {RunStatus.DONE, RunStatus.FAILED}
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        while QuantificationRun.objects.filter(pk__in=runs).exclude(status__in=finished).exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"runs not finished after {RUNS_TIMEOUT_S} s")
            time.sleep(POLL_S)
        seconds = time.perf_counter() - start
    finally:
        client.close()
        connection.close()
        stop(worker)
    check_done(runs)
    return seconds


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="motorband-bench-celery-") as tmp:
        folder = Path(tmp)
        env = setup_django(folder)
        start = time.perf_counter()
        scans = upload_scans(folder)
        print(
            f"{N_SCANS} phantom scans {SHAPE} of {VOXEL_SIZE_MM} mm (+ label maps) uploaded "
            f"in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        baseline_s = in_process(scans)
        baseline_rate = N_SCANS / baseline_s
        print(f"in-process, sequential         {baseline_s:7.2f} s  {baseline_rate:6.2f} runs/s")
        figure("quantify in-process sequential", baseline_rate, "runs/s")
        redis, broker = start_redis(folder)
        rates: dict[int, float] = {}
        try:
            for workers in WORKER_COUNTS:
                seconds = through_celery(scans, env, broker, workers)
                rates[workers] = N_SCANS / seconds
                print(
                    f"Celery prefork, {workers} process(es)  {seconds:7.2f} s  "
                    f"{rates[workers]:6.2f} runs/s  ({rates[workers] / baseline_rate:.2f}x "
                    "in-process)",
                    flush=True,
                )
                figure(
                    f"quantify Celery {workers} worker(s)",
                    rates[workers],
                    "runs/s",
                    "",
                    f"{rates[workers] / baseline_rate:.2f}x in-process",
                )
        finally:
            stop(redis)
        speedup = rates[2] / rates[1]
        print(f"speed-up 2 / 1 workers         {speedup:7.2f}   (ideal 2.0 on >= 2 idle cores)")
        figure("quantify Celery speed-up 2 vs 1", speedup, "x", "2.0 ideal")
        print(f"cpu cores / load average       {os.cpu_count()} / {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
