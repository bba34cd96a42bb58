"""Benchmark of the REST list endpoints on a generated 10,000-subject / 30,000-visit study.

Builds the study in a temporary SQLite database with ``bulk_create`` (a fixture, not the services:
sites, subjects, 3 completed visits each with a Penn UMN exam and its derived fields set directly),
then times GET /api/v1/visits/?page_size=500 and /api/v1/subjects/?page_size=500 as an investigator
with a token (django.test.Client, median of REPEATS runs, interleaved) with their query count, against
the raw ``.values()`` of the same 500 rows and fields. When PostgreSQL is installed, the same is
repeated on a private PostgreSQL server (scripts/postgres.sh run from a temporary copy, so its data
lives in the temporary folder, on its own port), which is stopped afterwards.

Run: ``.venv/bin/python bench/bench_api.py`` (``--no-postgres`` skips PostgreSQL). Figures, not a
gate: the ratio moves with whatever else the machine runs.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

N_SUBJECTS = 10_000
VISITS = ("V1", "V2", "V3")
VISIT_DAYS = 122  # about four months between visits
SITES = (("EDM", "Edmonton"), ("TOR", "Toronto"), ("MTL", "Montreal"), ("VAN", "Vancouver"))
BATCH = 2_000
PAGE_SIZE = 500
REPEATS = 15
PG_PORT = 55499
PG_TIMEOUT_S = 120

VISIT_VALUES = (
    "id",
    "subject__study_id",
    "visit_code",
    "date",
    "status",
    "days_from_baseline",
    "months_from_onset",
    "version",
)
SUBJECT_VALUES = (
    "id",
    "study_id",
    "site__code",
    "group",
    "sex",
    "birth_date",
    "handedness",
    "onset_date",
    "onset_region",
    "diagnosis_date",
    "enrolled_on",
    "version",
)


def figure(name: str, value: float, unit: str, target: str = "", ratio: str = "") -> None:
    """One line for the summary table of bench/run.py."""
    print(f"FIGURE|{name}|{value:.4g}|{unit}|{target}|{ratio}", flush=True)


def setup_django(folder: Path, database_url: str | None = None) -> None:
    """Django on a temporary database and media folder (never var/), migrated."""
    os.environ["MOTORBAND_VAR"] = str(folder)
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{folder / 'bench.sqlite3'}"
    os.environ["MEDIA_ROOT"] = str(folder / "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motorband.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build_study(n_subjects: int = N_SUBJECTS, seed: int = 10) -> None:
    """n subjects over 4 sites, 3 completed visits each with a Penn UMN exam (bulk_create)."""
    from django.db import transaction

    with transaction.atomic():
        _build_study(n_subjects, seed)


def _build_study(n_subjects: int, seed: int) -> None:
    import numpy as np

    from cohort import scales
    from cohort.models import Site, Study, Subject, UmnExam, Visit

    rng = np.random.default_rng(seed)
    Study.current()
    sites = Site.objects.bulk_create(Site(code=code, name=name) for code, name in SITES)
    groups = rng.choice(["ALS", "PLS", "CONTROL", "MIMIC"], n_subjects, p=[0.6, 0.1, 0.2, 0.1])
    enrolled = [
        dt.date(2021, 1, 4) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, n_subjects)
    ]
    subjects = []
    for i in range(n_subjects):
        als_like = groups[i] != "CONTROL"
        site = sites[i % len(sites)]
        subjects.append(
            Subject(
                study_id=f"{site.code}-{i:05d}",
                site=site,
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
        baseline = subject.enrolled_on + dt.timedelta(days=i % 7)
        for number, code in enumerate(VISITS):
            date = baseline + dt.timedelta(days=VISIT_DAYS * number + (i + number) % 5)
            target = baseline + dt.timedelta(days=VISIT_DAYS * number)
            visits.append(
                Visit(
                    subject=subject,
                    visit_code=code,
                    date=date,
                    status="completed",
                    days_from_baseline=(date - baseline).days,
                    months_from_onset=(
                        round(scales.months_between(subject.onset_date, date), 4)
                        if subject.onset_date
                        else None
                    ),
                    target_date=target,
                    in_window=True,
                )
            )
    visits = Visit.objects.bulk_create(visits, batch_size=BATCH)
    signs = rng.random((len(visits), len(scales.UMN_ITEMS))) < 0.3
    exams = []
    for row, visit in enumerate(visits):
        items = {name: int(v) for name, v in zip(scales.UMN_ITEMS, signs[row], strict=True)}
        exams.append(UmnExam(visit=visit, **items, **scales.umn_subscores(items)))
    UmnExam.objects.bulk_create(exams, batch_size=BATCH)


def investigator_token() -> str:
    """A token of an investigator (every site, read-only)."""
    from knox.models import AuthToken

    from cohort import services

    user = services.study_user_save(username="bench-investigator", role="investigator")
    # One token, as a client has: a reused study folder would otherwise keep every earlier
    # run's token, and knox reads all of a user's tokens at each request.
    AuthToken.objects.filter(user=user).delete()
    return AuthToken.objects.create(user=user)[1]


def median_interleaved(repeats: int, *functions: Callable[[], Any]) -> list[float]:
    """The median wall time (s) of each function, run in turn so that outside load hits all alike."""
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for index, function in enumerate(functions):
            start = time.perf_counter()
            function()
            times[index].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def measure(label: str) -> None:
    """Time both endpoints against .values() on the configured database and print the figures."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from cohort.models import Subject, Visit

    client = Client(HTTP_AUTHORIZATION=f"Token {investigator_token()}")
    cases = (
        ("visits", Visit.objects.order_by("subject__study_id", "visit_code"), VISIT_VALUES),
        ("subjects", Subject.objects.order_by("study_id"), SUBJECT_VALUES),
    )
    for resource, queryset, fields in cases:
        url = f"/api/v1/{resource}/?page_size={PAGE_SIZE}"

        def api(url: str = url) -> Any:
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
            return response

        def values(queryset: Any = queryset, fields: tuple[str, ...] = fields) -> list[dict]:
            return list(queryset.values(*fields)[:PAGE_SIZE])

        body = api().json()
        assert len(body["results"]) == PAGE_SIZE and len(values()) == PAGE_SIZE, body.get("count")
        # DEBUG keeps at most 9,000 queries: a full log would capture nothing.
        reset_queries()
        with CaptureQueriesContext(connection) as api_queries:
            api()
        reset_queries()
        with CaptureQueriesContext(connection) as values_queries:
            values()
        api_s, values_s = median_interleaved(REPEATS, api, values)
        ratio = api_s / values_s
        name = f"{resource} p{PAGE_SIZE} {label}"
        print(f"GET {url} ({label}, {body['count']} rows in all)")
        print(
            f"  API (median of {REPEATS})          {api_s * 1000:8.1f} ms  "
            f"{len(api_queries)} queries"
        )
        print(
            f"  .values() same rows/fields    {values_s * 1000:8.1f} ms  "
            f"{len(values_queries)} query"
        )
        print(f"  ratio API / .values()         {ratio:8.1f}")
        figure(f"API {name} latency", api_s * 1000, "ms", "", f"{ratio:.1f}x values()")
        figure(f"API {name} queries", len(api_queries), "queries")
        figure(f"values() {name}", values_s * 1000, "ms")


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there, otherwise any free loopback port."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def run_on_postgres(folder: Path) -> None:
    """Start a private PostgreSQL (data under ``folder``), rerun this script on it, stop it."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        print("PostgreSQL: not installed, skipped (`make bench` installs it).")
        return
    # A copy of scripts/postgres.sh in the temporary folder keeps its data (var/pg/ next to the
    # script's parent) out of the project's var/, and away from a server the test suite may run.
    pg_root = folder / "pg"
    (pg_root / "scripts").mkdir(parents=True)
    script = pg_root / "scripts" / "postgres.sh"
    shutil.copy(ROOT / "scripts" / "postgres.sh", script)
    for path in (folder, pg_root):
        path.chmod(0o755)  # the postgres system user must reach its data folder
    port = free_port(PG_PORT)
    env = {**os.environ, "MOTORBAND_PG_FAST": "1", "MOTORBAND_PG_PORT": str(port)}
    start = subprocess.run(
        ["bash", str(script), "start"],
        env=env,
        capture_output=True,
        text=True,
        timeout=PG_TIMEOUT_S,
        check=False,
    )
    try:
        if start.returncode != 0:
            print(f"PostgreSQL: could not start, skipped ({start.stderr.strip()[-300:]})")
            return
        url = start.stdout.strip().splitlines()[-1]
        print(
            f"\nPostgreSQL on 127.0.0.1:{port} (fsync off), building the same study...", flush=True
        )
        child = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--database-url", url],
            cwd=ROOT,
            timeout=600,
            check=False,
        )
        if child.returncode != 0:
            print(f"PostgreSQL run exited {child.returncode}")
    finally:
        subprocess.run(["bash", str(script), "stop"], env=env, timeout=PG_TIMEOUT_S, check=False)


def main() -> int:
    database_url = None
    if "--database-url" in sys.argv:
        database_url = sys.argv[sys.argv.index("--database-url") + 1]
    with tempfile.TemporaryDirectory(prefix="motorband-bench-api-") as tmp:
        folder = Path(tmp)
        label = "postgresql" if database_url else "sqlite"
        start = time.perf_counter()
        setup_django(folder / "var", database_url)
        migrated = time.perf_counter()
        build_study()
        print(
            f"{label}: migrated in {migrated - start:.1f} s, generated {N_SUBJECTS} subjects x "
            f"{len(VISITS)} visits (+ UMN exams) in {time.perf_counter() - migrated:.1f} s",
            flush=True,
        )
        measure(label)
        print(f"cpu cores / load average      {os.cpu_count()} / {os.getloadavg()[0]:.2f}")
        if database_url is None and "--no-postgres" not in sys.argv:
            from django.db import connections

            connections.close_all()
            run_on_postgres(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
