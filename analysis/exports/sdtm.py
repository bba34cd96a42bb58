"""SDTM-style tabulation of the study: DM, SV, QS, DS and NV domains as CSV, described by ``define.csv``.

``export_study DIR --format sdtm`` writes (contract.md, "Exports")::

    dm.csv      Demographics: one row per subject
    sv.csv      Subject Visits: one row per visit that took place or was missed
    qs.csv      Questionnaires: ALSFRS-R and Penn UMN items, subscores and totals
    ds.csv      Disposition: enrolment, completion, withdrawal, death
    nv.csv      Nervous System Findings: motor band measurements and blinded-read grades
    define.csv  one row per variable of each file: dataset, variable, label, type, length,
                format, origin, codelist, description

Variable names, labels and order follow the CDISC SDTM Implementation Guide (v3.3/3.4) for these
domains; CSV is the carrier (a receiving group converts to SAS XPORT with its own tools, which need
exactly these names: 8 characters at most, labels of 40). Dates are ISO 8601 (``YYYY-MM-DD``);
study days (``--DY``) count from the subject's reference start ``RFSTDTC`` as SDTM does: the
reference date is day 1, the day before it day -1, there is no day 0.

De-identification (always on: an SDTM file is made to leave the study)
------------------------------------------------------------------------
The policy of the trial datasets (``analysis.exports.deidentify``), applied to SDTM variables:

- ``SUBJID`` is the subject's pseudonym under the release key (``MB-...``, an HMAC of the study
  id: the same key gives the same codes as the trial and REDCap exports, so releases merge) and
  ``USUBJID`` is ``STUDYID-SUBJID``; the study id itself never appears. Rows are ordered by
  ``USUBJID``, so their order does not leak study ids either.
- Dates: ``--dates shift`` (the default for this format) moves every date of a subject by the
  subject's offset (1-365 days either way, from the same HMAC): ``--DTC`` values are real-looking
  but not real, intervals and ``--DY`` are exact. ``--dates baseline`` leaves every date variable
  empty (``RFSTDTC``, ``--DTC``, ``DTHDTC``, ...): only the study days remain.
- No birth date (``BRTHDTC`` is left out): ``AGE`` in whole years at ``RFSTDTC``, top-coded at 90.
- No free text: comments, diagnoses' alternatives and raters' names are not exported.
- Sites are kept (``SITEID`` = site code) or coded ``S1, S2, ...`` (``--sites code``); site names
  never appear.

Domains
-------
``DM``: ``RFSTDTC`` is the V1 date (the enrolment date where there is no dated V1), the anchor the
trial datasets use; ``RFENDTC`` the last completed visit; ``RFPENDTC`` the latest visit, clinical
event or vital status check. The study is observational: ``ARMCD``/``ARM`` (and ``ACTARMCD``/
``ACTARM``, the same) are the diagnostic group (ALS, PLS, CONTROL, MIMIC, ...). ``COUNTRY``,
``RACE`` and ``ETHNIC`` are not collected by MotorBand and are left out rather than sent empty.

``SV``: completed visits (``SVOCCUR`` Y) and missed ones (``SVOCCUR`` N, no dates); scheduled
visits that have not happened yet are not tabulated. ``VISITNUM`` is the visit number (V2 → 2),
``VISIT`` its name (``V2 MONTH 4``), ``VISITDY`` the planned study day from the study schedule.

``QS``: one record per item, subscore and total of each ALSFRS-R and Penn UMN form of a completed
visit. ``QSCAT`` ``ALSFRS-R`` (``QSSCAT`` the domain: BULBAR, FINE MOTOR, GROSS MOTOR,
RESPIRATORY) and ``PENN UPPER MOTOR NEURON SCORE`` (``QSSCAT`` the region). Subscores and totals
are derived (``QSDRVFL`` Y); an item left empty on a form is a record with ``QSSTAT`` NOT DONE; a
derived score that cannot be computed has no record. Test codes: CDISC publishes a QRS
supplement for the ALSFRS-R, but its test codes could not be verified here, so MotorBand uses its
own codes, listed with their wording in ``define.csv``: ``ALSR01``..``ALSR12`` (item 5 as
``ALSR05A``, cutting food without gastrostomy, or ``ALSR05B``, with gastrostomy, as the form was
scored), ``ALSRBULB``/``ALSRFINE``/``ALSRGROS``/``ALSRRESP`` for the domains and ``ALSRTOT``.
The Penn UMN score has no CDISC terminology: ``PUMN01``..``PUMN32`` in MotorBand's item order
(domain.md), ``PUMNBULB``, ``PUMNRUL``, ``PUMNLUL``, ``PUMNRLL``, ``PUMNLLL`` and ``PUMNTOT``. A
receiving sponsor maps these onto QRS codes where it has them.
ALSFRS-R missing data: an item with a missing-data code says why in ``QSREASND`` (``NOT DONE`` or
``UNKNOWN``); a whole ALSFRS-R not done at the visit is one record ``QSTESTCD`` ``QSALL`` (SDTMIG:
the whole questionnaire) with ``QSSTAT`` NOT DONE; its ``QSREASND`` says that the reason is free
text kept at the site (no free text leaves the study).

``DS``: ``PROTOCOL MILESTONE`` ENROLLED at the enrolment date; ``DISPOSITION EVENT`` for the first
of COMPLETED (the last planned visit of the schedule completed), WITHDRAWAL BY SUBJECT and DEATH;
a later one of these is an ``OTHER EVENT``. Other clinical events (NIV, gastrostomy, ...) are not
dispositions and are not tabulated here.

The band's findings domain: ``NV``
----------------------------------
The band measurements go to NV (Nervous System Findings, SDTMIG v3.3+), not to a sponsor-defined
``X*`` domain: NV is the published findings domain for physiological and morphological findings of
the nervous system, brain imaging included (the pharmaverse/admiral neuro examples tabulate amyloid
PET SUVR there, region in ``NVLOC``), so validators and reviewers already know every variable; MI
is microscopic (tissue) findings and PR procedures, neither a measurement on an image. The tests
are sponsor-defined terms of the extensible NVTESTCD codelist:

============  =========================================  =====  =============================
NVTESTCD      NVTEST                                     unit   from
============  =========================================  =====  =============================
BANDCON       Band Contrast                              (1)    band_contrast (SWI, T2* GRE)
BANDEXT       Band Extent                                (1)    band_extent
LAMCON        Laminar Contrast                           (1)    laminar_contrast
DRSUSDIF      Deep-Reference Susceptibility Difference   ppb    deep_minus_reference_ppb (QSM)
DSSUSDIF      Deep-Superficial Susceptibility Diff       ppb    deep_minus_superficial_ppb
MBSGRADE      Motor Band Sign Grade                             consensus of the blinded reads
============  =========================================  =====  =============================

(1) dimensionless ratios: no unit. Hemisphere → ``NVLAT`` (LEFT, RIGHT); segment → ``NVLOC``
(PRECENTRAL GYRUS for the whole gyrus, ``PRECENTRAL GYRUS, HAND AREA``, ..., PARACENTRAL LOBULE);
the image the band was measured on → ``NVMETHOD``; ``NVCAT`` MOTOR BAND QUANTIFICATION or MOTOR
BAND SIGN READ (``NVEVAL`` INDEPENDENT ASSESSOR, ``NVDRVFL`` Y: the median of the raters, or the
adjudicator's grade). As in the trial datasets, only the study's latest algorithm version counts,
through each scan's most recent usable run (done, not failed by QC); a hemisphere the method could
not measure is a record with ``NVSTAT`` NOT DONE and the method's reason in ``NVREASND``.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import frames
from analysis.exports import cells
from analysis.exports import deidentify as deid
from cohort import scales
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    EventKind,
    Group,
    Sex,
    Study,
    Subject,
    UmnExam,
    Visit,
    VisitStatus,
)
from cohort.schedule import Schedule, visit_number
from imaging import selectors as imaging_selectors
from imaging.models import Hemisphere, Measurement, ScanKind, Segment

DOMAINS = ("dm", "sv", "qs", "ds", "nv")
DEFINE_FILE = "define.csv"
DEFINE_COLUMNS = (
    "dataset",
    "variable",
    "label",
    "type",
    "length",
    "format",
    "origin",
    "codelist",
    "description",
)
#: define.csv data types and origins (Define-XML's vocabulary).
CHAR, NUM = "Char", "Num"
COLLECTED, DERIVED, ASSIGNED, PROTOCOL = "Collected", "Derived", "Assigned", "Protocol"
ISO_8601 = "ISO 8601"
NUM_LENGTH = 8  # SAS numeric variables are 8 bytes
YES, NO = "Y", "N"
NOT_DONE = "NOT DONE"
AGE_UNIT = "YEARS"
DEFAULT_STUDYID = "MOTORBAND"
STUDYID_MAX_LENGTH = 20
NAME_MAX_LENGTH, LABEL_MAX_LENGTH = 8, 40  # SAS transport limits of variable names and labels

# --- questionnaires ---------------------------------------------------------------------------
ALSFRS_CATEGORY = "ALSFRS-R"
UMN_CATEGORY = "PENN UPPER MOTOR NEURON SCORE"
#: ALSFRS-R item → (QSTESTCD, QSTEST); item 5 by how it was scored (5a or 5b).
ALSFRS_ITEM_TESTS: dict[str, tuple[str, str]] = {
    item: (f"ALSR{int(item[1:]):02d}", scales.ALSFRS_ITEM_LABELS[item])
    for item in scales.ALSFRS_ITEMS
    if item != "q5"
}
ALSFRS_Q5_TESTS = {
    False: ("ALSR05A", "Cutting Food Without Gastrostomy (5a)"),
    True: ("ALSR05B", "Handling Utensils With Gastrostomy (5b)"),
}
ALSFRS_DOMAIN_TESTS = {
    "bulbar": ("ALSRBULB", "Bulbar Domain Score"),
    "fine_motor": ("ALSRFINE", "Fine Motor Domain Score"),
    "gross_motor": ("ALSRGROS", "Gross Motor Domain Score"),
    "respiratory": ("ALSRRESP", "Respiratory Domain Score"),
}
ALSFRS_TOTAL_TEST = ("ALSRTOT", "ALSFRS-R Total Score")
#: SDTMIG's test code of a whole questionnaire not done (one record instead of its items).
QUESTIONNAIRE_NOT_DONE_TEST = ("QSALL", "Questionnaire")
#: ``QSREASND`` of a whole ALSFRS-R not done: its reason is free text, which SDTM files never carry.
FORM_NOT_DONE_REASON = "FREE-TEXT REASON NOT EXPORTED"
#: ``QSREASND`` of an ALSFRS-R item by its missing-data code.
ALSFRS_REASONS_NOT_DONE = {
    code: label.upper() for code, label in scales.ALSFRS_MISSING_CODES.items()
}
UMN_REGION_NAMES = {
    "bulbar": "BULBAR",
    "right_upper": "RIGHT UPPER LIMB",
    "left_upper": "LEFT UPPER LIMB",
    "right_lower": "RIGHT LOWER LIMB",
    "left_lower": "LEFT LOWER LIMB",
}
UMN_REGION_TESTS = {
    "bulbar": ("PUMNBULB", "Bulbar Region Score"),
    "right_upper": ("PUMNRUL", "Right Upper Limb Score"),
    "left_upper": ("PUMNLUL", "Left Upper Limb Score"),
    "right_lower": ("PUMNRLL", "Right Lower Limb Score"),
    "left_lower": ("PUMNLLL", "Left Lower Limb Score"),
}
UMN_TOTAL_TEST = ("PUMNTOT", "Penn UMN Total Score")
UMN_RESULTS = {0: "ABSENT", 1: "PRESENT"}

# --- disposition --------------------------------------------------------------------------------
MILESTONE, DISPOSITION, OTHER_EVENT = "PROTOCOL MILESTONE", "DISPOSITION EVENT", "OTHER EVENT"
ENROLLED = "ENROLLED"
COMPLETED = "COMPLETED"
WITHDRAWN = "WITHDRAWAL BY SUBJECT"
DEATH = "DEATH"
DISPOSITION_TERMS = {
    ENROLLED: "ENROLLED IN THE STUDY",
    COMPLETED: "COMPLETED ALL PLANNED VISITS",
    WITHDRAWN: "WITHDRAWAL FROM THE STUDY",
    DEATH: "DEATH",
}

# --- nervous system findings (the band) -------------------------------------------------------
BAND_CATEGORY = "MOTOR BAND QUANTIFICATION"
READ_CATEGORY = "MOTOR BAND SIGN READ"
READ_EVALUATOR = "INDEPENDENT ASSESSOR"
#: Measurement column → (NVTESTCD, NVTEST, unit).
BAND_TESTS: dict[str, tuple[str, str, str]] = {
    "band_contrast": ("BANDCON", "Band Contrast", ""),
    "band_extent": ("BANDEXT", "Band Extent", ""),
    "laminar_contrast": ("LAMCON", "Laminar Contrast", ""),
    "deep_minus_reference_ppb": ("DRSUSDIF", "Deep-Reference Susceptibility Difference", "ppb"),
    "deep_minus_superficial_ppb": ("DSSUSDIF", "Deep-Superficial Susceptibility Diff", "ppb"),
}
#: The measurements a run fills, by its input kind (QSM: differences; magnitude images: ratios).
QSM_INPUT = "qsm"
QSM_MEASURES = ("deep_minus_reference_ppb", "deep_minus_superficial_ppb")
RATIO_MEASURES = ("band_contrast", "band_extent", "laminar_contrast")
READ_TEST = ("MBSGRADE", "Motor Band Sign Grade")
LATERALITY = {Hemisphere.LEFT.value: "LEFT", Hemisphere.RIGHT.value: "RIGHT"}
SEGMENT_LOCATIONS = {
    "whole": "PRECENTRAL GYRUS",
    "leg": "PRECENTRAL GYRUS, LEG AREA",
    "hand": "PRECENTRAL GYRUS, HAND AREA",
    "face": "PRECENTRAL GYRUS, FACE AREA",
    "paracentral": "PARACENTRAL LOBULE",
}
SCAN_METHODS = {
    ScanKind.SWI.value: "SUSCEPTIBILITY WEIGHTED MRI",
    ScanKind.QSM.value: "QUANTITATIVE SUSCEPTIBILITY MAPPING",
    ScanKind.GRE_MAGNITUDE.value: "T2*-WEIGHTED GRADIENT ECHO MRI",
}
READ_METHOD = SCAN_METHODS[ScanKind.SWI.value]


# --- variables ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Var:
    """One SDTM variable as ``define.csv`` describes it."""

    name: str
    label: str
    type: str = CHAR
    origin: str = DERIVED
    codelist: str = ""
    description: str = ""


def _codes(pairs: Iterable[tuple[Any, Any]]) -> str:
    return "; ".join(f"{code} = {label}" for code, label in pairs)


def _identifiers(domain: str) -> list[Var]:
    return [
        Var("STUDYID", "Study Identifier", origin=PROTOCOL),
        Var("DOMAIN", "Domain Abbreviation", origin=ASSIGNED, codelist=domain.upper()),
        Var(
            "USUBJID",
            "Unique Subject Identifier",
            origin=ASSIGNED,
            description="STUDYID-SUBJID.",
        ),
    ]


def _visit_variables() -> list[Var]:
    return [
        Var("VISITNUM", "Visit Number", NUM, ASSIGNED, description="V1 = 1, V2 = 2, ..."),
        Var(
            "VISIT",
            "Visit Name",
            origin=ASSIGNED,
            description="Visit code and target month of the study schedule (V2 MONTH 4).",
        ),
    ]


def _date(name: str, label: str, description: str, origin: str = COLLECTED) -> Var:
    return Var(
        name,
        label,
        origin=origin,
        description=f"{description} Shifted by the subject's offset (--dates shift) or left "
        "empty (--dates baseline).",
    )


def _study_day(name: str, label: str, of: str) -> Var:
    return Var(
        name,
        label,
        NUM,
        DERIVED,
        description=f"{of} minus RFSTDTC in days, plus 1 on or after RFSTDTC (no day 0).",
    )


def _findings_results(prefix: str, result_codelist: str = "") -> list[Var]:
    return [
        Var(f"{prefix}ORRES", "Result or Finding in Original Units", codelist=result_codelist),
        Var(f"{prefix}ORRESU", "Original Units"),
        Var(f"{prefix}STRESC", "Character Result/Finding in Std Format"),
        Var(f"{prefix}STRESN", "Numeric Result/Finding in Standard Units", NUM),
        Var(f"{prefix}STRESU", "Standard Units"),
        Var(f"{prefix}STAT", "Completion Status", codelist=NOT_DONE),
    ]


def _qs_tests() -> list[tuple[str, str]]:
    tests: list[tuple[str, str]] = []
    for item in scales.ALSFRS_ITEMS:
        if item == "q5":
            tests += [ALSFRS_Q5_TESTS[False], ALSFRS_Q5_TESTS[True]]
        else:
            tests.append(ALSFRS_ITEM_TESTS[item])
    tests += [*ALSFRS_DOMAIN_TESTS.values(), ALSFRS_TOTAL_TEST, QUESTIONNAIRE_NOT_DONE_TEST]
    tests += [umn_test(item) for item in scales.UMN_ITEMS]
    tests += [*UMN_REGION_TESTS.values(), UMN_TOTAL_TEST]
    return tests


def umn_test(item: str) -> tuple[str, str]:
    """QSTESTCD and QSTEST of a Penn UMN item (``PUMN01`` = jaw jerk, ...)."""
    number = scales.UMN_ITEMS.index(item) + 1
    for region, items in scales.UMN_REGIONS.items():
        if item in items:
            short = item[len(region) + 1 :] if item.startswith(region + "_") else item
            name = f"{UMN_REGION_NAMES[region].capitalize()}: {short.replace('_', ' ')}"
            return f"PUMN{number:02d}", name
    raise ValueError(f"'{item}' is not a Penn UMN item.")


def _nv_tests() -> list[tuple[str, str]]:
    return [(code, name) for code, name, _ in BAND_TESTS.values()] + [READ_TEST]


def variables(algorithm_version: str | None = None) -> dict[str, list[Var]]:
    """Every domain's variables in SDTM order, with their define.csv description."""
    qs_tests = _qs_tests()
    nv_tests = _nv_tests()
    return {
        "dm": [
            *_identifiers("dm"),
            Var(
                "SUBJID",
                "Subject Identifier for the Study",
                origin=ASSIGNED,
                description="The subject's pseudonym under the release key (an HMAC of the "
                "MotorBand study id, the codes of the de-identified trial and REDCap exports).",
            ),
            _date(
                "RFSTDTC",
                "Subject Reference Start Date/Time",
                "Date of the V1 visit (the enrolment date where there is no dated V1).",
                DERIVED,
            ),
            _date("RFENDTC", "Subject Reference End Date/Time", "Last completed visit.", DERIVED),
            _date(
                "RFPENDTC",
                "Date/Time of End of Participation",
                "Latest visit, clinical event or vital status check.",
                DERIVED,
            ),
            _date("DTHDTC", "Date/Time of Death", "Date of the death event."),
            Var(
                "DTHFL",
                "Subject Death Flag",
                codelist=YES,
                description="Y where a death is recorded.",
            ),
            Var(
                "SITEID",
                "Study Site Identifier",
                origin=ASSIGNED,
                description="Site code (coded S1, S2, ... with --sites code).",
            ),
            Var(
                "AGE",
                "Age",
                NUM,
                DERIVED,
                description=f"Whole years from the birth date to RFSTDTC, top-coded at "
                f"{deid.AGE_TOP_CODE_YEARS} (90 means 90 or older); the birth date is not exported.",
            ),
            Var("AGEU", "Age Units", origin=ASSIGNED, codelist=AGE_UNIT),
            Var("SEX", "Sex", origin=COLLECTED, codelist=_codes(Sex.choices)),
            Var(
                "ARMCD",
                "Planned Arm Code",
                origin=COLLECTED,
                codelist=_codes(Group.choices),
                description="Diagnostic group of the observational study.",
            ),
            Var("ARM", "Description of Planned Arm", origin=COLLECTED),
            Var(
                "ACTARMCD",
                "Actual Arm Code",
                origin=COLLECTED,
                codelist=_codes(Group.choices),
                description="As ARMCD (groups are observed, not assigned).",
            ),
            Var("ACTARM", "Description of Actual Arm", origin=COLLECTED),
        ],
        "sv": [
            *_identifiers("sv"),
            *_visit_variables(),
            Var(
                "VISITDY",
                "Planned Study Day of Visit",
                NUM,
                PROTOCOL,
                description="Target month of the study schedule x 30.4375 days, rounded, plus 1.",
            ),
            Var("SVPRESP", "Pre-specified", origin=ASSIGNED, codelist=YES),
            Var(
                "SVOCCUR",
                "Occurrence",
                origin=COLLECTED,
                codelist=f"{YES}; {NO}",
                description="Y for a completed visit, N for a missed one.",
            ),
            _date("SVSTDTC", "Start Date/Time of Visit", "Visit date."),
            _date("SVENDTC", "End Date/Time of Visit", "Visit date (visits last one day)."),
            _study_day("SVSTDY", "Study Day of Start of Visit", "SVSTDTC"),
            _study_day("SVENDY", "Study Day of End of Visit", "SVENDTC"),
        ],
        "qs": [
            *_identifiers("qs"),
            Var("QSSEQ", "Sequence Number", NUM, DERIVED, description="1, 2, ... per subject."),
            Var(
                "QSTESTCD",
                "Question Short Name",
                origin=ASSIGNED,
                codelist=_codes(qs_tests),
                description="MotorBand's codes (CDISC QRS codes not verified; see the module "
                "analysis.exports.sdtm).",
            ),
            Var("QSTEST", "Question Name", origin=ASSIGNED),
            Var(
                "QSCAT",
                "Category of Question",
                origin=ASSIGNED,
                codelist=f"{ALSFRS_CATEGORY}; {UMN_CATEGORY}",
            ),
            Var("QSSCAT", "Subcategory for Question", origin=ASSIGNED),
            *_findings_results(
                "QS",
                "ALSFRS-R items and scores: the score (items 4 normal .. 0); Penn UMN items: "
                "ABSENT or PRESENT, scores: the sum",
            ),
            Var(
                "QSREASND",
                "Reason Not Done",
                description="ALSFRS-R: NOT DONE or UNKNOWN for an item given that code; for "
                f"QSALL (form not done) {FORM_NOT_DONE_REASON} (the reason is free text).",
            ),
            Var(
                "QSDRVFL",
                "Derived Flag",
                codelist=YES,
                description="Y for subscores and totals (sums of the items).",
            ),
            *_visit_variables(),
            _date("QSDTC", "Date/Time of Finding", "Visit date."),
            _study_day("QSDY", "Study Day of Finding", "QSDTC"),
        ],
        "ds": [
            *_identifiers("ds"),
            Var("DSSEQ", "Sequence Number", NUM, DERIVED, description="1, 2, ... per subject."),
            Var("DSTERM", "Reported Term for the Disposition Event", origin=ASSIGNED),
            Var(
                "DSDECOD",
                "Standardized Disposition Term",
                codelist=f"{ENROLLED}; {COMPLETED}; {WITHDRAWN}; {DEATH}",
            ),
            Var(
                "DSCAT",
                "Category for Disposition Event",
                codelist=f"{MILESTONE}; {DISPOSITION}; {OTHER_EVENT}",
                description="The first of completion, withdrawal and death is the disposition "
                "event; a later one is an other event.",
            ),
            _date("DSSTDTC", "Start Date/Time of Disposition Event", "Date of the event."),
            _study_day("DSSTDY", "Study Day of Start of Disposition Event", "DSSTDTC"),
        ],
        "nv": [
            *_identifiers("nv"),
            Var("NVSEQ", "Sequence Number", NUM, DERIVED, description="1, 2, ... per subject."),
            Var(
                "NVTESTCD",
                "Short Name of Nervous System Test",
                origin=ASSIGNED,
                codelist=_codes(nv_tests),
                description="Sponsor-defined terms (extensible codelist).",
            ),
            Var("NVTEST", "Name of Nervous System Test", origin=ASSIGNED),
            Var(
                "NVCAT",
                "Category for Nervous System Test",
                origin=ASSIGNED,
                codelist=f"{BAND_CATEGORY}; {READ_CATEGORY}",
                description="Quantification: MotorBand algorithm version "
                f"{algorithm_version or '(none)'}, the study's latest, through each scan's most "
                "recent usable run.",
            ),
            *_findings_results("NV"),
            Var(
                "NVREASND",
                "Reason Not Done",
                description="The method's reason (too few voxels, coverage below the minimum).",
            ),
            Var(
                "NVLOC",
                "Location Used for the Measurement",
                origin=ASSIGNED,
                codelist="; ".join(SEGMENT_LOCATIONS.values()),
                description="Segment of the precentral gyrus, or the paracentral lobule (domain.md).",
            ),
            Var("NVLAT", "Laterality", origin=ASSIGNED, codelist="LEFT; RIGHT"),
            Var(
                "NVMETHOD",
                "Method of Test or Examination",
                origin=ASSIGNED,
                codelist="; ".join(SCAN_METHODS.values()),
                description="The image the band was measured or read on.",
            ),
            Var("NVEVAL", "Evaluator", origin=ASSIGNED, codelist=READ_EVALUATOR),
            Var(
                "NVDRVFL",
                "Derived Flag",
                codelist=YES,
                description="Y for consensus grades (median of the raters' current blinded "
                "reads, or the adjudicator's grade).",
            ),
            *_visit_variables(),
            _date("NVDTC", "Date/Time of Collection", "Visit date of the scan."),
            _study_day("NVDY", "Study Day of Visit/Collection/Exam", "NVDTC"),
        ],
    }


# --- building the domains ------------------------------------------------------------------------


def study_identifier() -> str:
    """STUDYID: the study's name in capitals and hyphens (``MOTORBAND-STUDY``)."""
    study = Study.objects.filter(pk=1).first()
    code = re.sub(r"[^A-Z0-9]+", "-", (study.name if study else "").upper()).strip("-")
    return code[:STUDYID_MAX_LENGTH].strip("-") or DEFAULT_STUDYID


def _schedule() -> Schedule:
    study = Study.objects.filter(pk=1).first()
    return study.schedule if study else Schedule()


def visit_name(code: str, schedule: Schedule) -> str:
    """``VISIT``: ``V1 BASELINE``, ``V2 MONTH 4``, ..."""
    if visit_number(code) == 1:
        return f"{code} BASELINE"
    return f"{code} MONTH {schedule.target_month(code)}"


def planned_study_day(code: str, schedule: Schedule) -> int:
    """``VISITDY``: the target day of the visit counted as a study day (V1 is day 1)."""
    return round(schedule.target_month(code) * scales.MONTH_DAYS) + 1


def study_day(date: dt.date | None, reference: dt.date | None) -> int | None:
    """SDTM study day of ``date``: 1 on the reference date, -1 the day before (no day 0)."""
    if date is None or reference is None:
        return None
    days = (date - reference).days
    return days + 1 if days >= 0 else days


def whole_years(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


@dataclass(frozen=True)
class _Subject:
    """One subject as the domains see it: pseudonymous codes, reference start and date offset."""

    usubjid: str
    subjid: str
    reference: dt.date | None
    shift_days: int
    dated: bool

    def dtc(self, date: dt.date | None) -> str | None:
        """The date as ISO 8601, shifted, or nothing when dates are left out."""
        if date is None or not self.dated:
            return None
        return (date + dt.timedelta(days=self.shift_days)).isoformat()

    def day(self, date: dt.date | None) -> int | None:
        return study_day(date, self.reference)


@dataclass
class SdtmDataset:
    """The domains (variables as columns, in order), their define table and what they describe."""

    studyid: str
    domains: dict[str, pd.DataFrame]
    define: pd.DataFrame
    site_codes: dict[str, str]


def _subjects(sites: Sequence[str] | None, groups: Sequence[str] | None) -> Any:
    subjects = Subject.objects.all()
    if sites:
        subjects = subjects.filter(site__code__in=list(sites))
    if groups:
        subjects = subjects.filter(group__in=list(groups))
    return subjects


def _frame(rows: list[dict[str, Any]], names: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(names), dtype=object)
    return frame.where(frame.notna(), None)


def _sequenced(rows: list[dict[str, Any]], seq: str) -> list[dict[str, Any]]:
    """Number each subject's records 1, 2, ... in their order (``--SEQ``)."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["USUBJID"]] = counts.get(row["USUBJID"], 0) + 1
        row[seq] = counts[row["USUBJID"]]
    return rows


def _result(value: Any) -> tuple[str | None, float | int | None]:
    """ORRES/STRESC text and STRESN number of a numeric result."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None, None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        value = int(value)
    number = value if isinstance(value, int) else float(value)
    return (str(number) if isinstance(number, int) else repr(number)), number


def build_dataset(
    *,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    date_mode: str = deid.SHIFT,
    site_mode: str = deid.KEEP,
    key: bytes | None = None,
) -> SdtmDataset:
    """The SDTM domains of the study (or of some sites or groups), de-identified.

    Parameters
    ----------
    date_mode : ``"shift"`` — dates shifted by each subject's offset; ``"baseline"`` — dates left
        out (study days only).
    site_mode : ``"keep"`` the site codes or ``"code"`` them as S1, S2, ...
    key : the release key (``deidentify.release_key()`` by default).
    """
    if date_mode not in deid.DATE_MODES:
        raise ValueError(
            f"date_mode must be one of {', '.join(deid.DATE_MODES)} (got {date_mode!r})."
        )
    if site_mode not in deid.SITE_MODES:
        raise ValueError(
            f"site_mode must be one of {', '.join(deid.SITE_MODES)} (got {site_mode!r})."
        )
    key = key if key is not None else deid.release_key()
    studyid = study_identifier()
    schedule = _schedule()
    subject_qs = _subjects(sites, groups)
    subject_rows = list(
        subject_qs.values(
            "id",
            "study_id",
            "site__code",
            "group",
            "sex",
            "birth_date",
            "enrolled_on",
            "last_known_alive",
        )
    )
    visits_qs: Any = Visit.objects.filter(subject__in=subject_qs)
    visit_rows = list(
        visits_qs.values("id", "subject_id", "visit_code", "date", "status").order_by()
    )
    events: list[dict[str, Any]] = [
        dict(event)
        for event in ClinicalEvent.objects.filter(subject__in=subject_qs)
        .order_by("date", "kind")
        .values("subject_id", "kind", "date")
    ]
    site_map = (
        deid.site_codes(sorted({r["site__code"] for r in subject_rows}), key)
        if site_mode == deid.CODE
        else {}
    )

    events_of: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        events_of.setdefault(event["subject_id"], []).append(event)
    # Reference start: the V1 date, or the enrolment date where there is no dated V1.
    v1_dates = {
        v["subject_id"]: v["date"]
        for v in visit_rows
        if v["visit_code"] == frames.BASELINE_VISIT and v["date"] is not None
    }
    people: dict[int, _Subject] = {}
    for row in subject_rows:
        subjid = deid.pseudonym(row["study_id"], key)
        people[row["id"]] = _Subject(
            usubjid=f"{studyid}-{subjid}",
            subjid=subjid,
            reference=v1_dates.get(row["id"], row["enrolled_on"]),
            shift_days=deid.shift_days(row["study_id"], key),
            dated=date_mode == deid.SHIFT,
        )
    # Visits that took place (completed) or were missed; scheduled ones have not happened yet.
    tabulated = [
        v
        for v in visit_rows
        if v["status"] in (VisitStatus.COMPLETED, VisitStatus.MISSED) and v["subject_id"] in people
    ]
    tabulated.sort(key=lambda v: (people[v["subject_id"]].usubjid, visit_number(v["visit_code"])))
    completed = {v["id"]: v for v in tabulated if v["status"] == VisitStatus.COMPLETED}

    domains = {
        "dm": _dm(subject_rows, people, tabulated, events_of, site_map, studyid),
        "sv": _sv(tabulated, people, schedule, studyid),
        "qs": _qs(completed, people, schedule, studyid, visits_qs),
        "ds": _ds(subject_rows, people, completed, events_of, schedule, studyid),
    }
    domains["nv"], version = _nv(completed, people, schedule, studyid, visits_qs)
    described = variables(version)
    frames_by_domain = {
        name: _frame(rows, [v.name for v in described[name]]) for name, rows in domains.items()
    }
    define = define_table(frames_by_domain, described)
    return SdtmDataset(studyid, frames_by_domain, define, site_map)


def _common(studyid: str, domain: str, person: _Subject) -> dict[str, Any]:
    return {"STUDYID": studyid, "DOMAIN": domain.upper(), "USUBJID": person.usubjid}


def _visit(visit: Mapping[str, Any], schedule: Schedule) -> dict[str, Any]:
    return {
        "VISITNUM": visit_number(visit["visit_code"]),
        "VISIT": visit_name(visit["visit_code"], schedule),
    }


def _dm(
    subject_rows: list[dict[str, Any]],
    people: Mapping[int, _Subject],
    visits: list[dict[str, Any]],
    events_of: Mapping[int, list[dict[str, Any]]],
    site_map: Mapping[str, str],
    studyid: str,
) -> list[dict[str, Any]]:
    groups = dict(Group.choices)
    last_visit: dict[int, dt.date] = {}
    for v in visits:
        if v["status"] == VisitStatus.COMPLETED and v["date"] is not None:
            last_visit[v["subject_id"]] = max(v["date"], last_visit.get(v["subject_id"], v["date"]))
    deaths = {
        subject: e["date"]
        for subject, found in events_of.items()
        for e in found
        if e["kind"] == EventKind.DEATH
    }
    rows = []
    for row in subject_rows:
        person = people[row["id"]]
        contacts = [
            d
            for d in (
                last_visit.get(row["id"]),
                row["last_known_alive"],
                *(e["date"] for e in events_of.get(row["id"], [])),
            )
            if d is not None
        ]
        age = None
        if row["birth_date"] and person.reference:
            age = min(whole_years(row["birth_date"], person.reference), deid.AGE_TOP_CODE_YEARS)
        arm = groups.get(row["group"], row["group"])
        rows.append(
            {
                **_common(studyid, "dm", person),
                "SUBJID": person.subjid,
                "RFSTDTC": person.dtc(person.reference),
                "RFENDTC": person.dtc(last_visit.get(row["id"])),
                "RFPENDTC": person.dtc(max(contacts) if contacts else None),
                "DTHDTC": person.dtc(deaths.get(row["id"])),
                "DTHFL": YES if row["id"] in deaths else None,
                "SITEID": site_map.get(row["site__code"], row["site__code"]),
                "AGE": age,
                "AGEU": AGE_UNIT if age is not None else None,
                "SEX": row["sex"],
                "ARMCD": row["group"],
                "ARM": arm,
                "ACTARMCD": row["group"],
                "ACTARM": arm,
            }
        )
    return sorted(rows, key=lambda r: r["USUBJID"])


def _sv(
    visits: list[dict[str, Any]],
    people: Mapping[int, _Subject],
    schedule: Schedule,
    studyid: str,
) -> list[dict[str, Any]]:
    rows = []
    for v in visits:
        person = people[v["subject_id"]]
        occurred = v["status"] == VisitStatus.COMPLETED
        date = v["date"] if occurred else None
        rows.append(
            {
                **_common(studyid, "sv", person),
                **_visit(v, schedule),
                "VISITDY": planned_study_day(v["visit_code"], schedule),
                "SVPRESP": YES,
                "SVOCCUR": YES if occurred else NO,
                "SVSTDTC": person.dtc(date),
                "SVENDTC": person.dtc(date),
                "SVSTDY": person.day(date),
                "SVENDY": person.day(date),
            }
        )
    return rows


def _qs(
    completed: Mapping[int, dict[str, Any]],
    people: Mapping[int, _Subject],
    schedule: Schedule,
    studyid: str,
    visits_qs: Any,
) -> list[dict[str, Any]]:
    umn_columns = [*scales.UMN_ITEMS, *scales.UMN_REGIONS, "total"]
    alsfrs_columns = [
        *scales.ALSFRS_ITEMS,
        "q5_gastrostomy",
        *scales.ALSFRS_DOMAINS,
        "total",
        *scales.ALSFRS_MISSING_FIELDS.values(),
        "form_status",
        "not_done_reason",
    ]
    umn = {
        r["visit_id"]: r
        for r in UmnExam.objects.filter(visit__in=visits_qs).values("visit_id", *umn_columns)
    }
    alsfrs = {
        r["visit_id"]: r
        for r in AlsfrsR.objects.filter(visit__in=visits_qs).values("visit_id", *alsfrs_columns)
    }
    domain_of = {i: d for d, items in scales.ALSFRS_DOMAINS.items() for i in items}
    region_of = {i: r for r, items in scales.UMN_REGIONS.items() for i in items}
    rows: list[dict[str, Any]] = []
    for visit_id, visit in completed.items():
        person = people[visit["subject_id"]]
        base = {
            **_common(studyid, "qs", person),
            **_visit(visit, schedule),
            "QSDTC": person.dtc(visit["date"]),
            "QSDY": person.day(visit["date"]),
        }

        def record(
            test: tuple[str, str],
            category: str,
            subcategory: str | None,
            value: Any,
            text: str | None = None,
            *,
            derived: bool = False,
            reason: str | None = None,
            base: dict[str, Any] = base,
        ) -> None:
            stresc, number = _result(value)
            if number is None and derived:
                return  # a score that cannot be derived has no record
            rows.append(
                {
                    **base,
                    "QSTESTCD": test[0],
                    "QSTEST": test[1],
                    "QSCAT": category,
                    "QSSCAT": subcategory,
                    "QSORRES": text if text is not None and number is not None else stresc,
                    "QSSTRESC": stresc,
                    "QSSTRESN": number,
                    "QSSTAT": NOT_DONE if number is None else None,
                    "QSREASND": reason if number is None else None,
                    "QSDRVFL": YES if derived else None,
                }
            )

        form = alsfrs.get(visit_id)
        if form is not None and form["form_status"] == scales.ALSFRS_FORM_NOT_DONE:
            record(
                QUESTIONNAIRE_NOT_DONE_TEST,
                ALSFRS_CATEGORY,
                None,
                None,
                reason=FORM_NOT_DONE_REASON,
            )
        elif form is not None:
            for item in scales.ALSFRS_ITEMS:
                test = (
                    ALSFRS_Q5_TESTS[bool(form["q5_gastrostomy"])]
                    if item == "q5"
                    else ALSFRS_ITEM_TESTS[item]
                )
                subcategory = domain_of[item].replace("_", " ").upper()
                code = form[scales.ALSFRS_MISSING_FIELDS[item]]
                reason = ALSFRS_REASONS_NOT_DONE.get(code) if code else None
                record(test, ALSFRS_CATEGORY, subcategory, form[item], reason=reason)
            for domain, test in ALSFRS_DOMAIN_TESTS.items():
                subcategory = domain.replace("_", " ").upper()
                record(test, ALSFRS_CATEGORY, subcategory, form[domain], derived=True)
            record(ALSFRS_TOTAL_TEST, ALSFRS_CATEGORY, "TOTAL", form["total"], derived=True)
        exam = umn.get(visit_id)
        if exam is not None:
            for item in scales.UMN_ITEMS:
                value = exam[item]
                region = UMN_REGION_NAMES[region_of[item]]
                text = UMN_RESULTS.get(value) if value is not None else None
                record(umn_test(item), UMN_CATEGORY, region, value, text)
            for region, test in UMN_REGION_TESTS.items():
                record(test, UMN_CATEGORY, UMN_REGION_NAMES[region], exam[region], derived=True)
            record(UMN_TOTAL_TEST, UMN_CATEGORY, "TOTAL", exam["total"], derived=True)
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"]))
    return _sequenced(rows, "QSSEQ")


def _ds(
    subject_rows: list[dict[str, Any]],
    people: Mapping[int, _Subject],
    completed: Mapping[int, dict[str, Any]],
    events_of: Mapping[int, list[dict[str, Any]]],
    schedule: Schedule,
    studyid: str,
) -> list[dict[str, Any]]:
    last_planned = schedule.codes()[-1]
    completion = {
        v["subject_id"]: v["date"]
        for v in completed.values()
        if v["visit_code"] == last_planned and v["date"] is not None
    }
    ending = {EventKind.WITHDRAWAL.value: WITHDRAWN, EventKind.DEATH.value: DEATH}
    rows: list[dict[str, Any]] = []
    for row in subject_rows:
        person = people[row["id"]]
        found: list[tuple[dt.date, str, str]] = [(row["enrolled_on"], MILESTONE, ENROLLED)]
        ends = [
            (e["date"], ending[e["kind"]])
            for e in events_of.get(row["id"], [])
            if e["kind"] in ending
        ]
        if row["id"] in completion:
            ends.append((completion[row["id"]], COMPLETED))
        for position, (date, decod) in enumerate(sorted(ends)):
            found.append((date, DISPOSITION if position == 0 else OTHER_EVENT, decod))
        for date, category, decod in sorted(found, key=lambda f: f[0]):
            rows.append(
                {
                    **_common(studyid, "ds", person),
                    "DSTERM": DISPOSITION_TERMS[decod],
                    "DSDECOD": decod,
                    "DSCAT": category,
                    "DSSTDTC": person.dtc(date),
                    "DSSTDY": person.day(date),
                }
            )
    rows.sort(key=lambda r: r["USUBJID"])
    return _sequenced(rows, "DSSEQ")


def _usable_measurements(visits_qs: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Measurements of each visit's scans from the most recent usable run of the study's latest
    algorithm version (per scan kind), as the trial datasets count them."""
    columns = [
        "run_id",
        "run__scan__visit_id",
        "run__scan__kind",
        "run__algorithm_version",
        "run__finished_at",
        "run__input_kind",
        "hemisphere",
        "segment",
        *BAND_TESTS,
        "reason",
    ]
    rows = list(
        Measurement.objects.filter(
            imaging_selectors.usable_run_q("run__"), run__scan__visit__in=visits_qs
        ).values(*columns)
    )
    if not rows:
        return [], None
    version = max({r["run__algorithm_version"] for r in rows}, key=frames.version_key)
    rows = [r for r in rows if r["run__algorithm_version"] == version]
    latest: dict[tuple[int, str], tuple[float, int]] = {}
    for r in rows:
        finished = r["run__finished_at"]
        rank = (finished.timestamp() if finished else -math.inf, r["run_id"])
        scan_key = (r["run__scan__visit_id"], r["run__scan__kind"])
        latest[scan_key] = max(latest.get(scan_key, rank), rank)
    usable = [
        r
        for r in rows
        if latest[(r["run__scan__visit_id"], r["run__scan__kind"])][1] == r["run_id"]
    ]
    return usable, version


def _nv(
    completed: Mapping[int, dict[str, Any]],
    people: Mapping[int, _Subject],
    schedule: Schedule,
    studyid: str,
    visits_qs: Any,
) -> tuple[list[dict[str, Any]], str | None]:
    """NV records (quantification, then reads, per visit) and the algorithm version counted."""
    segment_order = {s: i for i, s in enumerate([*SEGMENT_LOCATIONS, *Segment.values])}
    kinds = list(ScanKind.values)
    rows: list[dict[str, Any]] = []

    def base(visit: Mapping[str, Any]) -> dict[str, Any]:
        person = people[visit["subject_id"]]
        return {
            **_common(studyid, "nv", person),
            **_visit(visit, schedule),
            "NVDTC": person.dtc(visit["date"]),
            "NVDY": person.day(visit["date"]),
        }

    found, version = _usable_measurements(visits_qs)
    measurements = sorted(
        (m for m in found if m["run__scan__visit_id"] in completed),
        key=lambda m: (
            kinds.index(m["run__scan__kind"]) if m["run__scan__kind"] in kinds else len(kinds),
            segment_order.get(m["segment"], len(segment_order)),
            m["hemisphere"],
        ),
    )
    for m in measurements:
        visit = completed[m["run__scan__visit_id"]]
        applicable = QSM_MEASURES if m["run__input_kind"] == QSM_INPUT else RATIO_MEASURES
        for measure in applicable:
            code, name, unit = BAND_TESTS[measure]
            stresc, number = _result(m[measure])
            rows.append(
                {
                    **base(visit),
                    "NVTESTCD": code,
                    "NVTEST": name,
                    "NVCAT": BAND_CATEGORY,
                    "NVORRES": stresc,
                    "NVORRESU": unit if number is not None and unit else None,
                    "NVSTRESC": stresc,
                    "NVSTRESN": number,
                    "NVSTRESU": unit if number is not None and unit else None,
                    "NVSTAT": NOT_DONE if number is None else None,
                    "NVREASND": (m["reason"] or None) if number is None else None,
                    "NVLOC": SEGMENT_LOCATIONS.get(m["segment"], str(m["segment"]).upper()),
                    "NVLAT": LATERALITY.get(m["hemisphere"], m["hemisphere"]),
                    "NVMETHOD": SCAN_METHODS.get(
                        m["run__scan__kind"], str(m["run__scan__kind"]).upper()
                    ),
                    "_category": 0,
                }
            )
    reads = frames._reads(visits_qs)
    for read in reads.to_dict("records"):
        read_visit = completed.get(read["visit_id"])
        if read_visit is None:
            continue
        for side, hemisphere in (("mbs_left", "L"), ("mbs_right", "R")):
            stresc, number = _result(read[side])
            if number is None:
                continue  # no consensus (raters two grades apart, not adjudicated)
            rows.append(
                {
                    **base(read_visit),
                    "NVTESTCD": READ_TEST[0],
                    "NVTEST": READ_TEST[1],
                    "NVCAT": READ_CATEGORY,
                    "NVORRES": stresc,
                    "NVSTRESC": stresc,
                    "NVSTRESN": number,
                    "NVLOC": SEGMENT_LOCATIONS["whole"],
                    "NVLAT": LATERALITY[hemisphere],
                    "NVMETHOD": READ_METHOD,
                    "NVEVAL": READ_EVALUATOR,
                    "NVDRVFL": YES,
                    "_category": 1,
                }
            )
    # Stable: within a visit and category, rows keep the order they were made in.
    rows.sort(key=lambda r: (r["USUBJID"], r["VISITNUM"], r["_category"]))
    return _sequenced(rows, "NVSEQ"), version


# --- define.csv and files -------------------------------------------------------------------


def cell(value: Any) -> str:
    """One CSV cell: empty for missing, integers without a decimal point, floats in full."""
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def define_table(
    domains: Mapping[str, pd.DataFrame], described: Mapping[str, list[Var]]
) -> pd.DataFrame:
    """``define.csv``: one row per variable present in each domain, in file order."""
    rows = []
    for name, frame in domains.items():
        by_name = {v.name: v for v in described[name]}
        for column in frame.columns:
            var = by_name[str(column)]
            if len(var.name) > NAME_MAX_LENGTH or len(var.label) > LABEL_MAX_LENGTH:
                raise ValueError(f"{var.name} '{var.label}' is too long for SDTM.")
            if var.type == NUM:
                length = NUM_LENGTH
            else:
                length = max([1, *(len(cell(v)) for v in frame[column])])
            rows.append(
                (
                    name.upper(),
                    var.name,
                    var.label,
                    var.type,
                    length,
                    ISO_8601 if var.name.endswith("DTC") else "",
                    var.origin,
                    var.codelist,
                    var.description,
                )
            )
    return pd.DataFrame(rows, columns=list(DEFINE_COLUMNS))


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        # Opened in spreadsheets too: text that reads as a formula is neutralized.
        writer.writerows([cells.neutralize_text(cell(v)) for v in row] for row in rows)
    return path


def write_dataset(dataset: SdtmDataset, directory: Path | str) -> list[Path]:
    """Write ``dm.csv`` ... ``nv.csv`` and ``define.csv`` into ``directory`` (created)."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = [
        _write_csv(
            root / f"{name}.csv",
            [str(c) for c in frame.columns],
            frame.itertuples(index=False, name=None),
        )
        for name, frame in dataset.domains.items()
    ]
    written.append(
        _write_csv(
            root / DEFINE_FILE,
            list(DEFINE_COLUMNS),
            dataset.define.itertuples(index=False, name=None),
        )
    )
    return written


def export_sdtm(
    directory: Path | str,
    *,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    date_mode: str = deid.SHIFT,
    site_mode: str = deid.KEEP,
) -> tuple[list[Path], SdtmDataset]:
    """Build and write the SDTM-style domains; returns the files and the dataset."""
    dataset = build_dataset(sites=sites, groups=groups, date_mode=date_mode, site_mode=site_mode)
    return write_dataset(dataset, directory), dataset
