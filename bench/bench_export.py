"""Benchmark of the CSV trial export (long table) on a generated 10,000-subject study.

Builds the study in a temporary SQLite database with ``bulk_create`` (a fixture, not the services:
3 visits per subject, each with a Penn UMN exam and an ALSFRS-R), then times
``analysis.exports.trial`` (long table + CSV) against pandas ``read_sql`` of the same join +
``to_csv``. Run: ``.venv/bin/python bench/bench_export.py`` (target: ratio at most 2.0).

Then builds the XLSX release of the same study through its export job (``releases.job_request``,
the Celery task run in-process as without a broker) in a child process, and reports the job's
time and the child's peak resident memory (``ru_maxrss``) beside its memory before the job:
what a worker needs for it. ``--xlsx-only`` skips the CSV comparison.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_SUBJECTS = 10_000
VISITS = ("V1", "V2", "V3")
VISIT_DAYS = 122  # about four months between visits
TARGET_RATIO = 2.0
#: Peak memory the XLSX job may add to a worker (constant-memory writing), and its CPU time (the
#: wall time is printed too, but it grows with whatever else the machine runs).
TARGET_XLSX_MB = 500
TARGET_XLSX_CPU_S = 30
BATCH = 2_000


def setup_django(folder: Path) -> None:
    os.environ["MOTORBAND_VAR"] = str(folder)
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motorband.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def generate(seed: int = 8) -> None:
    """10,000 subjects over 4 sites, 3 completed visits each with UMN and ALSFRS-R."""
    import numpy as np

    from cohort import scales
    from cohort.models import AlsfrsR, Site, Subject, UmnExam, Visit

    rng = np.random.default_rng(seed)
    sites = Site.objects.bulk_create(
        Site(code=code, name=name)
        for code, name in (
            ("EDM", "Edmonton"),
            ("TOR", "Toronto"),
            ("MTL", "Montreal"),
            ("VAN", "Vancouver"),
        )
    )
    groups = rng.choice(["ALS", "PLS", "CONTROL", "MIMIC"], N_SUBJECTS, p=[0.6, 0.1, 0.2, 0.1])
    enrolled = [
        dt.date(2021, 1, 4) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, N_SUBJECTS)
    ]
    subjects = []
    for i in range(N_SUBJECTS):
        als_like = groups[i] != "CONTROL"
        subjects.append(
            Subject(
                study_id=f"{sites[i % 4].code}-{i:05d}",
                site=sites[i % 4],
                group=groups[i],
                sex="F" if i % 2 else "M",
                birth_date=dt.date(1940 + i % 40, 1 + i % 12, 1 + i % 28),
                handedness="R",
                onset_date=enrolled[i] - dt.timedelta(days=200 + i % 300) if als_like else None,
                onset_region="upper_limb" if als_like else None,
                diagnosis_date=enrolled[i] - dt.timedelta(days=30) if als_like else None,
                enrolled_on=enrolled[i],
            )
        )
    subjects = Subject.objects.bulk_create(subjects, batch_size=BATCH)
    visits = []
    for i, subject in enumerate(subjects):
        for number, code in enumerate(VISITS):
            date = subject.enrolled_on + dt.timedelta(days=VISIT_DAYS * number + i % 7)
            days = (date - subjects[i].enrolled_on).days - i % 7
            visits.append(
                Visit(
                    subject=subject,
                    visit_code=code,
                    date=date,
                    status="completed",
                    days_from_baseline=days,
                    months_from_onset=(
                        round(scales.months_between(subject.onset_date, date), 4)
                        if subject.onset_date
                        else None
                    ),
                    in_window=True,
                )
            )
    visits = Visit.objects.bulk_create(visits, batch_size=BATCH)
    umn_values = rng.random((len(visits), len(scales.UMN_ITEMS))) < 0.3
    alsfrs_values = rng.integers(0, 5, (len(visits), len(scales.ALSFRS_ITEMS)))
    exams, forms = [], []
    for row, visit in enumerate(visits):
        items = {name: int(v) for name, v in zip(scales.UMN_ITEMS, umn_values[row], strict=True)}
        exams.append(UmnExam(visit=visit, **items, **scales.umn_subscores(items)))
        answers = {
            name: int(v) for name, v in zip(scales.ALSFRS_ITEMS, alsfrs_values[row], strict=True)
        }
        forms.append(AlsfrsR(visit=visit, **answers, **scales.alsfrs_subscores(answers)))
    UmnExam.objects.bulk_create(exams, batch_size=BATCH)
    AlsfrsR.objects.bulk_create(forms, batch_size=BATCH)


REPEATS = 5


def best_of_interleaved(repeats: int, *functions: Callable[[], None]) -> list[float]:
    """The best wall time of each function, run in turn so that load from other processes hits
    them alike."""
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return [min(t) for t in times]


def _rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (ru_maxrss is in KB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def xlsx_job(folder: Path) -> int:
    """In a child process: build the XLSX release of the generated study through its job."""
    setup_django(folder)
    from analysis.exports import releases
    from analysis.models import JobStatus
    from cohort.models import Visit

    Visit.objects.count()  # the database connection and models loaded before measuring
    before = _rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    job = releases.job_request(user=None, fmt="xlsx")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _rss_mb()
    if job.status != JobStatus.DONE or job.release is None:
        print(f"the XLSX job did not finish: {job.status} {job.error}")
        return 1
    size_mb = job.release.size_bytes / 1e6
    added = peak - before
    print(f"XLSX release through its job                 {seconds:7.2f} s ({size_mb:.1f} MB zip)")
    print(
        f"  of which CPU time of the worker            {cpu:7.2f} s (the same on a loaded machine)"
    )
    print(f"worker memory before the job                 {before:7.0f} MB")
    print(f"worker peak memory during the job            {peak:7.0f} MB (+{added:.0f} MB)")
    ok = added <= TARGET_XLSX_MB and cpu <= TARGET_XLSX_CPU_S
    print(f"FIGURE|XLSX release job, 10,000 subjects, wall time|{seconds:.2f}|s||")
    print(f"FIGURE|XLSX release job, CPU time|{cpu:.2f}|s|<= {TARGET_XLSX_CPU_S}|")
    print(f"FIGURE|XLSX release job, memory added|{added:.0f}|MB|<= {TARGET_XLSX_MB}|")
    return 0 if ok else 1


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--xlsx-job":
        return xlsx_job(Path(sys.argv[2]))
    xlsx_only = "--xlsx-only" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="motorband-bench-export-") as tmp:
        folder = Path(tmp)
        setup_django(folder)
        start = time.perf_counter()
        generate()
        print(
            f"generated {N_SUBJECTS} subjects x {len(VISITS)} visits in {time.perf_counter() - start:.1f} s"
        )
        from django.db import connections

        connections.close_all()
        sys.stdout.flush()
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--xlsx-job", str(folder)],
            check=False,
        )
        if xlsx_only:
            return child.returncode

        import pandas as pd
        from django.db import connection

        from analysis.exports import trial
        from cohort.models import Visit

        out = folder / "out"
        out.mkdir()

        def export() -> None:
            long, _ = trial.long_table()
            trial.write_table(long, out / "long.csv", "csv", {})

        sql, params, _ = trial.long_query(Visit.objects.all())
        connection.ensure_connection()

        def baseline() -> None:
            frame = pd.read_sql(sql, connection.connection, params=params or None)
            frame.to_csv(out / "baseline.csv", index=False)

        export_s, baseline_s = best_of_interleaved(REPEATS, export, baseline)
        rows = sum(1 for _ in (out / "long.csv").open()) - 1
        ratio = export_s / baseline_s
        print(f"rows exported                                  {rows}")
        print(f"trial export (long table -> CSV)             {export_s:7.2f} s")
        print(f"pandas read_sql (same join) + to_csv         {baseline_s:7.2f} s")
        print(
            f"ratio                                        {ratio:7.2f} (target <= {TARGET_RATIO})"
        )
        # Summary lines for bench/run.py: FIGURE|name|value|unit|target|ratio.
        print(f"FIGURE|trial export, long table to CSV|{export_s:.2f}|s||")
        print(f"FIGURE|pandas read_sql + to_csv, same join|{baseline_s:.2f}|s||")
        print(f"FIGURE|export / pandas|{ratio:.2f}|x|<= {TARGET_RATIO}|{ratio:.2f}")
        return 0 if ratio <= TARGET_RATIO and child.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
