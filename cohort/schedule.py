"""The visit schedule as pure functions: visit codes, target dates and windows.

V1 is the baseline (month 0), then one visit every ``interval_months`` (4 in CALSNIC); a visit is in
window when its date lies within ``window_days`` of its target date.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from cohort.scales import MONTH_DAYS

VISIT_CODE_RE = re.compile(r"^V([1-9][0-9]?)$")
DEFAULT_INTERVAL_MONTHS = 4
DEFAULT_WINDOW_DAYS = 30
DEFAULT_PLANNED_VISITS = 3


@dataclass(frozen=True)
class Schedule:
    """A study's visit schedule."""

    interval_months: int = DEFAULT_INTERVAL_MONTHS
    window_days: int = DEFAULT_WINDOW_DAYS
    planned_visits: int = DEFAULT_PLANNED_VISITS

    def codes(self) -> list[str]:
        return [f"V{n}" for n in range(1, self.planned_visits + 1)]

    def target_month(self, visit_code: str) -> int:
        return (visit_number(visit_code) - 1) * self.interval_months

    def target_date(self, baseline: dt.date, visit_code: str) -> dt.date:
        days = round(self.target_month(visit_code) * MONTH_DAYS)
        return baseline + dt.timedelta(days=days)

    def in_window(self, baseline: dt.date, visit_code: str, date: dt.date) -> bool:
        return abs((date - self.target_date(baseline, visit_code)).days) <= self.window_days


def visit_number(visit_code: str) -> int:
    """1 for V1, 2 for V2, ...; ValueError for anything else."""
    match = VISIT_CODE_RE.match(visit_code or "")
    if not match:
        raise ValueError(f"'{visit_code}' is not a visit code (V1, V2, V3, ...).")
    return int(match.group(1))
