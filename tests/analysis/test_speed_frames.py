"""The faster frame selectors give what the straightforward ones gave (issue 20).

Each reference below is the earlier implementation (model instances or every row read into
pandas), kept here to compare with on a small study holding the cases that matter: several runs
of a scan, a run not finished, an older algorithm version, failed and flagged runs, a scan that
failed QC, a scan without a run, non-diagnostic reads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from django.utils import timezone

from analysis import diagnostic_study, frames, reads
from imaging import selectors as imaging_selectors
from imaging.models import (
    Measurement,
    QcStatus,
    QuantificationRun,
    Read,
    ReadOutcome,
    RunStatus,
    Scan,
    ScanKind,
    Segment,
)
from tests.analysis.conftest import add_band, add_read
from tests.factories import ENROLLED, make_subject, make_visit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def _reference_band(visits_qs: Any) -> tuple[pd.DataFrame, str | None]:
    columns = [
        "run_id",
        "run__scan__visit_id",
        "run__algorithm_version",
        "run__finished_at",
        "hemisphere",
        *frames.BAND_MEASURES,
    ]
    rows = pd.DataFrame.from_records(
        Measurement.objects.filter(
            imaging_selectors.usable_run_q("run__"),
            segment=Segment.WHOLE,
            run__scan__kind=ScanKind.SWI,
            run__scan__visit__in=visits_qs,
        ).values(*columns),
        columns=columns,
    )
    if rows.empty:
        return pd.DataFrame(columns=["visit_id", *frames.BAND_HEMISPHERE_COLUMNS]), None
    version = max(rows["run__algorithm_version"].unique(), key=frames.version_key)
    rows = rows[rows["run__algorithm_version"] == version]
    latest_run = (
        rows.sort_values(["run__finished_at", "run_id"])
        .groupby("run__scan__visit_id")["run_id"]
        .last()
    )
    rows = rows[rows["run_id"].isin(latest_run.to_numpy())]
    wide = rows.pivot_table(
        index="run__scan__visit_id",
        columns="hemisphere",
        values=list(frames.BAND_MEASURES),
        dropna=False,
    )
    wide.columns = [f"{measure}_{hemisphere}" for measure, hemisphere in wide.columns]
    wide = wide.reindex(columns=list(frames.BAND_HEMISPHERE_COLUMNS))
    wide.index.name = "visit_id"
    return wide.reset_index(), version


def _reference_band_exclusions(visits_qs: Any, version: str | None) -> pd.DataFrame:
    columns = ["visit_id", "band_excluded"]
    scans = list(
        Scan.objects.filter(visit__in=visits_qs, kind=ScanKind.SWI).values(
            "id", "visit_id", "qc_status"
        )
    )
    if not scans:
        return pd.DataFrame(columns=columns)
    runs = QuantificationRun.objects.filter(scan__in=[s["id"] for s in scans])
    if version is not None:
        runs = runs.filter(algorithm_version=version)
    usable = set(runs.filter(imaging_selectors.usable_run_q()).values_list("scan_id", flat=True))
    latest: dict[int, dict[str, Any]] = {}
    for values in runs.order_by("created_at", "pk").values(
        "scan_id", "status", "qc_status", "checks"
    ):
        latest[values["scan_id"]] = dict(values)
    rows = []
    for scan in scans:
        if scan["id"] in usable:
            continue
        run = latest.get(scan["id"])
        reason = imaging_selectors.run_exclusion_reason(
            scan_qc=scan["qc_status"],
            run_status=run["status"] if run else None,
            run_qc=run["qc_status"] if run else None,
            flagged=[c["name"] for c in (run or {}).get("checks") or [] if not c.get("passed")],
        )
        if reason is not None:
            rows.append((scan["visit_id"], reason))
    return pd.DataFrame(rows, columns=columns)


def _reference_reads_frame() -> pd.DataFrame:
    rows = [
        {
            "item": f"{read.scan_id}:{hemisphere}",
            "scan": read.scan_id,
            "hemisphere": hemisphere,
            "rater": read.rater.get_username(),
            "grade": getattr(read, attribute),
        }
        for read in Read.objects.filter(is_current=True, outcome=ReadOutcome.GRADED)
        .select_related("scan", "rater")
        .order_by("scan_id", "rater__username")
        for hemisphere, attribute in {"L": "left_grade", "R": "right_grade"}.items()
    ]
    return pd.DataFrame(rows, columns=["item", "scan", "hemisphere", "rater", "grade"])


def _mixed_study(users: dict[str, Any]) -> None:
    """Visits whose band values and reads take every path of the selectors."""
    from cohort.services import study_user_save

    raters = [users["rater"], study_user_save(username="rater2", role="rater")]
    subject = make_subject(study_id="EDM-0900")
    other = make_subject(study_id="EDM-0901", group="CONTROL")
    visits = [
        make_visit(subject, f"V{n}", ENROLLED + dt.timedelta(days=122 * (n - 1))) for n in (1, 2, 3)
    ]
    visits += [
        make_visit(other, f"V{n}", ENROLLED + dt.timedelta(days=122 * (n - 1))) for n in (1, 2, 3)
    ]
    # V1: three done runs; the one finished last counts, whatever the order of creation.
    first = add_band(visits[0], 0.10, 0.11)
    later = add_band(visits[0], 0.20, 0.21)
    middle = add_band(visits[0], 0.30, 0.31)
    now = timezone.now()
    for run, minutes in ((first, 0), (later, 20), (middle, 10)):
        QuantificationRun.objects.filter(pk=run.pk).update(
            finished_at=now + dt.timedelta(minutes=minutes)
        )
    # V2: an older algorithm version only, then a flagged run of the current one.
    add_band(visits[1], 0.4, 0.4, version="0.9.0")
    flagged = add_band(visits[1], 0.5, 0.5)
    QuantificationRun.objects.filter(pk=flagged.pk).update(
        status=RunStatus.NEEDS_REVIEW,
        checks=[{"name": "band_contrast_plausible", "passed": False}],
    )
    # V3: a run whose finish time is unknown beside a finished one; a failed QC scan elsewhere.
    unknown = add_band(visits[2], 0.6, 0.6)
    add_band(visits[2], 0.7, 0.7)
    QuantificationRun.objects.filter(pk=unknown.pk).update(finished_at=None)
    failed_scan = add_band(visits[3], 0.8, 0.8).scan
    Scan.objects.filter(pk=failed_scan.pk).update(qc_status=QcStatus.FAIL)
    failed_run = add_band(visits[4], 0.9, 0.9)
    QuantificationRun.objects.filter(pk=failed_run.pk).update(status=RunStatus.FAILED)
    # V3 of the other subject: a scan without any run (not measured yet, not excluded).
    Scan.objects.create(
        visit=visits[5], kind="swi", file="scans/test/none.nii.gz", sha256=f"{999:064x}"
    )
    # Reads: graded, superseded and non-diagnostic.
    add_read(first.scan, raters[0], 1, 0)
    add_read(first.scan, raters[1], 2, 1)
    add_read(first.scan, raters[1], 0, 0, current=False)
    add_read(flagged.scan, raters[0], 0, 2)
    Read.objects.create(
        scan=flagged.scan,
        rater=raters[1],
        outcome=ReadOutcome.NON_DIAGNOSTIC,
        non_diagnostic_reason="motion",
        is_current=True,
    )


def test_band_selectors_match_the_straightforward_ones(
    users: dict[str, Any], sites: dict[str, Any]
) -> None:
    _mixed_study(users)
    visits_qs = frames._analyst_visits(users["investigator"])

    band, version = frames._band(visits_qs)
    expected, expected_version = _reference_band(visits_qs)
    assert version == expected_version == "1.0.0"
    pd.testing.assert_frame_equal(band, expected)
    # The run finished last counts; one without a finish time comes after every finished one.
    assert sorted(band["band_contrast_L"]) == [0.20, 0.6]

    exclusions = frames._band_exclusions(visits_qs, version)
    reference = _reference_band_exclusions(visits_qs, version)
    key = ["visit_id", "band_excluded"]
    pd.testing.assert_frame_equal(
        exclusions.sort_values(key).reset_index(drop=True),
        reference.sort_values(key).reset_index(drop=True),
    )
    assert set(exclusions["band_excluded"]) == {
        "scan failed QC",
        "quantification failed",
        "run needs review (band_contrast_plausible)",
    }
    # Without any version (no usable run anywhere) every scan's runs count.
    pd.testing.assert_frame_equal(
        frames._band_exclusions(visits_qs, None).sort_values(key).reset_index(drop=True),
        _reference_band_exclusions(visits_qs, None).sort_values(key).reset_index(drop=True),
    )


def test_reads_frame_matches_the_instances(users: dict[str, Any], sites: dict[str, Any]) -> None:
    _mixed_study(users)
    pd.testing.assert_frame_equal(reads.reads_frame(), _reference_reads_frame())
    assert reads.non_diagnostic_counts() == {
        "count": 1,
        "by_rater": [{"rater": "rater2", "count": 1}],
    }


def test_index_visits_hold_what_the_frame_rows_hold(
    users: dict[str, Any], sites: dict[str, Any]
) -> None:
    _mixed_study(users)
    visits = frames.analysis_frame(user=users["investigator"], visit_codes=["V1"])
    for column in ("band_contrast", "mbs"):
        found = diagnostic_study._index_visits(visits, column)
        rows = visits.set_index("subject")
        assert set(found) == set(rows.index)
        for subject, values in found.items():
            row = rows.loc[subject]
            for name, value in values.items():
                assert type(value) is type(row[name]), (subject, name)
                assert value == row[name] or (pd.isna(value) and pd.isna(row[name]))


def test_the_study_frame_is_kept_only_for_the_same_data_and_caller(
    users: dict[str, Any], sites: dict[str, Any]
) -> None:
    subject = make_subject(study_id="EDM-0950")
    visit = make_visit(subject, "V1")
    add_band(visit, 0.10, 0.20)
    investigator = users["investigator"]

    first = frames.analysis_frame(user=investigator)
    first.loc[0, "band_contrast_L"] = 99.0  # the caller's copy: never what the next one gets
    again = frames.analysis_frame(user=investigator)
    assert again.loc[0, "band_contrast_L"] == 0.10

    # Any write draws a new data version: the next frame is built from the new data.
    Measurement.objects.filter(run__scan__visit=visit, hemisphere="L", segment="whole").update(
        band_contrast=0.30
    )
    assert frames.analysis_frame(user=investigator).loc[0, "band_contrast_L"] == 0.30

    # Another caller's scope is never served from the investigator's frame.
    assert frames.analysis_frame(user=users["coordinator"]).empty
    assert frames.analysis_frame(user=users["data_manager"]).loc[0, "band_contrast_L"] == 0.30
