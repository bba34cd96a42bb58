"""The analysis frames built from the database: columns, values, scope, versions, reads, harmonization."""

from __future__ import annotations

import datetime as dt

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from analysis import frames
from analysis.stats import harmonize, survival
from cohort import scales, services
from imaging import band
from imaging import services as imaging_services
from tests.analysis.conftest import add_band, add_read
from tests.factories import ENROLLED, alsfrs_items, make_subject, make_visit, umn_items

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def test_columns_values_and_contralateral_mapping(users, sites):
    subject = make_subject(study_id="EDM-0100", birth_date=dt.date(1965, 3, 2))
    v1 = make_visit(subject, "V1", ENROLLED)
    v2 = make_visit(subject, "V2", ENROLLED + dt.timedelta(days=122))
    # First 12 items: bulbar 4, right upper 7, left upper 1 (scale order).
    services.umn_exam_save(user=None, visit=v1, items=umn_items(12))
    services.umn_exam_save(user=None, visit=v2, items=umn_items(20))
    services.alsfrs_save(user=None, visit=v1, items=alsfrs_items(q1=2, q8=3))
    add_band(v1, 0.10, 0.20)

    frame = frames.analysis_frame(user=users["investigator"])

    assert list(frame.columns) == list(frames.ANALYSIS_COLUMNS)
    first, second = frame.iloc[0], frame.iloc[1]
    assert (first["subject"], first["visit_code"], second["visit_code"]) == ("EDM-0100", "V1", "V2")
    assert (first["site"], first["group"], first["sex"]) == ("EDM", "ALS", "F")
    assert first["months"] == 0
    assert second["months"] == pytest.approx(122 / scales.MONTH_DAYS)
    assert first["months_from_onset"] == pytest.approx(
        (ENROLLED - dt.date(2024, 1, 10)).days / scales.MONTH_DAYS
    )
    assert first["age"] == pytest.approx((ENROLLED - dt.date(1965, 3, 2)).days / 365.25)
    # Left hemisphere <- right limbs (7 + 0); right hemisphere <- left limbs (1 + 0).
    assert (first["umn_total"], first["umn_bulbar"], first["umn_right_upper"]) == (12, 4, 7)
    assert (first["contralateral_umn_L"], first["contralateral_umn_R"]) == (7, 1)
    # 20 items: right upper 7, left upper 7, right lower 2.
    assert (second["contralateral_umn_L"], second["contralateral_umn_R"]) == (9, 7)
    assert first["alsfrs_total"] == 48 - 2 - 1 and first["alsfrs_bulbar"] == 10
    expected_dfs = 3 / ((ENROLLED - dt.date(2024, 1, 10)).days / scales.MONTH_DAYS)
    assert first["delta_fs"] == pytest.approx(
        expected_dfs, rel=1e-4
    )  # stored onset months are rounded
    assert second["delta_fs"] == first["delta_fs"]  # V1's, repeated
    assert pd.isna(second["alsfrs_total"])
    assert (first["scanner"], first["field_strength"]) == ("Siemens Prisma", 3.0)
    assert (first["band_contrast_L"], first["band_contrast_R"]) == (0.10, 0.20)
    assert first["band_contrast"] == pytest.approx(0.15)
    assert first["band_extent"] == pytest.approx(0.5)
    assert first["laminar_contrast_L"] == pytest.approx(0.05)
    assert first["algorithm_version"] == "1.0.0"
    # No reads yet: every MBS column is null, not an error.
    assert first["mbs"] is None and first["mbs_baseline"] is None and first["mbs_left"] is None
    assert pd.isna(second["band_contrast"]) and second["scanner"] is None


def test_real_quantification_and_latest_algorithm_version_only(users, sites, tmp_path):
    visit = make_visit(make_subject(study_id="EDM-0200"), "V1")
    phantom = band.make_phantom(
        (64, 64, 64), (1.5, 1.5, 1.5), band_contrast=(0.2, 0.05), noise_sd=2.0, seed=3
    )
    scans = {}
    for kind, image in (("swi", phantom.swi), ("labels", phantom.labels)):
        path = tmp_path / f"{kind}.nii.gz"
        nib.save(image, path)
        with path.open("rb") as handle:
            scans[kind] = imaging_services.scan_upload(
                user=None,
                visit=visit,
                kind=kind,
                upload=handle,
                name=path.name,
                field_strength=3.0 if kind == "swi" else None,
                manufacturer="Siemens",
                scanner_model="Prisma",
            )
    run, _ = imaging_services.run_request(user=None, scan=scans["swi"], enqueue=False)
    assert imaging_services.run_execute(run.pk).status == "done"
    # An older method version with other numbers must never leak into the frame.
    add_band(visit, 0.9, 0.9, version="0.9.0")

    row = frames.analysis_frame(user=users["investigator"]).iloc[0]

    assert row["algorithm_version"] == band.ALGORITHM_VERSION
    assert row["band_contrast_L"] == pytest.approx(0.2, abs=0.02)
    assert row["band_contrast_R"] == pytest.approx(0.05, abs=0.02)
    assert row["scanner"] == "Siemens Prisma"

    # A newer version anywhere in the study replaces the old one everywhere: no mixing (numeric
    # order: 10.0.0 comes after 2.0.0).
    newer = "10.0.0"
    other = make_visit(make_subject(study_id="EDM-0201"), "V1")
    add_band(other, 0.3, 0.3, version=newer)
    frame = frames.analysis_frame(user=users["investigator"]).set_index("subject")
    assert frame.attrs["algorithm_version"] == newer
    assert frame.loc["EDM-0201", "band_contrast"] == pytest.approx(0.3)
    assert pd.isna(frame.loc["EDM-0200", "band_contrast"])


def test_version_order_is_numeric():
    assert max(["1.9.0", "1.10.0", "1.2"], key=frames.version_key) == "1.10.0"


def test_mbs_consensus_from_current_reads(users, sites):
    from cohort.services import study_user_save

    raters = [users["rater"], study_user_save(username="rater2", role="rater")]
    subject = make_subject(study_id="EDM-0300")
    v1, v2 = make_visit(subject, "V1"), make_visit(subject, "V2")
    scan_v1 = add_band(v1, 0.1, 0.1).scan
    scan_v2 = add_band(v2, 0.1, 0.1).scan
    add_read(scan_v1, raters[0], 2, 0, current=False)  # superseded: ignored
    add_read(scan_v1, raters[0], 1, 0)
    add_read(scan_v1, raters[1], 2, 0)
    scan_v3 = add_band(make_visit(subject, "V3"), 0.1, 0.1).scan
    add_read(scan_v3, raters[0], 0, 0)
    add_read(scan_v3, raters[1], 2, 0)  # two grades apart: no consensus until adjudicated
    add_read(scan_v2, raters[0], 0, 0)
    untouched = make_subject(study_id="EDM-0301")
    add_band(make_visit(untouched, "V1"), 0.1, 0.1)

    frame = frames.analysis_frame(user=users["investigator"]).set_index(["subject", "visit_code"])

    baseline = frame.loc[("EDM-0300", "V1")]
    assert (baseline["mbs_left"], baseline["mbs_right"]) == (1.5, 0.0)
    assert baseline["mbs"] is True and baseline["mbs_score"] == 1.5
    follow_up = frame.loc[("EDM-0300", "V2")]
    assert follow_up["mbs"] is False
    assert follow_up["mbs_baseline"] == "positive"  # V1's status on every row
    assert frame.loc[("EDM-0301", "V1"), "mbs_baseline"] is None
    disputed = frame.loc[("EDM-0300", "V3")]
    assert pd.isna(disputed["mbs_left"]) and disputed["mbs"] is None

    from imaging import reading

    reading.adjudication_save(user=users["investigator"], scan=scan_v3, left_grade=2, right_grade=0)
    frame = frames.analysis_frame(user=users["investigator"]).set_index(["subject", "visit_code"])
    settled = frame.loc[("EDM-0300", "V3")]
    assert settled["mbs_left"] == 2.0 and settled["mbs"] is True


def test_scope_and_filters(users, cohort):
    for name in ("coordinator", "rater"):
        assert frames.analysis_frame(user=users[name]).empty
    everything = frames.analysis_frame(user=users["investigator"])
    assert len(everything) == 34 and set(everything["site"]) == {"EDM", "TOR"}
    assert len(frames.analysis_frame(user=users["admin"])) == 34

    filtered = frames.analysis_frame(
        user=users["data_manager"], sites=["TOR"], groups=["ALS"], visit_codes=["V3"]
    )
    assert set(filtered["site"]) == {"TOR"} and set(filtered["group"]) == {"ALS"}
    assert set(filtered["visit_code"]) == {"V3"} and len(filtered) == 2  # TOR-0004 died
    # Baseline-derived values survive the visit filter.
    assert (filtered["months"] > 7).all() and filtered["delta_fs"].notna().all()


def test_harmonize_removes_the_scanner_offset(users, cohort):
    raw = frames.analysis_frame(user=users["investigator"])
    harmonized = frames.analysis_frame(user=users["investigator"], harmonize=True)
    assert harmonized.attrs["harmonized"]

    def site_gap(frame):
        means = frame.groupby("site")["band_contrast"].mean()
        return abs(means["TOR"] - means["EDM"])

    assert site_gap(harmonized) < site_gap(raw) / 3
    expected = harmonize.combat(
        raw,
        features=list(frames.BAND_HEMISPHERE_COLUMNS),
        batch="scanner",
        covariates=["group", "age", "sex"],
        categorical=["group", "sex"],
    )
    np.testing.assert_allclose(harmonized["band_contrast_L"], expected["band_contrast_L"])
    np.testing.assert_allclose(
        harmonized["band_contrast"],
        (expected["band_contrast_L"] + expected["band_contrast_R"]) / 2,
    )
    # UMN scores are never touched by harmonization.
    pd.testing.assert_series_equal(harmonized["umn_total"], raw["umn_total"])


def test_event_frame_feeds_time_to_event(users, cohort):
    frame = frames.event_frame(user=users["investigator"], event="death_or_tracheostomy_or_pav")
    assert list(frame.columns) == list(frames.EVENT_COLUMNS)
    assert len(frame) == 12 and int(frame["observed"].sum()) == 2
    row = frame.set_index("subject").loc["EDM-0001"]
    assert row["observed"]
    assert row["months"] == pytest.approx((122 + 40) / scales.MONTH_DAYS)  # V1 on day 0
    censored = frame.set_index("subject").loc["EDM-0003"]
    assert not censored["observed"]
    assert censored["months"] == pytest.approx(244 / scales.MONTH_DAYS)  # its last visit
    subjects, events = frames.event_inputs(user=users["investigator"])
    direct = survival.time_to_event(subjects, events, event="death_or_tracheostomy_or_pav")
    pd.testing.assert_series_equal(
        frame.set_index("subject")["months"].sort_index(),
        direct.set_index("subject")["months"].sort_index(),
    )
    assert frames.event_frame(user=users["rater"], event="death").empty


def test_last_date_is_a_later_event(users, sites):
    subject = make_subject(study_id="EDM-0400")
    make_visit(subject, "V1", ENROLLED)
    services.event_create(
        user=None, subject=subject, kind="niv", date=ENROLLED + dt.timedelta(days=300)
    )
    subjects, _ = frames.event_inputs(user=users["investigator"])
    assert subjects.iloc[0]["last_date"] == pd.Timestamp(ENROLLED + dt.timedelta(days=300))


def test_a_one_visit_scanner_is_left_out_of_combat_not_the_whole_study(users, cohort, sites):
    """One visit on a scanner of its own (as a DICOM upload with a model name the others lack
    made happen) used to fail ComBat for everyone; now it is left out, by name."""
    subject = make_subject(study_id="EDM-0099", site=sites["EDM"])
    visit = make_visit(subject, "V1", ENROLLED + dt.timedelta(days=3))
    add_band(visit, 0.1, 0.11, manufacturer="Siemens", model="MAGNETOM Prisma Fit")
    frame = frames.analysis_frame(user=users["investigator"], harmonize=True)
    assert frame.attrs["harmonized"]
    lone = frame[frame["subject"] == "EDM-0099"].iloc[0]
    assert pd.isna(lone["band_contrast_L"])
    assert frame[frame["subject"] != "EDM-0099"]["band_contrast_L"].notna().all()
    (warning,) = [w for w in frame.attrs["warnings"] if "too small for ComBat" in w]
    assert "Siemens MAGNETOM Prisma Fit (1 visit)" in warning


def test_answers_say_what_they_left_out(users, cohort, api):
    """A missing band measurement is counted with its reason in the progression answer."""
    from imaging.models import Scan

    scan = Scan.objects.filter(kind="swi").order_by("pk").first()
    scan.qc_status = "fail"
    scan.save()
    body = (
        api("investigator")
        .get("/api/v1/analysis/progression/", {"outcome": "band_contrast"})
        .json()
    )
    assert body["excluded"]["unit"] == "visits"
    assert {"reason": "scan failed QC", "count": 1} in body["excluded"]["reasons"]
    assert body["excluded"]["count"] == sum(r["count"] for r in body["excluded"]["reasons"])
