"""Trial datasets: long, wide and event tables in every format, dictionary, Stata/SPSS labels."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from analysis.exports import trial
from imaging import band

pytestmark = pytest.mark.django_db


def test_long_table_has_one_row_per_subject_visit(study: dict[str, Any]) -> None:
    tables = trial.trial_tables()
    long = tables.long
    assert list(long.columns) == list(trial.LONG_COLUMNS)
    assert len(long) == 3 + 3 + 2
    row = long[(long["subject"] == "EDM-0001") & (long["visit_code"] == "V2")].iloc[0]
    assert row["umn_total"] == 6
    assert row["alsfrs_q1" if "alsfrs_q1" in long else "q1"] == 2
    assert row["months"] == pytest.approx(122 / 30.4375)
    assert row["delta_fs"] == pytest.approx(
        long[(long["subject"] == "EDM-0001") & (long["visit_code"] == "V1")]["delta_fs"].iloc[0]
    )
    v1 = long[(long["subject"] == "EDM-0001") & (long["visit_code"] == "V1")].iloc[0]
    assert v1["scanner"] == "Siemens Prisma"
    assert v1["algorithm_version"] == band.ALGORITHM_VERSION
    assert v1["mbs_left"] == 1 and v1["mbs_right"] == 1.5 and v1["mbs"] == 1
    assert tables.algorithm_versions == [band.ALGORITHM_VERSION]
    missed = long[(long["subject"] == "TOR-0002") & (long["visit_code"] == "V3")].iloc[0]
    assert missed["visit_status"] == "missed" and pd.isna(missed["umn_total"])


def test_wide_table_suffixes_visit_columns(study: Any) -> None:
    tables = trial.trial_tables()
    wide = tables.wide.set_index("subject")
    assert len(wide) == 3
    assert wide.loc["EDM-0001", "umn_total_V1"] == 5
    assert wide.loc["EDM-0001", "umn_total_V3"] == 7
    assert pd.isna(wide.loc["EDM_0003", "umn_total_V3"])
    columns = list(tables.wide.columns)
    assert (
        columns.index("umn_total_V1")
        < columns.index("umn_total_V2")
        < columns.index("umn_total_V3")
    )
    assert "visit_code" not in columns and "group" in columns


def test_event_table_counts_days_from_baseline(study: Any) -> None:
    events = trial.trial_tables().events
    assert list(events["event_kind"]) == ["niv", "death"]
    assert list(events["event_days"]) == [250, 300]


def test_dictionary_describes_every_column(study: Any) -> None:
    tables = trial.trial_tables()
    dictionary = tables.dictionary
    assert list(dictionary.columns) == [
        "variable",
        "table",
        "label",
        "type",
        "units",
        "allowed_values",
        "derivation",
    ]
    expected = sum(len(t.columns) for t in tables.tables().values())
    assert len(dictionary) == expected
    rows = dictionary.set_index(["table", "variable"])
    assert rows.loc[("long", "jaw_jerk"), "allowed_values"] == "0, absent | 1, present"
    assert rows.loc[("long", "umn_total"), "units"] == "points"
    assert "Sum of the five region subscores" in rows.loc[("long", "umn_total"), "derivation"]
    assert rows.loc[("wide", "umn_total_V2"), "label"] == "Penn UMN total score at V2"
    assert rows.loc[("long", "group"), "allowed_values"].startswith(
        "ALS, Amyotrophic lateral sclerosis | PLS"
    )
    assert rows.loc[("long", "site"), "allowed_values"] == "EDM, Edmonton | TOR, Toronto"
    assert rows.loc[("long", "delta_fs"), "units"] == "points per month"
    assert not rows["label"].isna().any()


@pytest.mark.parametrize("fmt", trial.FORMATS)
def test_every_format_reads_back(study: Any, tmp_path: Path, fmt: str) -> None:
    call_command("export_study", str(tmp_path / "out"), "--format", fmt, "--no-progress")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["dictionary.csv", f"events.{fmt}", f"long.{fmt}", f"wide.{fmt}"])
    long = _read(tmp_path / "out" / f"long.{fmt}")
    assert len(long) == 8
    assert "umn_total" in long.columns


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path)
    if path.suffix == ".xlsx":
        return pd.read_excel(path)
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    frame, _ = (
        pyreadstat.read_dta(str(path)) if path.suffix == ".dta" else pyreadstat.read_sav(str(path))
    )
    return frame


@pytest.mark.parametrize("fmt", ["dta", "sav"])
def test_stata_and_spss_carry_variable_and_value_labels(
    study: Any, tmp_path: Path, fmt: str
) -> None:
    call_command("export_study", str(tmp_path / "out"), "--format", fmt, "--no-progress")
    reader = pyreadstat.read_dta if fmt == "dta" else pyreadstat.read_sav
    frame, meta = reader(str(tmp_path / "out" / f"long.{fmt}"))
    labels = dict(zip(meta.column_names, meta.column_labels, strict=True))
    assert labels["umn_total"] == "Penn UMN total score"
    assert labels["q8"] == "ALSFRS-R 8: Walking"
    values = meta.variable_value_labels
    assert values["jaw_jerk"] == {0: "absent", 1: "present"}
    assert values["q1"][4] == "4 (normal)"
    assert values["group"] == {1: "ALS", 2: "PLS", 3: "CONTROL", 4: "MIMIC", 5: "SUSPECTED"}
    assert values["sex"] == {1: "F", 2: "M"}
    # Read back through the labels, the codes are the CSV's.
    labelled, _ = reader(str(tmp_path / "out" / f"long.{fmt}"), apply_value_formats=True)
    assert set(labelled["group"]) == {"ALS", "CONTROL", "PLS"}
    first = frame[frame["subject"] == "EDM-0001"].iloc[0]
    assert first["umn_total"] == 5
    assert str(first["visit_date"])[:10] == "2025-01-10"
    _, wide_meta = reader(str(tmp_path / "out" / f"wide.{fmt}"))
    wide_labels = dict(zip(wide_meta.column_names, wide_meta.column_labels, strict=True))
    assert wide_labels["umn_total_V3"] == "Penn UMN total score at V3"
    assert wide_meta.variable_value_labels["jaw_jerk_V1"] == {0: "absent", 1: "present"}


def test_filters_restrict_the_tables(study: Any) -> None:
    tables = trial.trial_tables(sites=["TOR"])
    assert set(tables.long["subject"]) == {"TOR-0002"}
    assert tables.events.empty
    tables = trial.trial_tables(groups=["ALS", "PLS"])
    assert set(tables.wide["subject"]) == {"EDM-0001", "EDM_0003"}


def test_spss_carries_measurement_levels_and_date_formats(study: Any, tmp_path: Path) -> None:
    call_command("export_study", str(tmp_path / "out"), "--format", "sav", "--no-progress")
    frame, meta = pyreadstat.read_sav(str(tmp_path / "out" / "long.sav"))
    measure = meta.variable_measure
    # Codes, categories, flags and text: nominal.
    for column in ("subject", "site", "group", "sex", "visit_code", "visit_status", "mbs"):
        assert measure[column] == "nominal", column
    # Item scores and grades: ordinal.
    for column in ("q1", "q12", "jaw_jerk", "left_lower_babinski", "mbs_left", "mbs_right"):
        assert measure[column] == "ordinal", column
    # Totals, subscores, times and measurements: scale.
    for column in (
        "umn_total",
        "umn_bulbar",
        "alsfrs_total",
        "days_from_baseline",
        "months",
        "age_at_enrolment",
        "band_contrast_L",
        "field_strength",
    ):
        assert measure[column] == "scale", column
    assert set(measure.values()) <= {"nominal", "ordinal", "scale"}
    # Dates are SPSS dates (yyyy/mm/dd), numeric, not date-times.
    formats = meta.original_variable_types
    for column in trial.DATE_COLUMNS:
        if column in formats:
            assert formats[column] == trial.SPSS_DATE_FORMAT, column
            assert meta.readstat_variable_types[column] == "double"
            assert measure[column] == "scale"
    assert not [c for c, f in formats.items() if f.startswith("DATETIME")]
    first = frame[frame["subject"] == "EDM-0001"].iloc[0]
    assert first["visit_date"] == dt.date(2025, 1, 10)
    _, wide_meta = pyreadstat.read_sav(str(tmp_path / "out" / "wide.sav"))
    assert wide_meta.variable_measure["q1_V2"] == "ordinal"
    assert wide_meta.variable_measure["umn_total_V3"] == "scale"
    assert wide_meta.original_variable_types["visit_date_V1"] == trial.SPSS_DATE_FORMAT
    _, event_meta = pyreadstat.read_sav(str(tmp_path / "out" / "events.sav"))
    assert event_meta.variable_measure["event_kind"] == "nominal"
    assert event_meta.original_variable_types["event_date"] == trial.SPSS_DATE_FORMAT
