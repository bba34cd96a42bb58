"""Benchmark of the pages and answers at 10,000 subjects / 30,000 visits: home page, analyses, lists.

Builds the study of bench_api.py (sites, subjects, 3 completed visits each with a Penn UMN exam)
and adds, with ``bulk_create`` (a fixture, not the services): an ALSFRS-R per visit, deaths of some
patients, an SWI scan and label map per visit on each site's scanner with a done quantification
run and its "whole" band measurements, and two raters' reads of every V1 scan. Then, as an
investigator (django.test.Client), it times:

- the home page (median of REPEATS), target at most 0.3 s;
- each analysis endpoint cold (the first request after a change of the data) and warm (the same
  request again, median of REPEATS), targets at most 2 s cold and 0.2 s warm;
- GET /api/v1/visits/?page_size=500 against ``.values()`` of the same rows and fields (median of
  REPEATS, interleaved), target at most 3 times ``.values()``.

Run: ``.venv/bin/python bench/bench_scale.py``. Figures, not a gate: they move with whatever else
the machine runs. ``--folder PATH`` builds the study there once and reuses it; ``--only
home,analyses,list`` runs some parts. A cheap request comes first, so that the process's imports
(statsmodels, lifelines, plotly: seconds, which a server's workers pay at start, see
motorband/wsgi.py) do not count in the first endpoint's cold time; ``--no-warm-up`` leaves it out.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_api  # noqa: E402  (sets up the project's import path too)

REPEATS = 5
BATCH = 2_000
HOME_TARGET_S = 0.3
COLD_TARGET_S = 2.0
WARM_TARGET_S = 0.2
LIST_TARGET_RATIO = 3.0
ALGORITHM_VERSION = "1.0.0"
#: One scanner per site (manufacturer, model, field strength in tesla).
SCANNERS = {
    "EDM": ("Siemens", "Prisma", 3.0),
    "TOR": ("GE", "Discovery MR750", 3.0),
    "MTL": ("Philips", "Ingenia", 3.0),
    "VAN": ("Siemens", "Skyra", 3.0),
}
#: The analysis endpoints, as (label, path, query).
ENDPOINTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    ("progression", "/api/v1/analysis/progression/", {"outcome": "alsfrs_total", "by": "group"}),
    ("survival", "/api/v1/analysis/survival/", {"event": "death", "by": "group"}),
    ("diagnostic band", "/api/v1/analysis/diagnostic/", {"marker": "band_contrast"}),
    ("diagnostic mbs", "/api/v1/analysis/diagnostic/", {"marker": "mbs_read"}),
    ("stard", "/api/v1/analysis/stard/", {"marker": "mbs_read", "population": "all"}),
    ("sample-size", "/api/v1/analysis/sample-size/", {"target": "sensitivity"}),
    ("agreement", "/api/v1/agreement/", {}),
    ("band-umn (scatter)", "/api/v1/analysis/plots/scatter/", {}),
    ("harmonization", "/api/v1/analysis/plots/harmonization/", {}),
    ("km plot", "/api/v1/analysis/plots/km/", {"event": "death", "by": "group"}),
    ("roc plot", "/api/v1/analysis/plots/roc/", {"marker": "mbs_read"}),
)


def add_analysis_data(seed: int = 11) -> None:
    """ALSFRS-R, deaths, scans with band measurements and reads for the study of bench_api."""
    from django.db import transaction

    with transaction.atomic():
        _add_analysis_data(seed)


def _add_analysis_data(seed: int) -> None:
    import numpy as np
    from django.utils import timezone

    from cohort import scales, services
    from cohort.models import AlsfrsR, ClinicalEvent, Visit
    from imaging.models import Measurement, QuantificationRun, Read, Scan

    rng = np.random.default_rng(seed)
    visits = list(
        Visit.objects.select_related("subject__site").order_by("subject__study_id", "visit_code")
    )
    # Patients lose points with each visit at their own pace; controls stay near the maximum, so
    # that the mixed model of progression has between-subject variance to estimate.
    subject_ids = sorted({v.subject_id for v in visits})
    pace = dict(zip(subject_ids, rng.gamma(2.0, 0.25, len(subject_ids)), strict=True))
    loss = np.array(
        [
            pace[v.subject_id] * (int(v.visit_code[1:]) - 1) if v.subject.group != "CONTROL" else 0
            for v in visits
        ]
    )
    noise = rng.random((len(visits), len(scales.ALSFRS_ITEMS)))
    answers = np.clip(np.round(4 - loss[:, None] - noise), 0, 4).astype(int)
    forms = []
    for row, visit in enumerate(visits):
        items = {n: int(v) for n, v in zip(scales.ALSFRS_ITEMS, answers[row], strict=True)}
        forms.append(AlsfrsR(visit=visit, **items, **scales.alsfrs_subscores(items)))
    AlsfrsR.objects.bulk_create(forms, batch_size=BATCH)

    deaths = []
    for visit in visits:
        subject = visit.subject
        if (
            visit.visit_code == "V2"
            and visit.date
            and subject.group == "ALS"
            and subject.pk % 6 == 0
        ):
            deaths.append(
                ClinicalEvent(subject=subject, kind="death", date=visit.date + dt.timedelta(60))
            )
    ClinicalEvent.objects.bulk_create(deaths, batch_size=BATCH)

    scans, labels = [], []
    for visit in visits:
        manufacturer, model, tesla = SCANNERS.get(visit.subject.site.code, SCANNERS["EDM"])
        common = {"visit": visit, "manufacturer": manufacturer, "scanner_model": model}
        scans.append(
            Scan(kind="swi", file=f"scans/bench/{visit.pk}.nii.gz", field_strength=tesla, **common)
        )
        labels.append(Scan(kind="labels", file=f"scans/bench/{visit.pk}_dseg.nii.gz", **common))
    for number, scan in enumerate([*scans, *labels]):
        scan.code = f"B{number:07d}"
        scan.sha256 = f"{number:064x}"
    Scan.objects.bulk_create([*scans, *labels], batch_size=BATCH)
    now = timezone.now()
    runs = [
        QuantificationRun(
            scan=scan,
            labels=label,
            algorithm_version=ALGORITHM_VERSION,
            parameters={"version": ALGORITHM_VERSION},
            parameters_hash=f"{number:064x}",
            status="done",
            finished_at=now,
        )
        for number, (scan, label) in enumerate(zip(scans, labels, strict=True))
    ]
    QuantificationRun.objects.bulk_create(runs, batch_size=BATCH)
    patient = np.array([v.subject.group != "CONTROL" for v in visits])
    months = np.array([int(v.visit_code[1:]) - 1 for v in visits]) * 4
    contrast = (
        np.where(patient, 0.08, 0.01)[:, None]
        + np.where(patient, 0.003, 0.0)[:, None] * months[:, None]
        + rng.normal(0, 0.01, (len(visits), 2))
    )
    measurements = [
        Measurement(
            run=run,
            hemisphere=hemisphere,
            segment="whole",
            band_contrast=float(contrast[row, column]),
            band_extent=0.5,
            laminar_contrast=float(contrast[row, column]) / 2,
            n_voxels=500,
        )
        for row, run in enumerate(runs)
        for column, hemisphere in enumerate(("L", "R"))
    ]
    Measurement.objects.bulk_create(measurements, batch_size=BATCH)

    raters = [services.study_user_save(username=f"bench-rater-{n}", role="rater") for n in (1, 2)]
    reads = []
    for row, (visit, scan) in enumerate(zip(visits, scans, strict=True)):
        if visit.visit_code != "V1":
            continue
        positive = bool(patient[row]) and rng.random() < 0.7
        for rater in raters:
            grade = int(positive) + int(rng.random() < 0.2)
            reads.append(
                Read(
                    scan=scan,
                    rater=rater,
                    left_grade=min(grade, 2),
                    right_grade=int(positive),
                    confidence=2,
                    is_current=True,
                )
            )
    Read.objects.bulk_create(reads, batch_size=BATCH)


def figure(name: str, seconds: float, target_s: float) -> None:
    ratio = f"{seconds / target_s:.2f}x target" if target_s else ""
    bench_api.figure(name, seconds * 1000, "ms", f"<= {target_s * 1000:.0f} ms", ratio)


def timed(function: Any) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure_home(client: Any) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    def home() -> None:
        response = client.get("/")
        assert response.status_code == 200, response.status_code

    home()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        home()
    seconds = statistics.median(timed(home) for _ in range(REPEATS))
    print(
        f"home page (median of {REPEATS})          {seconds * 1000:8.1f} ms  {len(queries)} queries"
    )
    figure("home page", seconds, HOME_TARGET_S)
    bench_api.figure("home page queries", len(queries), "queries")


def measure_analyses(client: Any) -> None:
    from core import dataversion

    print(
        f"analysis endpoints: cold (first request after a data change), warm (median of {REPEATS})"
    )
    for label, path, query in ENDPOINTS:

        def get(path: str = path, query: dict[str, str] = query) -> int:
            response = client.get(path, query)
            assert response.status_code in (200, 422), (path, response.status_code)
            return response.status_code

        dataversion.bump()  # a change of the data: every kept answer is out of date
        start = time.perf_counter()
        code = get()
        cold = time.perf_counter() - start
        warm = statistics.median(timed(get) for _ in range(REPEATS))
        print(f"  {label:<22} HTTP {code}  cold {cold * 1000:8.1f} ms  warm {warm * 1000:7.1f} ms")
        figure(f"{label} cold", cold, COLD_TARGET_S)
        figure(f"{label} warm", warm, WARM_TARGET_S)


def measure_visit_list(client: Any) -> None:
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from cohort.models import Visit

    url = f"/api/v1/visits/?page_size={bench_api.PAGE_SIZE}"
    queryset = Visit.objects.order_by("subject__study_id", "visit_code")

    def api() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code

    def values() -> None:
        list(queryset.values(*bench_api.VISIT_VALUES)[: bench_api.PAGE_SIZE])

    api()
    reset_queries()
    with CaptureQueriesContext(connection) as queries:
        api()
    api_s, values_s = bench_api.median_interleaved(3 * REPEATS, api, values)
    ratio = api_s / values_s
    print(
        f"{url}: API {api_s * 1000:.1f} ms ({len(queries)} queries), .values() "
        f"{values_s * 1000:.1f} ms, ratio {ratio:.1f} (target <= {LIST_TARGET_RATIO:.0f})"
    )
    bench_api.figure(
        "visit list p500 vs values()",
        ratio,
        "x values()",
        f"<= {LIST_TARGET_RATIO:.0f}x",
        f"{api_s * 1000:.1f} ms / {values_s * 1000:.1f} ms",
    )


def main() -> int:
    """Build the study in a temporary folder (or in, and then from, ``--folder PATH``) and time."""
    if "--folder" in sys.argv:
        folder = Path(sys.argv[sys.argv.index("--folder") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        run(folder)
        return 0
    with tempfile.TemporaryDirectory(prefix="motorband-bench-scale-") as tmp:
        run(Path(tmp))
    return 0


def run(folder: Path) -> None:
    built = (folder / "var" / "bench.sqlite3").exists()
    start = time.perf_counter()
    bench_api.setup_django(folder / "var")
    if not built:
        bench_api.build_study()
        add_analysis_data()
    print(
        f"sqlite: {'built' if not built else 'reused'} {bench_api.N_SUBJECTS} subjects x "
        f"{len(bench_api.VISITS)} visits with forms, scans, band measurements and reads in "
        f"{time.perf_counter() - start:.1f} s",
        flush=True,
    )
    from django.contrib.auth import get_user_model
    from django.test import Client

    api = Client(HTTP_AUTHORIZATION=f"Token {bench_api.investigator_token()}")
    browser = Client()
    browser.force_login(get_user_model().objects.get(username="bench-investigator"))
    parts = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None
    if parts is None or "home" in parts:
        measure_home(browser)
    if parts is None or "analyses" in parts:
        if "--no-warm-up" not in sys.argv:
            # The process's first request imports the analysis modules (statsmodels, lifelines,
            # plotly: seconds, paid by a server's workers at start); a cheap request pays that
            # before the timings, so that "cold" is only the first request after a change of
            # the data.
            warm_up = api.get("/api/v1/analysis/sample-size/", {"target": "sensitivity"})
            print(f"warm-up request: HTTP {warm_up.status_code}")
        measure_analyses(api)
    if parts is None or "list" in parts:
        measure_visit_list(api)
    print(f"cpu cores / load average      {os.cpu_count()} / {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
