"""De-identification: no direct identifier or original date survives in any exported file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pyreadstat
import pytest
from django.core.management import call_command

from analysis.exports import deidentify, trial
from cohort.models import ClinicalEvent, Subject, Visit

pytestmark = pytest.mark.django_db


def _identifiers() -> set[str]:
    values = set()
    for subject in Subject.objects.all():
        values |= {subject.study_id, subject.participant_label}
    return values


def _original_dates() -> set[str]:
    dates: set[dt.date] = set()
    for subject in Subject.objects.all():
        dates |= {
            d
            for d in (
                subject.birth_date,
                subject.onset_date,
                subject.diagnosis_date,
                subject.enrolled_on,
            )
            if d
        }
    dates |= {v.date for v in Visit.objects.exclude(date=None)}
    dates |= {e.date for e in ClinicalEvent.objects.all()}
    return {d.isoformat() for d in dates} | {d.strftime("%d/%m/%Y") for d in dates}


def _cells(path: Path) -> list[str]:
    """Every cell and column name of an exported file, read back with the format's own reader."""
    if path.suffix == ".csv":
        return [path.read_text(encoding="utf-8")]
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        return [str(c) for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif path.suffix == ".dta":
        frame, meta = pyreadstat.read_dta(str(path))
        return [
            *map(str, frame.columns),
            *frame.astype(str).to_numpy().ravel(),
            *meta.column_labels,
        ]
    elif path.suffix == ".sav":
        frame, meta = pyreadstat.read_sav(str(path))
        return [
            *map(str, frame.columns),
            *frame.astype(str).to_numpy().ravel(),
            *meta.column_labels,
        ]
    else:
        raise AssertionError(f"unexpected file {path}")
    return [*map(str, frame.columns), *frame.astype(str).to_numpy().ravel()]


@pytest.mark.parametrize("fmt", trial.FORMATS)
def test_no_identifier_or_date_survives(study: dict[str, Any], tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "release"
    call_command("export_study", str(out), "--format", fmt, "--deidentify", "--no-progress")
    identifiers, dates = _identifiers(), _original_dates()
    files = sorted(out.iterdir())
    assert len(files) == 4
    for path in files:
        text = "\n".join(_cells(path))
        for identifier in identifiers:
            assert identifier not in text, (path.name, identifier)
        for date in dates:
            assert date not in text, (path.name, date)
        assert "Elm St" not in text and "daughter" not in text
    long = trial.trial_tables(deidentify=True).long
    assert "birth_date" not in long and "visit_comment" not in long
    assert long["age_at_enrolment"].dtype == "Int64"
    assert set(long["visit_day"].dropna()) >= {0, 122, 244}
    assert set(long.loc[long["visit_code"] == "V1", "enrolment_day"]) <= {0}


def test_pseudonyms_are_stable_per_key() -> None:
    assert deidentify.pseudonym("EDM-0001", b"k1") == deidentify.pseudonym("EDM-0001", b"k1")
    assert deidentify.pseudonym("EDM-0001", b"k1") != deidentify.pseudonym("EDM-0001", b"k2")
    assert deidentify.pseudonym("EDM-0001", b"k1") != deidentify.pseudonym("EDM-0002", b"k1")
    assert deidentify.pseudonym("EDM-0001", b"k1").startswith("MB-")


def test_release_key_comes_from_the_environment(settings: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv(deidentify.KEY_ENV, raising=False)
    derived = deidentify.release_key()
    assert derived != settings.SECRET_KEY.encode()
    monkeypatch.setenv(deidentify.KEY_ENV, "release-key-1")
    assert deidentify.release_key() == b"release-key-1"


def test_shifted_dates_keep_intervals_and_hide_the_originals(study: Any) -> None:
    plain = trial.trial_tables().long
    shifted = trial.trial_tables(deidentify=True, date_mode="shift", key=b"k").long
    codes = {deidentify.pseudonym(s, b"k"): s for s in plain["subject"].unique()}
    for code, study_id in codes.items():
        before = plain[plain["subject"] == study_id].set_index("visit_code")["visit_date"]
        after = shifted[shifted["subject"] == code].set_index("visit_code")["visit_date"]
        offset = deidentify.shift_days(study_id, b"k")
        assert offset != 0
        assert ((after - before).dropna().dt.days == offset).all()
        assert not (after.dropna().isin(before.dropna())).any()


def test_sites_can_be_coded(study: Any) -> None:
    tables = trial.trial_tables(deidentify=True, site_mode="code", key=b"k")
    assert set(tables.long["site"]) == {"S1", "S2"}
    assert "Edmonton" not in tables.dictionary.to_csv()
    # A site's scanner would give the site away: scanners are coded with the sites.
    plain = trial.trial_tables(deidentify=True, site_mode="keep", key=b"k")
    scanners = set(plain.long["scanner"].dropna())
    assert scanners and not scanners & set(tables.long["scanner"].dropna())
    assert set(tables.long["scanner"].dropna()) <= {f"SC{i}" for i in range(1, 10)}
    assert len(set(tables.long["scanner"].dropna())) == len(scanners)


def test_ages_are_whole_years_top_coded_at_90() -> None:
    long = pd.DataFrame(
        {
            "subject": ["A", "A"],
            "site": ["EDM", "EDM"],
            "visit_code": ["V1", "V2"],
            "visit_date": pd.to_datetime(["2025-01-10", "2025-05-12"]),
            "enrolled_on": pd.to_datetime(["2025-01-05"] * 2),
            "birth_date": pd.to_datetime(["1930-01-01"] * 2),
            "age": [95.02, 95.36],
            "age_at_enrolment": [95, 95],
        }
    )
    events = pd.DataFrame(columns=["subject", "site", "event_date"])
    out, _, _ = deidentify.deidentify(long, events, key=b"k")
    assert list(out["age"]) == [90, 90]
    assert list(out["visit_day"]) == [0, 122]
    assert list(out["enrolment_day"]) == [-5, -5]
