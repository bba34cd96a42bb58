"""The study bundle (contract.md, "Study bundle layout 2"): a BIDS dataset, exported and imported.

What goes where, and why (``bids-validator-deno`` 3.0.2, BIDS 1.11.1, judges every export)::

    dataset_description.json          DatasetType "raw"; BIDSVersion of the validator's schema
    README, .bidsignore
    participants.tsv (+ .json)        one row per subject (BIDS' own participant table)
    sessions.json                     describes every sub-*/sub-*_sessions.tsv (BIDS inheritance)
    sub-<label>/sub-<label>_sessions.tsv   session_id, acq_time, status: one row per visit
    sub-<label>/ses-<v>/anat/sub-<label>_ses-<v>_<suffix>.nii.gz (+ .json scanner sidecar)
        acq-swi_T2starw   swi kind (BIDS has no _swi suffix: SWI is a T2*-weighted image)
        T1w               t1 kind
        Chimap            qsm kind (BIDS' susceptibility map; Units from the run where known)
        part-mag_T2starw, part-phase_T2starw   gre_magnitude / gre_phase (MotorBand stores one
                          3-D echo per scan, so _T2starw, not the per-echo _MEGRE; a phase image
                          needs Units "rad" or "arbitrary", read from its value range)
    phenotype/{visits,umn,alsfrsr,events,reads}.tsv (+ .json)   the clinical data, longitudinal
    derivatives/labels/               label maps: a derived segmentation, not raw data
        dataset_description.json      DatasetType "derivative", GeneratedBy
        desc-aparcaseg_dseg.tsv/.json index, name: FreeSurfer's look-up table of the labels used
        sub-<label>/ses-<v>/anat/sub-<label>_ses-<v>_desc-aparcaseg_dseg.nii.gz   labels kind
    derivatives/motorband/            the band quantification, a derivative dataset of its own
        dataset_description.json, README, .bidsignore, band.tsv (+ .json): one row per run and
        measurement

Why the two ``.bidsignore`` files: BIDS 1.11 has no form for tables with several rows per
participant (phenotype files are indexed by ``participant_id`` alone; BEP036 on longitudinal
phenotypes is a proposal) nor for region-wise measurement tables, yet these are the study's
clinical data and results. The root ``.bidsignore`` names exactly the five phenotype tables and
their dictionaries, ``derivatives/motorband/.bidsignore`` exactly ``band.tsv`` and ``band.json``.
The validator run on the bundle, or on each derivative dataset, then reports no error. (With
``--recursive`` validator 3.0.2 prunes dot-files below the root, so it never reads the derivative's
own ``.bidsignore`` and lists ``band.tsv``/``band.json`` as NOT_INCLUDED there.) BIDS needs a
date-time in ``acq_time``; MotorBand records visit dates, so the time is 00:00:00 by convention.

Everything is written in a fixed order and format so that export → import → export gives
byte-identical TSVs; pybids is not needed (plain files, read and written here).

Import reads layout 2 and the layout of contract version 1 (``_swi`` and ``_dseg`` images in the
raw ``anat`` folders, no sessions files), so old bundles still import. It writes everything through
the services (``cohort.services``, ``imaging.services.scan_upload``) inside one transaction, so it
shares their validation. Every problem is collected as a ``Problem`` (file, row, column, value,
rule); any problem, or a dry run, rolls the whole import back and deletes the image files stored
meanwhile. Images are streamed one at a time from disk. ``phenotype/visits.tsv`` is the source of
the visits in both layouts; a layout 2 sessions file must agree with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import json
import math
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from tqdm import tqdm

from analysis.exports import dictionary, freesurfer
from analysis.exports.dictionary import Variable
from cohort import scales, services
from cohort.models import ClinicalEvent, Site, Subject, Visit
from cohort.schedule import visit_number
from core import roles
from core.roles import Acting
from imaging import band, reading
from imaging.band.io import PHASE_RANGE_TOLERANCE
from imaging.models import (
    Measurement,
    NonDiagnosticReason,
    QuantificationRun,
    Read,
    ReadOutcome,
    RunStatus,
    Scan,
    ScanKind,
)
from imaging.services import scan_upload

#: The BIDS version of the schema bundled with the validator the tests run (bids-validator-deno
#: 3.0.2: schema 1.2.7, BIDS 1.11.1).
BIDS_VERSION = "1.11.1"
NA = "n/a"
DESCRIPTION = "dataset_description.json"
BIDSIGNORE = ".bidsignore"
README = "README"
PARTICIPANTS = "participants.tsv"
SESSIONS_SIDECAR = "sessions.json"
VISITS = "phenotype/visits.tsv"
UMN = "phenotype/umn.tsv"
ALSFRS = "phenotype/alsfrsr.tsv"
EVENTS = "phenotype/events.tsv"
READS = "phenotype/reads.tsv"
LABELS_DIR = "derivatives/labels"
MOTORBAND_DIR = "derivatives/motorband"
BAND = f"{MOTORBAND_DIR}/band.tsv"
#: Entities and suffix of a label map in ``derivatives/labels`` (FreeSurfer aparc+aseg).
LABELS_SUFFIX = "desc-aparcaseg_dseg"
LABELS_TABLE = f"{LABELS_DIR}/{LABELS_SUFFIX}.tsv"
LABELS_TABLE_COLUMNS = ("index", "name")

PARTICIPANT_COLUMNS = (
    "participant_id",
    "study_id",
    "site",
    "group",
    "sex",
    "birth_date",
    "handedness",
    "onset_date",
    "onset_region",
    "diagnosis_date",
    "enrolled_on",
)
SESSION_COLUMNS = ("session_id", "acq_time", "status")
VISIT_COLUMNS = ("participant_id", "session_id", "date", "status")
UMN_COLUMNS = ("participant_id", "session_id", *scales.UMN_ITEMS)
ALSFRS_COLUMNS = ("participant_id", "session_id", *scales.ALSFRS_ITEMS, "q5_gastrostomy")
#: Each item's missing-data code and the form's status and reason: written by this version,
#: optional on import (bundles written before them hold scores only).
ALSFRS_CODE_COLUMNS = (
    *scales.ALSFRS_MISSING_FIELDS.values(),
    "alsfrs_form_status",
    "alsfrs_not_done_reason",
)
#: Bundle column → the ALSFRS-R service's field, where they differ.
ALSFRS_CODE_FIELDS = {
    "alsfrs_form_status": "form_status",
    "alsfrs_not_done_reason": "not_done_reason",
}
EVENT_COLUMNS = ("participant_id", "kind", "date")
READ_COLUMNS = ("participant_id", "session_id", "rater", "left_grade", "right_grade", "confidence")
#: A read's outcome (graded, or non-diagnostic with its reason): written by this version, optional
#: on import (bundles written before it hold graded reads only).
READ_OUTCOME_COLUMNS = ("outcome", "non_diagnostic_reason", "non_diagnostic_detail")
MEASURE_COLUMNS = (
    "band_contrast",
    "band_extent",
    "laminar_contrast",
    "deep_mean",
    "superficial_mean",
    "reference_mean",
    "reference_sd",
    "n_voxels",
)
BAND_COLUMNS = (
    "participant_id",
    "session_id",
    "scan",
    "algorithm_version",
    "parameters",
    "input_kind",
    "hemisphere",
    "segment",
    *MEASURE_COLUMNS,
    "reason",
)
#: Every phenotype table: bundle path → its columns.
PHENOTYPE_TABLES = {
    VISITS: VISIT_COLUMNS,
    UMN: UMN_COLUMNS,
    ALSFRS: (*ALSFRS_COLUMNS, *ALSFRS_CODE_COLUMNS),
    EVENTS: EVENT_COLUMNS,
    READS: (*READ_COLUMNS, *READ_OUTCOME_COLUMNS),
}
#: Files the validator has no form for (see the module docstring): exactly these are ignored.
IGNORED_PHENOTYPE_FILES = tuple(
    name for path in PHENOTYPE_TABLES for name in (path, path.replace(".tsv", ".json"))
)
IGNORED_BAND_FILES = ("band.tsv", "band.json")
#: Scan kind → BIDS entities and suffix of its image in the raw ``anat`` folders (layout 2).
KIND_SUFFIX: dict[str, str] = {
    ScanKind.SWI: "acq-swi_T2starw",
    ScanKind.QSM: "Chimap",
    ScanKind.GRE_MAGNITUDE: "part-mag_T2starw",
    ScanKind.GRE_PHASE: "part-phase_T2starw",
    ScanKind.T1: "T1w",
}
#: Contract version 1 names (raw ``anat`` folders): read on import, never written.
LEGACY_SUFFIX_KIND: dict[str, str] = {"swi": ScanKind.SWI, "dseg": ScanKind.LABELS}
SUFFIX_KIND: dict[str, str] = {
    **{suffix: kind for kind, suffix in KIND_SUFFIX.items()},
    LABELS_SUFFIX: ScanKind.LABELS,
    **LEGACY_SUFFIX_KIND,
}
#: Import order within a session: intensity images before their label map.
KIND_ORDER: list[str] = [
    ScanKind.SWI,
    ScanKind.QSM,
    ScanKind.GRE_MAGNITUDE,
    ScanKind.GRE_PHASE,
    ScanKind.T1,
    ScanKind.LABELS,
]
LABEL_RE = re.compile(r"^[A-Za-z0-9]+$")
PARTICIPANT_RE = re.compile(r"^sub-(?P<label>[A-Za-z0-9]+)$")
SESSION_RE = re.compile(r"^ses-(?P<visit>[A-Za-z0-9]+)$")
_IMAGE_STEM = r"^sub-(?P<label>[A-Za-z0-9]+)_ses-(?P<session>[A-Za-z0-9]+)_"
_IMAGE_EXT = r"(?P<ext>\.nii\.gz|\.nii)$"
#: An image in a raw ``anat`` folder, layout 2 or contract version 1.
IMAGE_RE = re.compile(
    _IMAGE_STEM
    + "(?P<suffix>"
    + "|".join(re.escape(s) for s in (*KIND_SUFFIX.values(), *LEGACY_SUFFIX_KIND))
    + ")"
    + _IMAGE_EXT
)
#: A label map in ``derivatives/labels``.
LABELS_IMAGE_RE = re.compile(_IMAGE_STEM + f"(?P<suffix>{re.escape(LABELS_SUFFIX)})" + _IMAGE_EXT)
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: BIDS date-time (``acq_time``): the date, optionally a time, fraction and zone.
DATETIME_RE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?)?$"
)
#: The time written after a visit date in ``acq_time`` (BIDS needs one; MotorBand has dates).
ACQ_TIME_OF_DAY = "T00:00:00"
INT_RE = re.compile(r"^-?\d+$")
MS_PER_S = 1000.0
COPY_CHUNK_BYTES = 1 << 20
#: Image sidecar keys (BIDS) ↔ scan fields; echo time is seconds in BIDS, milliseconds in MotorBand.
SIDECAR_FIELDS = (
    ("MagneticFieldStrength", "field_strength"),
    ("Manufacturer", "manufacturer"),
    ("ManufacturersModelName", "scanner_model"),
)
#: BIDS Units of a phase image (the validator accepts only these two).
PHASE_RADIANS, PHASE_ARBITRARY = "rad", "arbitrary"


class BundleError(Exception):
    """The bundle cannot be written (e.g. two study ids give the same participant label)."""


def participant_label(study_id: str) -> str:
    """BIDS participant label: the study id without non-alphanumerics (EDM-0001 → EDM0001)."""
    return re.sub(r"[^A-Za-z0-9]", "", study_id)


# --- TSV formatting -----------------------------------------------------------------------------


def cell(value: Any) -> str:
    """One TSV cell: ``n/a`` for missing, ISO dates, 1/0 for booleans, shortest exact floats."""
    if value is None or value == "":
        return NA
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value) if value == value else NA
    return re.sub(r"[\t\r\n]+", " ", str(value))


def write_tsv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("\t".join(columns) + "\n")
        for row in rows:
            out.write("\t".join(cell(v) for v in row) + "\n")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# --- export -------------------------------------------------------------------------------------


def _sessions(visit: Visit) -> str:
    return f"ses-{visit.visit_code}"


def _visit_key(visit: Visit) -> tuple[str, int]:
    return (participant_label(visit.subject.study_id), visit_number(visit.visit_code))


def acq_time(date: dt.date | None) -> str | None:
    """A visit date as a BIDS ``acq_time`` (date-time; midnight: MotorBand records dates only)."""
    return None if date is None else date.isoformat() + ACQ_TIME_OF_DAY


def bids_columns() -> dict[str, Variable]:
    """The descriptions of the bundle's columns (for the ``*.json`` data dictionaries)."""
    described = dict(dictionary.VARIABLES)
    described.update(
        {
            "participant_id": Variable(
                "participant_id",
                "Participant label: sub- and the study id without non-alphanumerics",
                dictionary.TEXT,
            ),
            "study_id": Variable("study_id", "Study id of the subject", dictionary.TEXT),
            "session_id": Variable(
                "session_id", "Session: ses- and the visit code (ses-V1 is baseline)", "text"
            ),
            "acq_time": Variable(
                "acq_time",
                "Visit date (MotorBand records dates: the time of day is 00:00:00 by convention)",
                "datetime",
            ),
            "date": Variable("date", "Date", dictionary.DATE),
            "status": described["visit_status"],
            "kind": described["event_kind"],
            "rater": Variable("rater", "Username of the blinded rater", dictionary.TEXT),
            "left_grade": Variable(
                "left_grade",
                "Motor band sign grade, left hemisphere",
                dictionary.INTEGER,
                levels=dictionary.GRADE_LEVELS,
            ),
            "right_grade": Variable(
                "right_grade",
                "Motor band sign grade, right hemisphere",
                dictionary.INTEGER,
                levels=dictionary.GRADE_LEVELS,
            ),
            "confidence": Variable(
                "confidence",
                "Rater's confidence",
                dictionary.INTEGER,
                levels=dictionary.CONFIDENCE_LEVELS,
            ),
            "outcome": Variable(
                "outcome",
                "Read outcome (grades are empty for a non-diagnostic read)",
                dictionary.CATEGORICAL,
                levels={value: str(label) for value, label in ReadOutcome.choices},
            ),
            "non_diagnostic_reason": Variable(
                "non_diagnostic_reason",
                "Why the scan could not be graded",
                dictionary.CATEGORICAL,
                levels={value: str(label) for value, label in NonDiagnosticReason.choices},
            ),
            "non_diagnostic_detail": Variable(
                "non_diagnostic_detail", "Description of an 'other' reason", dictionary.TEXT
            ),
        }
    )
    for name in ("status", "kind"):
        described[name] = Variable(
            name, described[name].label, described[name].type, levels=described[name].levels
        )
    return described


def _participant_rows(subjects: list[Subject]) -> list[tuple[Any, ...]]:
    return [
        (
            f"sub-{participant_label(s.study_id)}",
            s.study_id,
            s.site.code,
            s.group,
            s.sex,
            s.birth_date,
            s.handedness,
            s.onset_date,
            s.onset_region,
            s.diagnosis_date,
            s.enrolled_on,
        )
        for s in subjects
    ]


def _copy_image(scan: Scan, target_stem: Path) -> Path:
    """Copy a stored image into the bundle (a .mgz becomes .nii.gz, same values and data type)."""
    name = (scan.file.name or "").lower()
    if name.endswith(".nii.gz") or name.endswith(".nii"):
        target = target_stem.with_name(
            target_stem.name + (".nii.gz" if name.endswith(".gz") else ".nii")
        )
        target.parent.mkdir(parents=True, exist_ok=True)
        with scan.file.open("rb") as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
        return target
    target = target_stem.with_name(target_stem.name + ".nii.gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    image: Any = nib.load(scan.file.path)
    converted = nib.Nifti1Image(np.asanyarray(image.dataobj), image.affine)
    converted.header.set_xyzt_units("mm")
    nib.save(converted, target)
    return target


def _image_sidecar(scan: Scan) -> dict[str, Any]:
    """The scanner fields BIDS recommends that MotorBand knows, and Units where BIDS wants them."""
    sidecar: dict[str, Any] = {}
    for key, name in SIDECAR_FIELDS:
        value = getattr(scan, name)
        if value not in (None, ""):
            sidecar[key] = value
    if scan.echo_time is not None:
        sidecar["EchoTime"] = scan.echo_time / MS_PER_S
    if scan.kind == ScanKind.GRE_PHASE:
        sidecar["Units"] = phase_units(Path(scan.file.path))
    elif scan.kind == ScanKind.QSM:
        unit = _qsm_unit(scan)
        if unit:
            sidecar["Units"] = unit
    return sidecar


def phase_units(path: Path) -> str:
    """BIDS Units of a phase image: ``rad`` when its values span -pi..pi, else ``arbitrary``.

    A wrapped phase fills its convention's range, so the largest absolute value tells radians
    (within ``PHASE_RANGE_TOLERANCE`` of pi) from scanner or arbitrary units.
    """
    image: Any = nib.load(path)
    data = np.asarray(image.dataobj, dtype=np.float64)
    finite = data[np.isfinite(data)]
    if not finite.size:
        return PHASE_ARBITRARY
    half_range = float(np.max(np.abs(finite)))
    return (
        PHASE_RADIANS
        if abs(half_range - math.pi) <= PHASE_RANGE_TOLERANCE * math.pi
        else PHASE_ARBITRARY
    )


def _qsm_unit(scan: Scan) -> str | None:
    """The susceptibility unit a finished run of this QSM scan recorded (ppm or ppb), if any."""
    for parameters in (
        QuantificationRun.objects.filter(scan=scan, status=RunStatus.DONE)
        .order_by("pk")
        .values_list("parameters", flat=True)
    ):
        unit = (parameters or {}).get("qsm_unit")
        if unit:
            return str(unit)
    return None


def _labels_used(path: Path) -> set[int]:
    image: Any = nib.load(path)
    values = np.unique(np.asanyarray(image.dataobj))
    return {round(float(v)) for v in values if np.isfinite(v)}


def export_bundle(
    directory: Path | str,
    *,
    progress: bool = False,
    on_image: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write the whole study as a study bundle (layout 2) into ``directory`` (created; empty).

    ``on_image(images copied, images in all, bundle path)`` hears of each image copied (the
    images take most of the time; a release's background job reports them as its progress).

    Returns the files written, sorted. Raises ``BundleError`` when the folder is not empty or two
    study ids share a participant label.
    """
    root = Path(directory)
    if root.exists() and any(root.iterdir()):
        raise BundleError(f"{root} is not empty: export into a new or empty folder.")
    root.mkdir(parents=True, exist_ok=True)
    subjects = list(Subject.objects.select_related("site").order_by("study_id"))
    labels: dict[str, str] = {}
    for subject in subjects:
        label = participant_label(subject.study_id)
        if label in labels:
            raise BundleError(
                f"Study ids {labels[label]} and {subject.study_id} both give the participant "
                f"label sub-{label}; rename one before exporting."
            )
        labels[label] = subject.study_id
    subjects.sort(key=lambda s: participant_label(s.study_id))
    described = bids_columns()
    sites = {s.code: s.name for s in Site.objects.order_by("code")}

    from analysis.exports.releases import software_version

    version = software_version()
    write_json(
        root / DESCRIPTION,
        {
            "Name": _study_name(),
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "MotorBand", "Version": version}],
        },
    )
    _write_text(
        root / README,
        "MotorBand study bundle (BIDS): the subjects in participants.tsv, their visits in\n"
        "sub-*/sub-*_sessions.tsv, SWI (acq-swi_T2starw), T1w, QSM (Chimap) and gradient-echo\n"
        "(part-mag/part-phase T2starw) images under sub-*/ses-*/anat/, and the clinical data\n"
        "(visits, Penn UMN exams, ALSFRS-R, clinical events, blinded motor band reads) in\n"
        "phenotype/ with a data dictionary per table. FreeSurfer aparc+aseg label maps are in\n"
        "derivatives/labels/, the band quantification in derivatives/motorband/.\n"
        "Missing values are n/a; dates are ISO 8601. The phenotype tables hold several rows per\n"
        "participant (one per session, event or read), a form BIDS does not define yet: they\n"
        "are listed in .bidsignore.\n",
    )
    _write_text(root / BIDSIGNORE, "".join(f"/{name}\n" for name in IGNORED_PHENOTYPE_FILES))
    write_tsv(root / PARTICIPANTS, PARTICIPANT_COLUMNS, _participant_rows(subjects))
    participants_sidecar = dictionary.bids_sidecar(PARTICIPANT_COLUMNS, described)
    participants_sidecar["site"]["Levels"] = sites
    write_json(root / "participants.json", participants_sidecar)

    visits = sorted(
        Visit.objects.select_related("subject").prefetch_related("umn_exam", "alsfrs"),
        key=_visit_key,
    )
    _export_sessions(root, subjects, visits, described)
    _export_phenotype(root, visits, described)
    _export_images(root, progress=progress, on_image=on_image)
    _export_band(root)
    return sorted(p for p in root.rglob("*") if p.is_file())


def _export_sessions(
    root: Path, subjects: list[Subject], visits: list[Visit], described: Mapping[str, Variable]
) -> None:
    """One sessions file per subject (every subject gets its folder), described once at the root."""
    by_subject: dict[str, list[Visit]] = {}
    for visit in visits:
        by_subject.setdefault(participant_label(visit.subject.study_id), []).append(visit)
    for subject in subjects:
        label = participant_label(subject.study_id)
        write_tsv(
            root / f"sub-{label}" / f"sub-{label}_sessions.tsv",
            SESSION_COLUMNS,
            ((_sessions(v), acq_time(v.date), v.status) for v in by_subject.get(label, [])),
        )
    write_json(root / SESSIONS_SIDECAR, dictionary.bids_sidecar(SESSION_COLUMNS, described))


def _export_phenotype(root: Path, visits: list[Visit], described: Mapping[str, Variable]) -> None:
    write_tsv(
        root / VISITS,
        VISIT_COLUMNS,
        (
            (f"sub-{participant_label(v.subject.study_id)}", _sessions(v), v.date, v.status)
            for v in visits
        ),
    )
    umn_rows, alsfrs_rows = [], []
    for v in visits:
        ids = (f"sub-{participant_label(v.subject.study_id)}", _sessions(v))
        exam = getattr(v, "umn_exam", None)
        if exam is not None:
            umn_rows.append((*ids, *(getattr(exam, item) for item in scales.UMN_ITEMS)))
        alsfrs = getattr(v, "alsfrs", None)
        if alsfrs is not None:
            alsfrs_rows.append(
                (
                    *ids,
                    *(getattr(alsfrs, item) for item in scales.ALSFRS_ITEMS),
                    alsfrs.q5_gastrostomy,
                    *(getattr(alsfrs, code) for code in scales.ALSFRS_MISSING_FIELDS.values()),
                    alsfrs.form_status,
                    alsfrs.not_done_reason or None,
                )
            )
    write_tsv(root / UMN, UMN_COLUMNS, umn_rows)
    write_tsv(root / ALSFRS, PHENOTYPE_TABLES[ALSFRS], alsfrs_rows)
    events = sorted(
        ClinicalEvent.objects.select_related("subject"),
        key=lambda e: (participant_label(e.subject.study_id), e.date, e.kind),
    )
    write_tsv(
        root / EVENTS,
        EVENT_COLUMNS,
        ((f"sub-{participant_label(e.subject.study_id)}", e.kind, e.date) for e in events),
    )
    reads = sorted(
        Read.objects.filter(is_current=True, scan__kind=ScanKind.SWI).select_related(
            "scan__visit__subject", "rater"
        ),
        key=lambda r: (*_visit_key(r.scan.visit), r.rater.get_username()),
    )
    write_tsv(
        root / READS,
        (*READ_COLUMNS, *READ_OUTCOME_COLUMNS),
        (
            (
                f"sub-{participant_label(r.scan.visit.subject.study_id)}",
                _sessions(r.scan.visit),
                r.rater.get_username(),
                r.left_grade,
                r.right_grade,
                r.confidence,
                r.outcome,
                r.non_diagnostic_reason or None,
                r.non_diagnostic_detail or None,
            )
            for r in reads
        ),
    )
    for path, columns in PHENOTYPE_TABLES.items():
        write_json((root / path).with_suffix(".json"), dictionary.bids_sidecar(columns, described))


def image_path(scan: Scan) -> str:
    """The bundle path of a scan's image without its extension (layout 2)."""
    label = participant_label(scan.visit.subject.study_id)
    session = _sessions(scan.visit)
    if scan.kind == ScanKind.LABELS:
        return f"{LABELS_DIR}/sub-{label}/{session}/anat/sub-{label}_{session}_{LABELS_SUFFIX}"
    return f"sub-{label}/{session}/anat/sub-{label}_{session}_{KIND_SUFFIX[scan.kind]}"


def _export_images(
    root: Path, *, progress: bool, on_image: Callable[[int, int, str], None] | None = None
) -> None:
    scans = sorted(
        Scan.objects.select_related("visit__subject").filter(kind__in=KIND_ORDER),
        key=lambda s: (*_visit_key(s.visit), KIND_ORDER.index(ScanKind(s.kind))),
    )
    labels_used: set[int] = set()
    for copied, scan in enumerate(
        tqdm(scans, desc="images", unit="image", disable=not progress), start=1
    ):
        stem = root / image_path(scan)
        written = _copy_image(scan, stem)
        if on_image is not None:
            on_image(copied, len(scans), written.relative_to(root).as_posix())
        if scan.kind == ScanKind.LABELS:
            labels_used |= _labels_used(written)
        sidecar = _image_sidecar(scan)
        if sidecar:
            write_json(stem.with_name(stem.name + ".json"), sidecar)
    _export_labels_dataset(root, labels_used)


def _export_labels_dataset(root: Path, labels_used: set[int]) -> None:
    from analysis.exports.releases import software_version

    folder = root / LABELS_DIR
    write_json(
        folder / DESCRIPTION,
        {
            "Name": "Cortical label maps (FreeSurfer aparc+aseg)",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": "FreeSurfer",
                    "Description": "aparc+aseg label maps made at the sites, uploaded to MotorBand",
                },
                {
                    "Name": "MotorBand",
                    "Version": software_version(),
                    "Description": "Export of the stored label maps",
                },
            ],
        },
    )
    _write_text(
        folder / README,
        "Label maps with FreeSurfer aparc+aseg numbering (precentral cortex 1024/2024, postcentral\n"
        "1022/2022, paracentral 1017/2017, cerebral white matter 2/41), one per session, in the\n"
        "space of the image they were made from. desc-aparcaseg_dseg.tsv names every label used.\n",
    )
    write_json(
        folder / f"{LABELS_SUFFIX}.json",
        {"Description": "FreeSurfer aparc+aseg label map (FreeSurfer numbering)"},
    )
    write_tsv(
        root / LABELS_TABLE,
        LABELS_TABLE_COLUMNS,
        ((index, freesurfer.label_name(index)) for index in sorted(labels_used)),
    )


def _study_name() -> str:
    from cohort.models import Study

    study = Study.objects.filter(pk=1).first()
    return study.name if study else "MotorBand study"


def _export_band(root: Path) -> None:
    runs = sorted(
        QuantificationRun.objects.filter(status=RunStatus.DONE).select_related(
            "scan__visit__subject"
        ),
        key=lambda r: (
            *_visit_key(r.scan.visit),
            KIND_ORDER.index(ScanKind(r.scan.kind)),
            dictionary_version_key(r.algorithm_version),
            r.parameters_hash,
        ),
    )
    by_run: dict[int, list[Measurement]] = {}
    for m in Measurement.objects.filter(run__in=[r.pk for r in runs]).order_by(
        "hemisphere", "segment"
    ):
        by_run.setdefault(m.run_id, []).append(m)
    rows = []
    for run in runs:
        for m in by_run.get(run.pk, []):
            rows.append(
                (
                    f"sub-{participant_label(run.scan.visit.subject.study_id)}",
                    _sessions(run.scan.visit),
                    KIND_SUFFIX.get(run.scan.kind, run.scan.kind),
                    run.algorithm_version,
                    json.dumps(run.parameters, sort_keys=True, separators=(",", ":")),
                    run.input_kind,
                    m.hemisphere,
                    m.segment,
                    *(getattr(m, name) for name in MEASURE_COLUMNS),
                    m.reason,
                )
            )
    folder = root / MOTORBAND_DIR
    write_tsv(root / BAND, BAND_COLUMNS, rows)
    versions = sorted({r.algorithm_version for r in runs}, key=dictionary_version_key)
    write_json(
        folder / DESCRIPTION,
        {
            "Name": "MotorBand band quantification",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": [
                {"Name": "MotorBand", "Version": v, "Description": "Motor band quantification"}
                for v in (versions or [band.ALGORITHM_VERSION])
            ],
        },
    )
    _write_text(
        folder / README,
        "Motor band quantification: band.tsv has one row per finished run and measurement\n"
        "(hemisphere and segment of the precentral gyrus, or the paracentral lobule), with the\n"
        "run's method version and parameters; band.json describes the columns. BIDS has no\n"
        "form for region-wise measurement tables yet, so .bidsignore lists band.tsv and\n"
        "band.json.\n",
    )
    _write_text(folder / BIDSIGNORE, "".join(f"/{name}\n" for name in IGNORED_BAND_FILES))
    write_json(
        folder / "band.json",
        dictionary.bids_sidecar(
            BAND_COLUMNS,
            {
                **bids_columns(),
                "scan": Variable(
                    "scan", "Measured image (BIDS entities and suffix)", dictionary.TEXT
                ),
                "parameters": Variable(
                    "parameters", "Parameters of the run (JSON)", dictionary.TEXT
                ),
                "input_kind": Variable("input_kind", "Input kind (swi or qsm)", "text"),
                "hemisphere": Variable(
                    "hemisphere", "Hemisphere", "categorical", levels={"L": "left", "R": "right"}
                ),
                "segment": Variable(
                    "segment",
                    "Segment: whole, leg, hand, face (precentral gyrus) or paracentral "
                    "(paracentral lobule)",
                    "text",
                ),
                **{
                    name: Variable(name, name.replace("_", " "), dictionary.FLOAT)
                    for name in MEASURE_COLUMNS
                },
                "reason": Variable("reason", "Why a measurement is missing", "text"),
            },
        ),
    )


def dictionary_version_key(version: str) -> tuple[Any, ...]:
    from analysis.frames import version_key

    return version_key(version)


# --- layout checks ------------------------------------------------------------------------------


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def layout_problems(directory: Path | str) -> list[str]:
    """The layout 2 rules MotorBand relies on, checked on a bundle; empty when it follows them.

    Required ``dataset_description.json`` fields (Name, BIDSVersion, DatasetType raw),
    ``participants.tsv`` headed by ``participant_id`` with unique ``sub-<label>`` values, one
    folder per listed participant and none unlisted, each with a sessions file headed
    ``session_id``, ``ses-<label>`` session folders, image names
    ``sub-<label>_ses-<label>_<entities>_<suffix>.nii[.gz]`` of layout 2 matching their folders
    (label maps only under ``derivatives/labels``), every phenotype TSV headed by
    ``participant_id`` with a JSON dictionary describing each column, and the derivative
    datasets' ``dataset_description.json`` (DatasetType derivative, GeneratedBy). The official
    validator judges the rest (tests/analysis/exports/test_bids_validator.py).
    """
    root = Path(directory)
    problems: list[str] = []
    description = _json_object(root / DESCRIPTION)
    if description is None:
        return [f"{DESCRIPTION}: missing or not a JSON object"]
    for key in ("Name", "BIDSVersion"):
        if not description.get(key):
            problems.append(f"{DESCRIPTION}: required field {key} is missing")
    if description.get("DatasetType") != "raw":
        problems.append(f"{DESCRIPTION}: DatasetType must be raw")
    header, rows = _read_plain_tsv(root / PARTICIPANTS)
    if not header or header[0] != "participant_id":
        problems.append(f"{PARTICIPANTS}: the first column must be participant_id")
    listed = [row[0] for row in rows if row]
    for value in listed:
        if not PARTICIPANT_RE.match(value):
            problems.append(f"{PARTICIPANTS}: '{value}' is not sub-<alphanumeric label>")
    if len(set(listed)) != len(listed):
        problems.append(f"{PARTICIPANTS}: participant_id values are not unique")
    for folder in sorted(root.glob("sub-*")):
        if folder.name not in listed:
            problems.append(f"{folder.name}/: not listed in {PARTICIPANTS}")
        sessions_file = folder / f"{folder.name}_sessions.tsv"
        header, _ = _read_plain_tsv(sessions_file)
        if not header or header[0] != "session_id":
            problems.append(f"{sessions_file.relative_to(root)}: missing, or not headed session_id")
    for subject in listed:
        if not (root / subject).is_dir():
            problems.append(f"{subject}/: listed in {PARTICIPANTS} but has no folder")
    problems += _image_name_problems(root, root, KIND_SUFFIX.values())
    problems += _image_name_problems(root, root / LABELS_DIR, (LABELS_SUFFIX,))
    for path in (*PHENOTYPE_TABLES, BAND):
        header, _ = _read_plain_tsv(root / path)
        if not header or header[0] != "participant_id":
            problems.append(f"{path}: missing, or its first column is not participant_id")
            continue
        sidecar = _json_object((root / path).with_suffix(".json"))
        if sidecar is None:
            problems.append(f"{path}: its JSON data dictionary is missing")
            continue
        for column in header:
            if "Description" not in sidecar.get(column, {}):
                problems.append(f"{path}: column {column} has no Description in its dictionary")
    for derived in (LABELS_DIR, MOTORBAND_DIR):
        derivative = _json_object(root / derived / DESCRIPTION)
        if derivative is None:
            problems.append(f"{derived}/{DESCRIPTION}: missing or not a JSON object")
        elif derivative.get("DatasetType") != "derivative" or not derivative.get("GeneratedBy"):
            problems.append(f"{derived}: DatasetType derivative and GeneratedBy needed")
    return problems


def _image_name_problems(root: Path, dataset: Path, suffixes: Iterable[str]) -> list[str]:
    """Images (and sidecars) of ``dataset``'s anat folders whose names break layout 2."""
    allowed = tuple(suffixes)
    problems = []
    for folder in sorted(dataset.glob("sub-*")):
        if not folder.is_dir():
            continue
        for session in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not SESSION_RE.match(session.name):
                problems.append(f"{session.relative_to(root)}: not a ses-<label> folder")
                continue
            for image in sorted((session / "anat").glob("*")):
                prefix = f"{folder.name}_{session.name}_"
                stem = re.sub(r"(\.nii\.gz|\.nii|\.json)$", "", image.name)
                ok = image.name.startswith(prefix) and stem[len(prefix) :] in allowed
                if ok and image.suffix == ".json":
                    ok = (
                        image.with_name(stem + ".nii.gz").exists()
                        or image.with_name(stem + ".nii").exists()
                    )
                elif ok:
                    ok = image.name.endswith((".nii.gz", ".nii"))
                if not ok:
                    problems.append(
                        f"{image.relative_to(root)}: name does not follow "
                        f"{prefix}<{'|'.join(allowed)}>.nii[.gz]"
                    )
    return problems


def _read_plain_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return [], []
    if not lines:
        return [], []
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


# --- import -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One reason a bundle cannot be imported: the cell (file, row, column, value) and the rule.

    ``row`` is the line number in the file (the header is line 1); None for a whole file.
    """

    file: str
    row: int | None
    column: str
    value: str
    rule: str


@dataclass
class ImportResult:
    problems: list[Problem]
    counts: dict[str, int]
    dry_run: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class _Rollback(Exception):
    pass


@dataclass
class _Row:
    file: str
    line: int | None
    values: dict[str, str]

    def get(self, column: str) -> str:
        return self.values.get(column, "")


def _is_missing(raw: str) -> bool:
    return raw.strip() in ("", NA)


class BundleImporter:
    """Reads one bundle into the database through the services; collects every problem."""

    def __init__(
        self,
        root: Path,
        *,
        reason: str,
        progress: bool = False,
        user: Acting = None,
    ) -> None:
        self.root = root
        self.reason = reason
        self.progress = progress
        self.user = user
        self.problems: list[Problem] = []
        self.warnings: list[str] = []
        self.counts: dict[str, int] = {}
        self.stored_files: list[str] = []
        self.subjects: dict[str, Subject | None] = {}  # participant_id → subject (None: failed)
        self.visits: dict[tuple[str, str], Visit | None] = {}  # (participant, session) → visit
        self.visit_rows: dict[tuple[str, str], _Row] = {}  # their rows in visits.tsv
        self.swi_scans: dict[tuple[str, str], Scan] = {}
        self.failed_swi: set[tuple[str, str]] = set()  # sessions whose SWI was refused

    # -- problems ---------------------------------------------------------------------------

    def problem(self, file: str, row: int | None, column: str, value: str, rule: str) -> None:
        self.problems.append(Problem(file, row, column, value, rule))

    def from_validation(
        self,
        exc: ValidationError,
        row: _Row,
        columns: Mapping[str, str] | None = None,
        default_column: str = "",
    ) -> None:
        """Turn a service's ValidationError into one problem per field and message."""
        columns = columns or {}
        if hasattr(exc, "error_dict"):
            items: Iterable[tuple[str, list[str]]] = exc.message_dict.items()
        else:
            items = [(default_column or NON_FIELD_ERRORS, exc.messages)]
        for name, messages in items:
            column = "" if name == NON_FIELD_ERRORS else columns.get(name, name)
            # One problem per cell: a field validator and clean() may both refuse the same value.
            rule = " ".join(dict.fromkeys(m if m.endswith(".") else f"{m}." for m in messages))
            self.problem(row.file, row.line, column, row.get(column), rule)

    # -- reading ----------------------------------------------------------------------------

    def read_tsv(
        self, path: str, required: Sequence[str], optional: Sequence[str] = ()
    ) -> list[_Row] | None:
        """The rows of a TSV (None when it is missing or unusable, with a problem recorded)."""
        full = self.root / path
        if not full.is_file():
            self.problem(path, None, "", "", "The file is missing from the bundle.")
            return None
        try:
            with full.open(encoding="utf-8-sig", newline="") as handle:
                lines = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(path, None, "", "", f"The file cannot be read as UTF-8 text ({exc}).")
            return None
        if not lines:
            self.problem(path, 1, "", "", "The file is empty: it needs a header row.")
            return None
        header = [h.strip() for h in lines[0]]
        missing = [c for c in required if c not in header]
        for column in missing:
            self.problem(path, 1, column, "", "Required column is missing from the header.")
        duplicated = sorted({c for c in header if header.count(c) > 1})
        for column in duplicated:
            self.problem(path, 1, column, column, "The column appears more than once.")
        unknown = [c for c in header if c not in required and c not in optional]
        if unknown:
            self.warnings.append(f"{path}: ignored unknown column(s) {', '.join(unknown)}")
        if missing or duplicated:
            return None
        rows = []
        for number, values in enumerate(lines[1:], start=2):
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(header):
                self.problem(
                    path,
                    number,
                    "",
                    "\t".join(values)[:80],
                    f"The row has {len(values)} cells; the header has {len(header)}.",
                )
                continue
            rows.append(
                _Row(path, number, {h: v.strip() for h, v in zip(header, values, strict=True)})
            )
        return rows

    def text(self, row: _Row, column: str) -> str | None:
        raw = row.get(column)
        return None if _is_missing(raw) else raw

    def date(self, row: _Row, column: str) -> tuple[dt.date | None, bool]:
        raw = row.get(column)
        if _is_missing(raw):
            return None, True
        try:
            if not DATE_RE.match(raw):
                raise ValueError
            return dt.date.fromisoformat(raw), True
        except ValueError:
            self.problem(row.file, row.line, column, raw, "Not an ISO date (YYYY-MM-DD) or n/a.")
            return None, False

    def integer(self, row: _Row, column: str) -> tuple[int | None, bool]:
        raw = row.get(column)
        if _is_missing(raw):
            return None, True
        if not INT_RE.match(raw):
            self.problem(row.file, row.line, column, raw, "Not a whole number or n/a.")
            return None, False
        return int(raw), True

    def boolean(self, row: _Row, column: str) -> tuple[bool, bool]:
        raw = row.get(column).lower()
        if raw in ("1", "true", "yes"):
            return True, True
        if raw in ("0", "false", "no", "", NA):
            return False, True
        self.problem(row.file, row.line, column, row.get(column), "Must be 1 (yes) or 0 (no).")
        return False, False

    def session(self, row: _Row) -> tuple[str, str] | None:
        """The row's (participant, session) when both exist; records a problem otherwise.

        None silently when the participant or the visit failed to import (its own problem is
        already in the report).
        """
        participant, session = row.get("participant_id"), row.get("session_id")
        if participant not in self.subjects:
            self.problem(
                row.file,
                row.line,
                "participant_id",
                participant,
                f"Unknown participant: not listed in {PARTICIPANTS}.",
            )
            return None
        if self.subjects[participant] is None:
            return None
        key = (participant, session)
        if key not in self.visits:
            self.problem(
                row.file,
                row.line,
                "session_id",
                session,
                f"Unknown session: {participant} has no {session or 'such'} session in {VISITS}.",
            )
            return None
        if self.visits[key] is None:
            return None
        return key

    def call(self, row: _Row, columns: Mapping[str, str], action: Callable[[], Any]) -> Any:
        """Run one service call; a ValidationError becomes problems (the call's savepoint
        rolls its own writes back, the import goes on)."""
        try:
            return action()
        except ValidationError as exc:
            self.from_validation(exc, row, columns)
            return None

    # -- tables -----------------------------------------------------------------------------

    def run(self) -> None:
        self.check_description()
        site_names = self.site_names()
        self.import_participants(site_names)
        self.import_visits()
        self.check_sessions_files()
        self.import_forms()
        self.import_events()
        self.import_images()
        self.import_reads()

    def check_description(self) -> None:
        path = self.root / DESCRIPTION
        try:
            description = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.problem(DESCRIPTION, None, "", "", "The file is missing from the bundle.")
            return
        except (OSError, ValueError) as exc:
            self.problem(DESCRIPTION, None, "", "", f"Not valid JSON ({exc}).")
            return
        if not isinstance(description, dict):
            self.problem(DESCRIPTION, None, "", "", "Must hold a JSON object.")
            return
        for key in ("Name", "BIDSVersion"):
            if not description.get(key):
                self.problem(DESCRIPTION, None, key, "", "Required BIDS field is missing.")

    def site_names(self) -> dict[str, str]:
        """Site names from ``participants.json`` (site Levels), where the bundle has them."""
        try:
            sidecar = json.loads((self.root / "participants.json").read_text(encoding="utf-8"))
            levels = sidecar.get("site", {}).get("Levels", {})
            return {str(k): str(v) for k, v in levels.items()} if isinstance(levels, dict) else {}
        except (OSError, ValueError, AttributeError):
            return {}

    def import_participants(self, site_names: Mapping[str, str]) -> None:
        rows = self.read_tsv(PARTICIPANTS, PARTICIPANT_COLUMNS, ("comment",))
        if rows is None:
            return
        sites = {s.code: s for s in Site.objects.all()}
        failed_sites: set[str] = set()
        count = 0
        for row in rows:
            participant, study_id = row.get("participant_id"), row.get("study_id")
            if participant in self.subjects:
                self.problem(
                    row.file, row.line, "participant_id", participant, "Duplicate participant."
                )
                continue
            self.subjects[participant] = None
            ok = True
            if not PARTICIPANT_RE.match(participant):
                self.problem(
                    row.file,
                    row.line,
                    "participant_id",
                    participant,
                    "Must be sub- followed by letters and digits.",
                )
                ok = False
            elif participant != f"sub-{participant_label(study_id)}":
                self.problem(
                    row.file,
                    row.line,
                    "participant_id",
                    participant,
                    f"Must be sub-{participant_label(study_id)}: the study id without "
                    "non-alphanumerics.",
                )
                ok = False
            code = row.get("site")
            site = sites.get(code)
            if site is None and code not in failed_sites:
                try:
                    site = services.site_create(
                        user=self.user, code=code, name=site_names.get(code) or code
                    )
                    sites[code] = site
                    self.counts["sites"] = self.counts.get("sites", 0) + 1
                except ValidationError as exc:
                    failed_sites.add(code)
                    self.from_validation(exc, row, {"code": "site", "name": "site"})
            if site is None:
                ok = False
            fields: dict[str, Any] = {"study_id": study_id, "site": site}
            for name in ("birth_date", "onset_date", "diagnosis_date", "enrolled_on"):
                value, parsed = self.date(row, name)
                fields[name] = value
                ok = ok and parsed
            fields["group"] = row.get("group")
            fields["sex"] = row.get("sex")
            fields["handedness"] = self.text(row, "handedness") or ""
            fields["onset_region"] = self.text(row, "onset_region")
            fields["comment"] = self.text(row, "comment") or ""
            if not ok:
                continue
            subject = self.call(
                row,
                {},
                functools.partial(
                    services.subject_create, user=self.user, reason=self.reason, **fields
                ),
            )
            if subject is not None:
                self.subjects[participant] = subject
                count += 1
        self.counts["subjects"] = count

    def import_visits(self) -> None:
        rows = self.read_tsv(VISITS, VISIT_COLUMNS, ("comment",))
        if rows is None:
            return
        ordered: list[tuple[tuple[str, int], _Row]] = []
        for row in rows:
            participant, session = row.get("participant_id"), row.get("session_id")
            match = SESSION_RE.match(session)
            try:
                number = visit_number(match["visit"]) if match else None
            except ValueError:
                number = None
            if number is None:
                self.problem(
                    row.file,
                    row.line,
                    "session_id",
                    session,
                    "Must be ses- followed by a visit code (ses-V1, ses-V2, ...).",
                )
                continue
            if participant not in self.subjects:
                self.problem(
                    row.file,
                    row.line,
                    "participant_id",
                    participant,
                    f"Unknown participant: not listed in {PARTICIPANTS}.",
                )
                continue
            if (participant, session) in self.visits:
                self.problem(row.file, row.line, "session_id", session, "Duplicate session.")
                continue
            self.visits[(participant, session)] = None
            self.visit_rows[(participant, session)] = row
            ordered.append(((participant, number), row))
        # Baselines first: a follow-up visit is validated against its subject's V1.
        ordered.sort(key=lambda item: item[0])
        count = 0
        for (participant, _), row in ordered:
            subject = self.subjects[participant]
            date, ok = self.date(row, "date")
            if subject is None or not ok:
                continue
            session = row.get("session_id")
            visit = self.call(
                row,
                {"visit_code": "session_id", "subject": "participant_id"},
                functools.partial(
                    services.visit_create,
                    user=self.user,
                    subject=subject,
                    reason=self.reason,
                    visit_code=session[len("ses-") :],
                    date=date,
                    status=row.get("status"),
                    comment=self.text(row, "comment") or "",
                ),
            )
            if visit is not None:
                self.visits[(participant, session)] = visit
                count += 1
        self.counts["visits"] = count

    def check_sessions_files(self) -> None:
        """Layout 2's ``sub-<label>/sub-<label>_sessions.tsv`` must agree with ``visits.tsv``.

        The visits come from ``phenotype/visits.tsv`` in both layouts; a sessions file (layout 2)
        repeats each visit's date (as ``acq_time``) and status, and a disagreement is a problem.
        """
        for folder in sorted(self.root.glob("sub-*")):
            path = f"{folder.name}/{folder.name}_sessions.tsv"
            if not folder.is_dir() or not (self.root / path).is_file():
                continue
            participant = folder.name
            rows = self.read_tsv(path, ("session_id",), SESSION_COLUMNS[1:])
            if rows is None:
                continue
            if participant not in self.subjects:
                self.problem(
                    path,
                    None,
                    "participant_id",
                    participant,
                    f"Unknown participant: not listed in {PARTICIPANTS}.",
                )
                continue
            if self.subjects[participant] is None:
                continue
            seen: set[str] = set()
            for row in rows:
                session = row.get("session_id")
                key = (participant, session)
                if session in seen:
                    self.problem(row.file, row.line, "session_id", session, "Duplicate session.")
                    continue
                seen.add(session)
                if key not in self.visit_rows:
                    self.problem(
                        row.file,
                        row.line,
                        "session_id",
                        session,
                        f"Unknown session: {participant} has no {session or 'such'} session "
                        f"in {VISITS}.",
                    )
                    continue
                visit_row = self.visit_rows[key]
                raw = row.get("acq_time")
                match = DATETIME_RE.match(raw)
                if "acq_time" in row.values and not _is_missing(raw) and not match:
                    self.problem(
                        row.file,
                        row.line,
                        "acq_time",
                        raw,
                        "Not a BIDS date-time (YYYY-MM-DDThh:mm:ss) or n/a.",
                    )
                elif "acq_time" in row.values:
                    date = match["date"] if match else NA
                    expected = NA if _is_missing(visit_row.get("date")) else visit_row.get("date")
                    if date != expected:
                        self.problem(
                            row.file,
                            row.line,
                            "acq_time",
                            raw,
                            f"Differs from the session's date in {VISITS} ({expected}).",
                        )
                if "status" in row.values and row.get("status") != visit_row.get("status"):
                    self.problem(
                        row.file,
                        row.line,
                        "status",
                        row.get("status"),
                        f"Differs from the session's status in {VISITS} "
                        f"({visit_row.get('status')}).",
                    )
            for listed_participant, session in self.visit_rows:
                if listed_participant == participant and session not in seen:
                    self.problem(
                        path,
                        None,
                        "session_id",
                        session,
                        f"The session is in {VISITS} but missing from this sessions file.",
                    )

    def import_forms(self) -> None:
        for path, items, save, extra, codes in (
            (UMN, scales.UMN_ITEMS, services.umn_exam_save, (), ()),
            (
                ALSFRS,
                scales.ALSFRS_ITEMS,
                services.alsfrs_save,
                ("q5_gastrostomy",),
                ALSFRS_CODE_COLUMNS,
            ),
        ):
            rows = self.read_tsv(path, ("participant_id", "session_id", *items, *extra), codes)
            if rows is None:
                continue
            seen: dict[tuple[str, str], int | None] = {}
            count = 0
            for row in rows:
                values: dict[str, Any] = {}
                ok = True
                for item in items:
                    values[item], parsed = self.integer(row, item)
                    ok = ok and parsed
                for flag in extra:
                    values[flag], parsed = self.boolean(row, flag)
                    ok = ok and parsed
                for column in codes:  # text codes, checked by the service (named by column)
                    if column in row.values:
                        value = self.text(row, column)
                        if column == "alsfrs_form_status" and value is None:
                            value = scales.ALSFRS_FORM_DONE
                        values[ALSFRS_CODE_FIELDS.get(column, column)] = value
                # Out-of-range items are reported even when the visit itself failed.
                checks = (
                    scales.umn_item_errors(values)
                    if path == UMN
                    else scales.alsfrs_item_errors(values)
                )
                key = self.session(row)
                if key is None:
                    for item, message in checks.items():
                        self.problem(row.file, row.line, item, row.get(item), message)
                    continue
                if key in seen:
                    self.problem(
                        row.file,
                        row.line,
                        "session_id",
                        key[1],
                        f"Duplicate: this session's form is already on row {seen[key]}.",
                    )
                    continue
                seen[key] = row.line
                if not ok:
                    continue
                visit = self.visits[key]
                if visit is None:  # its session failed to import (reported there)
                    continue
                form = self.call(
                    row,
                    {"visit": "session_id", **{f: c for c, f in ALSFRS_CODE_FIELDS.items()}},
                    functools.partial(
                        save, user=self.user, visit=visit, items=values, reason=self.reason
                    ),
                )
                count += form is not None
            self.counts[Path(path).stem] = count

    def import_events(self) -> None:
        rows = self.read_tsv(EVENTS, EVENT_COLUMNS, ("comment",))
        if rows is None:
            return
        parsed_rows = []
        for row in rows:
            participant = row.get("participant_id")
            date, ok = self.date(row, "date")
            if participant not in self.subjects:
                self.problem(
                    row.file,
                    row.line,
                    "participant_id",
                    participant,
                    f"Unknown participant: not listed in {PARTICIPANTS}.",
                )
                continue
            if ok and self.subjects[participant] is not None:
                parsed_rows.append((participant, date or dt.date.max, row, date))
        parsed_rows.sort(key=lambda item: (item[0], item[1], item[2].line))
        count = 0
        for participant, _, row, date in parsed_rows:
            subject = self.subjects[participant]
            if subject is None:  # kept out of parsed_rows above; narrows the type
                continue
            event = self.call(
                row,
                {"subject": "participant_id"},
                functools.partial(
                    services.event_create,
                    user=self.user,
                    subject=subject,
                    reason=self.reason,
                    kind=row.get("kind"),
                    date=date,
                    comment=self.text(row, "comment") or "",
                ),
            )
            count += event is not None
        self.counts["events"] = count

    def image_paths(self) -> Iterator[tuple[str, Path]]:
        """Every image file of the bundle (relative path, path): the raw ``sub-*`` folders and
        ``derivatives/labels``, in session order and kind order within a session."""
        found = []
        for dataset, pattern in ((self.root, IMAGE_RE), (self.root / LABELS_DIR, LABELS_IMAGE_RE)):
            for subject_dir in sorted(dataset.glob("sub-*")):
                if not subject_dir.is_dir():
                    continue
                for path in sorted(subject_dir.rglob("*")):
                    name = path.name.lower()
                    if path.is_file() and (name.endswith(".nii.gz") or name.endswith(".nii")):
                        match = pattern.match(path.name)
                        kind = SUFFIX_KIND[match["suffix"]] if match else ""
                        order = KIND_ORDER.index(kind) if kind else 0
                        session = path.relative_to(dataset).parts[:2]
                        found.append((session, order, path.name, path))
        found.sort(key=lambda item: item[:3])
        for *_, path in found:
            yield path.relative_to(self.root).as_posix(), path

    def image_place(self, relative: str) -> tuple[str, str, str] | None:
        """(participant, session, kind) of an image path of layout 2 or 1; None for another name.

        Raw images sit in ``sub-<label>/ses-<visit>/anat/``, label maps of layout 2 in the same
        folders under ``derivatives/labels/``; the file name repeats the folders' labels.
        """
        parts = Path(relative).parts
        if parts[:2] == tuple(LABELS_DIR.split("/")):
            parts, pattern = parts[2:], LABELS_IMAGE_RE
        else:
            pattern = IMAGE_RE
        match = pattern.match(parts[-1])
        if (
            not match
            or len(parts) != 4
            or parts[0] != f"sub-{match['label']}"
            or parts[1] != f"ses-{match['session']}"
            or parts[2] != "anat"
        ):
            return None
        return parts[0], parts[1], SUFFIX_KIND[match["suffix"]]

    def import_images(self) -> None:
        images = list(self.image_paths())
        count = 0
        for relative, path in tqdm(images, desc="images", unit="image", disable=not self.progress):
            row = _Row(relative, None, {"file": path.name})
            place = self.image_place(relative)
            if place is None:
                self.problem(
                    relative,
                    None,
                    "file",
                    path.name,
                    "Not a bundle image: expected sub-<label>/ses-<visit>/anat/"
                    "sub-<label>_ses-<visit>_<suffix>.nii.gz with the suffix acq-swi_T2starw, "
                    "T1w, Chimap, part-mag_T2starw or part-phase_T2starw (or swi, dseg of the "
                    f"version 1 layout), or a label map {LABELS_DIR}/sub-<label>/ses-<visit>/anat/"
                    f"sub-<label>_ses-<visit>_{LABELS_SUFFIX}.nii.gz.",
                )
                continue
            participant, session, kind = place
            if participant not in self.subjects:
                self.problem(relative, None, "participant_id", participant, "Unknown participant.")
                continue
            if self.subjects[participant] is None:
                continue
            key = (participant, session)
            if key not in self.visits:
                self.problem(
                    relative,
                    None,
                    "session_id",
                    session,
                    f"Unknown session: {participant} has no {session} session in {VISITS}.",
                )
                continue
            visit = self.visits[key]
            if visit is None:
                continue
            scanner = self.image_sidecar(path, relative)
            if scanner is None:
                continue
            scan = self.store_image(row, visit, kind, path, scanner)
            if scan is not None:
                count += 1
                if kind == ScanKind.SWI:
                    self.swi_scans[key] = scan
            elif kind == ScanKind.SWI:
                self.failed_swi.add(key)
        self.counts["images"] = count

    def image_sidecar(self, path: Path, relative: str) -> dict[str, Any] | None:
        sidecar_path = path.with_name(re.sub(r"\.nii(\.gz)?$", ".json", path.name))
        if not sidecar_path.is_file():
            return {}
        try:
            sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
            if not isinstance(sidecar, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            self.problem(
                str(Path(relative).with_name(sidecar_path.name)),
                None,
                "",
                "",
                f"Not valid JSON ({exc}).",
            )
            return None
        scanner: dict[str, Any] = {}
        strength = sidecar.get("MagneticFieldStrength")
        if strength is not None:
            if isinstance(strength, int | float) and not isinstance(strength, bool):
                scanner["field_strength"] = float(strength)
            else:
                self.problem(
                    sidecar_path.name, None, "MagneticFieldStrength", str(strength), "Not a number."
                )
                return None
        for key, name in SIDECAR_FIELDS[1:]:
            if sidecar.get(key):
                scanner[name] = str(sidecar[key])[:100]
        return scanner

    def store_image(
        self, row: _Row, visit: Visit, kind: str, path: Path, scanner: dict[str, Any]
    ) -> Scan | None:
        try:
            with path.open("rb") as handle:
                scan = scan_upload(
                    user=self.user, visit=visit, kind=kind, upload=handle, name=path.name, **scanner
                )
        except ValidationError as exc:
            self.from_validation(exc, row, {}, default_column="file")
            return None
        except OSError as exc:
            self.problem(row.file, None, "file", path.name, f"The file cannot be read ({exc}).")
            return None
        self.stored_files.append(str(scan.file.name))
        return scan

    def import_reads(self) -> None:
        if not (self.root / READS).is_file():
            return  # reads are optional: a study may not have been read yet
        rows = self.read_tsv(READS, READ_COLUMNS, ("comment", *READ_OUTCOME_COLUMNS))
        if rows is None:
            return
        users = get_user_model()
        validate_username = UnicodeUsernameValidator()
        raters: dict[str, Any] = {}
        count = 0
        for row in rows:
            grades: dict[str, Any] = {}
            ok = True
            for name in ("left_grade", "right_grade", "confidence"):
                grades[name], parsed = self.integer(row, name)
                ok = ok and parsed
            for name in READ_OUTCOME_COLUMNS:
                value = self.text(row, name)
                if value:
                    grades[name] = value
            username = row.get("rater")
            try:
                validate_username(username)
                if not username:
                    raise ValidationError("A rater is needed.")
            except ValidationError as exc:
                self.from_validation(exc, row, {}, default_column="rater")
                ok = False
            key = self.session(row)
            if key is None or not ok:
                continue
            scan = self.swi_scans.get(key)
            if scan is None and key in self.failed_swi:
                continue  # the image's own problem is already in the report
            if scan is None:
                self.problem(
                    row.file,
                    row.line,
                    "session_id",
                    key[1],
                    "This session has no SWI image in the bundle to attach the read to.",
                )
                continue
            rater = raters.get(username)
            if rater is None:
                rater = users.objects.filter(username=username).first()
                if rater is None:
                    rater = services.study_user_save(
                        username=username, role=roles.RATER, is_active=False
                    )
                    self.counts["raters"] = self.counts.get("raters", 0) + 1
                raters[username] = rater
            read = self.call(
                row,
                {"scan": "session_id", "rater": "rater"},
                functools.partial(
                    reading.read_import,
                    user=self.user,
                    scan=scan,
                    rater=rater,
                    comment=self.text(row, "comment") or "",
                    **grades,
                ),
            )
            count += read is not None
        self.counts["reads"] = count


def _delete_stored(names: Iterable[str]) -> None:
    """Delete files stored during a rolled-back import, and the folders left empty by them."""
    media = Path(settings.MEDIA_ROOT).resolve()
    for name in names:
        default_storage.delete(name)
        try:
            folder = Path(default_storage.path(name)).parent.resolve()
        except NotImplementedError:
            continue
        while folder != media and media in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def import_bundle(
    directory: Path | str, *, dry_run: bool = False, progress: bool = False, user: Acting = None
) -> ImportResult:
    """Import a study bundle all or nothing; see the module docstring.

    Returns the problems (empty when the import succeeded) and the number of records per table.
    With any problem, or ``dry_run``, the database and the file storage are left as they were.
    """
    root = Path(directory)
    importer = BundleImporter(
        root, reason=f"Imported from study bundle {root.name}", progress=progress, user=user
    )
    if not root.is_dir():
        importer.problem(str(root), None, "", "", "Not a folder.")
        return ImportResult(importer.problems, {}, dry_run)
    committed = False
    try:
        with transaction.atomic():
            importer.run()
            if importer.problems or dry_run:
                raise _Rollback
        committed = True
    except _Rollback:
        pass
    finally:
        if not committed:
            _delete_stored(importer.stored_files)
    return ImportResult(importer.problems, importer.counts, dry_run, importer.warnings)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(COPY_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()
