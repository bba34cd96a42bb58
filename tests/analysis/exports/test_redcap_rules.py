"""REDCap's own import rules as a judge of the REDCap export, written apart from the exporter.

``redcap_problems(folder)`` reads ``dictionary.csv``, ``events.csv``,
``instrument_event_mapping.csv`` and ``data.csv`` with nothing but the csv module and checks what
REDCap checks when a data dictionary, the events, the instrument designations and a data file are
uploaded. Nothing here imports ``analysis.exports.redcap``: the judge must not share the
exporter's mistakes. The tests in this module show that the judge refuses each broken rule.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest

HEADER = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
FIELD_TYPES = {
    "text",
    "notes",
    "dropdown",
    "radio",
    "checkbox",
    "yesno",
    "truefalse",
    "calc",
    "file",
    "slider",
    "descriptive",
    "sql",
}
CHOICE_TYPES = {"dropdown", "radio", "checkbox"}
DATE_VALIDATIONS = {"date_ymd", "date_mdy", "date_dmy"}
VALIDATION_TYPES = {
    *DATE_VALIDATIONS,
    "datetime_ymd",
    "datetime_mdy",
    "datetime_dmy",
    "datetime_seconds_ymd",
    "time",
    "integer",
    "number",
    "number_1dp",
    "number_2dp",
    "email",
    "phone",
    "zipcode",
    "alpha_only",
}
ALIGNMENTS = {"", "LV", "LH", "RV", "RH"}
SYSTEM_COLUMNS = {
    "redcap_event_name",
    "redcap_repeat_instrument",
    "redcap_repeat_instance",
    "redcap_data_access_group",
    "redcap_survey_identifier",
}
#: Names REDCap refuses (its own columns, and JavaScript words its pages would break on).
RESERVED = SYSTEM_COLUMNS | {
    "record",
    "event_id",
    "hidden_edit_flag",
    "submit",
    "new",
    "class",
    "case",
    "switch",
    "default",
    "function",
    "return",
    "var",
    "this",
    "delete",
    "if",
    "else",
    "for",
    "while",
    "do",
}
VARIABLE_RE = re.compile(r"^[a-z][a-z0-9_]*$")
FORM_RE = re.compile(r"^[a-z][a-z0-9_]*$")
CODE_RE = re.compile(r"^(-?\d+(\.\d+)?|[A-Za-z0-9_]+)$")
UNIQUE_EVENT_RE = re.compile(r"^[a-z][a-z0-9_]*_arm_(?P<arm>\d+)$")
REFERENCE_RE = re.compile(r"\[([^\]]+)\]")
ACTION_TAG_RE = re.compile(r"@[A-Z][A-Z0-9-]*")
INTEGER_RE = re.compile(r"^-?\d+$")
NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
RECOMMENDED_NAME_LENGTH = 26
MAX_NAME_LENGTH = 100


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def _choices(cell: str) -> tuple[dict[str, str], list[str]]:
    """Codes of a choices cell and what is wrong with it."""
    codes: dict[str, str] = {}
    problems = []
    for part in cell.split("|"):
        if "," not in part:
            problems.append(f"choice '{part.strip()}' has no 'code, label' comma")
            continue
        code, label = (p.strip() for p in part.split(",", 1))
        if not CODE_RE.match(code):
            problems.append(f"choice code '{code}' is not a number or letters/digits/_")
        if not label:
            problems.append(f"choice '{code}' has no label")
        if code in codes:
            problems.append(f"choice code '{code}' is repeated")
        codes[code] = label
    return codes, problems


def _valid_value(value: str, validation: str) -> bool:
    if validation == "date_ymd":
        if not DATE_RE.match(value):
            return False
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    if validation == "integer":
        return bool(INTEGER_RE.match(value))
    if validation.startswith("number"):
        return bool(NUMBER_RE.match(value))
    return True


def _comparable(value: str, validation: str) -> float | dt.date:
    return dt.date.fromisoformat(value) if validation == "date_ymd" else float(value)


def dictionary_problems(rows: list[list[str]]) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Problems of a data dictionary and its fields by name (each a dict of the 18 columns)."""
    problems: list[str] = []
    if not rows or tuple(rows[0]) != HEADER:
        return [f"dictionary header is not REDCap's 18 columns: {rows[0] if rows else []}"], {}
    fields: dict[str, dict[str, str]] = {}
    forms_seen: list[str] = []
    for number, cells in enumerate(rows[1:], start=2):
        if len(cells) != len(HEADER):
            problems.append(f"dictionary row {number} has {len(cells)} cells")
            continue
        f = dict(zip(HEADER, cells, strict=True))
        name, form, kind = f[HEADER[0]], f["Form Name"], f["Field Type"]
        where = f"dictionary row {number} ({name})"
        if not VARIABLE_RE.match(name) or len(name) > MAX_NAME_LENGTH or "___" in name:
            problems.append(f"{where}: invalid variable name")
        if name in fields:
            problems.append(f"{where}: duplicate variable name")
        if name in RESERVED or name.startswith("redcap_"):
            problems.append(f"{where}: reserved variable name")
        if not FORM_RE.match(form):
            problems.append(f"{where}: invalid form name '{form}'")
        if forms_seen and forms_seen[-1] != form and form in forms_seen:
            problems.append(f"{where}: form {form} is split (its fields must be contiguous)")
        if not forms_seen or forms_seen[-1] != form:
            forms_seen.append(form)
        if kind not in FIELD_TYPES:
            problems.append(f"{where}: unknown field type '{kind}'")
        if not f["Field Label"].strip():
            problems.append(f"{where}: empty label")
        choices = f[HEADER[5]]
        validation = f[HEADER[7]]
        if kind in CHOICE_TYPES:
            if not choices.strip():
                problems.append(f"{where}: a {kind} field needs choices")
            else:
                problems += [f"{where}: {p}" for p in _choices(choices)[1]]
        elif kind == "calc":
            if not choices.strip():
                problems.append(f"{where}: a calc field needs its equation")
        elif kind != "slider" and choices.strip():
            problems.append(f"{where}: a {kind} field takes no choices")
        if validation:
            if kind != "text":
                problems.append(f"{where}: only text fields take a validation type")
            elif validation not in VALIDATION_TYPES:
                problems.append(f"{where}: unknown validation type '{validation}'")
        for bound in ("Text Validation Min", "Text Validation Max"):
            if f[bound] and (not validation or not _valid_value(f[bound], validation)):
                problems.append(f"{where}: {bound} '{f[bound]}' does not fit '{validation}'")
        bounds = (f["Text Validation Min"], f["Text Validation Max"])
        if all(b and _valid_value(b, validation) for b in bounds) and validation:
            low = _comparable(f["Text Validation Min"], validation)
            high = _comparable(f["Text Validation Max"], validation)
            if low > high:  # type: ignore[operator]
                problems.append(f"{where}: minimum above maximum")
        for flag in ("Identifier?", "Required Field?", "Matrix Ranking?"):
            if f[flag] not in ("", "y"):
                problems.append(f"{where}: {flag} must be 'y' or empty")
        if f["Custom Alignment"] not in ALIGNMENTS:
            problems.append(f"{where}: unknown alignment")
        annotation = f["Field Annotation"]
        if "@" in annotation and not ACTION_TAG_RE.search(annotation):
            problems.append(f"{where}: malformed action tag")
        fields[name] = f
    if fields:
        first = next(iter(fields.values()))
        if first["Field Type"] != "text":
            problems.append("the first field (the record id) must be a text field")
    for form in forms_seen:
        if f"{form}_complete" in fields:
            problems.append(f"{form}_complete is REDCap's form status: no field may take it")
    for name, f in fields.items():
        for column in (HEADER[11], *(() if f["Field Type"] != "calc" else (HEADER[5],))):
            for reference in REFERENCE_RE.findall(f[column]):
                if reference.split("(")[0] not in fields:
                    problems.append(f"{name}: '{column}' names unknown field [{reference}]")
    return problems, fields


def redcap_problems(folder: Path) -> list[str]:
    """Everything REDCap would refuse in the four files of ``folder``."""
    problems, fields = dictionary_problems(_read(folder / "dictionary.csv"))
    if not fields:
        return problems
    forms = {f["Form Name"] for f in fields.values()}
    # events
    events_rows = _read(folder / "events.csv")
    header = events_rows[0] if events_rows else []
    events: dict[str, str] = {}
    missing = [c for c in ("event_name", "arm_num", "unique_event_name") if c not in header]
    problems += [f"events.csv lacks column {column}" for column in missing]
    if not missing:
        names: set[tuple[str, str]] = set()
        for number, cells in enumerate(events_rows[1:], start=2):
            e = dict(zip(header, cells, strict=False))
            unique, arm = e["unique_event_name"], e["arm_num"]
            match = UNIQUE_EVENT_RE.match(unique)
            if not arm.isdigit() or int(arm) < 1:
                problems.append(
                    f"events.csv row {number}: arm_num '{arm}' is not a positive number"
                )
            if not match or match["arm"] != arm:
                problems.append(f"events.csv row {number}: unique name '{unique}' is malformed")
            expected = re.sub(r"[^a-z0-9]+", "_", e["event_name"].lower()).strip("_")
            if match and not unique.startswith(expected[:18]):
                problems.append(f"events.csv row {number}: '{unique}' is not from its name")
            if unique in events or (e["event_name"], arm) in names:
                problems.append(f"events.csv row {number}: duplicate event")
            events[unique] = arm
            names.add((e["event_name"], arm))
            for column in ("day_offset", "offset_min", "offset_max"):
                if e.get(column) and not INTEGER_RE.match(e[column]):
                    problems.append(f"events.csv row {number}: {column} is not a whole number")
    # instrument-event mapping
    mapping_rows = _read(folder / "instrument_event_mapping.csv")
    if not mapping_rows or mapping_rows[0] != ["arm_num", "unique_event_name", "form"]:
        problems.append("instrument_event_mapping.csv header is not arm_num,unique_event_name,form")
        return problems
    designated: set[tuple[str, str]] = set()
    for number, (arm, unique, form) in enumerate(mapping_rows[1:], start=2):
        where = f"instrument_event_mapping.csv row {number}"
        if unique not in events or events[unique] != arm:
            problems.append(f"{where}: event {unique} of arm {arm} is not in events.csv")
        if form not in forms:
            problems.append(f"{where}: form {form} is not in the dictionary")
        if (unique, form) in designated:
            problems.append(f"{where}: duplicate designation")
        designated.add((unique, form))
    for form in forms - {form for _, form in designated}:
        problems.append(f"form {form} is designated for no event")
    # data
    data = _read(folder / "data.csv")
    columns = data[0]
    record_field = next(iter(fields))
    if columns[:2] != [record_field, "redcap_event_name"]:
        problems.append(f"data.csv must start with {record_field},redcap_event_name")
    if len(set(columns)) != len(columns):
        problems.append("data.csv repeats a column")
    column_form: dict[str, str] = {}
    for column in columns:
        if column in SYSTEM_COLUMNS:
            continue
        base, _, code = column.partition("___")
        if column.endswith("_complete") and column[: -len("_complete")] in forms:
            column_form[column] = column[: -len("_complete")]
        elif column in fields and fields[column]["Field Type"] not in ("calc", "descriptive"):
            column_form[column] = fields[column]["Form Name"]
        elif code and base in fields and fields[base]["Field Type"] == "checkbox":
            column_form[column] = fields[base]["Form Name"]
        else:
            problems.append(f"data.csv column {column} is neither a data field nor REDCap's")
    seen: set[tuple[str, str, str, str]] = set()
    for number, cells in enumerate(data[1:], start=2):
        if len(cells) != len(columns):
            problems.append(f"data.csv row {number} has {len(cells)} cells")
            continue
        row = dict(zip(columns, cells, strict=True))
        record, event = row[record_field], row.get("redcap_event_name", "")
        key = (
            record,
            event,
            row.get("redcap_repeat_instrument", ""),
            row.get("redcap_repeat_instance", ""),
        )
        if not record:
            problems.append(f"data.csv row {number}: empty record id")
        if event not in events:
            problems.append(f"data.csv row {number}: event '{event}' is not in events.csv")
        if key in seen:
            problems.append(f"data.csv row {number}: record {record} event {event} repeated")
        seen.add(key)
        for column, value in row.items():
            if not value or column not in column_form or column == record_field:
                continue
            where = f"data.csv row {number} column {column} value '{value}'"
            if (event, column_form[column]) not in designated:
                problems.append(f"{where}: form not designated for event {event}")
            if column.endswith("_complete") and column not in fields:
                if value not in ("0", "1", "2"):
                    problems.append(f"{where}: form status must be 0, 1 or 2")
                continue
            if "___" in column:
                if value not in ("0", "1"):
                    problems.append(f"{where}: checkbox must be 0 or 1")
                continue
            f = fields[column]
            kind, validation = f["Field Type"], f[HEADER[7]]
            if kind in CHOICE_TYPES:
                if value not in _choices(f[HEADER[5]])[0]:
                    problems.append(f"{where}: not a raw code of the field's choices")
            elif kind in ("yesno", "truefalse"):
                if value not in ("0", "1"):
                    problems.append(f"{where}: {kind} must be 0 or 1")
            elif validation:
                if not _valid_value(value, validation):
                    problems.append(f"{where}: not valid {validation}")
                    continue
                for bound, above in (("Text Validation Min", False), ("Text Validation Max", True)):
                    if _valid_value(f[bound], validation) and validation in (
                        "integer",
                        "number",
                        "date_ymd",
                    ):
                        limit = _comparable(f[bound], validation)
                        actual = _comparable(value, validation)
                        if (actual > limit) if above else (actual < limit):  # type: ignore[operator]
                            problems.append(f"{where}: outside {bound}")
    return problems


def long_names(folder: Path) -> list[str]:
    """Variable names above REDCap's recommended 26 characters."""
    _, fields = dictionary_problems(_read(folder / "dictionary.csv"))
    return [name for name in fields if len(name) > RECOMMENDED_NAME_LENGTH]


# --- the judge judged: a tiny valid project, then one broken rule at a time -------------------


def _row(name: str, form: str, kind: str, label: str, **cells: str) -> list[str]:
    values = dict.fromkeys(HEADER, "")
    values.update({HEADER[0]: name, "Form Name": form, "Field Type": kind, "Field Label": label})
    for key, value in cells.items():
        values[
            {
                "choices": HEADER[5],
                "validation": HEADER[7],
                "min": "Text Validation Min",
                "max": "Text Validation Max",
                "branching": HEADER[11],
                "annotation": "Field Annotation",
            }[key]
        ] = value
    return [values[h] for h in HEADER]


def _write(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    _write(
        tmp_path / "dictionary.csv",
        [
            list(HEADER),
            _row("record_id", "enrolment", "text", "Record"),
            _row("arm", "enrolment", "radio", "Arm", choices="1, A | 2, B"),
            _row("seen", "visit", "text", "Seen on", validation="date_ymd"),
            _row("score", "visit", "text", "Score", validation="integer", min="0", max="4"),
            _row("double", "visit", "calc", "Twice", choices="[score] * 2"),
            _row("ok", "visit", "yesno", "OK", branching="[score] > 1", annotation="@READONLY"),
        ],
    )
    _write(
        tmp_path / "events.csv",
        [["event_name", "arm_num", "unique_event_name"], ["V1", "1", "v1_arm_1"]],
    )
    _write(
        tmp_path / "instrument_event_mapping.csv",
        [
            ["arm_num", "unique_event_name", "form"],
            ["1", "v1_arm_1", "enrolment"],
            ["1", "v1_arm_1", "visit"],
        ],
    )
    _write(
        tmp_path / "data.csv",
        [
            [
                "record_id",
                "redcap_event_name",
                "arm",
                "enrolment_complete",
                "seen",
                "score",
                "ok",
                "visit_complete",
            ],
            ["A-1", "v1_arm_1", "2", "2", "2025-01-31", "3", "1", "2"],
        ],
    )
    return tmp_path


def _edit(path: Path, row: int, column: int, value: str) -> None:
    rows = _read(path)
    rows[row][column] = value
    _write(path, rows)


def test_the_tiny_project_is_valid(tiny: Path) -> None:
    assert redcap_problems(tiny) == []


@pytest.mark.parametrize(
    ("file", "row", "column", "value", "expected"),
    [
        ("dictionary.csv", 0, 3, "Type", "header"),
        ("dictionary.csv", 2, 0, "Arm", "invalid variable name"),
        ("dictionary.csv", 2, 0, "record_id", "duplicate variable name"),
        ("dictionary.csv", 2, 0, "redcap_event_name", "reserved"),
        ("dictionary.csv", 2, 3, "integer", "unknown field type"),
        ("dictionary.csv", 2, 5, "1 A | 2, B", "no 'code, label' comma"),
        ("dictionary.csv", 2, 5, "1, A | 1, B", "repeated"),
        ("dictionary.csv", 3, 7, "date", "unknown validation type"),
        ("dictionary.csv", 4, 8, "x", "does not fit"),
        ("dictionary.csv", 4, 8, "9", "minimum above maximum"),
        ("dictionary.csv", 5, 5, "[scores] * 2", "unknown field"),
        ("dictionary.csv", 6, 11, "[nothing] = 1", "unknown field"),
        ("dictionary.csv", 6, 10, "yes", "Identifier?"),
        ("dictionary.csv", 3, 1, "Visit", "invalid form name"),
        ("dictionary.csv", 4, 1, "enrolment", "is split"),
        ("events.csv", 1, 2, "V1_arm_1", "malformed"),
        ("events.csv", 1, 2, "v1_arm_2", "malformed"),
        ("instrument_event_mapping.csv", 2, 2, "visits", "not in the dictionary"),
        ("instrument_event_mapping.csv", 2, 1, "v2_arm_1", "not in events.csv"),
        ("data.csv", 0, 6, "double", "neither a data field"),
        ("data.csv", 0, 2, "arms", "neither a data field"),
        ("data.csv", 1, 1, "v2_arm_1", "not in events.csv"),
        ("data.csv", 1, 2, "A", "not a raw code"),
        ("data.csv", 1, 4, "31/01/2025", "not valid date_ymd"),
        ("data.csv", 1, 4, "2025-02-30", "not valid date_ymd"),
        ("data.csv", 1, 5, "2.5", "not valid integer"),
        ("data.csv", 1, 5, "7", "outside Text Validation Max"),
        ("data.csv", 1, 6, "yes", "yesno must be 0 or 1"),
        ("data.csv", 1, 7, "3", "form status"),
        ("data.csv", 1, 0, "", "empty record id"),
    ],
)
def test_the_judge_refuses_each_broken_rule(
    tiny: Path, file: str, row: int, column: int, value: str, expected: str
) -> None:
    _edit(tiny / file, row, column, value)
    problems = redcap_problems(tiny)
    assert any(expected in p for p in problems), problems


def test_the_judge_refuses_a_repeated_record_event_and_a_form_off_its_event(tiny: Path) -> None:
    rows = _read(tiny / "data.csv")
    _write(tiny / "data.csv", [*rows, rows[1]])
    assert any("repeated" in p for p in redcap_problems(tiny))
    _write(
        tiny / "instrument_event_mapping.csv",
        [
            ["arm_num", "unique_event_name", "form"],
            ["1", "v1_arm_1", "enrolment"],
            ["1", "v2_arm_1", "visit"],
        ],
    )
    _write(
        tiny / "events.csv",
        [
            ["event_name", "arm_num", "unique_event_name"],
            ["V1", "1", "v1_arm_1"],
            ["V2", "1", "v2_arm_1"],
        ],
    )
    _write(tiny / "data.csv", rows)
    assert any("not designated for event v1_arm_1" in p for p in redcap_problems(tiny))
