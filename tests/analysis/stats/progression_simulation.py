"""Simulated studies with known truth for the progression model: per-level random intercept and
slope variances, visits every 4 months up to 24 months, optional informative dropout."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

VISIT_EVERY_MONTHS = 4.0
LAST_VISIT_MONTHS = 24.0


@dataclass(frozen=True)
class LevelTruth:
    """True mean slope (points per month) and between-subject SDs of one level."""

    slope: float
    slope_sd: float
    intercept: float = 40.0
    intercept_sd: float = 3.0


@dataclass(frozen=True)
class Scenario:
    """A study design: levels with their truth, subjects per level, noise and dropout."""

    levels: dict[str, LevelTruth] = field(
        default_factory=lambda: {
            "ALS": LevelTruth(slope=-0.9, slope_sd=0.3),
            "CONTROL": LevelTruth(slope=-0.05, slope_sd=0.03),
        }
    )
    subjects_per_level: int = 8
    residual_sd: float = 1.0
    jitter_months: float = 0.5
    #: Log-odds of leaving after each visit per SD of the subject's own slope below its level's
    #: mean (faster decline → leaves earlier); 0 = dropout unrelated to decline.
    dropout_strength: float = 0.0
    #: Baseline log-odds of leaving after each visit (None = nobody leaves).
    dropout_logit: float | None = None


def simulate_study(scenario: Scenario, seed: int) -> pd.DataFrame:
    """Return a long frame (subject, group, months, alsfrs_total) of one simulated study."""
    rng = np.random.default_rng(seed)
    targets = np.arange(0.0, LAST_VISIT_MONTHS + 1e-9, VISIT_EVERY_MONTHS)
    frames = []
    for name, truth in scenario.levels.items():
        n = scenario.subjects_per_level
        deviation = rng.normal(0, 1, n)
        slope = truth.slope + truth.slope_sd * deviation
        intercept = truth.intercept + rng.normal(0, truth.intercept_sd, n)
        months = targets[None, :] + rng.normal(0, scenario.jitter_months, (n, len(targets)))
        months[:, 0] = 0.0
        outcome = intercept[:, None] + slope[:, None] * months
        outcome += rng.normal(0, scenario.residual_sd, months.shape)
        seen = np.ones(months.shape, dtype=bool)
        if scenario.dropout_logit is not None:
            # Leave after a visit with a probability growing with the subject's own decline (a
            # lower slope than the level's mean: faster loss of ALSFRS-R points).
            logit = scenario.dropout_logit - scenario.dropout_strength * deviation
            leave = rng.uniform(size=months.shape) < 1 / (1 + np.exp(-logit[:, None]))
            leave[:, 0] = False  # everyone has V1 and V2
            before = np.zeros(months.shape, dtype=int)
            before[:, 1:] = np.cumsum(leave, axis=1)[:, :-1]
            seen = before == 0
        subject_ids = np.repeat([f"{name}{i:03d}" for i in range(n)], len(targets))
        frames.append(
            pd.DataFrame(
                {
                    "subject": subject_ids,
                    "group": name,
                    "months": months.ravel(),
                    "alsfrs_total": outcome.ravel(),
                }
            )[seen.ravel()]
        )
    return pd.concat(frames, ignore_index=True)
