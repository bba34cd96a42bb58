"""The variables MotorBand exports, described once: REDCap-style data dictionary, BIDS sidecars, labels.

Every exported column is described here (label, type, units, allowed values, derivation); the trial
tables, the BIDS ``*.json`` data dictionaries and the Stata/SPSS variable and value labels are all
read from this registry, so a column can never be labelled differently in two files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from cohort import scales
from cohort.models import EventKind, Group, Handedness, OnsetRegion, Sex, VisitStatus

TEXT, CATEGORICAL, INTEGER, FLOAT, DATE, BOOLEAN = (
    "text",
    "categorical",
    "integer",
    "float",
    "date",
    "boolean",
)
#: Columns of the REDCap-style data dictionary, in order.
DICTIONARY_COLUMNS = (
    "variable",
    "table",
    "label",
    "type",
    "units",
    "allowed_values",
    "derivation",
)
WIDE_SUFFIX_RE = re.compile(r"^(?P<base>.+)_(?P<visit>V[1-9][0-9]*)$")


@dataclass(frozen=True)
class Variable:
    """One exported variable.

    ``levels`` maps each allowed value (a string code or an integer score) to its label; ``units``
    is empty for unitless variables; ``derivation`` says how a derived variable is computed.
    """

    name: str
    label: str
    type: str
    units: str = ""
    levels: Mapping[Any, str] = field(default_factory=dict)
    derivation: str = ""

    def allowed_values(self) -> str:
        """REDCap's "Choices" cell: ``code, label | code, label``; a range for numbers."""
        if self.levels:
            return " | ".join(f"{code}, {label}" for code, label in self.levels.items())
        return ""


def _choices(choices: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {str(value): str(label) for value, label in choices}


UMN_ITEM_LEVELS = {0: "absent", 1: "present"}
ALSFRS_ITEM_LEVELS = {0: "0 (worst)", 1: "1", 2: "2", 3: "3", 4: "4 (normal)"}
ALSFRS_MISSING_LEVELS = {
    code: f"{label} ({scales.ALSFRS_REDCAP_MISSING_CODES[code]})"
    for code, label in scales.ALSFRS_MISSING_CODES.items()
}
GRADE_LEVELS = {0: "no band", 1: "partial band", 2: "definite band"}
CONFIDENCE_LEVELS = {1: "low", 2: "moderate", 3: "high"}
YES_NO = {0: "no", 1: "yes"}
KINGS_LEVELS = {
    "1": "one region involved",
    "2": "two regions involved",
    "3": "three regions involved",
    "4a": "gastrostomy (nutritional failure)",
    "4b": "respiratory failure or NIV",
}
MITOS_LEVELS = {n: f"{n} domains lost" for n in range(5)} | {5: "death"}
MONTHS = "months (30.4375 days)"
DAYS_FROM_BASELINE = "days from the subject's V1 visit"


def _umn_item_label(item: str) -> str:
    for region, items in scales.UMN_REGIONS.items():
        if item in items:
            short = item[len(region) + 1 :] if item.startswith(region + "_") else item
            return f"Penn UMN {region.replace('_', ' ')}: {short.replace('_', ' ')}"
    return item


def _variables() -> dict[str, Variable]:
    v: list[Variable] = [
        # --- subject ---
        Variable("subject", "Subject (study id; a pseudonymous code when de-identified)", TEXT),
        Variable("site", "Site code", CATEGORICAL),
        Variable("group", "Diagnostic group", CATEGORICAL, levels=_choices(Group.choices)),
        Variable("sex", "Sex", CATEGORICAL, levels=_choices(Sex.choices)),
        Variable("handedness", "Handedness", CATEGORICAL, levels=_choices(Handedness.choices)),
        Variable("birth_date", "Date of birth", DATE),
        Variable(
            "age_at_enrolment",
            "Age at enrolment",
            INTEGER,
            "years",
            derivation="Whole years from birth date to enrolment (90 means 90 or older when "
            "de-identified).",
        ),
        Variable("onset_date", "Date of first symptom", DATE),
        Variable(
            "onset_region", "Region of onset", CATEGORICAL, levels=_choices(OnsetRegion.choices)
        ),
        Variable("diagnosis_date", "Date of diagnosis", DATE),
        Variable("enrolled_on", "Date of enrolment", DATE),
        Variable("subject_comment", "Comment on the subject (free text)", TEXT),
        # --- visit ---
        Variable("visit_code", "Visit (V1 baseline, V2 month 4, V3 month 8, ...)", CATEGORICAL),
        Variable("visit_date", "Visit date", DATE),
        Variable("visit_status", "Visit status", CATEGORICAL, levels=_choices(VisitStatus.choices)),
        Variable(
            "days_from_baseline",
            "Days from baseline",
            INTEGER,
            "days",
            derivation="Visit date minus the V1 date.",
        ),
        Variable(
            "months",
            "Months from baseline",
            FLOAT,
            MONTHS,
            derivation="days_from_baseline / 30.4375.",
        ),
        Variable(
            "months_from_onset",
            "Months from symptom onset",
            FLOAT,
            MONTHS,
            derivation="(visit date - onset date) in days / 30.4375.",
        ),
        Variable(
            "in_window",
            "Visit within its scheduled window",
            BOOLEAN,
            levels=YES_NO,
            derivation="|visit date - target date| <= the study's window.",
        ),
        Variable(
            "kings_stage",
            "King's clinical stage",
            CATEGORICAL,
            levels=KINGS_LEVELS,
            derivation="From the visit's ALSFRS-R items and the gastrostomy/NIV events on or before "
            "it (Roche 2012; Balendra 2014); 4b where 4A and 4B both apply.",
        ),
        Variable(
            "mitos_stage",
            "MiToS stage",
            INTEGER,
            levels=MITOS_LEVELS,
            derivation="Domains of independence lost, from the ALSFRS-R items (Chio 2015).",
        ),
        Variable(
            "age",
            "Age at the visit",
            FLOAT,
            "years",
            derivation="(visit date - birth date) in days / 365.25 (whole years, top-coded at "
            "90, when de-identified).",
        ),
        Variable("visit_comment", "Comment on the visit (free text)", TEXT),
        # --- Penn UMN ---
        *(
            Variable(item, _umn_item_label(item), INTEGER, levels=UMN_ITEM_LEVELS)
            for item in scales.UMN_ITEMS
        ),
        *(
            Variable(
                f"umn_{region}",
                f"Penn UMN {region.replace('_', ' ')} subscore",
                INTEGER,
                "points",
                derivation=f"Sum of the {len(items)} {region.replace('_', ' ')} items "
                f"(0-{len(items)}); missing if any item is missing.",
            )
            for region, items in scales.UMN_REGIONS.items()
        ),
        Variable(
            "umn_total",
            "Penn UMN total score",
            INTEGER,
            "points",
            derivation=f"Sum of the five region subscores (0-{scales.UMN_TOTAL_MAX}).",
        ),
        # --- ALSFRS-R ---
        *(
            Variable(
                item,
                f"ALSFRS-R {item[1:]}: {scales.ALSFRS_ITEM_LABELS[item]}",
                INTEGER,
                levels=ALSFRS_ITEM_LEVELS,
            )
            for item in scales.ALSFRS_ITEMS
        ),
        Variable(
            "q5_gastrostomy",
            "ALSFRS-R item 5 scored as 5b (with gastrostomy)",
            BOOLEAN,
            levels={0: "5a, without gastrostomy", 1: "5b, with gastrostomy"},
        ),
        *(
            Variable(
                code,
                f"ALSFRS-R {item[1:]}: why {scales.ALSFRS_ITEM_LABELS[item]} has no score",
                CATEGORICAL,
                levels=ALSFRS_MISSING_LEVELS,
                derivation=f"Missing-data code of {item}; empty where {item} has a score.",
            )
            for item, code in scales.ALSFRS_MISSING_FIELDS.items()
        ),
        Variable(
            "alsfrs_form_status",
            "ALSFRS-R form status at the visit",
            CATEGORICAL,
            levels=dict(scales.ALSFRS_FORM_STATUSES),
            derivation="not_done: the whole form was not done (no item scored); empty without "
            "a form.",
        ),
        Variable(
            "alsfrs_not_done_reason",
            "Why the ALSFRS-R was not done (free text)",
            TEXT,
        ),
        *(
            Variable(
                f"alsfrs_{domain}",
                f"ALSFRS-R {domain.replace('_', ' ')} domain",
                INTEGER,
                "points",
                derivation=f"Sum of items {', '.join(items)} (0-12); missing if any of them has "
                "no score (not done, unknown or not entered).",
            )
            for domain, items in scales.ALSFRS_DOMAINS.items()
        ),
        Variable(
            "alsfrs_total",
            "ALSFRS-R total score",
            INTEGER,
            "points",
            derivation=f"Sum of the 12 items (0-{scales.ALSFRS_TOTAL_MAX}); missing if any item "
            "has no score (not done, unknown or not entered) or the form was not done.",
        ),
        Variable(
            "delta_fs",
            "ALSFRS-R progression rate at baseline (delta-FS)",
            FLOAT,
            "points per month",
            derivation="(48 - ALSFRS-R total at V1) / months from onset to V1; the V1 value "
            "on every row of the subject.",
        ),
        # --- band measurements ---
        *(
            Variable(
                f"{measure}_{hemisphere}",
                f"{measure.replace('_', ' ').capitalize()}, {side} precentral gyrus",
                FLOAT,
                "fraction",
                derivation=f"MotorBand quantification ({measure}, 'whole' segment, {side} "
                "hemisphere) of the visit's SWI, latest algorithm version.",
            )
            for measure in ("band_contrast", "band_extent", "laminar_contrast")
            for hemisphere, side in (("L", "left"), ("R", "right"))
        ),
        *(
            Variable(
                measure,
                f"{measure.replace('_', ' ').capitalize()}, mean of hemispheres",
                FLOAT,
                "fraction",
                derivation=f"Mean of {measure}_L and {measure}_R (missing unless both exist).",
            )
            for measure in ("band_contrast", "band_extent", "laminar_contrast")
        ),
        Variable("algorithm_version", "Quantification algorithm version", TEXT),
        Variable("scanner", "Scanner (manufacturer and model) of the SWI", TEXT),
        Variable("field_strength", "Field strength of the SWI", FLOAT, "tesla"),
        # --- reads ---
        Variable(
            "mbs_left",
            "Motor band sign, left hemisphere (consensus grade)",
            FLOAT,
            levels=GRADE_LEVELS,
            derivation="Median grade over the raters' current blinded reads (may be a half grade).",
        ),
        Variable(
            "mbs_right",
            "Motor band sign, right hemisphere (consensus grade)",
            FLOAT,
            levels=GRADE_LEVELS,
            derivation="Median grade over the raters' current blinded reads (may be a half grade).",
        ),
        Variable(
            "mbs",
            "Motor band sign positive",
            BOOLEAN,
            levels=YES_NO,
            derivation="1 where a hemisphere's consensus grade is at least 1.",
        ),
        Variable(
            "mbs_score",
            "Motor band sign score (0-4)",
            FLOAT,
            "points",
            derivation="mbs_left + mbs_right.",
        ),
        # --- events ---
        Variable("event_kind", "Clinical event", CATEGORICAL, levels=_choices(EventKind.choices)),
        Variable("event_date", "Date of the event", DATE),
        Variable(
            "event_days",
            "Days from baseline to the event",
            INTEGER,
            "days",
            derivation="Event date minus the V1 date.",
        ),
        Variable(
            "event_months",
            "Months from baseline to the event",
            FLOAT,
            MONTHS,
            derivation="event_days / 30.4375.",
        ),
        Variable("event_comment", "Comment on the event (free text)", TEXT),
        # --- de-identified date columns ---
        *(
            Variable(
                day,
                f"{VARIABLE_LABELS_FOR_DAYS[day]} (days from baseline)",
                INTEGER,
                "days",
                derivation=f"{date} minus the subject's V1 date (de-identification).",
            )
            for date, day in DATE_TO_DAY.items()
        ),
    ]
    return {variable.name: variable for variable in v}


#: De-identification: each date column and the days-from-baseline column that replaces it.
DATE_TO_DAY = {
    "onset_date": "onset_day",
    "diagnosis_date": "diagnosis_day",
    "enrolled_on": "enrolment_day",
    "visit_date": "visit_day",
    "event_date": "event_day",
}
VARIABLE_LABELS_FOR_DAYS = {
    "onset_day": "Symptom onset",
    "diagnosis_day": "Diagnosis",
    "enrolment_day": "Enrolment",
    "visit_day": "Visit",
    "event_day": "Event",
}
VARIABLES: dict[str, Variable] = _variables()


def variable(name: str, *, sites: Mapping[str, str] | None = None) -> Variable:
    """The description of an exported column; a wide column ``X_V2`` is ``X`` at visit V2."""
    if name in VARIABLES:
        found = VARIABLES[name]
        if name == "site" and sites:
            found = replace(found, levels=dict(sites))
        return found
    match = WIDE_SUFFIX_RE.match(name)
    if match and match["base"] in VARIABLES:
        base = variable(match["base"], sites=sites)
        return replace(base, name=name, label=f"{base.label} at {match['visit']}")
    return Variable(name, name.replace("_", " "), TEXT)


def data_dictionary(
    tables: Mapping[str, pd.DataFrame], *, sites: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """A REDCap-style data dictionary: one row per column of each table, in table order.

    Columns ``DICTIONARY_COLUMNS``: variable, table, label, type, units, allowed values
    (``code, label | ...``) and derivation.
    """
    rows = []
    for table, frame in tables.items():
        for column in frame.columns:
            described = variable(str(column), sites=sites)
            rows.append(
                (
                    described.name,
                    table,
                    described.label,
                    described.type,
                    described.units,
                    described.allowed_values(),
                    described.derivation,
                )
            )
    return pd.DataFrame(rows, columns=list(DICTIONARY_COLUMNS))


def bids_sidecar(
    columns: Iterable[str], described: Mapping[str, Variable]
) -> dict[str, dict[str, Any]]:
    """A BIDS data dictionary (``*.json`` next to a TSV): Description, Levels, Units per column."""
    sidecar: dict[str, dict[str, Any]] = {}
    for column in columns:
        found = described.get(column) or variable(column)
        entry: dict[str, Any] = {"LongName": found.label, "Description": found.label}
        if found.derivation:
            entry["Description"] = f"{found.label}. {found.derivation}"
        if found.levels:
            entry["Levels"] = {str(code): label for code, label in found.levels.items()}
        if found.units:
            entry["Units"] = found.units
        sidecar[column] = entry
    return sidecar
