"""REDCap project export and import: REDCap's rules as the judge, round trip, all-or-nothing import."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis.exports import redcap
from analysis.management.commands.import_redcap import Command as ImportRedcap
from cohort.demo import build_demo
from cohort.models import ClinicalEvent, Site, Study, Subject, Visit
from tests.analysis.exports.conftest import table_counts
from tests.analysis.exports.test_redcap_rules import HEADER, long_names, redcap_problems

pytestmark = pytest.mark.django_db

FILES = ("dictionary.csv", "events.csv", "instrument_event_mapping.csv", "data.csv")
DEMO_SEED = 7


def _export(folder: Path, *options: str) -> Path:
    call_command("export_study", str(folder), "--format", "redcap", *options)
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _row(folder: Path, record: str, event: str) -> dict[str, str]:
    return next(
        r
        for r in _rows(folder / "data.csv")
        if r["record_id"] == record and r["redcap_event_name"] == event
    )


def _import(folder: Path, *options: str) -> None:
    call_command(
        "import_redcap",
        str(folder / "data.csv"),
        "--dictionary",
        str(folder / "dictionary.csv"),
        "--no-progress",
        *options,
    )


def _wipe_clinical_data() -> None:
    """Empty the study's clinical tables (images, runs and reads go with their visits)."""
    from imaging.models import Read, Scan

    Read.objects.all().delete()
    Scan.objects.all().delete()
    ClinicalEvent.objects.all().delete()
    Visit.objects.all().delete()
    Subject.objects.all().delete()
    Site.objects.all().delete()


def _without_band(text: str) -> list[list[str]]:
    """data.csv without the read-only imaging columns (images and reads are not imported)."""
    rows = list(csv.reader(text.splitlines()))
    band = {
        i
        for i, column in enumerate(rows[0])
        if column.startswith(("band_", "laminar_", "mbs", "motor_band"))
        or column in ("scanner", "field_strength", "algorithm_version")
    }
    return [[c for i, c in enumerate(row) if i not in band] for row in rows]


# --- export --------------------------------------------------------------------------------------


def test_export_follows_redcaps_rules(study: dict[str, Any], tmp_path: Path) -> None:
    folder = _export(tmp_path / "redcap")
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    assert redcap_problems(folder) == []
    assert long_names(folder) == []
    dictionary = _rows(folder / "dictionary.csv")
    assert list(dictionary[0]) == list(HEADER)
    names = [f["Variable / Field Name"] for f in dictionary]
    assert names[0] == "record_id"
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]{0,25}", name) for name in names)
    forms = list(dict.fromkeys(f["Form Name"] for f in dictionary))
    assert forms == ["enrolment", "visit", "penn_umn", "alsfrs_r", "motor_band", "clinical_events"]
    by_name = {f["Variable / Field Name"]: f for f in dictionary}
    assert by_name["alsfrs_q1"]["Field Type"] == "radio"
    assert by_name["alsfrs_q1"]["Choices, Calculations, OR Slider Labels"].startswith(
        "4, Normal speech processes | 3, Detectable speech disturbance"
    )
    assert by_name["umn_ru_upper_spasticity"]["Choices, Calculations, OR Slider Labels"] == (
        "0, Absent | 1, Present"
    )
    assert by_name["umn_total"]["Field Type"] == "calc"
    assert by_name["site"]["Choices, Calculations, OR Slider Labels"] == (
        "EDM, Edmonton | TOR, Toronto"
    )
    assert by_name["birth_date"]["Identifier?"] == "y"
    assert by_name["birth_date"]["Text Validation Type OR Show Slider Number"] == "date_ymd"
    readonly = [n for n, f in by_name.items() if f["Field Annotation"] == "@READONLY"]
    assert {"band_contrast_l", "mbs_left", "mbs", "days_from_baseline"} <= set(readonly)
    assert all(
        by_name[n]["Form Name"] != "penn_umn" or by_name[n]["Field Type"] == "calc"
        for n in readonly
    )


def test_events_mapping_and_data_rows(study: dict[str, Any], tmp_path: Path) -> None:
    folder = _export(tmp_path / "redcap")
    events = _rows(folder / "events.csv")
    assert [e["unique_event_name"] for e in events] == [
        "v1_arm_1",
        "v2_arm_1",
        "v3_arm_1",
        "clinical_events_arm_1",
    ]
    assert [e["day_offset"] for e in events[:3]] == ["0", "122", "244"]
    mapping = _rows(folder / "instrument_event_mapping.csv")
    assert {"arm_num": "1", "unique_event_name": "v1_arm_1", "form": "enrolment"} in mapping
    assert not any(
        m["form"] == "enrolment" and m["unique_event_name"] != "v1_arm_1" for m in mapping
    )
    data = _rows(folder / "data.csv")
    # One row per record and event: ALS V1-V3 + events, control V1-V3, PLS V1-V2.
    assert [(r["record_id"], r["redcap_event_name"]) for r in data] == [
        ("EDM-0001", "v1_arm_1"),
        ("EDM-0001", "v2_arm_1"),
        ("EDM-0001", "v3_arm_1"),
        ("EDM-0001", "clinical_events_arm_1"),
        ("EDM_0003", "v1_arm_1"),
        ("EDM_0003", "v2_arm_1"),
        ("TOR-0002", "v1_arm_1"),
        ("TOR-0002", "v2_arm_1"),
        ("TOR-0002", "v3_arm_1"),
    ]
    als_v1 = data[0]
    assert als_v1["site"] == "EDM"
    assert als_v1["study_group"] == "ALS"
    assert als_v1["birth_date"] == "1965-03-02"
    assert als_v1["visit_date"] == "2025-01-10"
    assert als_v1["visit_status"] == "completed"
    assert als_v1["umn_jaw_jerk"] == "1"
    assert als_v1["alsfrs_q1"] == "3"
    assert als_v1["alsfrs_q5_gastrostomy"] == "0"
    assert als_v1["subject_comment"] == "Lives on Elm St."
    assert als_v1["mbs_left"] == "1" and als_v1["mbs"] == "1"
    assert float(als_v1["band_contrast_l"]) > 0
    assert als_v1["motor_band_complete"] == "2"
    assert "umn_total" not in als_v1  # calculated by REDCap
    assert data[1]["site"] == "" and data[1]["alsfrs_delta_fs"] == ""
    assert data[2]["alsfrs_q5_gastrostomy"] == "1"
    ends = data[3]
    assert ends["niv_date"] == "2025-09-17" and ends["death_date"] == "2025-11-06"
    assert ends["visit_date"] == "" and ends["clinical_events_complete"] == "2"
    control_v3 = _row(folder, "TOR-0002", "v3_arm_1")
    assert control_v3["visit_status"] == "missed"
    assert control_v3["penn_umn_complete"] == "" and control_v3["visit_complete"] == "2"
    pls_v1 = _row(folder, "EDM_0003", "v1_arm_1")
    assert pls_v1["umn_jaw_jerk"] == "" and pls_v1["penn_umn_complete"] == "2"
    assert pls_v1["onset_region"] == "bulbar" and pls_v1["diagnosis_date"] == ""


def test_demo_export_follows_redcaps_rules(db: Any, tmp_path: Path) -> None:
    build_demo(seed=DEMO_SEED, extensions=False)
    folder = _export(tmp_path / "redcap")
    assert redcap_problems(folder) == []
    data = _rows(folder / "data.csv")
    assert len({r["record_id"] for r in data}) == Subject.objects.count()
    visit_rows = [r for r in data if r["redcap_event_name"] != "clinical_events_arm_1"]
    assert len(visit_rows) == Visit.objects.count()
    events = sum(
        1
        for r in data
        for kind in ("death", "niv", "gastrostomy", "withdrawal")
        if r.get(f"{kind}_date")
    )
    assert (
        events
        == ClinicalEvent.objects.filter(
            kind__in=("death", "niv", "gastrostomy", "withdrawal")
        ).count()
    )


def test_a_later_visit_beyond_the_schedule_gets_its_event(
    study: dict[str, Any], tmp_path: Path
) -> None:
    Study.objects.update_or_create(pk=1, defaults={"planned_visits": 2})
    folder = _export(tmp_path / "redcap")
    names = [e["unique_event_name"] for e in _rows(folder / "events.csv")]
    assert names == ["v1_arm_1", "v2_arm_1", "v3_arm_1", "clinical_events_arm_1"]
    assert redcap_problems(folder) == []


# --- de-identification ---------------------------------------------------------------------------


@pytest.mark.parametrize("dates", ["baseline", "shift"])
def test_deidentified_export_keeps_the_rules_and_drops_identifiers(
    study: dict[str, Any], tmp_path: Path, dates: str
) -> None:
    folder = _export(tmp_path / "redcap", "--deidentify", "--dates", dates, "--sites", "code")
    assert redcap_problems(folder) == []
    text = "".join((folder / name).read_text(encoding="utf-8") for name in FILES)
    for subject in Subject.objects.all():
        assert subject.study_id not in text
        assert subject.birth_date.isoformat() not in text
    for original in ("Lives on Elm St.", "Came with daughter", "Edmonton", "EDM"):
        assert original not in text
    names = [f["Variable / Field Name"] for f in _rows(folder / "dictionary.csv")]
    assert "birth_date" not in names and "subject_comment" not in names
    if dates == "baseline":
        assert {"visit_day", "onset_day", "death_day", "niv_day"} <= set(names)
        visit_dates = {v.date.isoformat() for v in Visit.objects.exclude(date=None)}
        assert not any(d in text for d in visit_dates)
        assert {r["visit_day"] for r in _rows(folder / "data.csv") if r["visit_day"]} >= {"0"}
    else:
        assert "visit_date" in names and "visit_day" not in names


def test_a_deidentified_export_is_refused_on_import(study: dict[str, Any], tmp_path: Path) -> None:
    folder = _export(tmp_path / "redcap", "--deidentify")
    before = table_counts()
    with pytest.raises(CommandError, match="nothing was imported"):
        _import(folder)
    assert table_counts() == before


# --- round trip ----------------------------------------------------------------------------------


def test_round_trip_of_the_demo_reproduces_the_files(db: Any, tmp_path: Path) -> None:
    build_demo(seed=DEMO_SEED, extensions=False)
    first = _export(tmp_path / "first")
    counts = (Subject.objects.count(), Visit.objects.count(), ClinicalEvent.objects.count())
    _wipe_clinical_data()
    _import(first)
    assert (Subject.objects.count(), Visit.objects.count(), ClinicalEvent.objects.count()) == counts
    second = _export(tmp_path / "second")
    for name in FILES:
        assert (second / name).read_bytes() == (first / name).read_bytes(), name


def test_round_trip_of_the_study_keeps_everything_but_the_images(
    study: dict[str, Any], tmp_path: Path
) -> None:
    Subject.objects.filter(study_id="TOR-0002").update(last_known_alive="2025-10-01")
    first = _export(tmp_path / "first")
    _wipe_clinical_data()
    _import(first)
    second = _export(tmp_path / "second")
    assert _without_band((second / "data.csv").read_text()) == _without_band(
        (first / "data.csv").read_text()
    )
    assert (second / "events.csv").read_bytes() == (first / "events.csv").read_bytes()
    assert _row(second, "TOR-0002", "clinical_events_arm_1")["last_known_alive"] == "2025-10-01"
    assert Subject.objects.get(study_id="EDM-0001").comment == "Lives on Elm St."
    assert Site.objects.get(code="TOR").name == "Toronto"


def test_a_subject_without_visits_keeps_its_enrolment(db: Any, tmp_path: Path) -> None:
    from tests.factories import make_subject

    make_subject(study_id="EDM-0100", group="CONTROL")
    first = _export(tmp_path / "first")
    assert [r["redcap_event_name"] for r in _rows(first / "data.csv")] == ["v1_arm_1"]
    assert redcap_problems(first) == []
    _wipe_clinical_data()
    _import(first)
    assert Subject.objects.get(study_id="EDM-0100").visits.count() == 0
    second = _export(tmp_path / "second")
    assert (second / "data.csv").read_bytes() == (first / "data.csv").read_bytes()


# --- all or nothing ------------------------------------------------------------------------------


def _edit(path: Path, record: str, event: str, column: str, value: str) -> int:
    """Set one cell of data.csv; returns its row number (the header is row 1)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0]
    number = next(
        i
        for i, row in enumerate(rows)
        if row[0] == record and row[header.index("redcap_event_name")] == event
    )
    rows[number][header.index(column)] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return number + 1


@pytest.fixture
def exported(study: dict[str, Any], tmp_path: Path) -> Path:
    folder = _export(tmp_path / "redcap")
    _wipe_clinical_data()
    return folder


def _refused(folder: Path, capsys: Any) -> list[list[str]]:
    before = table_counts()
    with pytest.raises(CommandError, match="nothing was imported"):
        _import(folder)
    assert table_counts() == before
    report = capsys.readouterr().out.strip().splitlines()
    assert report[0] == "file\trow\tcolumn\tvalue\trule"
    return [line.split("\t") for line in report[1:]]


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("study_group", "ALS_X", "Not one of the field's codes"),
        ("alsfrs_q3", "5", "Not one of the field's codes"),
        ("umn_jaw_jerk", "present", "Not one of the field's codes"),
        ("visit_date", "10/01/2025", "Not a date as YYYY-MM-DD"),
        ("birth_date", "1965-02-30", "Not a date as YYYY-MM-DD"),
        ("alsfrs_q5_gastrostomy", "yes", "Must be 1 (yes) or 0 (no)"),
        ("visit_complete", "3", "form status"),
        ("redcap_event_name", "v1_arm_2", "Unknown event"),
        ("redcap_event_name", "baseline", "Unknown event"),
    ],
)
def test_a_broken_cell_rejects_the_whole_file(
    exported: Path, capsys: Any, column: str, value: str, rule: str
) -> None:
    row = _edit(exported / "data.csv", "EDM-0001", "v1_arm_1", column, value)
    problems = _refused(exported, capsys)
    assert ["data.csv", str(row), column, value] in [p[:4] for p in problems]
    assert any(rule in p[4] for p in problems), problems


def test_a_duplicate_record_event_rejects_the_whole_file(exported: Path, capsys: Any) -> None:
    row = _edit(exported / "data.csv", "EDM-0001", "v3_arm_1", "redcap_event_name", "v2_arm_1")
    problems = _refused(exported, capsys)
    assert problems == [
        [
            "data.csv",
            str(row),
            "redcap_event_name",
            "v2_arm_1",
            f"Duplicate: record EDM-0001 event v2_arm_1 is already on row {row - 1}.",
        ]
    ]


def test_a_form_at_the_wrong_event_is_refused(exported: Path, capsys: Any) -> None:
    row = _edit(exported / "data.csv", "EDM-0001", "v2_arm_1", "site", "EDM")
    problems = _refused(exported, capsys)
    assert problems[0][:4] == ["data.csv", str(row), "site", "EDM"]
    assert "not collected at event v2_arm_1" in problems[0][4]


def test_the_services_rules_are_reported_at_their_cell(exported: Path, capsys: Any) -> None:
    # Death before the V3 visit: the event service refuses it, on the clinical events row.
    row = _edit(
        exported / "data.csv", "EDM-0001", "clinical_events_arm_1", "death_date", "2025-06-01"
    )
    problems = _refused(exported, capsys)
    assert [p[:4] for p in problems] == [["data.csv", str(row), "death_date", "2025-06-01"]]
    assert "Death cannot be before visit V3" in problems[0][4]


def test_an_unknown_column_and_a_wrong_dictionary_are_refused(exported: Path, capsys: Any) -> None:
    text = (exported / "data.csv").read_text(encoding="utf-8")
    (exported / "data.csv").write_text(text.replace("visit_status", "visit_state", 1))
    problems = _refused(exported, capsys)
    assert problems[0][:3] == ["data.csv", "1", "visit_state"]
    old = exported / "old_dictionary.csv"
    shutil.copy(exported / "dictionary.csv", old)
    lines = old.read_text(encoding="utf-8").splitlines(keepends=True)
    old.write_text(
        "variable,table,label,type,units,allowed_values,derivation\n" + "".join(lines[1:])
    )
    with pytest.raises(CommandError):
        call_command(
            "import_redcap", str(exported / "data.csv"), "--dictionary", str(old), "--no-progress"
        )
    report = capsys.readouterr().out
    assert "old_dictionary.csv\t1\t" in report and "Not a REDCap data dictionary" in report


def test_dry_run_writes_nothing(exported: Path, capsys: Any) -> None:
    before = table_counts()
    _import(exported, "--dry-run")
    assert table_counts() == before
    out = capsys.readouterr().out
    assert "Dry run: the REDCap file is valid" in out
    assert "3 subjects" in out and "8 visits" in out and "2 events" in out


def test_the_import_holds_the_study_data_lock() -> None:
    assert ImportRedcap.lock_name == "study-data"
    assert redcap.DICTIONARY_COLUMNS == HEADER
