"""SDTM-style export: domains and their columns, joins, study days, define.csv, de-identification."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from django.core.management import call_command

from analysis.exports import sdtm
from tests.factories import ENROLLED

pytestmark = pytest.mark.django_db

#: SDTMIG Required and Expected variables (and those the issue asks for) of each domain.
REQUIRED = {
    "dm": (
        "STUDYID",
        "DOMAIN",
        "USUBJID",
        "SUBJID",
        "RFSTDTC",
        "RFENDTC",
        "SITEID",
        "AGE",
        "AGEU",
        "SEX",
        "ARMCD",
        "ARM",
        "ACTARMCD",
        "ACTARM",
        "DTHFL",
        "DTHDTC",
    ),
    "sv": ("STUDYID", "DOMAIN", "USUBJID", "VISITNUM", "VISIT", "VISITDY", "SVSTDTC", "SVSTDY"),
    "qs": (
        "STUDYID",
        "DOMAIN",
        "USUBJID",
        "QSSEQ",
        "QSTESTCD",
        "QSTEST",
        "QSCAT",
        "QSORRES",
        "QSORRESU",
        "QSSTRESC",
        "QSSTRESN",
        "QSSTRESU",
        "QSSTAT",
        "VISITNUM",
        "VISIT",
        "QSDTC",
        "QSDY",
    ),
    "ds": ("STUDYID", "DOMAIN", "USUBJID", "DSSEQ", "DSTERM", "DSDECOD", "DSCAT", "DSSTDTC"),
    "nv": (
        "STUDYID",
        "DOMAIN",
        "USUBJID",
        "NVSEQ",
        "NVTESTCD",
        "NVTEST",
        "NVORRES",
        "NVORRESU",
        "NVSTRESC",
        "NVSTRESN",
        "NVSTRESU",
        "NVLOC",
        "NVLAT",
        "NVMETHOD",
        "VISITNUM",
        "VISIT",
        "NVDTC",
        "NVDY",
    ),
}
STUDY_DAY_COLUMNS = {
    "sv": (("SVSTDTC", "SVSTDY"), ("SVENDTC", "SVENDY")),
    "qs": (("QSDTC", "QSDY"),),
    "ds": (("DSSTDTC", "DSSTDY"),),
    "nv": (("NVDTC", "NVDY"),),
}


def _export(folder: Path, *args: str) -> dict[str, pd.DataFrame]:
    call_command("export_study", str(folder), "--format", "sdtm", "--no-progress", *args)
    return {
        path.stem: pd.read_csv(path, dtype=str, keep_default_na=False)
        for path in sorted(folder.glob("*.csv"))
    }


def _days(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_numeric(frame[column].replace("", None), errors="coerce")


def test_every_domain_file_has_its_required_columns(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    assert set(files) == {*sdtm.DOMAINS, "define"}
    for domain, required in REQUIRED.items():
        frame = files[domain]
        assert set(required) <= set(frame.columns), (domain, set(required) - set(frame.columns))
        assert len(frame) > 0, domain
        assert set(frame["DOMAIN"]) == {domain.upper()}
        assert set(frame["STUDYID"]) == {sdtm.study_identifier()}
        assert all(len(column) <= 8 for column in frame.columns)
    assert list(files["define"].columns) == list(sdtm.DEFINE_COLUMNS)


def test_dm_has_one_row_per_subject_with_unique_pseudonymous_ids(
    study: Any, tmp_path: Path
) -> None:
    dm = _export(tmp_path / "out")["dm"]
    assert len(dm) == 3
    assert dm["USUBJID"].is_unique
    assert list(dm["USUBJID"]) == sorted(dm["USUBJID"])
    assert (dm["USUBJID"] == dm["STUDYID"] + "-" + dm["SUBJID"]).all()
    assert dm["SUBJID"].str.match(r"^MB-[A-Z2-7]{10}$").all()
    assert sorted(dm["ARMCD"]) == ["ALS", "CONTROL", "PLS"]
    assert set(dm["ACTARMCD"] + dm["ACTARM"]) == set(dm["ARMCD"] + dm["ARM"])
    rows = dm.set_index("ARMCD")
    assert rows.loc["ALS", "ARM"] == "Amyotrophic lateral sclerosis"
    assert rows.loc["ALS", "DTHFL"] == "Y" and rows.loc["CONTROL", "DTHFL"] == ""
    assert rows.loc["ALS", "DTHDTC"] != "" and rows.loc["PLS", "DTHDTC"] == ""
    # Ages in whole years at the reference start (V1 on 2025-01-10): 1965-03-02 → 59.
    assert rows.loc["ALS", "AGE"] == "59" and rows.loc["CONTROL", "AGE"] == "66"
    assert set(dm["AGEU"]) == {"YEARS"}
    assert set(dm["SITEID"]) == {"EDM", "TOR"}
    assert set(dm["SEX"]) <= {"F", "M"}
    # The death is 300 days after the V1 (day 1): day 301 between RFSTDTC and DTHDTC.
    start = dt.date.fromisoformat(rows.loc["ALS", "RFSTDTC"])
    assert (dt.date.fromisoformat(rows.loc["ALS", "DTHDTC"]) - start).days == 300
    assert (dt.date.fromisoformat(rows.loc["ALS", "RFENDTC"]) - start).days == 244


def test_every_qs_and_nv_record_joins_dm_and_a_visit_in_sv(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    dm, sv = files["dm"], files["sv"]
    assert not sv.duplicated(["USUBJID", "VISITNUM"]).any()
    occurred = sv[sv["SVOCCUR"] == "Y"]
    for domain in ("qs", "nv", "ds"):
        assert set(files[domain]["USUBJID"]) <= set(dm["USUBJID"]), domain
    for domain in ("qs", "nv"):
        frame = files[domain]
        joined = frame.merge(
            occurred[["USUBJID", "VISITNUM", "VISIT", "SVSTDTC"]],
            on=["USUBJID", "VISITNUM"],
            how="left",
            suffixes=("", "_sv"),
            indicator=True,
        )
        assert (joined["_merge"] == "both").all(), domain
        assert (joined["VISIT"] == joined["VISIT_sv"]).all()
        assert (joined[f"{domain.upper()}DTC"] == joined["SVSTDTC"]).all()
        seq = frame[f"{domain.upper()}SEQ"].astype(int)
        assert not pd.concat([frame["USUBJID"], seq], axis=1).duplicated().any()
    # Visits: the ALS subject's three, the control's two and a missed V3, the PLS subject's V1
    # (its V2 is only scheduled).
    assert len(sv) == 3 + 3 + 1
    missed = sv[sv["SVOCCUR"] == "N"]
    assert list(missed["VISITNUM"]) == ["3"] and list(missed["SVSTDTC"]) == [""]
    assert set(sv["VISIT"]) == {"V1 BASELINE", "V2 MONTH 4", "V3 MONTH 8"}
    assert sv.set_index("VISIT").loc["V2 MONTH 4", "VISITDY"].tolist()[0] == str(
        round(4 * 30.4375) + 1
    )


def test_study_days_count_from_the_reference_start_with_no_day_zero(
    study: Any, tmp_path: Path
) -> None:
    files = _export(tmp_path / "out")
    starts = files["dm"].set_index("USUBJID")["RFSTDTC"].map(dt.date.fromisoformat)
    checked = 0
    for domain, pairs in STUDY_DAY_COLUMNS.items():
        frame = files[domain]
        for dtc, dy in pairs:
            dated = frame[frame[dtc] != ""]
            for usubjid, date, day in zip(dated["USUBJID"], dated[dtc], dated[dy], strict=True):
                days = (dt.date.fromisoformat(date) - starts[usubjid]).days
                assert int(day) == (days + 1 if days >= 0 else days), (domain, date, day)
                checked += 1
            assert (_days(frame, dy) != 0).all()
    assert checked > 100
    sv = files["sv"]
    assert set(sv.loc[sv["VISITNUM"] == "1", "SVSTDY"]) == {"1"}
    assert set(sv.loc[sv["VISITNUM"] == "2", "SVSTDY"]) == {"123"}  # 122 days after V1
    assert sdtm.study_day(ENROLLED, ENROLLED) == 1
    assert sdtm.study_day(ENROLLED - dt.timedelta(days=1), ENROLLED) == -1
    assert sdtm.study_day(ENROLLED + dt.timedelta(days=1), ENROLLED) == 2
    assert sdtm.study_day(None, ENROLLED) is None


def test_questionnaires_hold_items_scores_and_not_done_items(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    qs, dm = files["qs"], files["dm"].set_index("ARMCD")
    assert set(qs["QSCAT"]) == {"ALSFRS-R", "PENN UPPER MOTOR NEURON SCORE"}
    assert (qs["QSTESTCD"].str.len() <= 8).all() and (qs["QSTEST"].str.len() <= 40).all()
    als = qs[qs["USUBJID"] == dm.loc["ALS", "USUBJID"]].set_index(["VISITNUM", "QSTESTCD"])
    assert als.loc[("1", "ALSR01"), "QSSTRESN"] == "3"  # q1 = 4 - visit number
    assert als.loc[("1", "ALSR01"), "QSSCAT"] == "BULBAR"
    assert als.loc[("1", "ALSR05A"), "QSSTRESN"] == "2"
    assert als.loc[("3", "ALSR05B"), "QSSTRESN"] == "2"  # scored as 5b (gastrostomy)
    assert ("3", "ALSR05A") not in als.index
    total = als.loc[("1", "ALSRTOT")]
    assert total["QSDRVFL"] == "Y" and total["QSSTRESN"] == str(4 * 10 + 3 + 2)
    assert als.loc[("1", "PUMNTOT"), "QSSTRESN"] == "5"
    assert als.loc[("1", "PUMN01"), "QSORRES"] == "PRESENT"
    assert als.loc[("1", "PUMN01"), "QSTEST"] == "Bulbar: jaw jerk"
    assert als.loc[("1", "PUMN32"), "QSORRES"] == "ABSENT"
    assert als.loc[("1", "PUMN32"), "QSSTRESC"] == "0"
    items = als.loc["1"]
    assert len(items) == 12 + 4 + 1 + 32 + 5 + 1
    # The PLS subject's jaw jerk was left empty: NOT DONE, and no bulbar subscore or total.
    pls = qs[qs["USUBJID"] == dm.loc["PLS", "USUBJID"]].set_index("QSTESTCD")
    assert pls.loc["PUMN01", "QSSTAT"] == "NOT DONE" and pls.loc["PUMN01", "QSORRES"] == ""
    assert "PUMNBULB" not in pls.index and "PUMNTOT" not in pls.index
    assert pls.loc["PUMN03", "QSORRES"] == "PRESENT"  # palmomental
    assert pls.loc["PUMNRUL", "QSSTRESN"] == "0"
    assert pls.loc["ALSR12", "QSSTRESN"] == "3"
    # The control has Penn UMN exams only.
    control = qs[qs["USUBJID"] == dm.loc["CONTROL", "USUBJID"]]
    assert set(control["QSCAT"]) == {"PENN UPPER MOTOR NEURON SCORE"}


def test_band_findings_carry_hemisphere_segment_and_read_grades(study: Any, tmp_path: Path) -> None:
    nv = _export(tmp_path / "out")["nv"]
    band = nv[nv["NVCAT"] == "MOTOR BAND QUANTIFICATION"]
    assert set(band["NVTESTCD"]) <= {"BANDCON", "BANDEXT", "LAMCON"}
    assert set(band["NVLAT"]) == {"LEFT", "RIGHT"}
    assert "PRECENTRAL GYRUS" in set(band["NVLOC"])
    assert set(band["NVMETHOD"]) == {"SUSCEPTIBILITY WEIGHTED MRI"}
    assert set(band["VISITNUM"]) == {"1"}
    whole = band[(band["NVLOC"] == "PRECENTRAL GYRUS") & (band["NVTESTCD"] == "BANDCON")]
    assert len(whole) == 2
    measured = whole[whole["NVSTAT"] == ""]
    assert (measured["NVORRES"] == measured["NVSTRESC"]).all()
    assert pd.to_numeric(measured["NVSTRESN"]).between(-1, 1).all()
    not_done = band[band["NVSTAT"] == "NOT DONE"]
    assert (not_done["NVSTRESN"] == "").all() and (not_done["NVREASND"] != "").all()
    reads = nv[nv["NVCAT"] == "MOTOR BAND SIGN READ"].set_index("NVLAT")
    assert reads.loc["LEFT", "NVSTRESN"] == "1" and reads.loc["RIGHT", "NVSTRESN"] == "1.5"
    assert set(reads["NVDRVFL"]) == {"Y"} and set(reads["NVEVAL"]) == {"INDEPENDENT ASSESSOR"}


def test_disposition_records_enrolment_completion_and_death(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    ds, dm = files["ds"], files["dm"].set_index("ARMCD")
    als = ds[ds["USUBJID"] == dm.loc["ALS", "USUBJID"]]
    assert list(zip(als["DSDECOD"], als["DSCAT"], als["DSSTDY"], strict=True)) == [
        ("ENROLLED", "PROTOCOL MILESTONE", "1"),
        ("COMPLETED", "DISPOSITION EVENT", "245"),  # V3, 244 days after V1
        ("DEATH", "OTHER EVENT", "301"),
    ]
    assert list(als["DSSEQ"]) == ["1", "2", "3"]
    control = ds[ds["USUBJID"] == dm.loc["CONTROL", "USUBJID"]]
    assert list(control["DSDECOD"]) == ["ENROLLED"]  # its V3 was missed


def test_define_lists_exactly_the_variables_present(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    define = files["define"]
    for domain in sdtm.DOMAINS:
        rows = define[define["dataset"] == domain.upper()]
        assert list(rows["variable"]) == list(files[domain].columns), domain
    assert set(define["dataset"]) == {d.upper() for d in sdtm.DOMAINS}
    assert (define["label"].str.len().between(1, 40)).all()
    assert set(define["type"]) == {"Char", "Num"}
    assert set(define["origin"]) <= {"Collected", "Derived", "Assigned", "Protocol"}
    numeric = define[define["type"] == "Num"]
    assert {"AGE", "VISITNUM", "QSSTRESN", "QSDY", "NVSTRESN", "DSSEQ"} <= set(numeric["variable"])
    dates = define[define["variable"].str.endswith("DTC")]
    assert set(dates["format"]) == {"ISO 8601"}
    rows = define.set_index(["dataset", "variable"])
    assert (
        "ALSR05B = Handling Utensils With Gastrostomy (5b)"
        in rows.loc[("QS", "QSTESTCD"), "codelist"]
    )
    assert "BANDCON = Band Contrast" in rows.loc[("NV", "NVTESTCD"), "codelist"]
    # Character lengths are the longest value's.
    assert rows.loc[("DM", "USUBJID"), "length"] == str(files["dm"]["USUBJID"].str.len().max())


def test_no_identifying_field_leaks(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out")
    text = "\n".join(
        (tmp_path / "out" / f"{name}.csv").read_text(encoding="utf-8") for name in files
    )
    identifying = [
        # study ids and their BIDS labels
        "EDM-0001",
        "TOR-0002",
        "EDM_0003",
        "EDM0001",
        "TOR0002",
        # birth dates
        "1965-03-02",
        "1958-11-23",
        "1947-06-30",
        # free text, names of people and places
        "Elm St",
        "daughter",
        "rater_one",
        "rater_two",
        "Edmonton",
        "Toronto",
        # real dates (every date is shifted)
        ENROLLED.isoformat(),
        (ENROLLED + dt.timedelta(days=122)).isoformat(),
    ]
    for value in identifying:
        assert value not in text, value
    assert "BRTHDTC" not in text
    # The same subject keeps its shift in every domain: the V1 date is RFSTDTC.
    dm = files["dm"].set_index("USUBJID")
    sv = files["sv"]
    v1 = sv[sv["VISITNUM"] == "1"].set_index("USUBJID")["SVSTDTC"]
    assert (v1 == dm.loc[v1.index, "RFSTDTC"]).all()


def test_baseline_dates_leave_only_study_days(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "out", "--dates", "baseline")
    for domain in sdtm.DOMAINS:
        frame = files[domain]
        for column in [c for c in frame.columns if c.endswith("DTC")]:
            assert (frame[column] == "").all(), (domain, column)
    assert set(files["sv"].loc[files["sv"]["VISITNUM"] == "2", "SVSTDY"]) == {"123"}
    assert (files["qs"]["QSDY"] != "").all()


def test_sites_and_groups_filter_and_code(study: Any, tmp_path: Path) -> None:
    files = _export(tmp_path / "coded", "--sites", "code")
    assert set(files["dm"]["SITEID"]) == {"S1", "S2"}
    files = _export(tmp_path / "tor", "--site", "TOR")
    assert list(files["dm"]["ARMCD"]) == ["CONTROL"]
    assert set(files["sv"]["USUBJID"]) == set(files["dm"]["USUBJID"])
    assert files["nv"].empty and len(files["ds"]) == 1
    dataset = sdtm.build_dataset(groups=["ALS"], key=b"another key")
    assert len(dataset.domains["dm"]) == 1
    assert (
        dataset.domains["dm"]["SUBJID"][0]
        != _export(tmp_path / "als", "--group", "ALS")["dm"]["SUBJID"][0]
    )
    with pytest.raises(ValueError, match="date_mode"):
        sdtm.build_dataset(date_mode="calendar")
