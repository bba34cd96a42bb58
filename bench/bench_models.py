"""Benchmark of the statistics models on a 10,000-subject synthetic study.

Run: ``.venv/bin/python bench/bench_models.py`` (target: at most 10 s in total).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats.progression import fit_progression
from analysis.stats.survival import cox, kaplan_meier, logrank_p

N_SUBJECTS = 10_000
VISIT_MONTHS = (0.0, 4.0, 8.0)
TARGET_SECONDS = 10.0


def study(seed: int = 2024) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the long visit frame (~30,000 rows) and the time-to-event frame."""
    rng = np.random.default_rng(seed)
    subjects = np.array([f"S{i:05d}" for i in range(N_SUBJECTS)])
    group = np.where(rng.random(N_SUBJECTS) < 0.7, "ALS", "CONTROL")
    slope = np.where(group == "ALS", -0.9, -0.05) + rng.normal(0, 0.3, N_SUBJECTS)
    intercept = 40 + rng.normal(0, 3, N_SUBJECTS)
    months = np.array(VISIT_MONTHS)[None, :] + rng.normal(0, 0.5, (N_SUBJECTS, 3))
    months[:, 0] = 0.0
    outcome = intercept[:, None] + slope[:, None] * months + rng.normal(0, 1, months.shape)
    visits = pd.DataFrame(
        {
            "subject": np.repeat(subjects, 3),
            "group": np.repeat(group, 3),
            "months": months.ravel(),
            "alsfrs_total": outcome.ravel(),
        }
    )
    positive = rng.random(N_SUBJECTS) < 0.5
    rate = np.log(2) / 30 * np.where(positive, 1.8, 1.0)
    event = rng.exponential(1 / rate)
    censor = rng.uniform(6, 48, N_SUBJECTS)
    tte = pd.DataFrame(
        {
            "subject": subjects,
            "months": np.minimum(event, censor),
            "observed": event <= censor,
            "mbs_baseline": np.where(positive, "positive", "negative"),
            "age": rng.normal(60, 10, N_SUBJECTS),
        }
    )
    return visits, tte


def timed(label: str, function: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``function`` once, print and return its wall time in seconds."""
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    print(f"{label:<44} {seconds:7.2f} s")
    return seconds, result


def main() -> int:
    """Time the models; exit non-zero when the total exceeds the target."""
    visits, tte = study()
    print(f"{N_SUBJECTS} subjects, {len(visits)} visit rows, {int(tte['observed'].sum())} events")
    total = 0.0
    seconds, answer = timed(
        "fit_progression (by group, 2 levels)",
        lambda: fit_progression(visits, outcome="alsfrs_total", by="group"),
    )
    total += seconds
    print(f"  model={answer['model']} engine={answer['engine']} slopes=", end="")
    print(", ".join(f"{s['level']} {s['slope']:.3f}" for s in answer["slopes"]))
    for label, function in (
        ("kaplan_meier (by mbs_baseline)", lambda: kaplan_meier(tte, by="mbs_baseline")),
        ("logrank_p (by mbs_baseline)", lambda: logrank_p(tte, by="mbs_baseline")),
        (
            "cox (mbs_baseline + age, with PH check)",
            lambda: cox(
                tte,
                covariates=["mbs_baseline", "age"],
                categorical=["mbs_baseline"],
                reference={"mbs_baseline": "negative"},
            ),
        ),
    ):
        seconds, _ = timed(label, function)
        total += seconds
    print(f"{'total':<44} {total:7.2f} s (target <= {TARGET_SECONDS:.0f} s)")
    print(f"FIGURE|models total, {N_SUBJECTS} subjects|{total:.2f}|s|<= {TARGET_SECONDS:.0f} s|")
    if "--statsmodels" in sys.argv:
        timed(
            "fit_progression, statsmodels engine",
            lambda: fit_progression(
                visits, outcome="alsfrs_total", by="group", engine="statsmodels"
            ),
        )
    return 0 if total <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
