"""Selectors that turn the database into the analysis DataFrames (one query per table, no per-row queries).

``analysis_frame`` gives one row per completed subject-visit with the clinical scores, the scanner and
the band measurements of the latest algorithm version; ``event_frame`` gives one row per subject with
the time from V1 to a clinical event (or censoring) and the subject-level covariates. Both are scoped
with ``core.roles``: investigators, data managers and admins see every site, anyone else gets an
empty frame (the views refuse them before that anyway).
"""

from __future__ import annotations

import itertools
import operator
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import F, QuerySet

from analysis.stats import agreement, harmonize, survival
from cohort import scales
from cohort.models import AlsfrsR, ClinicalEvent, EventKind, UmnExam, Visit, VisitStatus
from core import dataversion, roles
from core.roles import Acting
from imaging import selectors as imaging_selectors
from imaging.models import (
    Adjudication,
    Measurement,
    QcStatus,
    QuantificationRun,
    Read,
    ReadOutcome,
    Scan,
    ScanKind,
    Segment,
)

#: How long a study frame is kept for the other analyses of the same request (seconds), and how
#: many are kept (``_memo_study_frame``).
STUDY_FRAME_KEEP_S = 30.0
STUDY_FRAMES_KEPT = 2
_STUDY_FRAMES: OrderedDict[tuple[Any, ...], tuple[float, tuple[pd.DataFrame | None, str | None]]]
_STUDY_FRAMES = OrderedDict()
_STUDY_FRAMES_LOCK = threading.Lock()
#: Days per year for ages (mean Gregorian year).
YEAR_DAYS = 365.25
#: The baseline visit.
BASELINE_VISIT = "V1"
HEMISPHERES = ("L", "R")
UMN_REGION_COLUMNS = ("bulbar", "right_upper", "left_upper", "right_lower", "left_lower")
ALSFRS_DOMAIN_COLUMNS = tuple(scales.ALSFRS_DOMAINS)
#: Band measurements taken from each hemisphere's "whole" segment.
BAND_MEASURES = ("band_contrast", "band_extent", "laminar_contrast")
#: Per-hemisphere band columns (``band_contrast_L``, ...): what ComBat harmonizes.
BAND_HEMISPHERE_COLUMNS = tuple(f"{m}_{h}" for m in BAND_MEASURES for h in HEMISPHERES)
#: Mean-of-hemispheres columns recomputed from the per-hemisphere ones.
BAND_MEAN_COLUMNS = ("band_contrast", "band_extent", "laminar_contrast")
#: Covariates whose effects ComBat preserves (categorical ones listed separately).
HARMONIZE_COVARIATES = ("group", "age", "sex")
HARMONIZE_CATEGORICAL = ("group", "sex")
#: King's stage as an ordinal number (4A and 4B are both stage 4).
KINGS_STAGE_NUMBER = {"1": 1, "2": 2, "3": 3, "4a": 4, "4b": 4}
#: Derived event: the first visit at King's stage 4, or the gastrostomy or NIV that puts a subject
#: there (Roche 2012), whichever comes first.
KINGS_STAGE_4 = "kings_stage_4"
MBS_POSITIVE = "positive"
MBS_NEGATIVE = "negative"

#: The columns of ``analysis_frame``, in order.
ANALYSIS_COLUMNS = (
    "subject",
    "site",
    "scanner",
    "field_strength",
    "sex",
    "age",
    "group",
    "onset_region",
    "visit_code",
    "date",
    "months",
    "months_from_onset",
    "umn_total",
    *(f"umn_{r}" for r in UMN_REGION_COLUMNS),
    "contralateral_umn_L",
    "contralateral_umn_R",
    "alsfrs_total",
    *(f"alsfrs_{d}" for d in ALSFRS_DOMAIN_COLUMNS),
    "delta_fs",
    "kings_stage",
    "mitos_stage",
    "mbs_left",
    "mbs_right",
    "mbs",
    "mbs_score",
    "mbs_baseline",
    *BAND_HEMISPHERE_COLUMNS,
    "band_contrast",
    "band_extent",
    "laminar_contrast",
    "algorithm_version",
    "band_excluded",
    "alsfrs_excluded",
)
#: Why a visit with an ALSFRS-R form has no total (``alsfrs_excluded``).
ALSFRS_TOTAL_NOT_COMPUTED = "ALSFRS-R total not computed (missing items)"
ALSFRS_NOT_DONE = "ALSFRS-R not done"

#: Baseline (V1) covariates that ``event_frame`` carries for each subject.
BASELINE_COVARIATES = (
    "subject",
    "site",
    "group",
    "sex",
    "age",
    "onset_region",
    "delta_fs",
    "mbs_baseline",
    "umn_total",
    "alsfrs_total",
    "band_contrast",
)
#: Columns of ``event_frame``: the baseline covariates, then the time to event.
EVENT_COLUMNS = (*BASELINE_COVARIATES, "v1_date", "last_date", "months", "observed")


def _analyst_visits(user: Acting) -> QuerySet[Visit]:
    """Completed visits the user may analyse (none for a role outside ANALYSTS)."""
    visits = Visit.objects.visible_to(user).filter(status=VisitStatus.COMPLETED).exclude(date=None)
    if roles.role_of(user) not in roles.ANALYSTS:
        return visits.none()
    return visits


def analysis_frame(
    *,
    user: Acting,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    visit_codes: Sequence[str] | None = None,
    harmonize: bool = False,
) -> pd.DataFrame:
    """Return one row per completed subject-visit with scores, scanner and band measurements.

    Parameters
    ----------
    user : the caller; investigators, data managers and admins see all sites, others nothing.
    sites, groups, visit_codes : optional filters (site codes, groups, visit codes) applied to
        the rows returned. Baseline-derived columns (``months``, ``delta_fs``, ``mbs_baseline``)
        and the harmonization always use the whole study the caller may see.
    harmonize : replace the band columns with ComBat-harmonized values across scanners,
        preserving group, age and sex (``analysis.stats.harmonize.combat``). Raises
        ``InsufficientDataError`` when fewer than two scanners have complete rows.

    Returns
    -------
    DataFrame
        Columns ``ANALYSIS_COLUMNS``: ``months`` = days from V1 / 30.4375; ``age`` in years at the
        visit; ``contralateral_umn_L`` = right upper + right lower limb (the left hemisphere drives
        the right limbs), ``_R`` = left limbs; ``mbs_left``/``mbs_right`` = consensus (median)
        grade of the current reads, ``mbs`` = MBS-positive (True/False/None), ``mbs_score`` = sum of
        the consensus grades (0-4), ``mbs_baseline`` = "positive"/"negative"/None from V1 repeated
        on every row of the subject; band columns from the "whole" segment of the done run of the
        latest algorithm version (``frame.attrs["algorithm_version"]``), null where a visit has
        none. ``frame.attrs["warnings"]`` lists what the caller should know.
    """
    study, version = _memo_study_frame(user)
    warnings: list[str] = []
    if study is None:
        frame = pd.DataFrame(columns=list(ANALYSIS_COLUMNS))
        frame.attrs.update(algorithm_version=None, warnings=warnings, harmonized=False)
        return frame
    frame = study

    harmonized = False
    if harmonize:
        frame = _harmonize(frame, warnings)
        harmonized = True
    _band_means(frame)

    if sites:
        frame = frame[frame["site"].isin(list(sites))]
    if groups:
        frame = frame[frame["group"].isin(list(groups))]
    if visit_codes:
        frame = frame[frame["visit_code"].isin(list(visit_codes))]
    frame = frame.sort_values(["subject", "months", "visit_code"]).reset_index(drop=True)
    result = _plain_missing(frame[list(ANALYSIS_COLUMNS)].copy())
    result.attrs.update(algorithm_version=version, warnings=warnings, harmonized=harmonized)
    return result


def _memo_study_frame(user: Acting) -> tuple[pd.DataFrame | None, str | None]:
    """``_study_frame(user)``, kept a few seconds for the same state of the data and scope.

    One answer often needs the study frame more than once (survival: the baseline covariates
    and the time-varying band contrast; harmonization: raw and harmonized), and building it
    takes about a second at 10,000 subjects. The key holds the data version
    (``core.dataversion``: any write draws a new one, so a kept frame is never one of other
    data), the caller's role and sites (what they may see), and the database; without a data
    version nothing is kept. The caller gets its own copy.
    """
    version_token = dataversion.current()
    if version_token is None:
        return _study_frame(user)
    actor = roles.actor_of(user)
    key = (
        connection.settings_dict.get("NAME"),
        version_token,
        actor.role,
        None if actor.site_ids is None else tuple(sorted(actor.site_ids)),
    )
    now = time.monotonic()
    with _STUDY_FRAMES_LOCK:
        for stale in [k for k, (at, _) in _STUDY_FRAMES.items() if now - at > STUDY_FRAME_KEEP_S]:
            del _STUDY_FRAMES[stale]
        kept = _STUDY_FRAMES.get(key)
    if kept is None:
        kept = (now, _study_frame(user))
        with _STUDY_FRAMES_LOCK:
            _STUDY_FRAMES[key] = kept
            while len(_STUDY_FRAMES) > STUDY_FRAMES_KEPT:
                _STUDY_FRAMES.popitem(last=False)
    frame, algorithm_version = kept[1]
    return (None if frame is None else frame.copy()), algorithm_version


def _study_frame(user: Acting) -> tuple[pd.DataFrame | None, str | None]:
    """Every completed visit the user may analyse, with its scores, scanner, raw band values and
    reads (the columns of ``analysis_frame`` before harmonization, band means and filters), and
    the algorithm version of the band values; ``(None, None)`` without a visit."""
    visits_qs = _analyst_visits(user)
    visit_columns = [
        "id",
        "visit_code",
        "date",
        "days_from_baseline",
        "subject__study_id",
        "subject__site__code",
        "subject__group",
        "subject__sex",
        "subject__birth_date",
        "subject__onset_date",
        "subject__onset_region",
        "kings_stage",
        "mitos_stage",
    ]
    visits = pd.DataFrame.from_records(visits_qs.values_list(*visit_columns), columns=visit_columns)
    if visits.empty:
        return None, None
    visits = visits.rename(
        columns={
            "id": "visit_id",
            "subject__study_id": "subject",
            "subject__site__code": "site",
            "subject__group": "group",
            "subject__sex": "sex",
            "subject__onset_region": "onset_region",
        }
    )
    dates = pd.to_datetime(visits["date"])
    visits["date"] = dates
    birth = pd.to_datetime(visits.pop("subject__birth_date"))
    onset = pd.to_datetime(visits.pop("subject__onset_date"))
    v1_dates = visits.loc[visits["visit_code"] == BASELINE_VISIT].set_index("subject")["date"]
    v1 = visits["subject"].map(v1_dates)
    days = (dates - v1).dt.days.astype(float)
    # Without a completed V1 the services' stored offset is the only anchor left.
    days = days.fillna(pd.to_numeric(visits.pop("days_from_baseline"), errors="coerce"))
    visits["months"] = days / scales.MONTH_DAYS
    visits["months_from_onset"] = (dates - onset).dt.days / scales.MONTH_DAYS
    visits["age"] = (dates - birth).dt.days / YEAR_DAYS
    # King's stage as a number for models (4a and 4b are both stage 4; the letters stay on visits).
    visits["kings_stage"] = visits["kings_stage"].map(KINGS_STAGE_NUMBER)

    frame = visits.merge(_umn(visits_qs), on="visit_id", how="left")
    frame = frame.merge(_alsfrs(visits_qs), on="visit_id", how="left")
    baseline_dfs = frame.loc[frame["visit_code"] == BASELINE_VISIT].set_index("subject")["_dfs"]
    frame["delta_fs"] = frame["subject"].map(baseline_dfs)
    frame = frame.drop(columns="_dfs")

    swi = _swi_scans(visits_qs)
    frame = frame.merge(swi, on="visit_id", how="left")
    band, version = _band(visits_qs)
    frame = frame.merge(band, on="visit_id", how="left")
    frame = frame.merge(_band_exclusions(visits_qs, version), on="visit_id", how="left")
    frame["algorithm_version"] = np.where(
        frame["band_contrast_L"].notna() | frame["band_contrast_R"].notna(),
        version,
        None,  # type: ignore[call-overload]  # an object column: the version or None
    )
    frame = frame.merge(_reads(visits_qs), on="visit_id", how="left")
    baseline_mbs = frame.loc[frame["visit_code"] == BASELINE_VISIT].set_index("subject")["mbs"]
    frame["mbs_baseline"] = frame["subject"].map(
        baseline_mbs.map(lambda v: None if pd.isna(v) else (MBS_POSITIVE if v else MBS_NEGATIVE))
    )
    return frame, version


def _umn(visits_qs: Any) -> pd.DataFrame:
    columns = ["visit_id", "total", *UMN_REGION_COLUMNS]
    umn = pd.DataFrame.from_records(
        UmnExam.objects.filter(visit__in=visits_qs).values_list(*columns), columns=columns
    )
    umn = umn.rename(columns={"total": "umn_total", **{r: f"umn_{r}" for r in UMN_REGION_COLUMNS}})
    for hemisphere, regions in scales.CONTRALATERAL_REGIONS.items():
        # Sum with min_count: a missing limb leaves the hemisphere's burden missing, not low.
        umn[f"contralateral_umn_{hemisphere}"] = umn[[f"umn_{r}" for r in regions]].sum(
            axis=1, min_count=len(regions)
        )
    return umn


def _alsfrs(visits_qs: Any) -> pd.DataFrame:
    """ALSFRS-R totals, domains and ΔFS per visit, and why a saved form has no total
    (``alsfrs_excluded``: an item not done, unknown or not entered, or the form not done)."""
    columns = ["visit_id", "total", *ALSFRS_DOMAIN_COLUMNS, "delta_fs", "form_status"]
    alsfrs = pd.DataFrame.from_records(
        AlsfrsR.objects.filter(visit__in=visits_qs).values_list(*columns), columns=columns
    )
    not_done = alsfrs.pop("form_status") == scales.ALSFRS_FORM_NOT_DONE
    alsfrs["alsfrs_excluded"] = np.where(
        alsfrs["total"].isna(),
        np.where(not_done, ALSFRS_NOT_DONE, ALSFRS_TOTAL_NOT_COMPUTED),
        None,  # type: ignore[call-overload]  # an object column: the reason or None
    )
    return alsfrs.rename(
        columns={
            "total": "alsfrs_total",
            "delta_fs": "_dfs",
            **{d: f"alsfrs_{d}" for d in ALSFRS_DOMAIN_COLUMNS},
        }
    )


def _swi_scans(visits_qs: Any) -> pd.DataFrame:
    columns = ["visit_id", "manufacturer", "scanner_model", "field_strength"]
    scans = pd.DataFrame.from_records(
        # One SWI scan per visit (a constraint): their order does not matter, and the default
        # one joins the visit and subject and sorts 30,000 rows.
        Scan.objects.filter(visit__in=visits_qs, kind=ScanKind.SWI)
        .order_by()
        .values_list(*columns),
        columns=columns,
    )
    names = (scans["manufacturer"].fillna("") + " " + scans["scanner_model"].fillna("")).str.strip()
    scans["scanner"] = names.where(names != "", None)
    return scans[["visit_id", "scanner", "field_strength"]]


def version_key(version: str) -> tuple[Any, ...]:
    """Sort key of an algorithm version: numeric parts compare as numbers ("1.10" > "1.9")."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+]", version))


def _band(visits_qs: Any) -> tuple[pd.DataFrame, str | None]:
    """Band measurements per visit from the done runs of the latest algorithm version.

    Only one method version is used for the whole study so that a change of method never mixes
    with old results; where a scan has several done runs of that version (other parameters), the
    most recent one is used.
    """
    measurements = Measurement.objects.filter(
        imaging_selectors.usable_run_q("run__"),
        segment=Segment.WHOLE,
        run__scan__kind=ScanKind.SWI,
        run__scan__visit__in=visits_qs,
    )
    empty = pd.DataFrame(columns=["visit_id", *BAND_HEMISPHERE_COLUMNS])
    versions = set(
        measurements.order_by().values_list("run__algorithm_version", flat=True).distinct()
    )
    if not versions:
        return empty, None
    version = max(versions, key=version_key)
    # The database orders the runs as "most recent last" (a run not finished, if any, after every
    # finished one): reading the finish times through the ORM's per-row datetime conversion cost
    # about a second at 10,000 subjects.
    columns = ["run_id", "run__scan__visit_id", "hemisphere", *BAND_MEASURES]
    rows = pd.DataFrame.from_records(
        measurements.filter(run__algorithm_version=version)
        .order_by(F("run__finished_at").asc(nulls_last=True), "run_id")
        .values_list(*columns),
        columns=columns,
    )
    latest_run = rows.groupby("run__scan__visit_id")["run_id"].last()
    rows = rows[rows["run_id"].isin(latest_run.to_numpy())]
    wide = rows.pivot_table(
        index="run__scan__visit_id", columns="hemisphere", values=list(BAND_MEASURES), dropna=False
    )
    wide.columns = [f"{measure}_{hemisphere}" for measure, hemisphere in wide.columns]
    wide = wide.reindex(columns=list(BAND_HEMISPHERE_COLUMNS))
    wide.index.name = "visit_id"
    return wide.reset_index(), version


def _band_exclusions(visits_qs: Any, version: str | None) -> pd.DataFrame:
    """Why a visit's SWI band values are left out (``band_excluded``), where they are.

    A scan counts through its most recent usable run of the study's method version
    (``imaging.selectors.usable_run_q``); a scan without one is excluded for the reason its scan
    QC or its latest run gives (failed QC, needs review, failed, not finished). A scan with no
    run at all is not excluded: it is not measured yet (the answers count it as missing).
    """
    columns = ["visit_id", "band_excluded"]
    swi = Scan.objects.filter(visit__in=visits_qs, kind=ScanKind.SWI).order_by()
    runs = QuantificationRun.objects.filter(scan__in=swi.order_by().values("id"))
    if version is not None:
        runs = runs.filter(algorithm_version=version)
    # Only the scans without a usable run can be excluded: select them in the database (one
    # query) rather than reading every scan and run (and each run's checks) at 10,000 subjects.
    unusable = swi.exclude(
        id__in=runs.filter(imaging_selectors.usable_run_q()).order_by().values("scan_id")
    )
    scans = list(unusable.values("id", "visit_id", "qc_status"))
    if not scans:
        return pd.DataFrame(columns=columns)
    latest: dict[int, dict[str, Any]] = {}
    for values in (
        runs.filter(scan__in=unusable.order_by().values("id"))
        .order_by("created_at", "pk")
        .values("scan_id", "status", "qc_status", "checks")
    ):
        latest[values["scan_id"]] = dict(values)
    rows = []
    for scan in scans:
        run = latest.get(scan["id"])
        reason = imaging_selectors.run_exclusion_reason(
            scan_qc=scan["qc_status"],
            run_status=run["status"] if run else None,
            run_qc=run["qc_status"] if run else None,
            flagged=[c["name"] for c in (run or {}).get("checks") or [] if not c.get("passed")],
        )
        if reason is not None:
            rows.append((scan["visit_id"], reason))
    return pd.DataFrame(rows, columns=columns)


def _reads(visits_qs: Any) -> pd.DataFrame:
    """Consensus MBS grades per visit from the current blinded reads of its scans.

    Non-diagnostic reads carry no grade: a visit whose reads are all non-diagnostic, or whose
    graded reads are no majority (``agreement.graded_reads_suffice``), has no consensus (null
    grades and MBS status) unless an adjudicator's final read settles it.
    """
    out_columns = ["visit_id", "mbs_left", "mbs_right", "mbs", "mbs_score"]
    reads = (
        Read.objects.filter(is_current=True, scan__visit__in=visits_qs)
        .exclude(scan__qc_status=QcStatus.FAIL)  # a failed scan's reads leave the analyses too
        .order_by("scan__visit_id", "pk")
        .values_list("scan__visit_id", "outcome", "left_grade", "right_grade")
    )
    final_grades = {
        visit_id: (left, right)
        for visit_id, left, right in Adjudication.objects.filter(scan__visit__in=visits_qs)
        .exclude(scan__qc_status=QcStatus.FAIL)
        .values_list("scan__visit_id", "left_grade", "right_grade")
    }
    rows = []
    # The consensus of each distinct set of grades, computed once: most visits share a handful.
    settled: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    # Plain tuples grouped by visit: a pandas group-by with per-group indexing cost about a
    # millisecond per visit (12 s at 10,000 subjects).
    for visit_id, group in itertools.groupby(reads.iterator(), key=operator.itemgetter(0)):
        visit_reads = list(group)
        graded = [read for read in visit_reads if read[1] == ReadOutcome.GRADED]
        lefts = tuple(read[2] for read in graded)
        rights = tuple(read[3] for read in graded)
        n_non_diagnostic = len(visit_reads) - len(graded)
        adjudicated = final_grades.get(visit_id)
        key = (lefts, rights, n_non_diagnostic, adjudicated)
        if key not in settled:
            # An adjudicator's final read replaces the consensus; raters two grades apart
            # without one have no consensus (never their median).
            left, right = agreement.settled_scan_grades(
                list(lefts),
                list(rights),
                n_non_diagnostic=n_non_diagnostic,
                adjudicated=adjudicated,
            )
            score = None if left is None or right is None else left + right
            settled[key] = (left, right, agreement.mbs_positive(left, right), score)
        rows.append((visit_id, *settled[key]))
    if not rows:
        return pd.DataFrame(columns=out_columns)
    return pd.DataFrame(rows, columns=out_columns)


def _harmonize(frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Replace the per-hemisphere band columns with ComBat-harmonized values across scanners.

    Rows lacking a band value, the scanner or a covariate cannot be harmonized; their band values
    become null rather than mixing raw and harmonized numbers in one analysis.
    """
    features = list(BAND_HEMISPHERE_COLUMNS)
    complete = frame[[*features, "scanner", *HARMONIZE_COVARIATES]].notna().all(axis=1)
    # A scanner seen on too few complete visits has no estimable scale: it is left out of the
    # harmonized analysis, named, instead of failing ComBat for the whole study.
    counts = frame.loc[complete, "scanner"].value_counts()
    small = counts[counts < harmonize.MIN_ROWS_PER_BATCH]
    if len(small):
        complete &= ~frame["scanner"].isin(small.index)
        warnings.append(
            "Scanner group(s) too small for ComBat to estimate their effect, left out of the "
            "harmonized analysis: "
            + ", ".join(f"{name} ({n} visit{'s' if n != 1 else ''})" for name, n in small.items())
            + f"; ComBat needs at least {harmonize.MIN_ROWS_PER_BATCH} complete visits per scanner."
        )
    harmonized = harmonize.combat(
        frame.loc[complete].assign(**{f: frame.loc[complete, f].astype(float) for f in features}),
        features=features,
        batch="scanner",
        covariates=list(HARMONIZE_COVARIATES),
        categorical=list(HARMONIZE_CATEGORICAL),
    )
    frame = frame.copy()
    for feature in features:
        frame[feature] = frame[feature].astype(float)
    frame.loc[complete, features] = harmonized[features].to_numpy(dtype=float)
    dropped = int((~complete & frame[features].notna().any(axis=1)).sum())
    frame.loc[~complete, features] = np.nan
    if dropped:
        warnings.append(
            f"{dropped} visit(s) with an incomplete band measurement, an unknown scanner or a "
            "scanner too small to harmonize were left out of the harmonized analysis"
        )
    return frame


def _band_means(frame: pd.DataFrame) -> None:
    """Mean of the hemispheres (null unless both are measured)."""
    for measure in BAND_MEAN_COLUMNS:
        pair = frame[[f"{measure}_{h}" for h in HEMISPHERES]].astype(float)
        frame[measure] = pair.mean(axis=1, skipna=False)


def _plain_missing(frame: pd.DataFrame) -> pd.DataFrame:
    """Use None (not NaN) in object columns so answers never carry NaN."""
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


# --- time to event -------------------------------------------------------------------------------


def event_inputs(
    *, user: Acting, sites: Sequence[str] | None = None, groups: Sequence[str] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return ``(subjects, events)`` as ``analysis.stats.survival.time_to_event`` expects them.

    ``subjects``: ``subject``, ``v1_date``, ``last_date`` (the latest of the last completed visit,
    the last event and the last vital status check, ``last_known_alive``) and
    ``vital_status_checked`` (whether ``last_known_alive`` is recorded), ``withdrawn`` (whether
    the subject withdrew: follow-up ends there by design) for subjects with a
    completed V1; ``events``: ``subject``, ``kind``, ``date``.
    """
    visits_qs = _analyst_visits(user)
    if sites:
        visits_qs = visits_qs.filter(subject__site__code__in=list(sites))
    if groups:
        visits_qs = visits_qs.filter(subject__group__in=list(groups))
    visits = pd.DataFrame.from_records(
        visits_qs.values("subject__study_id", "visit_code", "date"),
        columns=["subject__study_id", "visit_code", "date"],
    ).rename(columns={"subject__study_id": "subject"})
    visits["date"] = pd.to_datetime(visits["date"])
    events = pd.DataFrame.from_records(
        ClinicalEvent.objects.filter(subject_id__in=visits_qs.values("subject_id")).values(
            "subject__study_id", "kind", "date"
        ),
        columns=["subject__study_id", "kind", "date"],
    ).rename(columns={"subject__study_id": "subject"})
    events["date"] = pd.to_datetime(events["date"])
    kings = _kings_stage_4(visits_qs, events)
    if not kings.empty:
        events = pd.concat([events, kings], ignore_index=True)
    v1 = visits[visits["visit_code"] == BASELINE_VISIT].set_index("subject")["date"]
    last_visit = visits.groupby("subject")["date"].max()
    last_event = events.groupby("subject")["date"].max()
    subjects = pd.DataFrame({"subject": v1.index, "v1_date": v1.to_numpy()})
    alive = pd.Series(
        dict(
            visits_qs.exclude(subject__last_known_alive=None)
            .values_list("subject__study_id", "subject__last_known_alive")
            .distinct()
        ),
        dtype="datetime64[ns]",
    )
    # Each as dates: a series mapped from an empty one (no event in scope) would be float NaN, and
    # the maximum of dates and floats fails.
    last = pd.concat(
        [
            pd.to_datetime(subjects["subject"].map(last_visit)),
            pd.to_datetime(subjects["subject"].map(last_event)),
            pd.to_datetime(subjects["subject"].map(alive)),
        ],
        axis=1,
    ).max(axis=1)
    subjects["last_date"] = last
    subjects["last_visit_date"] = subjects["subject"].map(last_visit)
    subjects["vital_status_checked"] = subjects["subject"].isin(alive.index)
    subjects["withdrawn"] = subjects["subject"].isin(
        events.loc[events["kind"] == EventKind.WITHDRAWAL, "subject"]
    )
    return subjects.sort_values("subject").reset_index(drop=True), events


def _kings_stage_4(visits_qs: Any, events: pd.DataFrame) -> pd.DataFrame:
    """The derived King's stage 4 event per subject (see ``KINGS_STAGE_4``)."""
    staged = pd.DataFrame.from_records(
        visits_qs.filter(kings_stage__in=("4a", "4b")).values("subject__study_id", "date"),
        columns=["subject__study_id", "date"],
    ).rename(columns={"subject__study_id": "subject"})
    staged["date"] = pd.to_datetime(staged["date"])
    milestones = events[events["kind"].isin([EventKind.GASTROSTOMY, EventKind.NIV])]
    both = pd.concat([staged, milestones[["subject", "date"]]], ignore_index=True)
    if both.empty:
        return pd.DataFrame(columns=["subject", "kind", "date"])
    first = both.groupby("subject", as_index=False)["date"].min()
    return first.assign(kind=KINGS_STAGE_4)[["subject", "kind", "date"]]


def event_frame(
    *,
    user: Acting,
    event: str,
    sites: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    harmonize: bool = False,
) -> pd.DataFrame:
    """Return one row per subject: time from V1 to ``event`` (months) and baseline covariates.

    Parameters
    ----------
    event : one of ``analysis.stats.survival.EVENT_KINDS`` or ``"death_or_tracheostomy_or_pav"``.
    harmonize : use ComBat-harmonized baseline band contrast.

    Returns
    -------
    DataFrame
        Columns ``EVENT_COLUMNS``: ``months`` and ``observed`` from ``time_to_event``; baseline (V1)
        values of ``age``, ``umn_total``, ``alsfrs_total``, ``band_contrast``; ``delta_fs`` and
        ``mbs_baseline``. ``attrs["excluded_before_v1"]`` lists subjects whose event preceded V1.
    """
    subjects, events = event_inputs(user=user, sites=sites, groups=groups)
    if subjects.empty:
        frame = pd.DataFrame(columns=list(EVENT_COLUMNS))
        frame.attrs["excluded_before_v1"] = []
        survival.time_to_event(subjects, events, event=event)  # validates the event name
        return frame
    tte = survival.time_to_event(subjects, events, event=event)
    baseline = analysis_frame(
        user=user, sites=sites, groups=groups, visit_codes=[BASELINE_VISIT], harmonize=harmonize
    )
    covariates = baseline[list(BASELINE_COVARIATES)]
    frame = covariates.merge(subjects, on="subject").merge(tte, on="subject")
    follow_up = _follow_up_warning(frame)
    frame = _plain_missing(frame[list(EVENT_COLUMNS)].reset_index(drop=True))
    frame.attrs["excluded_before_v1"] = tte.attrs.get("excluded_before_v1", [])
    frame.attrs["warnings"] = [follow_up] if follow_up else []
    return frame


def _follow_up_warning(frame: pd.DataFrame) -> str | None:
    """Say when follow-up is asymmetric: events reported after a subject's last visit count,
    while subjects without the event and without a vital status check are censored at their last
    visit; the event rate then comes out too high and the median too short."""
    v1 = pd.to_datetime(frame["v1_date"])
    last_visit = pd.to_datetime(frame["last_visit_date"])
    event_date = v1 + pd.to_timedelta(frame["months"] * scales.MONTH_DAYS, unit="D")
    late_events = int((frame["observed"] & (event_date > last_visit + pd.Timedelta(days=1))).sum())
    # A withdrawn subject's follow-up ends at the withdrawal by design: not an unchecked survivor.
    unchecked = int(
        (~frame["observed"] & ~frame["vital_status_checked"] & ~frame["withdrawn"]).sum()
    )
    if not late_events or not unchecked:
        return None
    return (
        f"{late_events} event(s) were reported after the subject's last visit, while {unchecked} "
        "subject(s) without the event have no vital status check (last known alive) and are "
        "censored at their last visit: the event rate may be overestimated and the median "
        "underestimated. Record each subject's last known alive date."
    )


def subject_events(*, user: Acting, study_id: str) -> pd.DataFrame:
    """Clinical events of one subject with months from V1 (for the subject timeline)."""
    subjects, events = event_inputs(user=user)
    events = events[events["subject"] == study_id]
    v1 = subjects.set_index("subject")["v1_date"]
    if study_id in v1.index:
        months = (events["date"] - v1[study_id]).dt.days / scales.MONTH_DAYS
    else:
        months = pd.Series(np.nan, index=events.index)
    return events.assign(months=months).sort_values("date").reset_index(drop=True)


def levels_present(values: Iterable[Any]) -> list[Any]:
    """Sorted distinct non-missing values."""
    return sorted(
        {v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))}
    )
