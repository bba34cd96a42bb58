"""A subject-visit whose ALSFRS-R has no total (an item not done or unknown, or the form not done)
is left out of the analyses and counted with its reason, never silently dropped."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from analysis import frames, reports
from cohort import scales, services
from cohort.models import AlsfrsR, Visit
from tests.factories import alsfrs_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def _recode(study_id: str, visit_code: str, items: dict[str, Any]) -> None:
    visit = Visit.objects.get(subject__study_id=study_id, visit_code=visit_code)
    form = AlsfrsR.objects.get(visit=visit)
    services.alsfrs_save(
        user=None, visit=visit, items=items, expected_version=form.version, reason="recoded"
    )


@pytest.fixture
def coded(cohort: dict[str, Any]) -> dict[str, Any]:
    """EDM-0001 V2: item 8 not done; TOR-0002 V3: item 3 unknown; EDM-0003 V1: form not done."""
    _recode("EDM-0001", "V2", alsfrs_items(q8=None, q8_missing="not_done"))
    _recode("TOR-0002", "V3", alsfrs_items(q3=None, q3_missing="unknown"))
    _recode(
        "EDM-0003",
        "V1",
        {
            **dict.fromkeys(scales.ALSFRS_ITEMS),
            "form_status": "not_done",
            "not_done_reason": "Could not attend",
        },
    )
    return cohort


def test_the_frame_says_why_a_total_is_missing(users: Any, coded: Any) -> None:
    frame = frames.analysis_frame(user=users["investigator"]).set_index(["subject", "visit_code"])
    assert frame.loc[("EDM-0001", "V2"), "alsfrs_excluded"] == frames.ALSFRS_TOTAL_NOT_COMPUTED
    assert pd.isna(frame.loc[("EDM-0001", "V2"), "alsfrs_total"])
    assert frame.loc[("TOR-0002", "V3"), "alsfrs_excluded"] == frames.ALSFRS_TOTAL_NOT_COMPUTED
    assert frame.loc[("EDM-0003", "V1"), "alsfrs_excluded"] == frames.ALSFRS_NOT_DONE
    assert frame.loc[("EDM-0001", "V1"), "alsfrs_excluded"] is None
    # ΔFS is the V1 value: a form not done at V1 leaves the subject without one.
    assert pd.isna(frame.loc[("EDM-0003", "V2"), "delta_fs"])


def test_progression_counts_the_visits_left_out_by_reason(users: Any, coded: Any) -> None:
    report = reports.progression_report(
        user=users["investigator"],
        outcome="alsfrs_total",
        by="group",
        filters=reports.Filters(),
    )
    excluded = report.result["excluded"]
    reasons = {r["reason"]: r["count"] for r in excluded["reasons"]}
    assert reasons == {
        "ALSFRS-R total not computed (missing items)": 2,
        "ALSFRS-R not done": 1,
    }
    assert excluded["count"] == 3 and excluded["unit"] == "visits"
    assert report.result["n_observations"] == 34 - 3


def test_a_visit_without_any_form_keeps_the_plain_reason(users: Any, cohort: Any) -> None:
    AlsfrsR.objects.filter(visit__subject__study_id="EDM-0001", visit__visit_code="V2").delete()
    frame = frames.analysis_frame(user=users["investigator"])
    excluded = reports.excluded(frame, ["alsfrs_total"], unit="visits")
    assert excluded["reasons"] == [{"reason": "no alsfrs total", "count": 1}]
