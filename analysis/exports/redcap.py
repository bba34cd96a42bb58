"""REDCap project files of the study: data dictionary, events, instrument-event mapping and data.

``export_redcap`` writes four files that a REDCap project accepts as they are (contract.md,
"Exports")::

    dictionary.csv                 REDCap's 18 data-dictionary columns, one row per field
    events.csv                     event_name, arm_num, unique_event_name, custom_event_label,
                                   day_offset, offset_min, offset_max (one arm, arm 1)
    instrument_event_mapping.csv   arm_num, unique_event_name, form
    data.csv                       the import file: raw codes, dates as YYYY-MM-DD, one row per
                                   record and event, ``<form>_complete`` after each form's fields

``import_redcap`` reads ``data.csv`` back (with its dictionary) all or nothing.

Records and events
------------------
The record id (``record_id``) is the subject's study id (a pseudonym when de-identified). The
project is longitudinal with one arm: one event per visit code of the study schedule, ``V1`` to
``Vn`` (unique names ``v1_arm_1`` ... ``vn_arm_1``; n is the schedule's planned visits, or more
where a subject has later visits; day offsets and windows from the schedule), and one
non-repeating event ``Clinical events`` (``clinical_events_arm_1``) for what does not happen at a
visit. MotorBand keeps at most one event of each kind per subject (death, tracheostomy, PAV, NIV,
gastrostomy, withdrawal: a database constraint), so each kind is a date field of its own in that
event's one form; REDCap repeating instruments (which need a project setting no import file
carries) are not used.

Instruments and fields (MotorBand column → REDCap variable)
-----------------------------------------------------------
``enrolment`` (event V1 only)
    study_id → ``record_id``; site → ``site`` (dropdown of the site codes, labels = names);
    group → ``study_group``; sex, handedness, birth_date, onset_date, onset_region,
    diagnosis_date, enrolled_on, comment → ``subject_comment``, all under their own names;
    ``age_at_enrolment`` (read-only). Onset and diagnosis fields show unless the group is CONTROL.
``visit`` (every visit event)
    date → ``visit_date``, status → ``visit_status``, comment → ``visit_comment``; read-only
    ``days_from_baseline``, ``months_from_onset``, ``in_window``. The visit code is the event.
``penn_umn`` (every visit event)
    each item ``<region>_<item>`` → ``umn_<r>_<item>`` with r = ru, lu, rl, ll for the right/left
    upper/lower limb (``right_upper_upper_spasticity`` → ``umn_ru_upper_spasticity``); bulbar
    items → ``umn_<item>``; radio 0 absent / 1 present. Region subscores ``umn_bulbar``,
    ``umn_right_upper``, ... and ``umn_total`` are REDCap calculated fields (a sum is blank when an
    item is blank, as in MotorBand).
``alsfrs_r`` (every visit event)
    ``q1``..``q12`` → ``alsfrs_q1``..``alsfrs_q12`` (radio 4..0 with the response wording of
    Cedarbaum 1999; item 5 shows the 5a and 5b wording), q5_gastrostomy →
    ``alsfrs_q5_gastrostomy`` (yes/no); domains ``alsfrs_bulbar``, ... and ``alsfrs_total`` are
    calculated fields; ``alsfrs_delta_fs`` (read-only, V1 only). An item without a score holds
    its missing-data code as its value, REDCap's convention: ``ND`` (not done) or ``UNK``
    (unknown); the project needs them under Project Setup > Additional customizations > Missing
    Data Codes (``ND, Not done`` and ``UNK, Unknown``, ``MISSING_DATA_CODES``). A form not done
    at the visit has ``alsfrs_form_status`` ``not_done`` (radio; ``done`` otherwise) and its
    reason in ``alsfrs_not_done_reason`` (free text, an identifier like the comments).
``motor_band`` (every visit event, all read-only)
    the band measurements of the latest algorithm version (``band_contrast_l``/``_r``,
    ``band_extent_l``/``_r``, ``laminar_contrast_l``/``_r``, their means as calculated fields),
    ``scanner``, ``field_strength``, ``algorithm_version`` and the consensus of the blinded reads
    (``mbs_left``, ``mbs_right``, ``mbs``; ``mbs_score`` calculated).
``clinical_events`` (event Clinical events)
    per kind ``<kind>_date`` and ``<kind>_comment``; the subject's last_known_alive →
    ``last_known_alive``.

Read-only fields are text fields with a validation type and the ``@READONLY`` action tag:
MotorBand derives them, REDCap cannot (calculated fields are left out of ``data.csv``: REDCap
computes them itself). Labels, units and derivations come from ``analysis.exports.dictionary``.
Birth date and free-text comments are marked as identifiers.

De-identification (``deidentify=True``) goes through ``analysis.exports.deidentify`` exactly as
the trial datasets do: pseudonymous record ids, no birth date or comments, dates as days from
baseline (``visit_day``, ``onset_day``, ``death_day``, ``last_known_alive_day``, ... integer
fields) or shifted per subject, sites kept or coded. Such an export is for analysis; it cannot be
imported back.

Import
------
Every cell is checked against the dictionary given (field exists, raw code among the choices,
YYYY-MM-DD dates, integers and numbers, ranges, 0/1/2 form status), every row's event must be a
visit event or the clinical events event and carry only fields of the instruments collected there,
and each record-event pair may appear once. The clinical data are then written through
``cohort.services`` in one transaction (sites listed in the dictionary's ``site`` choices are
created where missing, named by their labels). Read-only and calculated fields are checked but
never written: MotorBand derives them again. Any problem rejects the whole file with the report of
``import_study`` (``analysis.exports.bundle.Problem``: file, row, column, value, rule; the row is
the record's number in the file, the header being 1). A visit exists where any field of its
visit, Penn UMN or ALSFRS-R forms has a value or a form is marked 1 or 2; a form exists where
an item has a value or its status is 1 or 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction

from analysis.exports import deidentify as deid
from analysis.exports import dictionary, trial
from analysis.exports.bundle import ImportResult, Problem
from cohort import scales, services
from cohort.models import (
    AlsfrsR,
    EventKind,
    Group,
    Handedness,
    OnsetRegion,
    Sex,
    Site,
    Study,
    Subject,
    UmnExam,
    VisitStatus,
)
from cohort.schedule import Schedule, visit_number
from core.roles import Acting

#: REDCap's data dictionary columns, in REDCap's order.
DICTIONARY_COLUMNS = (
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
EVENTS_COLUMNS = (
    "event_name",
    "arm_num",
    "unique_event_name",
    "custom_event_label",
    "day_offset",
    "offset_min",
    "offset_max",
)
MAPPING_COLUMNS = ("arm_num", "unique_event_name", "form")
DICTIONARY_FILE = "dictionary.csv"
EVENTS_FILE = "events.csv"
MAPPING_FILE = "instrument_event_mapping.csv"
DATA_FILE = "data.csv"

RECORD_ID = "record_id"
EVENT_NAME = "redcap_event_name"
REPEAT_COLUMNS = ("redcap_repeat_instrument", "redcap_repeat_instance")
SYSTEM_COLUMNS = (EVENT_NAME, *REPEAT_COLUMNS, "redcap_data_access_group")
ARM = 1
COMPLETE_SUFFIX = "_complete"
FORM_COMPLETE = "2"  # REDCap form status: 0 incomplete, 1 unverified, 2 complete
FORM_STATUSES = ("0", "1", "2")
READONLY = "@READONLY"
YES = "y"

# REDCap field types and text validation types used here.
TEXT, NOTES, RADIO, DROPDOWN, YESNO, CALC = "text", "notes", "radio", "dropdown", "yesno", "calc"
DATE_YMD, INTEGER, NUMBER = "date_ymd", "integer", "number"

# Instruments (REDCap "forms"), in dictionary order.
ENROLMENT = "enrolment"
VISIT = "visit"
PENN_UMN = "penn_umn"
ALSFRS_R = "alsfrs_r"
MOTOR_BAND = "motor_band"
CLINICAL_EVENTS = "clinical_events"
VISIT_FORMS = (VISIT, PENN_UMN, ALSFRS_R, MOTOR_BAND)
FORMS = (ENROLMENT, *VISIT_FORMS, CLINICAL_EVENTS)
#: The non-visit event and its unique name.
CLINICAL_EVENTS_EVENT = "Clinical events"
CLINICAL_EVENTS_UNIQUE = f"clinical_events_arm_{ARM}"
VISIT_EVENT_RE = re.compile(rf"^v(?P<number>[1-9][0-9]?)_arm_{ARM}$")
BASELINE_CODE = "V1"
#: Placeholder visit code of a subject without visits in the long table (enrolment only).
NO_VISIT = "V0"
VITAL_STATUS = "last_known_alive"

UMN_LIMB_ABBREVIATIONS = {
    "right_upper": "ru",
    "left_upper": "lu",
    "right_lower": "rl",
    "left_lower": "ll",
}
UMN_ITEM_CHOICES = ((0, "Absent"), (1, "Present"))
#: REDCap missing data codes (project setting "Missing Data Codes"): code → label. An ALSFRS-R
#: item without a score carries one as its value.
MISSING_DATA_CODES = {
    scales.ALSFRS_REDCAP_MISSING_CODES[code]: label
    for code, label in scales.ALSFRS_MISSING_CODES.items()
}
#: REDCap missing data code → MotorBand's ``q<n>_missing`` value (``ND`` → ``not_done``).
MISSING_CODE_VALUES = {
    redcap_code: code for code, redcap_code in scales.ALSFRS_REDCAP_MISSING_CODES.items()
}
MISSING_CODES_NOTE = "Missing data codes: " + ", ".join(
    f"{code} ({label.lower()})" for code, label in MISSING_DATA_CODES.items()
)
#: ALSFRS-R response wording (Cedarbaum et al. 1999, J Neurol Sci 169:13-21), 4 (normal) to 0.
ALSFRS_RESPONSES: dict[str, tuple[str, str, str, str, str]] = {
    "q1": (
        "Normal speech processes",
        "Detectable speech disturbance",
        "Intelligible with repeating",
        "Speech combined with nonvocal communication",
        "Loss of useful speech",
    ),
    "q2": (
        "Normal",
        "Slight but definite excess of saliva in mouth; may have nighttime drooling",
        "Moderately excessive saliva; may have minimal drooling",
        "Marked excess of saliva with some drooling",
        "Marked drooling; requires constant tissue or handkerchief",
    ),
    "q3": (
        "Normal eating habits",
        "Early eating problems - occasional choking",
        "Dietary consistency changes",
        "Needs supplemental tube feeding",
        "NPO (exclusively parenteral or enteral feeding)",
    ),
    "q4": (
        "Normal",
        "Slow or sloppy: all words are legible",
        "Not all words are legible",
        "Able to grip pen but unable to write",
        "Unable to grip pen",
    ),
    "q5": (
        "Normal (5a and 5b)",
        "5a: somewhat slow and clumsy, but no help needed / 5b: clumsy but able to perform all "
        "manipulations independently",
        "5a: can cut most foods, although clumsy and slow; some help needed / 5b: some help "
        "needed with closures and fasteners",
        "5a: food must be cut by someone, but can still feed slowly / 5b: provides minimal "
        "assistance to caregiver",
        "5a: needs to be fed / 5b: unable to perform any aspect of task",
    ),
    "q6": (
        "Normal function",
        "Independent and complete self-care with effort or decreased efficiency",
        "Intermittent assistance or substitute methods",
        "Needs attendant for self-care",
        "Total dependence",
    ),
    "q7": (
        "Normal",
        "Somewhat slow and clumsy, but no help needed",
        "Can turn alone or adjust sheets, but with great difficulty",
        "Can initiate, but not turn or adjust sheets alone",
        "Helpless",
    ),
    "q8": (
        "Normal",
        "Early ambulation difficulties",
        "Walks with assistance",
        "Nonambulatory functional movement only",
        "No purposeful leg movement",
    ),
    "q9": ("Normal", "Slow", "Mild unsteadiness or fatigue", "Needs assistance", "Cannot do"),
    "q10": (
        "None",
        "Occurs when walking",
        "Occurs with one or more of: eating, bathing, dressing (ADL)",
        "Occurs at rest, difficulty breathing when either sitting or lying",
        "Significant difficulty, considering using mechanical respiratory support",
    ),
    "q11": (
        "None",
        "Some difficulty sleeping at night due to shortness of breath, does not routinely use "
        "more than two pillows",
        "Needs extra pillows in order to sleep (more than two)",
        "Can only sleep sitting up",
        "Unable to sleep",
    ),
    "q12": (
        "None",
        "Intermittent use of BiPAP",
        "Continuous use of BiPAP during the night",
        "Continuous use of BiPAP during the night and day",
        "Invasive mechanical ventilation by intubation or tracheostomy",
    ),
}
BAND_MEASURES = ("band_contrast", "band_extent", "laminar_contrast")
GRADE_MAX = 2


# --- the fields ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One REDCap field and the trial-table column that holds its values (``source``)."""

    name: str
    form: str
    type: str
    label: str
    source: str = ""
    choices: str = ""
    note: str = ""
    validation: str = ""
    minimum: str = ""
    maximum: str = ""
    identifier: bool = False
    branching: str = ""
    required: bool = False
    readonly: bool = False
    section: str = ""

    @property
    def in_data(self) -> bool:
        """Whether the field has a column in the data file (REDCap computes calculated fields)."""
        return self.type != CALC

    def dictionary_row(self) -> list[str]:
        return [
            self.name,
            self.form,
            self.section,
            self.type,
            self.label,
            self.choices,
            self.note,
            self.validation,
            self.minimum,
            self.maximum,
            YES if self.identifier else "",
            self.branching,
            YES if self.required else "",
            "",
            "",
            "",
            "",
            READONLY if self.readonly else "",
        ]


def choices_cell(choices: Iterable[tuple[Any, str]]) -> str:
    """REDCap's choices: ``code, label | code, label`` (a pipe in a label would split it)."""
    return " | ".join(f"{code}, {str(label).replace('|', '/')}" for code, label in choices)


def parse_choices(cell: str) -> dict[str, str]:
    """Code → label of a choices cell (empty for an empty cell)."""
    found: dict[str, str] = {}
    for part in cell.split("|"):
        code, _, label = part.partition(",")
        if code.strip():
            found[code.strip()] = label.strip()
    return found


def umn_variable(item: str) -> str:
    """REDCap name of a Penn UMN item: ``right_upper_biceps`` → ``umn_ru_biceps``."""
    for region, abbreviation in UMN_LIMB_ABBREVIATIONS.items():
        if item.startswith(region + "_"):
            return f"umn_{abbreviation}_{item[len(region) + 1 :]}"
    return f"umn_{item}"


def alsfrs_variable(item: str) -> str:
    return f"alsfrs_{item}"


#: The REDCap variables of the ALSFRS-R items: the fields that may hold a missing data code.
ALSFRS_ITEM_VARIABLES = frozenset(alsfrs_variable(item) for item in scales.ALSFRS_ITEMS)


def event_date_variable(kind: str, *, days: bool = False) -> str:
    """REDCap name of an event kind's date (``death_date``), or of its days from baseline when
    de-identified (``death_day``); the vital status check keeps MotorBand's name."""
    if kind == VITAL_STATUS:
        return f"{VITAL_STATUS}_day" if days else VITAL_STATUS
    return f"{kind}_{'day' if days else 'date'}"


def visit_event(code: str) -> str:
    """Unique event name of a visit code: ``V2`` → ``v2_arm_1``."""
    return f"{code.lower()}_arm_{ARM}"


def _described(column: str) -> tuple[str, str]:
    """Label and field note (units, derivation) of a trial column, from the export registry."""
    found = dictionary.variable(column)
    parts = [f"Units: {found.units}." if found.units else "", found.derivation]
    return found.label, " ".join(p for p in parts if p)


def _column_field(
    column: str, name: str, form: str, type_: str, columns: Collection[str], **extra: Any
) -> list[Field]:
    """The field of ``column`` where the table has it (de-identification drops some)."""
    if column not in columns:
        return []
    label, note = _described(column)
    suffix = extra.pop("note_suffix", "")
    note = f"{note} {suffix}".strip()
    return [Field(name, form, type_, extra.pop("label", label), source=column, note=note, **extra)]


def _date_field(
    column: str, name: str, form: str, columns: Collection[str], **extra: Any
) -> list[Field]:
    """A date field, or its days-from-baseline replacement in a de-identified table."""
    if column in columns:
        return _column_field(column, name, form, TEXT, columns, validation=DATE_YMD, **extra)
    day = dictionary.DATE_TO_DAY.get(column)
    if day and day in columns:
        extra.pop("required", None)
        return _column_field(day, day, form, TEXT, columns, validation=INTEGER, **extra)
    return []


def _readonly(
    column: str, name: str, form: str, columns: Collection[str], validation: str, **extra: Any
) -> list[Field]:
    return _column_field(
        column, name, form, TEXT, columns, validation=validation, readonly=True, **extra
    )


def _sum(names: Iterable[str]) -> str:
    return " + ".join(f"[{name}]" for name in names)


def project_fields(
    *, columns: Collection[str], event_columns: Collection[str], site_names: Mapping[str, str]
) -> list[Field]:
    """Every field of the project in dictionary order.

    ``columns`` are the long table's columns and ``event_columns`` the event table's (after
    de-identification, which drops or replaces some); ``site_names`` site code → name.
    """
    not_control = f"[study_group] <> '{Group.CONTROL}'"
    fields: list[Field] = [
        Field(
            RECORD_ID,
            ENROLMENT,
            TEXT,
            dictionary.variable("subject").label,
            source="subject",
            section="Enrolment",
        ),
        Field(
            "site",
            ENROLMENT,
            DROPDOWN,
            "Site",
            source="site",
            choices=choices_cell(sorted(site_names.items())),
            required=True,
        ),
        Field(
            "study_group",
            ENROLMENT,
            DROPDOWN,
            dictionary.variable("group").label,
            source="group",
            choices=choices_cell(Group.choices),
            required=True,
        ),
        *_column_field(
            "sex",
            "sex",
            ENROLMENT,
            RADIO,
            columns,
            choices=choices_cell(Sex.choices),
            required=True,
        ),
        *_column_field(
            "handedness",
            "handedness",
            ENROLMENT,
            RADIO,
            columns,
            choices=choices_cell(Handedness.choices),
        ),
        *_date_field(
            "birth_date", "birth_date", ENROLMENT, columns, identifier=True, required=True
        ),
        *_readonly("age_at_enrolment", "age_at_enrolment", ENROLMENT, columns, INTEGER),
        *_date_field("onset_date", "onset_date", ENROLMENT, columns, branching=not_control),
        *_column_field(
            "onset_region",
            "onset_region",
            ENROLMENT,
            DROPDOWN,
            columns,
            choices=choices_cell(OnsetRegion.choices),
            branching=not_control,
        ),
        *_date_field("diagnosis_date", "diagnosis_date", ENROLMENT, columns, branching=not_control),
        *_date_field("enrolled_on", "enrolled_on", ENROLMENT, columns, required=True),
        *_column_field(
            "subject_comment", "subject_comment", ENROLMENT, NOTES, columns, identifier=True
        ),
        # --- visit ---
        *_date_field("visit_date", "visit_date", VISIT, columns, section="Visit"),
        *_column_field(
            "visit_status",
            "visit_status",
            VISIT,
            DROPDOWN,
            columns,
            choices=choices_cell(VisitStatus.choices),
            required=True,
        ),
        *_readonly("days_from_baseline", "days_from_baseline", VISIT, columns, INTEGER),
        *_readonly("months_from_onset", "months_from_onset", VISIT, columns, NUMBER),
        *_column_field("in_window", "in_window", VISIT, YESNO, columns, readonly=True),
        *_column_field("visit_comment", "visit_comment", VISIT, NOTES, columns, identifier=True),
    ]
    # --- Penn UMN ---
    for region, items in scales.UMN_REGIONS.items():
        for position, item in enumerate(items):
            section = ""
            if position == 0:
                section = f"Penn UMN, {region.replace('_', ' ')} (0-{len(items)})"
            fields += _column_field(
                item,
                umn_variable(item),
                PENN_UMN,
                RADIO,
                columns,
                choices=choices_cell(UMN_ITEM_CHOICES),
                section=section,
            )
    for region, items in scales.UMN_REGIONS.items():
        label, note = _described(f"umn_{region}")
        fields.append(
            Field(
                f"umn_{region}",
                PENN_UMN,
                CALC,
                label,
                choices=_sum(umn_variable(i) for i in items),
                note=note,
                readonly=True,
                section="Subscores" if region == "bulbar" else "",
            )
        )
    label, note = _described("umn_total")
    fields.append(
        Field(
            "umn_total",
            PENN_UMN,
            CALC,
            label,
            choices=_sum(f"umn_{region}" for region in scales.UMN_REGIONS),
            note=note,
            readonly=True,
        )
    )
    # --- ALSFRS-R ---
    for position, item in enumerate(scales.ALSFRS_ITEMS):
        responses = ALSFRS_RESPONSES[item]
        levels = [(scales.ALSFRS_ITEM_MAX - i, text) for i, text in enumerate(responses)]
        fields += _column_field(
            item,
            alsfrs_variable(item),
            ALSFRS_R,
            RADIO,
            columns,
            choices=choices_cell(levels),
            section="ALSFRS-R" if position == 0 else "",
            note_suffix=MISSING_CODES_NOTE + ".",
        )
        if item == "q5":
            fields += _column_field(
                "q5_gastrostomy", alsfrs_variable("q5_gastrostomy"), ALSFRS_R, YESNO, columns
            )
    fields += _column_field(
        "alsfrs_form_status",
        "alsfrs_form_status",
        ALSFRS_R,
        RADIO,
        columns,
        choices=choices_cell(scales.ALSFRS_FORM_STATUSES.items()),
    )
    fields += _column_field(
        "alsfrs_not_done_reason",
        "alsfrs_not_done_reason",
        ALSFRS_R,
        TEXT,
        columns,
        identifier=True,
        branching="[alsfrs_form_status] = 'not_done'",
    )
    for position, (domain, items) in enumerate(scales.ALSFRS_DOMAINS.items()):
        label, note = _described(f"alsfrs_{domain}")
        fields.append(
            Field(
                f"alsfrs_{domain}",
                ALSFRS_R,
                CALC,
                label,
                choices=_sum(alsfrs_variable(i) for i in items),
                note=note,
                readonly=True,
                section="Domains and total" if position == 0 else "",
            )
        )
    label, note = _described("alsfrs_total")
    fields.append(
        Field(
            "alsfrs_total",
            ALSFRS_R,
            CALC,
            label,
            choices=_sum(f"alsfrs_{d}" for d in scales.ALSFRS_DOMAINS),
            note=note,
            readonly=True,
        )
    )
    fields += _readonly("delta_fs", alsfrs_variable("delta_fs"), ALSFRS_R, columns, NUMBER)
    # --- band measurements and reads ---
    fields += _readonly("scanner", "scanner", MOTOR_BAND, columns, "", section="Scanner")
    fields += _readonly("field_strength", "field_strength", MOTOR_BAND, columns, NUMBER)
    fields += _readonly("algorithm_version", "algorithm_version", MOTOR_BAND, columns, "")
    for measure in BAND_MEASURES:
        for hemisphere in ("L", "R"):
            first = measure == BAND_MEASURES[0] and hemisphere == "L"
            fields += _readonly(
                f"{measure}_{hemisphere}",
                f"{measure}_{hemisphere.lower()}",
                MOTOR_BAND,
                columns,
                NUMBER,
                section="Band measurements" if first else "",
            )
    for measure in BAND_MEASURES:
        label, note = _described(measure)
        fields.append(
            Field(
                measure,
                MOTOR_BAND,
                CALC,
                label,
                choices=f"([{measure}_l] + [{measure}_r]) / 2",
                note=note,
                readonly=True,
            )
        )
    grades = "; ".join(f"{code} {text}" for code, text in dictionary.GRADE_LEVELS.items())
    for side in ("left", "right"):
        fields += _readonly(
            f"mbs_{side}",
            f"mbs_{side}",
            MOTOR_BAND,
            columns,
            NUMBER,
            minimum="0",
            maximum=str(GRADE_MAX),
            section="Blinded reads (consensus)" if side == "left" else "",
            note_suffix=f"Grades: {grades}.",
        )
    fields += _column_field("mbs", "mbs", MOTOR_BAND, YESNO, columns, readonly=True)
    label, note = _described("mbs_score")
    fields.append(
        Field(
            "mbs_score",
            MOTOR_BAND,
            CALC,
            label,
            choices="[mbs_left] + [mbs_right]",
            note=note,
            readonly=True,
        )
    )
    # --- clinical events (one date per kind) ---
    days = "event_date" not in event_columns
    for kind, kind_label in EventKind.choices:
        name = event_date_variable(kind, days=days)
        fields.append(
            Field(
                name,
                CLINICAL_EVENTS,
                TEXT,
                f"{kind_label}: days from baseline" if days else f"Date of {kind_label.lower()}",
                source=name,
                validation=INTEGER if days else DATE_YMD,
                section=kind_label,
            )
        )
        if "event_comment" in event_columns:
            fields.append(
                Field(
                    f"{kind}_comment",
                    CLINICAL_EVENTS,
                    NOTES,
                    f"Comment on the {kind_label.lower()} (free text)",
                    source=f"{kind}_comment",
                    identifier=True,
                )
            )
    fields.append(
        Field(
            event_date_variable(VITAL_STATUS, days=days),
            CLINICAL_EVENTS,
            TEXT,
            "Last known alive (vital status check)" + (": days from baseline" if days else ""),
            source=event_date_variable(VITAL_STATUS, days=days),
            validation=INTEGER if days else DATE_YMD,
            note="Survival analyses censor subjects without the event here (or at their last "
            "visit, if later).",
            section="Vital status",
        )
    )
    return fields


# --- export -------------------------------------------------------------------------------------


@dataclass
class RedcapProject:
    """The four files' contents: fields, events, instrument-event mapping and data rows."""

    fields: list[Field]
    events: list[list[str]]
    mapping: list[list[str]]
    header: list[str]
    rows: list[list[str]]
    site_names: dict[str, str] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return len({row[0] for row in self.rows})


def _filtered(queryset: Any, prefix: str, sites: Sequence[str] | None, groups: Any) -> Any:
    if sites:
        queryset = queryset.filter(**{f"{prefix}site__code__in": list(sites)})
    if groups:
        queryset = queryset.filter(**{f"{prefix}group__in": list(groups)})
    return queryset


def _subjects_without_visits(sites: Sequence[str] | None, groups: Any) -> pd.DataFrame:
    """Subjects with no visit yet, as long-table rows of visit code ``NO_VISIT``."""
    subjects = _filtered(Subject.objects.filter(visits=None), "", sites, groups)
    rows = [
        {
            "subject": s.study_id,
            "site": s.site.code,
            "group": s.group,
            "sex": s.sex,
            "handedness": s.handedness,
            "birth_date": s.birth_date,
            "age_at_enrolment": s.age_at_enrolment,
            "onset_date": s.onset_date,
            "onset_region": s.onset_region,
            "diagnosis_date": s.diagnosis_date,
            "enrolled_on": s.enrolled_on,
            "subject_comment": s.comment,
            "visit_code": NO_VISIT,
        }
        for s in subjects.select_related("site").order_by("study_id")
    ]
    frame = pd.DataFrame(rows)
    for column in trial.DATE_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column]).astype("datetime64[s]")
    return frame


def _vital_status_rows(sites: Sequence[str] | None, groups: Any) -> pd.DataFrame:
    """Each subject's last vital status check as an event-table row (de-identified alike)."""
    subjects = _filtered(Subject.objects.exclude(last_known_alive=None), "", sites, groups)
    rows = [
        {
            "subject": study_id,
            "site": site,
            "group": group,
            "event_kind": VITAL_STATUS,
            "event_date": date,
            "event_comment": "",
        }
        for study_id, site, group, date in subjects.order_by("study_id").values_list(
            "study_id", "site__code", "group", "last_known_alive"
        )
    ]
    frame = pd.DataFrame(
        rows, columns=["subject", "site", "group", "event_kind", "event_date", "event_comment"]
    )
    frame["event_date"] = pd.to_datetime(frame["event_date"]).astype("datetime64[s]")
    return frame


def _with_forms(long: pd.DataFrame, sites: Sequence[str] | None, groups: Any) -> pd.DataFrame:
    """Mark the visits that have a Penn UMN exam or an ALSFRS-R (even one without items)."""
    keys = list(zip(long["subject"], long["visit_code"], strict=True))
    for column, model in (("_umn", UmnExam), ("_alsfrs", AlsfrsR)):
        found = set(
            _filtered(model.objects.all(), "visit__subject__", sites, groups).values_list(
                "visit__subject__study_id", "visit__visit_code"
            )
        )
        long[column] = [key in found for key in keys]
    return long


def _tables(
    *,
    sites: Sequence[str] | None,
    groups: Sequence[str] | None,
    deidentify: bool,
    date_mode: str,
    site_mode: str,
    key: bytes | None,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """The trial long and event tables with every subject and the vital status checks."""
    long, _ = trial.long_table(sites=sites, groups=groups)
    events = trial.event_table(long, sites=sites, groups=groups)
    extra = _subjects_without_visits(sites, groups)
    if not extra.empty:
        long = pd.concat([long, extra], ignore_index=True) if not long.empty else extra
        long = long.reindex(columns=list(trial.LONG_COLUMNS))
    long = _with_forms(long, sites, groups)
    vital = _vital_status_rows(sites, groups)
    if not vital.empty:
        events = pd.concat([events, vital], ignore_index=True) if not events.empty else vital
        events = events.reindex(columns=list(trial.EVENT_COLUMNS))
    site_names = {s.code: s.name for s in Site.objects.order_by("code")}
    if deidentify:
        long, events, site_names = deid.deidentify(
            long,
            events,
            key=key if key is not None else deid.release_key(),
            date_mode=date_mode,
            site_mode=site_mode,
            site_names=site_names,
        )
    return long, events, site_names


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def data_cell(value: Any, found: Field) -> str:
    """One data cell in REDCap's raw format: codes, YYYY-MM-DD, 1/0, plain decimals."""
    if _missing(value):
        return ""
    if found.validation == DATE_YMD:
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    if found.type == YESNO or isinstance(value, bool | np.bool_):
        return "1" if bool(value) else "0"
    if isinstance(value, float | np.floating):
        number = float(value)
        if found.validation != NUMBER and number.is_integer():
            return str(int(number))
        return str(np.format_float_positional(number, trim="-"))
    if isinstance(value, int | np.integer):
        return str(int(value))
    return str(value)


def _event_pivot(events: pd.DataFrame, *, days: bool) -> dict[str, dict[str, Any]]:
    """Subject → {field name: value} of the clinical events form (one date per kind)."""
    pivot: dict[str, dict[str, Any]] = {}
    date_column = "event_day" if days else "event_date"
    for record in events.to_dict("records"):
        values = pivot.setdefault(str(record["subject"]), {})
        kind = str(record["event_kind"])
        values[event_date_variable(kind, days=days)] = record[date_column]
        if "event_comment" in record and kind != VITAL_STATUS:
            values[f"{kind}_comment"] = record["event_comment"]
    return pivot


def _visit_forms(fields: Sequence[Field], visit: Mapping[str, Any]) -> dict[str, str]:
    """The visit's cells of the visit, Penn UMN, ALSFRS-R and band forms, and their status."""
    present = {
        VISIT: True,
        PENN_UMN: bool(visit.get("_umn")),
        ALSFRS_R: bool(visit.get("_alsfrs")),
        MOTOR_BAND: True,
    }
    cells: dict[str, str] = {}
    for form in VISIT_FORMS:
        if not present[form]:
            continue
        for found in fields:
            if found.form != form or not found.in_data:
                continue
            if found.name == alsfrs_variable("delta_fs") and visit["visit_code"] != BASELINE_CODE:
                continue  # stored with the baseline ALSFRS-R only
            cells[found.name] = data_cell(visit.get(found.source), found)
            if not cells[found.name] and found.source in scales.ALSFRS_MISSING_FIELDS:
                # REDCap keeps a missing data code as the field's value.
                code = visit.get(scales.ALSFRS_MISSING_FIELDS[found.source])
                if not _missing(code):
                    cells[found.name] = scales.ALSFRS_REDCAP_MISSING_CODES.get(str(code), "")
        filled = any(cells.get(f.name) for f in fields if f.form == form)
        if form != MOTOR_BAND or filled:
            cells[form + COMPLETE_SUFFIX] = FORM_COMPLETE
    return cells


def data_header(fields: Sequence[Field]) -> list[str]:
    """``record_id``, ``redcap_event_name``, then each form's fields and its status column."""
    header = [RECORD_ID, EVENT_NAME]
    for form in FORMS:
        header += [f.name for f in fields if f.form == form and f.in_data and f.name != RECORD_ID]
        header.append(form + COMPLETE_SUFFIX)
    return header


def build_project(
    *,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
    key: bytes | None = None,
) -> RedcapProject:
    """The REDCap project of the study (or of some sites or groups), de-identified on request."""
    long, events, site_names = _tables(
        sites=sites,
        groups=groups,
        deidentify=deidentify,
        date_mode=date_mode,
        site_mode=site_mode,
        key=key,
    )
    fields = project_fields(
        columns=set(long.columns), event_columns=set(events.columns), site_names=site_names
    )
    schedule = Study.current().schedule
    numbers = [visit_number(c) for c in set(long["visit_code"]) if c != NO_VISIT]
    codes = [f"V{n}" for n in range(1, max([schedule.planned_visits, *numbers]) + 1)]
    enrolment = [f for f in fields if f.form == ENROLMENT]
    pivot = _event_pivot(events, days="event_date" not in events.columns)
    by_subject: dict[str, list[dict[str, Any]]] = {}
    for record in long.to_dict("records"):
        by_subject.setdefault(str(record["subject"]), []).append(record)
    header = data_header(fields)
    rows: list[list[str]] = []
    for subject in sorted(set(by_subject) | set(pivot)):
        visits = sorted(by_subject.get(subject, []), key=lambda r: int(str(r["visit_code"])[1:]))
        lines: dict[str, dict[str, str]] = {}
        if visits:
            first = visits[0]
            cells = {f.name: data_cell(first.get(f.source), f) for f in enrolment}
            cells[ENROLMENT + COMPLETE_SUFFIX] = FORM_COMPLETE
            lines[visit_event(BASELINE_CODE)] = cells
        for visit in visits:
            if visit["visit_code"] == NO_VISIT:
                continue
            event = visit_event(str(visit["visit_code"]))
            lines.setdefault(event, {RECORD_ID: subject}).update(_visit_forms(fields, visit))
        if subject in pivot:
            cells = {
                f.name: data_cell(pivot[subject].get(f.source), f)
                for f in fields
                if f.form == CLINICAL_EVENTS
            }
            cells[RECORD_ID] = subject
            cells[CLINICAL_EVENTS + COMPLETE_SUFFIX] = FORM_COMPLETE
            lines[CLINICAL_EVENTS_UNIQUE] = cells
        for event in [*(visit_event(c) for c in codes), CLINICAL_EVENTS_UNIQUE]:
            if event in lines:
                cells = {**lines[event], RECORD_ID: subject, EVENT_NAME: event}
                rows.append([cells.get(column, "") for column in header])
    return RedcapProject(
        fields=fields,
        events=event_rows(codes, schedule),
        mapping=mapping_rows(codes),
        header=header,
        rows=rows,
        site_names=site_names,
    )


def event_rows(codes: Sequence[str], schedule: Schedule) -> list[list[str]]:
    """Rows of ``events.csv``: the visits of the schedule (offsets and windows in days), then the
    clinical events event, placed after the last visit's window so that it sorts last."""
    rows = []
    offset = 0
    for code in codes:
        month = schedule.target_month(code)
        offset = round(month * scales.MONTH_DAYS)
        label = "Baseline (month 0)" if code == BASELINE_CODE else f"Month {month}"
        window = str(schedule.window_days)
        rows.append([code, str(ARM), visit_event(code), label, str(offset), window, window])
    rows.append(
        [
            CLINICAL_EVENTS_EVENT,
            str(ARM),
            CLINICAL_EVENTS_UNIQUE,
            "Clinical events and vital status (any date)",
            str(offset + schedule.window_days + 1),
            "0",
            "0",
        ]
    )
    return rows


def mapping_rows(codes: Sequence[str]) -> list[list[str]]:
    """Rows of ``instrument_event_mapping.csv``: which instruments each event collects."""
    rows = []
    for code in codes:
        forms = (ENROLMENT, *VISIT_FORMS) if code == BASELINE_CODE else VISIT_FORMS
        rows += [[str(ARM), visit_event(code), form] for form in forms]
    rows.append([str(ARM), CLINICAL_EVENTS_UNIQUE, CLINICAL_EVENTS])
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_project(project: RedcapProject, directory: Path | str) -> list[Path]:
    """Write the four files into ``directory`` (created); returns them."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    return [
        _write_csv(
            root / DICTIONARY_FILE, DICTIONARY_COLUMNS, (f.dictionary_row() for f in project.fields)
        ),
        _write_csv(root / EVENTS_FILE, EVENTS_COLUMNS, project.events),
        _write_csv(root / MAPPING_FILE, MAPPING_COLUMNS, project.mapping),
        _write_csv(root / DATA_FILE, project.header, project.rows),
    ]


def export_redcap(
    directory: Path | str,
    *,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
) -> tuple[list[Path], RedcapProject]:
    """Build and write the REDCap project files; returns the files and the project."""
    project = build_project(
        sites=sites,
        groups=groups,
        deidentify=deidentify,
        date_mode=date_mode,
        site_mode=site_mode,
    )
    return write_project(project, directory), project


# --- import -------------------------------------------------------------------------------------

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INTEGER_RE = re.compile(r"^-?\d+$")
NUMBER_RE = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
YES_NO_CODES = ("0", "1")
#: Fields the importer needs in the dictionary (without them the file cannot be read back, e.g.
#: a de-identified export).
REQUIRED_FIELDS = (RECORD_ID, "site", "study_group", "sex", "birth_date", "enrolled_on")


@dataclass(frozen=True)
class DictionaryField:
    """A field as the dictionary given on import describes it."""

    name: str
    form: str
    type: str
    choices: dict[str, str]
    validation: str
    minimum: str
    maximum: str
    readonly: bool


@dataclass
class DataRow:
    """One data row: its number in the file (the header is row 1) and cells by column."""

    number: int
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


class RedcapImporter:
    """Reads a REDCap data file with its dictionary into the database through the services."""

    def __init__(
        self,
        data_path: Path,
        dictionary_path: Path,
        *,
        reason: str,
        user: Acting = None,
        progress: Callable[[Sequence[Any]], Iterable[Any]] | None = None,
    ) -> None:
        self.data_path = data_path
        self.dictionary_path = dictionary_path
        self.data_file = data_path.name
        self.dictionary_file = dictionary_path.name
        self.reason = reason
        self.user = user
        self.progress = progress or (lambda items: items)
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.counts: dict[str, int] = {}
        self.fields: dict[str, DictionaryField] = {}

    # -- problems ---------------------------------------------------------------------------

    def problem(self, file: str, row: int | None, column: str, value: str, rule: str) -> None:
        self.problems.append(Problem(file, row, column, value, rule))

    def cell_problem(self, row: DataRow, column: str, rule: str) -> None:
        self.problem(self.data_file, row.number, column, row.get(column), rule)

    def call(
        self,
        action: Callable[[], Any],
        places: Mapping[str, tuple[DataRow, str]],
        default: tuple[DataRow, str],
    ) -> Any:
        """Run one service call; each message of a ValidationError becomes a problem at the cell
        of its field (``places``: model field → row and column)."""
        try:
            return action()
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                items: Iterable[tuple[str, list[str]]] = exc.message_dict.items()
            else:
                items = [(NON_FIELD_ERRORS, exc.messages)]
            for name, messages in items:
                row, column = places.get(name, default)
                if name == NON_FIELD_ERRORS:
                    row, column = default[0], ""
                rule = " ".join(dict.fromkeys(m if m.endswith(".") else f"{m}." for m in messages))
                self.cell_problem(row, column, rule)
            return None

    # -- reading ----------------------------------------------------------------------------

    def read_csv(self, path: Path, name: str) -> list[list[str]] | None:
        try:
            with path.open(encoding="utf-8-sig", newline="") as handle:
                lines = list(csv.reader(handle))
        except FileNotFoundError:
            self.problem(name, None, "", "", "The file is missing.")
            return None
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.problem(name, None, "", "", f"The file cannot be read as UTF-8 CSV ({exc}).")
            return None
        if not lines:
            self.problem(name, 1, "", "", "The file is empty: it needs a header row.")
            return None
        return lines

    def read_dictionary(self) -> bool:
        lines = self.read_csv(self.dictionary_path, self.dictionary_file)
        if lines is None:
            return False
        header = [h.strip() for h in lines[0]]
        if header != list(DICTIONARY_COLUMNS):
            self.problem(
                self.dictionary_file,
                1,
                "",
                ",".join(header)[:80],
                f"Not a REDCap data dictionary: the header must be REDCap's "
                f"{len(DICTIONARY_COLUMNS)} columns ({DICTIONARY_COLUMNS[0]}, ..., "
                f"{DICTIONARY_COLUMNS[-1]}).",
            )
            return False
        for number, cells in enumerate(lines[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(DICTIONARY_COLUMNS):
                self.problem(
                    self.dictionary_file,
                    number,
                    "",
                    ",".join(cells)[:80],
                    f"The row has {len(cells)} cells; the header has {len(DICTIONARY_COLUMNS)}.",
                )
                continue
            values = dict(zip(DICTIONARY_COLUMNS, (c.strip() for c in cells), strict=True))
            name = values[DICTIONARY_COLUMNS[0]]
            if name in self.fields:
                self.problem(
                    self.dictionary_file,
                    number,
                    DICTIONARY_COLUMNS[0],
                    name,
                    "Duplicate variable name.",
                )
                continue
            self.fields[name] = DictionaryField(
                name=name,
                form=values["Form Name"],
                type=values["Field Type"],
                choices=parse_choices(values[DICTIONARY_COLUMNS[5]])
                if values["Field Type"] in (RADIO, DROPDOWN, "checkbox")
                else {},
                validation=values[DICTIONARY_COLUMNS[7]],
                minimum=values["Text Validation Min"],
                maximum=values["Text Validation Max"],
                readonly=READONLY in values["Field Annotation"] or values["Field Type"] == CALC,
            )
        for name in REQUIRED_FIELDS:
            if name not in self.fields:
                self.problem(
                    self.dictionary_file,
                    None,
                    DICTIONARY_COLUMNS[0],
                    name,
                    "MotorBand needs this field to import subjects (a de-identified export "
                    "cannot be imported).",
                )
        first = next(iter(self.fields), "")
        if first and first != RECORD_ID:
            self.problem(
                self.dictionary_file,
                2,
                DICTIONARY_COLUMNS[0],
                first,
                f"The first field must be the record id, {RECORD_ID}.",
            )
        return not self.problems

    def read_data(self) -> list[DataRow] | None:
        lines = self.read_csv(self.data_path, self.data_file)
        if lines is None:
            return None
        header = [h.strip() for h in lines[0]]
        ok = True
        forms = {f.form for f in self.fields.values()}
        for position, column in enumerate(header):
            rule = ""
            if header.count(column) > 1:
                rule = "The column appears more than once."
            elif position == 0 and column != RECORD_ID:
                rule = f"The first column must be the record id, {RECORD_ID}."
            elif column in (RECORD_ID, *SYSTEM_COLUMNS) or _form_status_of(column, forms):
                continue
            elif column not in self.fields:
                rule = "Not a field of the data dictionary nor a REDCap column."
            elif self.fields[column].type in (CALC, "descriptive"):
                rule = f"A {self.fields[column].type} field has no data: remove the column."
            if rule:
                self.problem(self.data_file, 1, column, column, rule)
                ok = False
        if EVENT_NAME not in header:
            self.problem(
                self.data_file,
                1,
                EVENT_NAME,
                "",
                "Required column is missing: the project is longitudinal (one event per visit).",
            )
            ok = False
        if not ok:
            return None
        rows = []
        for number, cells in enumerate(lines[1:], start=2):
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                self.problem(
                    self.data_file,
                    number,
                    "",
                    ",".join(cells)[:80],
                    f"The row has {len(cells)} cells; the header has {len(header)}.",
                )
                continue
            rows.append(DataRow(number, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
        return rows

    # -- cells ------------------------------------------------------------------------------

    def check_cell(self, row: DataRow, column: str) -> bool:
        """Whether a cell follows its dictionary field; records the problem otherwise."""
        raw = row.get(column)
        if raw == "" or column in (RECORD_ID, EVENT_NAME):
            return True
        if column in REPEAT_COLUMNS:
            self.cell_problem(row, column, "This project has no repeating instruments or events.")
            return False
        if column.endswith(COMPLETE_SUFFIX) and column not in self.fields:
            if raw not in FORM_STATUSES:
                self.cell_problem(
                    row, column, "A form status is 0 (incomplete), 1 (unverified) or 2 (complete)."
                )
                return False
            return True
        if column not in self.fields:
            return True  # a REDCap column MotorBand does not use (data access group)
        found = self.fields[column]
        if raw in MISSING_DATA_CODES and column in ALSFRS_ITEM_VARIABLES:
            return True  # a missing data code instead of a score
        if found.choices:
            if raw not in found.choices:
                codes = ", ".join(found.choices)
                self.cell_problem(row, column, f"Not one of the field's codes ({codes}).")
                return False
            return True
        if found.type in (YESNO, "truefalse"):
            if raw not in YES_NO_CODES:
                self.cell_problem(row, column, "Must be 1 (yes) or 0 (no).")
                return False
            return True
        return self.check_validation(row, column, found)

    def check_validation(self, row: DataRow, column: str, found: DictionaryField) -> bool:
        raw = row.get(column)
        value: Any
        low: Any
        high: Any
        if found.validation == DATE_YMD:
            try:
                if not DATE_RE.match(raw):
                    raise ValueError
                value = dt.date.fromisoformat(raw)
            except ValueError:
                self.cell_problem(row, column, "Not a date as YYYY-MM-DD.")
                return False
            low = dt.date.fromisoformat(found.minimum) if DATE_RE.match(found.minimum) else None
            high = dt.date.fromisoformat(found.maximum) if DATE_RE.match(found.maximum) else None
        elif found.validation in (INTEGER, NUMBER):
            pattern = INTEGER_RE if found.validation == INTEGER else NUMBER_RE
            if not pattern.match(raw):
                kind = "a whole number" if found.validation == INTEGER else "a number"
                self.cell_problem(row, column, f"Not {kind}.")
                return False
            value = float(raw)
            low = float(found.minimum) if NUMBER_RE.match(found.minimum) else None
            high = float(found.maximum) if NUMBER_RE.match(found.maximum) else None
        else:
            return True
        if (low is not None and value < low) or (high is not None and value > high):
            self.cell_problem(
                row, column, f"Out of the field's range ({found.minimum} to {found.maximum})."
            )
            return False
        return True

    def form_at_event(self, row: DataRow, column: str, event: str) -> bool:
        """Whether the column's instrument is collected at the row's event."""
        if not row.get(column):
            return True
        if column in self.fields:
            form = self.fields[column].form
        elif column.endswith(COMPLETE_SUFFIX):
            form = column[: -len(COMPLETE_SUFFIX)]
        else:
            return True
        if column == RECORD_ID:
            return True
        allowed = _event_forms(event)
        if form in allowed:
            return True
        self.cell_problem(
            row,
            column,
            f"The {form} instrument is not collected at event {event} (see "
            f"{MAPPING_FILE}: {', '.join(allowed)}).",
        )
        return False

    # -- records ----------------------------------------------------------------------------

    def records(self, rows: list[DataRow]) -> dict[str, dict[str, DataRow]]:
        """Rows by record and event; records with a refused cell are left out (reported)."""
        records: dict[str, dict[str, DataRow]] = {}
        failed: set[str] = set()
        for row in rows:
            record, event = row.get(RECORD_ID), row.get(EVENT_NAME)
            ok = all([self.check_cell(row, column) for column in row.values])
            if not record:
                self.cell_problem(row, RECORD_ID, "The record id is empty.")
                continue
            if not _event_forms(event):
                self.cell_problem(
                    row,
                    EVENT_NAME,
                    f"Unknown event: the events are v1_arm_{ARM} ... vN_arm_{ARM} (visits V1 ... "
                    f"VN) and {CLINICAL_EVENTS_UNIQUE}.",
                )
                failed.add(record)
                continue
            ok = all([self.form_at_event(row, column, event) for column in row.values]) and ok
            events = records.setdefault(record, {})
            if event in events:
                self.cell_problem(
                    row,
                    EVENT_NAME,
                    f"Duplicate: record {record} event {event} is already on row "
                    f"{events[event].number}.",
                )
                failed.add(record)
                continue
            events[event] = row
            if not ok:
                failed.add(record)
        for record, events in records.items():
            if record not in failed and visit_event(BASELINE_CODE) not in events:
                first = next(iter(events.values()))
                self.cell_problem(
                    first,
                    EVENT_NAME,
                    f"Record {record} has no {visit_event(BASELINE_CODE)} row: the enrolment "
                    "form (site, group, dates) is collected at V1.",
                )
                failed.add(record)
        return {r: e for r, e in records.items() if r not in failed}

    def text(self, row: DataRow, column: str) -> str | None:
        return row.get(column) or None

    def date(self, row: DataRow, column: str) -> dt.date | None:
        raw = row.get(column)
        return dt.date.fromisoformat(raw) if raw else None

    def number(self, row: DataRow, column: str) -> int | None:
        raw = row.get(column)
        return int(raw) if raw else None

    # -- writing ----------------------------------------------------------------------------

    def create_sites(self) -> dict[str, Any]:
        """Sites of the dictionary's site choices, created where missing (named by label)."""
        sites = {s.code: s for s in Site.objects.all()}
        created = 0
        site_field = self.fields.get("site")
        for code, name in (site_field.choices if site_field else {}).items():
            if code in sites:
                continue
            try:
                sites[code] = services.site_create(user=self.user, code=code, name=name or code)
                created += 1
            except ValidationError as exc:
                self.problem(
                    self.dictionary_file,
                    None,
                    "site",
                    code,
                    " ".join(exc.messages),
                )
        self.counts["sites"] = created
        return sites

    def run(self) -> None:
        if not self.read_dictionary():
            return
        rows = self.read_data()
        if rows is None:
            return
        records = self.records(rows)
        sites = self.create_sites()
        for name in ("subjects", "visits", "umn", "alsfrsr", "events"):
            self.counts[name] = 0
        for record in self.progress(list(records)):
            self.import_record(record, records[record], sites)

    def import_record(
        self, record: str, rows: Mapping[str, DataRow], sites: Mapping[str, Any]
    ) -> None:
        enrolment = rows[visit_event(BASELINE_CODE)]
        clinical = rows.get(CLINICAL_EVENTS_UNIQUE)
        fields: dict[str, Any] = {
            "study_id": record,
            "site": sites.get(enrolment.get("site")),
            "group": enrolment.get("study_group"),
            "sex": enrolment.get("sex"),
            "handedness": enrolment.get("handedness"),
            "birth_date": self.date(enrolment, "birth_date"),
            "onset_date": self.date(enrolment, "onset_date"),
            "onset_region": self.text(enrolment, "onset_region"),
            "diagnosis_date": self.date(enrolment, "diagnosis_date"),
            "enrolled_on": self.date(enrolment, "enrolled_on"),
            "comment": enrolment.get("subject_comment"),
            "last_known_alive": self.date(clinical, VITAL_STATUS) if clinical else None,
        }
        places = {
            "study_id": (enrolment, RECORD_ID),
            "group": (enrolment, "study_group"),
            "comment": (enrolment, "subject_comment"),
            "last_known_alive": (clinical or enrolment, VITAL_STATUS if clinical else ""),
            **{
                name: (enrolment, name)
                for name in (
                    "site",
                    "sex",
                    "handedness",
                    "birth_date",
                    "onset_date",
                    "onset_region",
                    "diagnosis_date",
                    "enrolled_on",
                )
            },
        }
        subject = self.call(
            functools.partial(
                services.subject_create, user=self.user, reason=self.reason, **fields
            ),
            places,
            (enrolment, RECORD_ID),
        )
        if subject is None:
            return
        self.counts["subjects"] += 1
        visits = sorted(
            (int(match["number"]), event)
            for event in rows
            if (match := VISIT_EVENT_RE.match(event))
        )
        for _, event in visits:
            self.import_visit(subject, rows[event])
        if clinical is not None:
            self.import_events(subject, clinical)

    def has_visit(self, row: DataRow) -> bool:
        for column, raw in row.values.items():
            if not raw:
                continue
            if column.endswith(COMPLETE_SUFFIX) and column not in self.fields:
                if column[: -len(COMPLETE_SUFFIX)] in (VISIT, PENN_UMN, ALSFRS_R) and raw in (
                    "1",
                    "2",
                ):
                    return True
            elif column in self.fields:
                found = self.fields[column]
                if found.form in (VISIT, PENN_UMN, ALSFRS_R) and not found.readonly:
                    return True
        return False

    def has_form(self, row: DataRow, form: str, items: Iterable[str]) -> bool:
        return row.get(form + COMPLETE_SUFFIX) in ("1", "2") or any(row.get(i) for i in items)

    def import_visit(self, subject: Subject, row: DataRow) -> None:
        if not self.has_visit(row):
            return
        event = row.get(EVENT_NAME)
        code = f"V{VISIT_EVENT_RE.match(event)['number']}"  # type: ignore[index]
        if not row.get("visit_status"):
            self.cell_problem(row, "visit_status", f"A visit ({code}) needs its status (raw code).")
            return
        visit = self.call(
            functools.partial(
                services.visit_create,
                user=self.user,
                subject=subject,
                reason=self.reason,
                visit_code=code,
                date=self.date(row, "visit_date"),
                status=row.get("visit_status"),
                comment=row.get("visit_comment"),
            ),
            {
                "date": (row, "visit_date"),
                "status": (row, "visit_status"),
                "comment": (row, "visit_comment"),
                "visit_code": (row, EVENT_NAME),
                "subject": (row, RECORD_ID),
            },
            (row, EVENT_NAME),
        )
        if visit is None:
            return
        self.counts["visits"] += 1
        umn = {umn_variable(item): item for item in scales.UMN_ITEMS}
        if self.has_form(row, PENN_UMN, umn):
            exam = self.call(
                functools.partial(
                    services.umn_exam_save,
                    user=self.user,
                    visit=visit,
                    reason=self.reason,
                    items={item: self.number(row, name) for name, item in umn.items()},
                ),
                {item: (row, name) for name, item in umn.items()} | {"visit": (row, EVENT_NAME)},
                (row, EVENT_NAME),
            )
            self.counts["umn"] += exam is not None
        alsfrs = {alsfrs_variable(item): item for item in scales.ALSFRS_ITEMS}
        flag = alsfrs_variable("q5_gastrostomy")
        if self.has_form(row, ALSFRS_R, [*alsfrs, flag, "alsfrs_form_status"]):
            items: dict[str, Any] = {}
            for name, item in alsfrs.items():
                missing_code = MISSING_CODE_VALUES.get(row.get(name))
                items[item] = None if missing_code else self.number(row, name)
                items[scales.ALSFRS_MISSING_FIELDS[item]] = missing_code
            items["q5_gastrostomy"] = row.get(flag) == "1"
            items["form_status"] = row.get("alsfrs_form_status") or scales.ALSFRS_FORM_DONE
            items["not_done_reason"] = row.get("alsfrs_not_done_reason")
            form = self.call(
                functools.partial(
                    services.alsfrs_save,
                    user=self.user,
                    visit=visit,
                    reason=self.reason,
                    items=items,
                ),
                {item: (row, name) for name, item in alsfrs.items()}
                | {scales.ALSFRS_MISSING_FIELDS[item]: (row, name) for name, item in alsfrs.items()}
                | {
                    "form_status": (row, "alsfrs_form_status"),
                    "not_done_reason": (row, "alsfrs_not_done_reason"),
                }
                | {"q5_gastrostomy": (row, flag), "visit": (row, EVENT_NAME)},
                (row, EVENT_NAME),
            )
            self.counts["alsfrsr"] += form is not None

    def import_events(self, subject: Subject, row: DataRow) -> None:
        dated = sorted(
            (date, position, kind)
            for position, kind in enumerate(EventKind.values)
            if (date := self.date(row, event_date_variable(kind))) is not None
        )
        for date, _, kind in dated:
            column = event_date_variable(kind)
            event = self.call(
                functools.partial(
                    services.event_create,
                    user=self.user,
                    subject=subject,
                    reason=self.reason,
                    kind=kind,
                    date=date,
                    comment=row.get(f"{kind}_comment"),
                ),
                {
                    "kind": (row, column),
                    "date": (row, column),
                    "comment": (row, f"{kind}_comment"),
                },
                (row, column),
            )
            self.counts["events"] += event is not None
        for column in row.values:
            if column.endswith("_comment") and row.get(column):
                kind = column[: -len("_comment")]
                if kind in EventKind.values and not row.get(event_date_variable(kind)):
                    self.cell_problem(
                        row, column, f"A comment on the {kind} needs the event's date."
                    )


def _form_status_of(column: str, forms: Collection[str]) -> str:
    """The form whose status column ``column`` is (``<form>_complete``), else ''."""
    form = column[: -len(COMPLETE_SUFFIX)] if column.endswith(COMPLETE_SUFFIX) else ""
    return form if form in forms else ""


def _event_forms(event: str) -> tuple[str, ...]:
    """The instruments collected at an event (empty for an unknown event)."""
    if event == CLINICAL_EVENTS_UNIQUE:
        return (CLINICAL_EVENTS,)
    match = VISIT_EVENT_RE.match(event)
    if not match:
        return ()
    if f"V{match['number']}" == BASELINE_CODE:
        return (ENROLMENT, *VISIT_FORMS)
    return VISIT_FORMS


class _Rollback(Exception):
    pass


def import_redcap(
    data: Path | str,
    dictionary_file: Path | str,
    *,
    dry_run: bool = False,
    user: Acting = None,
    progress: Callable[[Sequence[Any]], Iterable[Any]] | None = None,
) -> ImportResult:
    """Import a REDCap data file (with its data dictionary) all or nothing; see the module doc.

    Returns the problems (empty when the import succeeded) and the number of records written per
    table. With any problem, or ``dry_run``, the database is left as it was.
    """
    data_path, dictionary_path = Path(data), Path(dictionary_file)
    importer = RedcapImporter(
        data_path,
        dictionary_path,
        reason=f"Imported from REDCap file {data_path.name}",
        user=user,
        progress=progress,
    )
    try:
        with transaction.atomic():
            importer.run()
            if importer.problems or dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return ImportResult(importer.problems, importer.counts, dry_run, importer.warnings)
