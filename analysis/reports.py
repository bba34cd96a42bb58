"""The analyses as functions of validated parameters: the statistics' answer, the plotted data, the figure.

The REST API (``analysis.api.views``) and the pages (``analysis.views``) both call these, so an
answer and the page showing it never disagree. Choices offered to callers live here, once.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils import timezone

from analysis import diagnostic_study, frames, plots, stard
from analysis.stats import diagnostic, progression, survival
from analysis.stats.errors import InsufficientDataError
from cohort import scales
from cohort.models import Group, Study, Subject
from core.roles import Acting

#: Contract outcomes first, then the extras (region subscores and laminar contrast).
CONTRACT_OUTCOMES = ("umn_total", "alsfrs_total", "band_contrast", "band_extent")
OUTCOMES = (
    *CONTRACT_OUTCOMES,
    "umn_bulbar",
    "umn_right_upper",
    "umn_left_upper",
    "umn_right_lower",
    "umn_left_lower",
    "alsfrs_bulbar",
    "alsfrs_fine_motor",
    "alsfrs_gross_motor",
    "alsfrs_respiratory",
    "laminar_contrast",
    "kings_stage",
    "mitos_stage",
)
BY_CHOICES = ("group", "site", "sex", "onset_region", "mbs_baseline")
#: Time axes of progression and survival: from the baseline visit, or from symptom onset.
TIME_AXES = ("v1", "onset")
EVENTS = (*survival.COMPOSITE_EVENTS, *survival.EVENT_KINDS)
#: Extra Cox covariates (baseline values); the categorical ones are dummy-coded.
COVARIATES = (
    "age",
    "sex",
    "site",
    "group",
    "onset_region",
    "delta_fs",
    "mbs_baseline",
    "umn_total",
    "alsfrs_total",
    "band_contrast",
)
CATEGORICAL = frozenset({"sex", "site", "group", "onset_region", "mbs_baseline"})
MARKERS = ("mbs_read", "band_contrast")
GROUPS = tuple(Group.values)
DEFAULT_POSITIVE = ("ALS", "PLS")
#: Survival's default population: the patients (controls have no disease events).
DEFAULT_SURVIVAL_GROUPS = ("ALS", "PLS")
DEFAULT_NEGATIVE = ("CONTROL",)
#: For mbs_baseline the first level is the reference: differences are positive minus negative.
MBS_LEVELS = (frames.MBS_NEGATIVE, frames.MBS_POSITIVE)
#: Figures served by ``plots/<name>/`` and the pages.
PLOT_NAMES = ("spaghetti", "timeline", "km", "forest", "roc", "scatter", "harmonization")


@dataclass(frozen=True)
class Filters:
    """Common filters: site codes, groups, visit codes, and ComBat harmonization of band values."""

    sites: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    visit_codes: tuple[str, ...] = ()
    harmonize: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": list(self.sites),
            "groups": list(self.groups),
            "visit_code": list(self.visit_codes),
            "harmonize": self.harmonize,
        }


@dataclass
class Report:
    """An analysis: the JSON answer, the data behind its figure (for CSV) and the figure."""

    result: dict[str, Any]
    data: pd.DataFrame
    figure: dict[str, Any] | None = None
    extra_figures: dict[str, dict[str, Any]] = field(default_factory=dict)


#: Band columns: a missing value is explained by the visit's ``band_excluded`` reason, if any.
_BAND_COLUMNS = frozenset({*frames.BAND_HEMISPHERE_COLUMNS, *frames.BAND_MEAN_COLUMNS})
_MISSING_LABELS = {"mbs": "no consensus read", "mbs_baseline": "no consensus read at V1"}
#: ALSFRS-R columns: a missing value of a saved form is explained by ``alsfrs_excluded``.
_ALSFRS_COLUMNS = frozenset(
    {"alsfrs_total", *(f"alsfrs_{d}" for d in frames.ALSFRS_DOMAIN_COLUMNS)}
)


def excluded(
    frame: pd.DataFrame, columns: Sequence[str], *, unit: str, extra: Sequence[str] = ()
) -> dict[str, Any]:
    """What an analysis left out: rows of ``frame`` missing any of ``columns``, by reason.

    Returns the contract's ``{count, reasons: [{reason, count}]}`` plus ``unit`` (what a count
    counts: visits or subjects). A band value is explained by the visit's ``band_excluded``
    (scan or run failed QC, run needs review, ...) or "no band measurement"; another value by
    "no <column>". ``extra`` adds reasons counted elsewhere (one entry per excluded unit).
    """
    remaining = pd.Series(True, index=frame.index)
    reasons: Counter[str] = Counter(extra)
    for column in dict.fromkeys(columns):
        missing = remaining & frame[column].isna()
        if not missing.any():
            continue
        if column in _BAND_COLUMNS:
            why = frame.loc[missing, "band_excluded"].fillna("no band measurement")
            reasons.update(why.tolist())
        elif column in _ALSFRS_COLUMNS and "alsfrs_excluded" in frame:
            # A saved form without a total says why (an item not done or unknown, form not done).
            why = frame.loc[missing, "alsfrs_excluded"].fillna(f"no {column.replace('_', ' ')}")
            reasons.update(why.tolist())
        else:
            label = _MISSING_LABELS.get(column, f"no {column.replace('_', ' ')}")
            reasons[label] += int(missing.sum())
        remaining &= ~missing
    return {
        "count": sum(reasons.values()),
        "unit": unit,
        "reasons": [{"reason": r, "count": n} for r, n in reasons.most_common()],
    }


def _frame(user: Acting, filters: Filters) -> pd.DataFrame:
    return frames.analysis_frame(
        user=user,
        sites=filters.sites or None,
        groups=filters.groups or None,
        visit_codes=filters.visit_codes or None,
        harmonize=filters.harmonize,
    )


def _levels(by: str, filters: Filters) -> list[Any] | None:
    """Levels in the caller's order where the caller named them; None lets the model choose."""
    if by == "mbs_baseline":
        return list(MBS_LEVELS)
    if by == "group" and len(filters.groups) >= 2:
        return list(filters.groups)
    if by == "site" and len(filters.sites) >= 2:
        return list(filters.sites)
    return None


def progression_report(
    *,
    user: Acting,
    outcome: str,
    by: str,
    filters: Filters,
    figure: bool = False,
    time: str = "v1",
) -> Report:
    """Slopes per level of ``outcome ~ months * level`` (random intercept and slope, REML).

    ``time="onset"`` puts months from symptom onset on the time axis (subjects without an onset
    date, e.g. healthy controls, are left out and counted).
    """
    frame = _frame(user, filters)
    columns = [outcome, by]
    if time == "onset":
        frame = frame.assign(months=frame["months_from_onset"])
        columns = ["months_from_onset", *columns]
    # The follow-up each subject could have had by today's data cut, on the same time axis: a
    # subject enrolled recently has fewer visits without having dropped out.
    cut = pd.Timestamp(timezone.localdate())
    frame = frame.assign(
        possible_months=frame["months"]
        + (cut - pd.to_datetime(frame["date"])).dt.days / scales.MONTH_DAYS
    )
    result = progression.fit_progression(
        frame,
        outcome=outcome,
        by=by,
        levels=_levels(by, filters),
        possible_col="possible_months",
    )
    result["time"] = time
    result["excluded"] = excluded(frame, columns, unit="visits")
    result["filters"] = filters.as_dict()
    result["harmonized"] = filters.harmonize
    result["warnings"] = [*result.get("warnings", []), *frame.attrs.get("warnings", [])]
    data = frame[["subject", "site", "group", by, "visit_code", "months", outcome]].loc[
        :, lambda d: ~d.columns.duplicated()
    ]
    report = Report(result=result, data=data)
    if figure:
        report.figure = plots.spaghetti(frame, outcome=outcome, by=by, slopes=result["slopes"])
    return report


def survival_report(
    *,
    user: Acting,
    event: str,
    by: str,
    filters: Filters,
    covariates: Sequence[str] = (),
    figure: bool = False,
    time: str = "v1",
) -> Report:
    """Kaplan–Meier per level, log-rank p and a Cox model of time from V1 to ``event``.

    ``time="onset"`` measures time from symptom onset with delayed entry at V1 (a subject is at
    risk only once enrolled: left truncation, as ALS natural-history studies analyse it); the
    log-rank test and the time-varying model, which take no delayed entry here, are left out and
    said so; subjects without an onset date are left out and counted.
    """
    frame = frames.event_frame(
        user=user,
        event=event,
        sites=filters.sites or None,
        groups=filters.groups or None,
        harmonize=filters.harmonize,
    )
    notes: list[str] = []
    entry = None
    no_onset: list[str] = []
    if time == "onset":
        frame, no_onset = _from_onset(frame)
        entry = "entry_months"
    levels = _levels(by, filters)
    if levels is not None and by in ("group", "site"):
        # Named levels without any subject (PLS in a study without PLS) are not curves.
        present = set(frame[by].dropna())
        levels = [level for level in levels if level in present] or None
    km = survival.kaplan_meier(frame, by=by, levels=levels, entry=entry)
    # The curves stand on their own: a test or model that cannot be estimated (no event, or
    # every event in one level) is reported as missing with the reason, not as a failed request.
    p = None
    if entry:
        notes.append(
            "log-rank test not computed: it takes no delayed entry here; the Cox model (with "
            "delayed entry at V1) compares the levels."
        )
    else:
        try:
            p = survival.logrank_p(frame, by=by, levels=levels)
        except InsufficientDataError as exc:
            notes.append(f"log-rank test not computed: {exc}")
    terms = [by, *(c for c in covariates if c != by)]
    model_frame = frame if levels is None else frame[frame[by].isin(levels)]
    reference = {"mbs_baseline": frames.MBS_NEGATIVE} if "mbs_baseline" in terms else {}
    if levels is not None and by != "mbs_baseline":
        reference[by] = levels[0]
    try:
        cox = survival.cox(
            model_frame,
            covariates=terms,
            categorical=[t for t in terms if t in CATEGORICAL],
            reference=reference,
            entry=entry,
        )
    except InsufficientDataError as exc:
        notes.append(f"Cox model not estimated: {exc}")
        cox = {"terms": [], "concordance": None, "ph_check": [], "n": None, "events": None}
    if entry:
        time_varying: list[dict[str, Any]] = []
        notes.append("time-varying Cox model not estimated on the time axis from onset.")
    else:
        time_varying = _time_varying_band_cox(user, filters, frame, notes)
    result = {
        "event": event,
        "by": by,
        "groups": km,
        "cox_time_varying": time_varying,
        "logrank_p": p,
        "cox": cox["terms"],
        "cox_concordance": cox["concordance"],
        "cox_ph_check": cox["ph_check"],
        "cox_n": cox["n"],
        "cox_events": cox["events"],
        "covariates": terms[1:],
        "excluded_before_v1": frame.attrs.get("excluded_before_v1", []),
        "time": time,
        "excluded": excluded(
            frame,
            [by],
            unit="subjects",
            extra=[
                *["event before V1"] * len(frame.attrs.get("excluded_before_v1", [])),
                *["no symptom onset date"] * len(no_onset),
            ],
        ),
        "filters": filters.as_dict(),
        "warnings": [*frame.attrs.get("warnings", []), *cox.get("warnings", []), *notes],
    }
    data = frame[["subject", "site", "group", by, "months", "observed", *terms]].loc[
        :, lambda d: ~d.columns.duplicated()
    ]
    report = Report(result=result, data=data)
    if figure:
        report.figure = plots.kaplan_meier_figure(
            km, event=event, origin="symptom onset" if entry else "V1"
        )
        report.extra_figures["forest"] = plots.forest(
            cox["terms"], title=f"Cox model of time to {event.replace('_', ' ')}"
        )
    return report


def _from_onset(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Put an event frame on the time axis from symptom onset, entering at V1."""
    onset = dict(
        Subject.objects.filter(study_id__in=frame["subject"].tolist())
        .exclude(onset_date=None)
        .values_list("study_id", "onset_date")
    )
    dates = frame["subject"].map(onset)
    known = dates.notna()
    missing = frame.loc[~known, "subject"].tolist()
    kept = frame[known].copy()
    entry = (
        pd.to_datetime(kept["v1_date"]) - pd.to_datetime(dates[known])
    ).dt.days / scales.MONTH_DAYS
    kept["entry_months"] = entry.clip(lower=0.0)
    kept["months"] = kept["months"] + kept["entry_months"]
    kept.attrs.update(frame.attrs)
    return kept.reset_index(drop=True), missing


def _time_varying_band_cox(
    user: Acting, filters: Filters, tte: pd.DataFrame, notes: list[str]
) -> list[dict[str, Any]]:
    """Cox model with band contrast updated at each visit (start/stop format, domain.md)."""
    visits = frames.analysis_frame(
        user=user,
        sites=filters.sites or None,
        groups=filters.groups or None,
        harmonize=filters.harmonize,
    )
    if visits.empty or "band_contrast" not in visits or visits["band_contrast"].notna().sum() == 0:
        notes.append("time-varying Cox model not estimated: no band measurements")
        return []
    visits = visits[visits["subject"].isin(tte["subject"])]
    # Contrast spans 0-0.4: a hazard ratio per 0.1 reads better than one per whole unit.
    marker = "band_contrast_per_0.1"
    visits = visits.assign(**{marker: visits["band_contrast"] * 10})
    try:
        long = survival.to_start_stop(visits[["subject", "months", marker]], tte, marker)
        return list(survival.cox_time_varying(long, covariates=[marker])["terms"])
    except (InsufficientDataError, ValueError) as exc:
        notes.append(f"time-varying Cox model not estimated: {exc}")
        return []


def diagnostic_report(
    *,
    user: Acting,
    marker: str,
    positive: Sequence[str],
    negative: Sequence[str],
    filters: Filters,
    figure: bool = False,
    reference: str = "enrolment",
    population: str = "suspected",
    cutoff: float | None = None,
) -> Report:
    """Prevalence per group, sensitivity and specificity (and ROC/AUC for band contrast).

    One row per subject: the visit named by ``visit_code`` (V1 by default; the parameters,
    ``analysis.parameters.DiagnosticQuery``, allow one). ``reference="enrolment"`` compares the
    enrolment groups ``positive`` and ``negative``; ``reference="final_diagnosis"`` reads the
    index test against the reference-standard diagnosis (``analysis.diagnostic_study``) over the
    subjects enrolled as suspected ALS or over the whole cohort (``population``).
    """
    visit_codes = filters.visit_codes or (frames.BASELINE_VISIT,)
    if cutoff is None and marker == "band_contrast":
        # The study's pre-specified cut-off, where its analysis plan set one.
        cutoff = Study.current().band_contrast_cutoff
    if reference == "final_diagnosis":
        return _final_diagnosis_report(
            user=user,
            marker=marker,
            filters=filters,
            visit_code=visit_codes[0],
            population=population,
            figure=figure,
            cutoff=cutoff,
        )
    frame = frames.analysis_frame(
        user=user,
        sites=filters.sites or None,
        groups=filters.groups or None,
        visit_codes=list(visit_codes),
        harmonize=filters.harmonize,
    )
    column = "mbs" if marker == "mbs_read" else marker
    continuous = marker != "mbs_read"
    data = frame[["subject", "site", "group", "visit_code", column]].copy()
    if not continuous:
        data[column] = data[column].map(lambda v: None if pd.isna(v) else bool(v))
    result = diagnostic.diagnostic_accuracy(
        data.dropna(subset=[column]),
        marker=column,
        group_col="group",
        positive_groups=list(positive),
        negative_groups=list(negative),
        continuous=continuous,
        cutoff=cutoff,
    )
    _optimism_warning(result)
    studied = data[data["group"].isin([*positive, *negative])]
    result["excluded"] = excluded(frame.loc[studied.index], [column], unit="subjects")
    result["warnings"] = [
        *result.get("warnings", []),
        *result.pop("value_warnings", []),
        *frame.attrs.get("warnings", []),
    ]
    result["marker"] = marker
    result["reference"] = "enrolment"
    result["positive_groups"] = list(positive)
    result["negative_groups"] = list(negative)
    result["visit_code"] = visit_codes[0]
    result["filters"] = filters.as_dict()
    if not continuous:
        reads_pending = data[column].isna() & frame.loc[data.index, "subject"].isin(
            diagnostic_study.subjects_with_reads(user, visit_codes[0])
        )
        result["indeterminate"] = int(
            (reads_pending & data["group"].isin([*positive, *negative])).sum()
        )
    else:
        result["indeterminate"] = 0
    report = Report(result=result, data=data.rename(columns={column: marker}))
    if figure:
        report.figure = plots.roc(result)
    return report


def _optimism_warning(result: dict[str, Any]) -> None:
    """Say that a data-chosen cut-off flatters sensitivity and specificity, with the correction."""
    corrected = result.get("optimism_corrected")
    if not corrected:
        return
    result.setdefault("warnings", []).append(
        "Sensitivity and specificity are read at the cut-off that suits these data best (Youden), "
        "so they are optimistic: corrected by bootstrap they are "
        f"{corrected['sensitivity']:.2f} and {corrected['specificity']:.2f} (Youden J "
        f"{corrected['youden_j']:.2f} instead of {corrected['apparent_youden_j']:.2f}). Give a "
        "pre-specified cutoff to read them without optimism."
    )


def _final_diagnosis_report(
    *,
    user: Acting,
    marker: str,
    filters: Filters,
    visit_code: str,
    population: str,
    figure: bool,
    cutoff: float | None = None,
) -> Report:
    frame = diagnostic_study.diagnostic_frame(
        user=user,
        marker=marker,
        population=population,
        sites=filters.sites or None,
        visit_code=visit_code,
        harmonize=filters.harmonize,
    )
    if filters.groups:
        frame = frame[frame["group"].isin(list(filters.groups))]
    if frame.empty:
        who = "enrolled as suspected ALS" if population == "suspected" else "in the cohort"
        raise InsufficientDataError(f"no subject {who} matches the filters")
    result = diagnostic_study.accuracy_against_reference(frame, marker=marker, cutoff=cutoff)
    _optimism_warning(result)
    warnings = [
        *result.get("warnings", []),
        *result.pop("value_warnings", []),
        *frame.attrs.get("warnings", []),
    ]
    if population == "all" and (frame["group"] == Group.CONTROL).any():
        warnings.append(
            "Healthy controls have no diagnosis history: they count as without the target "
            "condition by their enrolment group."
        )
    result.update(
        warnings=warnings,
        reference="final_diagnosis",
        population=population,
        visit_code=visit_code,
        filters=filters.as_dict(),
    )
    report = Report(result=result, data=frame.rename(columns={"index_value": marker}))
    if figure:
        report.figure = plots.roc(result)
    return report


def stard_report(
    *,
    user: Acting,
    marker: str,
    population: str,
    filters: Filters,
    cutoff: float | None = None,
    withhold_identifiers: bool = False,
) -> Report:
    """The STARD 2015 participant flow and checklist of the diagnostic study.

    ``result`` holds the contract's ``nodes`` and ``edges`` plus ``checklist`` (30 items, answered
    from the data where it can be) and ``svg`` (the flow diagram); ``data`` is the subject-level
    frame behind them. Raises ``ValueError`` for band contrast without a pre-specified cut-off.
    """
    visit_code = (filters.visit_codes or (frames.BASELINE_VISIT,))[0]
    frame = diagnostic_study.diagnostic_frame(
        user=user,
        marker=marker,
        population=population,
        sites=filters.sites or None,
        visit_code=visit_code,
    )
    if filters.groups:
        frame = frame[frame["group"].isin(list(filters.groups))]
    if frame.empty:
        who = "enrolled as suspected ALS" if population == "suspected" else "in the cohort"
        raise InsufficientDataError(f"no subject {who} matches the filters")
    flow = stard.flow(frame, marker=marker, cutoff=cutoff)
    warnings = list(frame.attrs.get("warnings", []))
    accuracy: dict[str, Any] | None = None
    try:
        accuracy = diagnostic_study.accuracy_against_reference(frame, marker=marker)
    except InsufficientDataError as exc:
        warnings.append(f"Accuracy not estimated: {exc}")
    facts = diagnostic_study.study_facts(
        frame, user=user, population=population, withhold_identifiers=withhold_identifiers
    )
    checklist = stard.checklist(frame, flow, accuracy, facts=facts)
    title = "Participant flow: " + (
        "subjects enrolled as suspected ALS" if population == "suspected" else "whole cohort"
    )
    result = {
        **flow,
        "population": population,
        "visit_code": visit_code,
        "checklist": checklist,
        "svg": stard.flow_svg(flow, title=title),
        "warnings": warnings,
        "filters": filters.as_dict(),
    }
    return Report(result=result, data=frame)


def band_umn_report(*, user: Acting, filters: Filters, figure: bool = False) -> Report:
    """Spearman correlation of each hemisphere's band contrast with contralateral limb UMN.

    By default the patients (ALS, PLS) at V1: one pair per hemisphere and subject. Over every
    group the correlation would mostly show that patients differ from controls (confounding by
    diagnosis), and over every visit the pairs of one subject are not independent (a p-value far
    too small); where the caller asks for either, the answer says so.
    """
    notes: list[str] = []
    if not filters.visit_codes and not filters.groups:
        filters = dataclasses.replace(
            filters, visit_codes=(frames.BASELINE_VISIT,), groups=DEFAULT_SURVIVAL_GROUPS
        )
        notes.append(
            "Patients (ALS, PLS) at V1 by default: one pair per hemisphere and subject; choose "
            "groups and visits to change it."
        )
    frame = _frame(user, filters)
    if frame["subject"].duplicated().any():
        notes.append(
            "Several visits per subject are pooled: pairs of one subject are not independent, "
            "so the intervals and p-values are too narrow; read one visit at a time."
        )
    if frame["group"].nunique() > 1 and not set(frame["group"]) <= set(DEFAULT_SURVIVAL_GROUPS):
        notes.append(
            "Patients and non-patients are pooled: the correlation partly reflects the difference "
            "between groups (confounding by diagnosis) rather than UMN burden within patients."
        )
    data = plots.band_umn_data(frame)
    correlations = []
    for hemisphere in frames.HEMISPHERES:
        rows = data[data["hemisphere"] == hemisphere]
        try:
            value = diagnostic.correlation(rows, "contralateral_umn", "band_contrast")
        except InsufficientDataError as exc:
            value = {"n": len(rows), "rho": None, "ci_low": None, "ci_high": None, "p": None}
            value["detail"] = str(exc)
        correlations.append({"hemisphere": hemisphere, **value})
    long = pd.concat(
        [
            frame.assign(
                contralateral_umn=frame[f"contralateral_umn_{h}"],
                band_contrast=frame[f"band_contrast_{h}"],
            )
            for h in frames.HEMISPHERES
        ],
        ignore_index=True,
    )
    result = {
        "correlations": correlations,
        "excluded": excluded(long, ["contralateral_umn", "band_contrast"], unit="hemispheres"),
        "warnings": [*frame.attrs.get("warnings", []), *notes],
        "filters": filters.as_dict(),
    }
    report = Report(result=result, data=data)
    if figure:
        report.figure = plots.band_umn_scatter(frame)
    return report


def harmonization_report(*, user: Acting, filters: Filters, figure: bool = False) -> Report:
    """Band contrast per site before and after ComBat across scanners."""
    raw = _frame(user, Filters(filters.sites, filters.groups, filters.visit_codes, False))
    harmonized = _frame(user, Filters(filters.sites, filters.groups, filters.visit_codes, True))
    data = plots.harmonization_data(raw, harmonized)
    summary = []
    for site, rows in data.groupby("site"):
        summary.append(
            {
                "site": site,
                "n": int(rows["band_contrast_raw"].notna().sum()),
                "mean_raw": _mean(rows["band_contrast_raw"]),
                "mean_harmonized": _mean(rows["band_contrast_harmonized"]),
            }
        )
    result = {"sites": summary, "filters": filters.as_dict()}
    report = Report(result=result, data=data)
    if figure:
        report.figure = plots.harmonization_boxes(raw, harmonized)
    return report


def subject_report(*, user: Acting, study_id: str, harmonize: bool = False) -> Report | None:
    """One subject's visits and events; None when the subject is unknown or out of scope."""
    frame = frames.analysis_frame(user=user, harmonize=harmonize)
    rows = frame[frame["subject"] == study_id]
    if rows.empty:
        return None
    events = frames.subject_events(user=user, study_id=study_id)
    columns = [
        "subject",
        "visit_code",
        "date",
        "months",
        "umn_total",
        "alsfrs_total",
        "band_contrast_L",
        "band_contrast_R",
        "mbs",
    ]
    result = {
        "subject": study_id,
        "visits": rows[columns].assign(date=rows["date"].dt.date.astype(str)).to_dict("records"),
        "events": [
            {"kind": e.kind, "date": e.date.date().isoformat(), "months": e.months}
            for e in events.itertuples()
        ],
    }
    report = Report(result=result, data=rows[columns])
    report.figure = plots.subject_timeline(rows, events)
    return report


def _mean(values: pd.Series) -> float | None:
    values = values.dropna()
    return float(values.mean()) if len(values) else None


def json_ready(value: Any) -> Any:
    """Return ``value`` with NaN/infinity as None and numpy/pandas scalars as Python values."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NaT:
        return None
    return value
