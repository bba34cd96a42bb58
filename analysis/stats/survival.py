"""Time to clinical events from V1: Kaplan–Meier, log-rank, Cox and time-varying Cox models."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from lifelines import CoxPHFitter, CoxTimeVaryingFitter, KaplanMeierFitter
from lifelines.exceptions import ConvergenceError, ConvergenceWarning
from lifelines.statistics import (
    logrank_test,
    multivariate_logrank_test,
    proportional_hazard_test,
)
from lifelines.utils import median_survival_times

from analysis.stats._json import as_float, as_floats
from analysis.stats.errors import InsufficientDataError, ParameterError

#: Length of a study month in days (domain.md).
DAYS_PER_MONTH = 30.4375
#: Clinical event kinds (domain.md, Clinical events).
EVENT_KINDS = ("death", "tracheostomy", "pav", "niv", "gastrostomy", "withdrawal")
#: The standard trial composite: the first of its member events.
COMPOSITE_EVENTS = {"death_or_tracheostomy_or_pav": ("death", "tracheostomy", "pav")}
#: A survival model needs at least this many subjects.
MIN_SUBJECTS = 5


def time_to_event(subjects: pd.DataFrame, events: pd.DataFrame, *, event: str) -> pd.DataFrame:
    """Return each subject's time from V1 to ``event`` or to censoring.

    Parameters
    ----------
    subjects : DataFrame
        One row per subject: ``subject``, ``v1_date`` (date of V1), ``last_date`` (last date the
        subject is known alive: last visit or last event, computed by the caller).
    events : DataFrame
        ``subject``, ``kind`` (one of ``EVENT_KINDS``), ``date``.
    event : str
        One of ``EVENT_KINDS`` or ``"death_or_tracheostomy_or_pav"`` (the first of the three).

    Returns
    -------
    DataFrame
        ``subject``, ``months`` (float, days / 30.4375 from V1), ``observed`` (bool), one row per
        subject in the order of ``subjects``. A subject without the event is censored at
        ``last_date`` or, for events other than death, at death if earlier (no longer at risk).
        Subjects whose event precedes V1 (e.g. a gastrostomy before baseline) are not at risk and
        are left out; their ids are listed in ``result.attrs["excluded_before_v1"]``.

    Raises
    ------
    ParameterError
        If ``event`` or a kind in ``events`` is unknown, or a column is missing.
    ValueError
        If a date is missing or ``last_date`` precedes ``v1_date``.
    """
    kinds = _event_members(event)
    _require_columns(subjects, ("subject", "v1_date", "last_date"), "subjects")
    _require_columns(events, ("subject", "kind", "date"), "events")
    unknown = sorted(set(events["kind"].dropna()) - set(EVENT_KINDS))
    if unknown:
        raise ParameterError(f"unknown event kind(s) {unknown}; known kinds are {EVENT_KINDS}")
    if subjects["subject"].duplicated().any():
        raise ValueError("subjects must hold one row per subject")
    v1 = pd.to_datetime(subjects["v1_date"])
    last = pd.to_datetime(subjects["last_date"])
    if v1.isna().any() or last.isna().any():
        missing = subjects.loc[v1.isna() | last.isna(), "subject"].tolist()
        raise ValueError(f"v1_date and last_date are required; missing for {missing[:5]}")
    if (last < v1).any():
        wrong = subjects.loc[last < v1, "subject"].tolist()
        raise ValueError(f"last_date precedes v1_date for {wrong[:5]}")

    dates = events.assign(date=pd.to_datetime(events["date"]))
    first_event = dates[dates["kind"].isin(kinds)].groupby("subject")["date"].min()
    death = dates[dates["kind"] == "death"].groupby("subject")["date"].min()
    subject_ids = subjects["subject"]
    event_date = subject_ids.map(first_event)
    end_date = last.copy()
    died = subject_ids.map(death)
    end_date = end_date.where(died.isna() | (died >= end_date), died)
    observed = event_date.notna()
    end_date = end_date.where(~observed, event_date)
    before_v1 = observed & (event_date < v1)
    result = pd.DataFrame(
        {
            "subject": subject_ids.to_numpy(),
            "months": ((end_date - v1).dt.days / DAYS_PER_MONTH).to_numpy(dtype=float),
            "observed": observed.to_numpy(dtype=bool),
        }
    )[~before_v1.to_numpy()].reset_index(drop=True)
    result.attrs["excluded_before_v1"] = subject_ids[before_v1].tolist()
    return result


def kaplan_meier(
    frame: pd.DataFrame,
    *,
    duration: str = "months",
    observed: str = "observed",
    by: str,
    levels: Sequence[Any] | None = None,
) -> list[dict[str, Any]]:
    """Return Kaplan–Meier estimates per level of ``by``.

    Parameters
    ----------
    frame : DataFrame
        One row per subject with ``duration`` (months from V1), ``observed`` (bool) and ``by``.
    duration, observed, by : str
        Column names.
    levels : sequence, optional
        Levels to report, in order (default: all, sorted).

    Returns
    -------
    list of dict
        ``{level, n, events, median_months, ci_low, ci_high, curve: {months, survival, ci_low,
        ci_high}, at_risk: {months, n}}`` per level. Pointwise 95% intervals use Greenwood's
        variance on the log(−log) scale (lifelines' default); the median's interval comes from
        ``lifelines.utils.median_survival_times``. None where the median or a bound is not
        reached.
    """
    data = _survival_data(frame, duration, observed, [by])
    result = []
    for level in _levels(data, by, levels):
        subset = data[data[by] == level]
        fitter = KaplanMeierFitter().fit(subset[duration], subset[observed], label="km")
        median_ci = median_survival_times(fitter.confidence_interval_)
        table = fitter.event_table
        result.append(
            {
                "level": _plain(level),
                "n": len(subset),
                "events": int(subset[observed].sum()),
                "median_months": as_float(fitter.median_survival_time_),
                "ci_low": as_float(median_ci.iloc[0, 0]),
                "ci_high": as_float(median_ci.iloc[0, 1]),
                "curve": {
                    "months": as_floats(fitter.survival_function_.index),
                    "survival": as_floats(fitter.survival_function_.iloc[:, 0]),
                    "ci_low": as_floats(fitter.confidence_interval_.iloc[:, 0]),
                    "ci_high": as_floats(fitter.confidence_interval_.iloc[:, 1]),
                },
                "at_risk": {
                    "months": as_floats(table.index),
                    "n": [int(n) for n in table["at_risk"]],
                },
            }
        )
    return result


def logrank_p(
    frame: pd.DataFrame,
    *,
    duration: str = "months",
    observed: str = "observed",
    by: str,
    levels: Sequence[Any] | None = None,
) -> float | None:
    """Return the log-rank test p-value across the levels of ``by``.

    Two levels use ``lifelines.statistics.logrank_test``; more use
    ``multivariate_logrank_test`` (one test of equality of all curves).

    Raises
    ------
    InsufficientDataError
        If fewer than two levels hold subjects or there is no event.
    """
    data = _survival_data(frame, duration, observed, [by])
    chosen = _levels(data, by, levels)
    data = data[data[by].isin(chosen)]
    if len(chosen) < 2:
        raise InsufficientDataError(f"the log-rank test needs two levels of {by!r} with subjects")
    if not data[observed].any():
        raise InsufficientDataError("no subject has the event: every time is censored")
    if len(chosen) == 2:
        first = data[data[by] == chosen[0]]
        second = data[data[by] == chosen[1]]
        test = logrank_test(first[duration], second[duration], first[observed], second[observed])
    else:
        test = multivariate_logrank_test(data[duration], data[by], data[observed])
    return as_float(test.p_value)


def cox(
    frame: pd.DataFrame,
    *,
    duration: str = "months",
    observed: str = "observed",
    covariates: Sequence[str],
    categorical: Sequence[str] = (),
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fit a Cox proportional hazards model (Efron ties) and check proportional hazards.

    Parameters
    ----------
    frame : DataFrame
        One row per subject with ``duration`` (months), ``observed`` (bool) and the covariates.
        Rows with a missing covariate are dropped.
    covariates : sequence of str
        All model terms (continuous and categorical columns).
    categorical : sequence of str
        The covariates to dummy-encode (first level dropped: sorted, or ``reference``).
    reference : dict, optional
        Reference level per categorical column, e.g. ``{"mbs_baseline": "negative"}`` so the
        term compares positive with negative.

    Returns
    -------
    dict
        ``{terms: [{term, hazard_ratio, ci_low, ci_high, p}], concordance, ph_check: [{term, p}],
        n, events, warnings}``. A dummy term is named ``"column: level vs reference"``; the
        proportional hazards check is lifelines' Schoenfeld-residual test with rank-transformed
        time.

    Raises
    ------
    InsufficientDataError
        If there are fewer than 5 subjects, no event, a categorical covariate with one level, or
        the fit does not converge.
    """
    unknown = [c for c in categorical if c not in covariates]
    if unknown:
        raise ParameterError(f"categorical columns {unknown} are not among the covariates")
    data = _survival_data(frame, duration, observed, list(covariates))
    design, names = _encode(data, covariates, categorical, reference or {})
    design[duration] = data[duration].to_numpy(dtype=float)
    design[observed] = data[observed].to_numpy(dtype=bool)
    _check_events(design, observed)
    caught_messages: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fitter = CoxPHFitter().fit(design, duration_col=duration, event_col=observed)
        except ConvergenceError as exc:
            raise InsufficientDataError(f"the Cox model did not converge: {exc}") from exc
        ph = proportional_hazard_test(fitter, design, time_transform="rank")
    caught_messages = [
        str(w.message).strip().splitlines()[0]
        for w in caught
        if issubclass(w.category, ConvergenceWarning)
    ]
    summary = fitter.summary
    terms = [
        {
            "term": names[column],
            "hazard_ratio": as_float(summary.loc[column, "exp(coef)"]),
            "ci_low": as_float(summary.loc[column, "exp(coef) lower 95%"]),
            "ci_high": as_float(summary.loc[column, "exp(coef) upper 95%"]),
            "p": as_float(summary.loc[column, "p"]),
        }
        for column in summary.index
    ]
    ph_summary = ph.summary
    ph_check = [
        {"term": names[column], "p": as_float(ph_summary.loc[column, "p"])}
        for column in ph_summary.index
    ]
    return {
        "terms": terms,
        "concordance": as_float(fitter.concordance_index_),
        "ph_check": ph_check,
        "n": len(design),
        "events": int(design[observed].sum()),
        "warnings": list(dict.fromkeys(caught_messages)),
    }


def to_start_stop(
    visits_frame: pd.DataFrame, tte_frame: pd.DataFrame, value_col: str
) -> pd.DataFrame:
    """Build the long start/stop frame with a marker updated at each visit.

    Parameters
    ----------
    visits_frame : DataFrame
        ``subject``, ``months`` (visit time from V1) and ``value_col`` (the marker, e.g.
        ``band_contrast``); visits with a missing value are skipped (the last value carries on).
    tte_frame : DataFrame
        Output of :func:`time_to_event`: ``subject``, ``months``, ``observed``.
    value_col : str
        Column of the marker.

    Returns
    -------
    DataFrame
        ``subject``, ``start``, ``stop`` (months), ``event`` (bool, only on a subject's last
        interval) and ``value_col``: the value measured at ``start`` holds until the next visit.
        Visits at or after the subject's end time are ignored; a subject enters the risk set at
        its first visit with a value, and subjects without one are left out.
    """
    _require_columns(visits_frame, ("subject", "months", value_col), "visits_frame")
    _require_columns(tte_frame, ("subject", "months", "observed"), "tte_frame")
    visits = visits_frame.dropna(subset=["months", value_col]).sort_values(["subject", "months"])
    ends = tte_frame.set_index("subject")
    rows: list[dict[str, Any]] = []
    for subject, subject_visits in visits.groupby("subject", sort=False):
        if subject not in ends.index:
            continue
        end = float(ends.at[subject, "months"])
        happened = bool(ends.at[subject, "observed"])
        times = subject_visits["months"].to_numpy(dtype=float)
        values = subject_visits[value_col].to_numpy()
        keep = times < end
        times, values = times[keep], values[keep]
        for index, (start, value) in enumerate(zip(times, values, strict=True)):
            last = index == len(times) - 1
            stop = end if last else float(times[index + 1])
            if stop <= start:
                continue
            rows.append(
                {
                    "subject": subject,
                    "start": float(start),
                    "stop": stop,
                    "event": happened and last,
                    value_col: value,
                }
            )
    return pd.DataFrame(rows, columns=["subject", "start", "stop", "event", value_col])


def cox_time_varying(
    long_frame: pd.DataFrame,
    *,
    id_col: str = "subject",
    start: str = "start",
    stop: str = "stop",
    event: str = "event",
    covariates: Sequence[str],
) -> dict[str, Any]:
    """Fit a Cox model with time-varying covariates (lifelines ``CoxTimeVaryingFitter``).

    Parameters
    ----------
    long_frame : DataFrame
        Start/stop rows, e.g. from :func:`to_start_stop` (times in months).
    covariates : sequence of str
        Numeric covariate columns.

    Returns
    -------
    dict
        ``{terms: [{term, hazard_ratio, ci_low, ci_high, p}], n_subjects, events, warnings}``.

    Raises
    ------
    InsufficientDataError
        If there are fewer than 5 subjects, no event, or the fit does not converge.
    """
    _require_columns(long_frame, (id_col, start, stop, event, *covariates), "long_frame")
    data = long_frame[[id_col, start, stop, event, *covariates]].dropna()
    n_subjects = int(data[id_col].nunique())
    if n_subjects < MIN_SUBJECTS:
        raise InsufficientDataError(
            f"{n_subjects} subject(s) with data; at least {MIN_SUBJECTS} are needed"
        )
    data = data.assign(**{event: data[event].astype(bool)})
    if not data[event].any():
        raise InsufficientDataError("no subject has the event: every time is censored")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fitter = CoxTimeVaryingFitter().fit(
                data, id_col=id_col, event_col=event, start_col=start, stop_col=stop
            )
        except ConvergenceError as exc:
            raise InsufficientDataError(f"the Cox model did not converge: {exc}") from exc
    summary = fitter.summary
    return {
        "terms": [
            {
                "term": str(column),
                "hazard_ratio": as_float(summary.loc[column, "exp(coef)"]),
                "ci_low": as_float(summary.loc[column, "exp(coef) lower 95%"]),
                "ci_high": as_float(summary.loc[column, "exp(coef) upper 95%"]),
                "p": as_float(summary.loc[column, "p"]),
            }
            for column in summary.index
        ],
        "n_subjects": n_subjects,
        "events": int(data.groupby(id_col)[event].any().sum()),
        "warnings": list(
            dict.fromkeys(
                str(w.message).strip().splitlines()[0]
                for w in caught
                if issubclass(w.category, ConvergenceWarning)
            )
        ),
    }


def _event_members(event: str) -> tuple[str, ...]:
    """Return the event kinds that make up ``event``."""
    if event in COMPOSITE_EVENTS:
        return COMPOSITE_EVENTS[event]
    if event in EVENT_KINDS:
        return (event,)
    known = (*EVENT_KINDS, *COMPOSITE_EVENTS)
    raise ParameterError(f"unknown event {event!r}; known events are {known}")


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise ParameterError naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{name} lacks the column(s) {missing}")


def _survival_data(
    frame: pd.DataFrame, duration: str, observed: str, columns: list[str]
) -> pd.DataFrame:
    """Return the rows with a duration, an event flag and every named column; validate them."""
    _require_columns(frame, (duration, observed, *columns), "frame")
    data = frame[[duration, observed, *columns]].dropna().copy()
    data[duration] = pd.to_numeric(data[duration]).astype(float)
    if (data[duration] < 0).any():
        raise ValueError(f"{duration} must not be negative (months from V1)")
    data[observed] = data[observed].astype(bool)
    if len(data) < MIN_SUBJECTS:
        raise InsufficientDataError(
            f"{len(data)} subject(s) with data; at least {MIN_SUBJECTS} are needed"
        )
    return data


def _check_events(data: pd.DataFrame, observed: str) -> None:
    """Raise when nobody has the event: no survival model is estimable."""
    if not data[observed].any():
        raise InsufficientDataError("no subject has the event: every time is censored")


def _levels(data: pd.DataFrame, by: str, levels: Sequence[Any] | None) -> list[Any]:
    """Return the requested levels (validated) or all levels present, sorted."""
    present = sorted(data[by].unique())
    if levels is None:
        return present
    unknown = [level for level in levels if level not in present]
    if unknown:
        raise InsufficientDataError(f"no subject with data at {by} = {unknown}")
    return list(levels)


def _encode(
    data: pd.DataFrame,
    covariates: Sequence[str],
    categorical: Sequence[str],
    reference: dict[str, Any],
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Return a numeric design (safe column names) and the readable term name of each column."""
    design = pd.DataFrame(index=data.index)
    names: dict[str, str] = {}
    for index, column in enumerate(covariates):
        if column in categorical:
            present = sorted(data[column].unique())
            base = reference.get(column, present[0] if present else None)
            if base not in present:
                raise ParameterError(f"reference level {base!r} of {column!r} has no subject")
            if len(present) < 2:
                raise InsufficientDataError(f"{column!r} has one level only: no contrast")
            for level_index, level in enumerate(level for level in present if level != base):
                safe = f"x{index}_{level_index}"
                design[safe] = (data[column] == level).to_numpy(dtype=float)
                names[safe] = f"{column}: {level} vs {base}"
        else:
            safe = f"x{index}"
            design[safe] = pd.to_numeric(data[column]).to_numpy(dtype=float)
            names[safe] = column
    return design, names


def _plain(value: Any) -> Any:
    """Return a level as a plain Python value."""
    if isinstance(value, np.generic):
        return value.item()
    return value
