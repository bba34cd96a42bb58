"""Trial datasets for statisticians: long (subject-visit), wide (subject) and event tables, and files.

``trial_tables`` reads the study in one joined query per table (no per-row queries), derives the
time axes and subscores' companions, optionally de-identifies (``analysis.exports.deidentify``)
and pivots the wide table; ``write_trial`` writes them as CSV, Excel, Parquet, Stata or SPSS with
the REDCap-style data dictionary, Stata/SPSS files carrying variable and value labels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyreadstat
from django.db import connection

from analysis import frames
from analysis.exports import cells, dictionary
from analysis.exports import deidentify as deid
from cohort import scales
from cohort.models import ClinicalEvent, Site, Visit
from cohort.schedule import visit_number

FORMATS = ("csv", "xlsx", "parquet", "dta", "sav")
#: SPSS measurement levels (Variable View, "Measure").
NOMINAL, ORDINAL, SCALE = "nominal", "ordinal", "scale"
#: SPSS print format of date variables: yyyy/mm/dd (a date, not a date-time, in SPSS).
SPSS_DATE_FORMAT = "SDATE10"
#: Coded categories whose codes are ordered (stages): ordinal, not nominal, in SPSS.
ORDINAL_CATEGORIES = ("kings_stage", "mitos_stage")
TABLES = ("long", "wide", "events")
DICTIONARY_FILE = "dictionary.csv"
STATA_LABEL_MAX = 80
YEAR_DAYS = frames.YEAR_DAYS

UMN_REGIONS = tuple(scales.UMN_REGIONS)
ALSFRS_DOMAINS = tuple(scales.ALSFRS_DOMAINS)
#: (output column, ORM lookup from Visit) of the long table's joined query.
LONG_QUERY: tuple[tuple[str, str], ...] = (
    ("_visit_id", "id"),
    ("subject", "subject__study_id"),
    ("site", "subject__site__code"),
    ("group", "subject__group"),
    ("sex", "subject__sex"),
    ("handedness", "subject__handedness"),
    ("birth_date", "subject__birth_date"),
    ("onset_date", "subject__onset_date"),
    ("onset_region", "subject__onset_region"),
    ("diagnosis_date", "subject__diagnosis_date"),
    ("enrolled_on", "subject__enrolled_on"),
    ("subject_comment", "subject__comment"),
    ("visit_code", "visit_code"),
    ("visit_date", "date"),
    ("visit_status", "status"),
    ("days_from_baseline", "days_from_baseline"),
    ("months_from_onset", "months_from_onset"),
    ("in_window", "in_window"),
    ("kings_stage", "kings_stage"),
    ("mitos_stage", "mitos_stage"),
    ("visit_comment", "comment"),
    *((item, f"umn_exam__{item}") for item in scales.UMN_ITEMS),
    *((f"umn_{region}", f"umn_exam__{region}") for region in UMN_REGIONS),
    ("umn_total", "umn_exam__total"),
    *((item, f"alsfrs__{item}") for item in scales.ALSFRS_ITEMS),
    ("q5_gastrostomy", "alsfrs__q5_gastrostomy"),
    *((code, f"alsfrs__{code}") for code in scales.ALSFRS_MISSING_FIELDS.values()),
    ("alsfrs_form_status", "alsfrs__form_status"),
    ("alsfrs_not_done_reason", "alsfrs__not_done_reason"),
    *((f"alsfrs_{domain}", f"alsfrs__{domain}") for domain in ALSFRS_DOMAINS),
    ("alsfrs_total", "alsfrs__total"),
    ("_delta_fs", "alsfrs__delta_fs"),
)
SUBJECT_COLUMNS = (
    "subject",
    "site",
    "group",
    "sex",
    "handedness",
    "birth_date",
    "age_at_enrolment",
    "onset_date",
    "onset_region",
    "diagnosis_date",
    "enrolled_on",
    "delta_fs",
    "subject_comment",
)
VISIT_COLUMNS = (
    "visit_code",
    "visit_date",
    "visit_status",
    "days_from_baseline",
    "months",
    "months_from_onset",
    "in_window",
    "kings_stage",
    "mitos_stage",
    "age",
    "visit_comment",
    *scales.UMN_ITEMS,
    *(f"umn_{region}" for region in UMN_REGIONS),
    "umn_total",
    *scales.ALSFRS_ITEMS,
    "q5_gastrostomy",
    *scales.ALSFRS_MISSING_FIELDS.values(),
    "alsfrs_form_status",
    "alsfrs_not_done_reason",
    *(f"alsfrs_{domain}" for domain in ALSFRS_DOMAINS),
    "alsfrs_total",
    "scanner",
    "field_strength",
    *frames.BAND_HEMISPHERE_COLUMNS,
    *frames.BAND_MEAN_COLUMNS,
    "algorithm_version",
    "mbs_left",
    "mbs_right",
    "mbs",
    "mbs_score",
)
LONG_COLUMNS = (*SUBJECT_COLUMNS, *VISIT_COLUMNS)
EVENT_COLUMNS = (
    "subject",
    "site",
    "group",
    "event_kind",
    "event_date",
    "event_days",
    "event_months",
    "event_comment",
)
DATE_COLUMNS = (
    "birth_date",
    "onset_date",
    "diagnosis_date",
    "enrolled_on",
    "visit_date",
    "event_date",
)
FLAG_COLUMNS = ("in_window", "q5_gastrostomy", "mbs")
INTEGER_COLUMNS = (
    "days_from_baseline",
    *scales.UMN_ITEMS,
    *(f"umn_{region}" for region in UMN_REGIONS),
    "umn_total",
    *scales.ALSFRS_ITEMS,
    *(f"alsfrs_{domain}" for domain in ALSFRS_DOMAINS),
    "alsfrs_total",
)


@dataclass
class TrialTables:
    """The three tables, the dictionary and what a release records about them."""

    long: pd.DataFrame
    wide: pd.DataFrame
    events: pd.DataFrame
    dictionary: pd.DataFrame
    algorithm_versions: list[str] = field(default_factory=list)
    site_names: dict[str, str] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        return {"long": self.long, "wide": self.wide, "events": self.events}


def _visits(sites: Sequence[str] | None, groups: Sequence[str] | None) -> Any:
    visits = Visit.objects.all()
    if sites:
        visits = visits.filter(subject__site__code__in=list(sites))
    if groups:
        visits = visits.filter(subject__group__in=list(groups))
    return visits


def long_query(visits: Any) -> tuple[str, Sequence[Any], list[str]]:
    """The SQL of the long table's join (visits, subjects, sites, UMN exams, ALSFRS-R)."""
    queryset = visits.order_by().values_list(*(lookup for _, lookup in LONG_QUERY))
    sql, params = queryset.query.sql_with_params()
    return sql, params, [name for name, _ in LONG_QUERY]


def _fetch(sql: str, params: Sequence[Any], columns: list[str]) -> pd.DataFrame:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)


def _as_dates(series: pd.Series) -> pd.Series:
    return pd.to_datetime(series, errors="coerce").astype("datetime64[s]")


def _as_flag(series: pd.Series) -> pd.Series:
    """Booleans (0/1 on SQLite, True/False elsewhere, None) as nullable 0/1 integers."""
    return pd.array(
        [
            None if v is None or (isinstance(v, float) and np.isnan(v)) else int(bool(v))
            for v in series
        ],
        dtype="Int64",
    )


def _whole_years(start: pd.Series, end: pd.Series) -> pd.Series:
    years = end.dt.year - start.dt.year
    before_birthday = (end.dt.month < start.dt.month) | (
        (end.dt.month == start.dt.month) & (end.dt.day < start.dt.day)
    )
    return (years - before_birthday.astype(int)).astype("Int64")


def long_table(
    *, sites: Sequence[str] | None = None, groups: Sequence[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """One row per subject-visit (every visit status), columns ``LONG_COLUMNS``.

    Returns the table and the band algorithm versions it holds. Band columns come from the latest
    algorithm version's done runs (as in ``analysis.frames``); reads are the consensus of the
    current blinded reads.
    """
    visits = _visits(sites, groups)
    sql, params, columns = long_query(visits)
    frame = _fetch(sql, params, columns)
    for column in DATE_COLUMNS:
        if column in frame:
            frame[column] = _as_dates(frame[column])
    for column in ("in_window", "q5_gastrostomy"):
        frame[column] = _as_flag(frame[column])
    # Scores stay as the database gives them (integers, None where missing): nullable Int64
    # columns would make the CSV several times slower to write for the same text.
    frame["age_at_enrolment"] = _whole_years(frame["birth_date"], frame["enrolled_on"])
    days = pd.to_numeric(frame["days_from_baseline"], errors="coerce").astype(float)
    frame["months"] = days / scales.MONTH_DAYS
    frame["age"] = (frame["visit_date"] - frame["birth_date"]).dt.days / YEAR_DAYS
    baseline = frame["visit_code"] == frames.BASELINE_VISIT
    frame["delta_fs"] = frame["subject"].map(frame.loc[baseline].set_index("subject")["_delta_fs"])
    versions: list[str] = []
    # Imaging and reads: small separate queries, merged on the visit.
    swi = frames._swi_scans(visits)
    band, version = frames._band(visits)
    reads = frames._reads(visits)
    if not swi.empty:
        frame = frame.merge(swi, left_on="_visit_id", right_on="visit_id", how="left")
    else:
        frame["scanner"], frame["field_strength"] = None, np.nan
    if not band.empty:
        frame = frame.merge(
            band, left_on="_visit_id", right_on="visit_id", how="left", suffixes=("", "_band")
        )
        versions = [version] if version else []
    for column in frames.BAND_HEMISPHERE_COLUMNS:
        if column not in frame:
            frame[column] = np.nan
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    frames._band_means(frame)
    frame["algorithm_version"] = np.where(
        frame["band_contrast_L"].notna() | frame["band_contrast_R"].notna(),
        version,
        None,  # type: ignore[call-overload]  # an object column: the version or None
    )
    if not reads.empty:
        frame = frame.merge(
            reads, left_on="_visit_id", right_on="visit_id", how="left", suffixes=("", "_reads")
        )
        frame["mbs"] = _as_flag(frame["mbs"].astype(object))
    else:
        for column in ("mbs_left", "mbs_right", "mbs_score"):
            frame[column] = np.nan
        frame["mbs"] = pd.array([None] * len(frame), dtype="Int64")
    frame["_number"] = frame["visit_code"].map(visit_number)
    frame = frame.sort_values(["subject", "_number"], kind="stable").reset_index(drop=True)
    return frame[list(LONG_COLUMNS)], versions


def event_table(
    long: pd.DataFrame, *, sites: Sequence[str] | None = None, groups: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per clinical event, with days and months from the subject's V1 date."""
    events = ClinicalEvent.objects.all()
    if sites:
        events = events.filter(subject__site__code__in=list(sites))
    if groups:
        events = events.filter(subject__group__in=list(groups))
    lookups = (
        "subject__study_id",
        "subject__site__code",
        "subject__group",
        "kind",
        "date",
        "comment",
    )
    names = ["subject", "site", "group", "event_kind", "event_date", "event_comment"]
    frame = pd.DataFrame.from_records(
        list(events.order_by("subject__study_id", "date", "kind").values_list(*lookups)),
        columns=names,
    )
    frame["event_date"] = _as_dates(frame["event_date"])
    baseline = long.loc[long["visit_code"] == frames.BASELINE_VISIT].set_index("subject")[
        "visit_date"
    ]
    days = (frame["event_date"] - frame["subject"].map(baseline)).dt.days
    frame["event_days"] = days.astype("Int64")
    frame["event_months"] = days / scales.MONTH_DAYS
    return frame[list(EVENT_COLUMNS)]


def wide_table(long: pd.DataFrame) -> pd.DataFrame:
    """One row per subject; each visit-level column ``X`` becomes ``X_V1``, ``X_V2``, ..."""
    subject_columns = [c for c in long.columns if c in SUBJECT_COLUMNS or c in _subject_like()]
    visit_columns = [c for c in long.columns if c not in subject_columns and c != "visit_code"]
    subjects = long[subject_columns].drop_duplicates("subject").set_index("subject")
    if long.empty:
        return subjects.reset_index()
    stacked = long.set_index(["subject", "visit_code"])[visit_columns]
    wide = stacked.unstack("visit_code")
    codes = sorted({code for _, code in wide.columns}, key=visit_number)
    ordered = [(column, code) for column in visit_columns for code in codes]
    wide = wide.reindex(columns=pd.MultiIndex.from_tuples(ordered))
    wide.columns = [f"{column}_{code}" for column, code in ordered]
    result = subjects.join(wide, how="left").reset_index()
    return result


def _subject_like() -> set[str]:
    """Subject-level columns under their de-identified names."""
    return {"onset_day", "diagnosis_day", "enrolment_day"}


def trial_tables(
    *,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
    key: bytes | None = None,
) -> TrialTables:
    """Build the long, wide and event tables (de-identified on request) and their dictionary."""
    long, versions = long_table(sites=sites, groups=groups)
    events = event_table(long, sites=sites, groups=groups)
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
    wide = wide_table(long)
    tables = TrialTables(long, wide, events, pd.DataFrame(), versions, site_names)
    tables.dictionary = dictionary.data_dictionary(tables.tables(), sites=site_names)
    return tables


# --- files -----------------------------------------------------------------------------------


def _labelled(
    frame: pd.DataFrame, site_names: Mapping[str, str]
) -> tuple[pd.DataFrame, dict[str, str | None], dict[str, dict[int | float, str]]]:
    """A copy for Stata/SPSS: coded categories as integers with value labels, strings never null.

    Categorical codes become 1..n in the order of their levels (value label = the code, as in the
    CSV); integer scales and 0/1 flags keep their values and get their levels as value labels.
    """
    out: dict[str, pd.Series] = {}
    labels: dict[str, str | None] = {}
    value_labels: dict[str, dict[int | float, str]] = {}
    for column in frame.columns:
        described = dictionary.variable(str(column), sites=site_names)
        labels[column] = described.label[:STATA_LABEL_MAX]
        series = frame[column]
        if described.type == dictionary.CATEGORICAL:
            codes = [str(c) for c in described.levels] if described.levels else []
            present = sorted(
                {str(v) for v in series.dropna()} - set(codes),
                key=lambda c: (visit_number(c) if column.startswith("visit_code") else 0, c),
            )
            codes += present
            numbers = {code: number for number, code in enumerate(codes, start=1)}
            out[column] = series.map(
                lambda v, numbers=numbers: (
                    numbers.get(str(v), np.nan) if v is not None and v == v else np.nan
                )
            ).astype(float)
            value_labels[column] = {number: code for code, number in numbers.items()}
        elif described.type == dictionary.DATE:
            # pyreadstat reads datetime64 as nanoseconds: any other unit would land in 1970.
            out[column] = pd.to_datetime(series).astype("datetime64[ns]")
        elif described.type == dictionary.TEXT or series.dtype == object:
            out[column] = series.astype(object).where(series.notna(), "").astype(str)
        else:
            out[column] = pd.to_numeric(series, errors="coerce").astype(float)
            if described.levels and described.type in (dictionary.INTEGER, dictionary.BOOLEAN):
                value_labels[column] = {int(k): v for k, v in described.levels.items()}
    return pd.DataFrame(out, index=frame.index), labels, value_labels


def spss_measure(column: str, *, sites: Mapping[str, str] | None = None) -> str:
    """SPSS measurement level of an exported column, from its description.

    Codes and categories (site, group, sex, visit, statuses, 0/1 flags) and text are nominal;
    item scores, grades and stages (integers or numbers with labelled levels: ALSFRS-R and Penn
    UMN items, MBS grades, confidence) are ordinal; counts, totals, subscores, days, ages, band
    measurements and dates are scale.
    """
    described = dictionary.variable(column, sites=sites)
    match = dictionary.WIDE_SUFFIX_RE.match(column)
    base = match["base"] if match and column not in dictionary.VARIABLES else column
    if base in ORDINAL_CATEGORIES:
        return ORDINAL
    if described.type in (dictionary.CATEGORICAL, dictionary.BOOLEAN, dictionary.TEXT):
        return NOMINAL
    if described.type in (dictionary.INTEGER, dictionary.FLOAT) and described.levels:
        return ORDINAL
    return SCALE


def _write_sav(
    labelled: pd.DataFrame,
    path: Path,
    labels: Mapping[str, str | None],
    value_labels: Mapping[str, dict[int | float, str]],
    site_names: Mapping[str, str],
) -> None:
    """SPSS file with variable and value labels, measurement levels and date formats."""
    measures = {str(c): spss_measure(str(c), sites=site_names) for c in labelled.columns}
    for column in labelled.columns:
        if labelled[column].dtype == object:
            measures[column] = NOMINAL if measures[column] == SCALE else measures[column]
    formats = {
        str(c): SPSS_DATE_FORMAT
        for c in labelled.columns
        if pd.api.types.is_datetime64_any_dtype(labelled[c])
    }
    pyreadstat.write_sav(
        labelled,
        str(path),
        file_label="MotorBand trial dataset",
        column_labels=dict(labels),
        variable_value_labels=dict(value_labels),
        variable_measure=measures,
        variable_format=formats,
    )


def write_table(frame: pd.DataFrame, path: Path, fmt: str, site_names: Mapping[str, str]) -> Path:
    """Write one table in one format; returns the file written."""
    if fmt == "csv":
        # Spreadsheets open CSV too: text cells that read as formulas are neutralized.
        cells.neutralized(frame).to_csv(path, index=False, date_format="%Y-%m-%d")
    elif fmt == "xlsx":
        dated = frame.copy()
        for column in dated.columns:
            if pd.api.types.is_datetime64_any_dtype(dated[column]):
                dated[column] = dated[column].dt.date
        cells.write_xlsx(dated, path, sheet=path.stem)  # constant memory, text neutralized
    elif fmt == "parquet":
        frame.to_parquet(path, index=False, engine="pyarrow")
    elif fmt in ("dta", "sav"):
        labelled, labels, value_labels = _labelled(frame, site_names)
        if fmt == "dta":
            # pandas names each value label set after its variable (pyreadstat appends a number,
            # which overflows Stata's 32 characters for wide names like
            # left_upper_upper_spasticity_V1).
            labelled.to_stata(
                path,
                write_index=False,
                version=118,
                data_label="MotorBand trial dataset",
                variable_labels=labels,
                value_labels=value_labels,
                convert_dates={
                    c: "td"
                    for c in labelled.columns
                    if pd.api.types.is_datetime64_any_dtype(labelled[c])
                },
            )
        else:
            _write_sav(labelled, path, labels, value_labels, site_names)
    else:
        raise ValueError(f"Unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    return path


def write_trial(
    tables: TrialTables,
    directory: Path | str,
    fmt: str,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Write ``long``, ``wide`` and ``events`` in ``fmt`` and ``dictionary.csv`` into ``directory``.

    ``progress(done, total, file name)`` is called before each table is written."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    written = []
    named = tables.tables()
    for done, (name, frame) in enumerate(named.items()):
        if progress is not None:
            progress(done, len(named), f"{name}.{fmt}")
        written.append(write_table(frame, root / f"{name}.{fmt}", fmt, tables.site_names))
    cells.neutralized(tables.dictionary).to_csv(root / DICTIONARY_FILE, index=False)
    written.append(root / DICTIONARY_FILE)
    return sorted(written)


def export_trial(
    directory: Path | str,
    *,
    fmt: str,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    deidentify: bool = False,
    date_mode: str = deid.BASELINE,
    site_mode: str = deid.KEEP,
) -> tuple[list[Path], TrialTables]:
    """Build and write the trial dataset; returns the files and the tables."""
    tables = trial_tables(
        sites=sites,
        groups=groups,
        deidentify=deidentify,
        date_mode=date_mode,
        site_mode=site_mode,
    )
    return write_trial(tables, directory, fmt), tables
