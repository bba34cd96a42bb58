"""Coverage of the progression model's intervals on simulated studies with known truth.

Run: ``.venv/bin/python bench/bench_coverage.py [--studies 200] [--subjects 8] [--dropout]``.
Prints, per level slope and for the slope difference, the coverage of the 95% interval, the mean
reported SE and the empirical SD of the estimates, for ``fit_progression`` (level-specific
variances, Satterthwaite t intervals) and for the previous model (one random-effects covariance
shared by the levels, z intervals).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.stats import progression
from tests.analysis.stats.progression_simulation import Scenario, simulate_study


def shared_covariance_fit(frame: Any) -> dict[str, tuple[float, float]]:
    """The previous model: one covariance for all levels, z intervals; {level: (slope, se)}."""
    data = frame.rename(columns={"group": "level", "alsfrs_total": "y"})
    levels = sorted(data["level"].unique())
    exog, contrasts = progression._design(data, levels, levels[0], "group")
    months = data["months"].to_numpy(dtype=float)
    exog_re = np.column_stack([np.ones_like(months), months])
    endog, groups = data["y"].to_numpy(dtype=float), data["subject"].to_numpy()
    fit, problems = progression._fit_mixed(endog, exog, groups, exog_re, "vectorized")
    if problems:
        fit, problems = progression._fit_mixed(endog, exog, groups, exog_re[:, :1], "vectorized")
    assert fit is not None
    answer = {}
    for level in levels:
        c = contrasts[level]
        answer[level] = (float(c @ fit.fe_params), math.sqrt(float(c @ fit.cov_fe @ c)))
    c = contrasts[levels[1]] - contrasts[levels[0]]
    answer["difference"] = (float(c @ fit.fe_params), math.sqrt(float(c @ fit.cov_fe @ c)))
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--subjects", type=int, default=8, help="subjects per level")
    parser.add_argument("--dropout", action="store_true", help="informative dropout")
    parser.add_argument("--old", action="store_true", help="also the shared-covariance model")
    arguments = parser.parse_args()
    scenario = Scenario(subjects_per_level=arguments.subjects)
    if arguments.dropout:
        scenario = Scenario(
            subjects_per_level=arguments.subjects, dropout_logit=-2.0, dropout_strength=2.0
        )
    truth = {name: level.slope for name, level in scenario.levels.items()}
    names = sorted(truth)
    truth["difference"] = truth[names[1]] - truth[names[0]]
    rows: dict[str, dict[str, list[float]]] = {
        f"{method} {key}": {"estimate": [], "se": [], "covered": []}
        for method in ("new", "old")
        for key in truth
    }
    flagged = 0
    started = time.perf_counter()
    for seed in tqdm(range(arguments.studies), desc="studies"):
        frame = simulate_study(scenario, seed)
        answer = progression.fit_progression(
            frame, outcome="alsfrs_total", by="group", engine="vectorized"
        )
        flagged += any(
            "Dropout is associated" in w or "Informative dropout cannot be ruled out" in w
            for w in answer["warnings"]
        )
        ses = {s["level"]: s["se"] for s in answer["df"]["slopes"]}
        for slope in answer["slopes"]:
            row = rows[f"new {slope['level']}"]
            row["estimate"].append(slope["slope"])
            row["se"].append(ses[slope["level"]])
            row["covered"].append(slope["ci_low"] <= truth[slope["level"]] <= slope["ci_high"])
        difference = answer["slope_difference"]
        row = rows["new difference"]
        row["estimate"].append(difference["estimate"])
        row["se"].append(answer["df"]["slope_difference"]["se"])
        row["covered"].append(difference["ci_low"] <= truth["difference"] <= difference["ci_high"])
        if arguments.old:
            for key, (estimate, se) in shared_covariance_fit(frame).items():
                row = rows[f"old {key}"]
                row["estimate"].append(estimate)
                row["se"].append(se)
                row["covered"].append(abs(estimate - truth[key]) <= 1.959964 * se)
    elapsed = time.perf_counter() - started
    print(
        f"\n{arguments.studies} studies, {arguments.subjects} subjects per level, "
        f"{'informative dropout' if arguments.dropout else 'no dropout'}, {elapsed:.1f} s"
    )
    print(f"{'model / estimate':<22}{'coverage':>10}{'mean SE':>10}{'emp. SD':>10}{'bias':>10}")
    for name, row in rows.items():
        if not row["estimate"]:
            continue
        estimates = np.array(row["estimate"])
        key = name.split(" ", 1)[1]
        print(
            f"{name:<22}{np.mean(row['covered']):>10.3f}{np.mean(row['se']):>10.4f}"
            f"{estimates.std(ddof=1):>10.4f}{estimates.mean() - truth[key]:>+10.4f}"
        )
    print(f"studies with the dropout warning: {flagged} of {arguments.studies}")


if __name__ == "__main__":
    main()
