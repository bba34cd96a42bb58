"""Time to clinical events from V1: Kaplan–Meier, log-rank, Cox and time-varying Cox models."""

from __future__ import annotations

import math
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
from analysis.stats.errors import DegenerateModelError, InsufficientDataError, ParameterError

#: Length of a study month in days (domain.md).
DAYS_PER_MONTH = 30.4375
#: Clinical event kinds (domain.md, Clinical events).
EVENT_KINDS = (
    "death",
    "tracheostomy",
    "pav",
    "niv",
    "gastrostomy",
    "withdrawal",
    # Derived by the caller: the first time a subject is at King's stage 4 (gastrostomy, or
    # respiratory failure or NIV; Roche 2012).
    "kings_stage_4",
)
#: The standard trial composite: the first of its member events.
COMPOSITE_EVENTS = {"death_or_tracheostomy_or_pav": ("death", "tracheostomy", "pav")}
#: A survival model needs at least this many subjects.
MIN_SUBJECTS = 5
#: Fewer events than this per estimated Cox parameter adds a warning: hazard ratios are then
#: biased away from 1 and their Wald intervals too narrow (Peduzzi 1995, J Clin Epidemiol 48:1503;
#: the usual rule of ten; Vittinghoff & McCulloch 2007 relax it to 5-9 for some designs, so it is
#: a warning, not a refusal).
MIN_EVENTS_PER_PARAMETER = 10
#: A Cox coefficient larger than this per standard deviation of its covariate (a hazard ratio of
#: e^10 ≈ 22,000 per SD), or a standard error larger than this per SD, only arises when the
#: partial likelihood has no finite maximum (separation, monotone likelihood): the fit is refused.
MAX_STANDARDIZED_LOG_HAZARD_RATIO = 10.0
MAX_STANDARDIZED_SE = 10.0


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
    entry: str | None = None,
) -> list[dict[str, Any]]:
    """Return Kaplan–Meier estimates per level of ``by``.

    With ``entry`` (a column of times at which each subject entered observation, on the same axis
    as ``duration``, e.g. months from symptom onset to V1) subjects are at risk only from their
    entry on (delayed entry, left truncation).

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
        ci_high}, at_risk: {months, n}, warnings}`` per level. Pointwise 95% intervals use
        Greenwood's variance on the log(−log) scale (lifelines' default); the median's interval
        comes from ``lifelines.utils.median_survival_times``. The median and its bounds are None
        where they are not estimable (a single subject, no event, median or bound not reached),
        never a number standing in for "not reached"; ``warnings`` (list of sentences) then says
        why for that level.
    """
    data = _survival_data(frame, duration, observed, [by, *([entry] if entry else [])])
    if entry:
        _check_entry(data, duration, entry)
    result = []
    for level in _levels(data, by, levels):
        subset = data[data[by] == level]
        fitter = KaplanMeierFitter().fit(
            subset[duration],
            subset[observed],
            entry=subset[entry] if entry else None,
            label="km",
        )
        median_ci = median_survival_times(fitter.confidence_interval_)
        table = fitter.event_table
        median, ci_low, ci_high, notes = _median_with_reasons(
            fitter,
            as_float(fitter.median_survival_time_),
            as_float(median_ci.iloc[0, 0]),
            as_float(median_ci.iloc[0, 1]),
            n=len(subset),
            events=int(subset[observed].sum()),
            where=f"{by} = {_plain(level)}",
        )
        result.append(
            {
                "level": _plain(level),
                "n": len(subset),
                "events": int(subset[observed].sum()),
                "median_months": median,
                "ci_low": ci_low,
                "ci_high": ci_high,
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
                "warnings": notes,
            }
        )
    return result


def _median_with_reasons(
    fitter: KaplanMeierFitter,
    median: float | None,
    ci_low: float | None,
    ci_high: float | None,
    *,
    n: int,
    events: int,
    where: str,
) -> tuple[float | None, float | None, float | None, list[str]]:
    """Return the median survival and its bounds, None where not estimable, with the reasons."""
    last = float(fitter.survival_function_.index.max())
    if n == 1:
        return (
            None,
            None,
            None,
            [
                f"{where} has a single subject: a median survival time and its interval cannot "
                "be estimated from one time; report the subject's time instead."
            ],
        )
    if events == 0:
        return (
            None,
            None,
            None,
            [
                f"No subject at {where} has the event (all {n} are censored): the survival curve "
                f"stays at 100% up to {last:.1f} months, so the median is not reached and has no "
                "interval."
            ],
        )
    notes: list[str] = []
    if median is None:
        lowest = float(fitter.survival_function_.iloc[:, 0].min())
        notes.append(
            f"The median time to the event is not reached at {where}: survival stays at or above "
            f"{100 * lowest:.0f}% up to the last follow-up at {last:.1f} months, so no median or "
            "interval is reported."
        )
        return None, None, None, notes
    if ci_low is None:
        notes.append(
            f"The lower bound of the 95% interval of the median at {where} cannot be estimated "
            "(the interval's survival bound never falls to 50%); it is left empty."
        )
    if ci_high is None:
        notes.append(
            f"The upper bound of the 95% interval of the median at {where} is not reached: the "
            f"interval's upper survival curve stays above 50% up to {last:.1f} months, so the "
            "true median may be later than any follow-up; it is left empty."
        )
    return median, ci_low, ci_high, notes


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
    entry: str | None = None,
) -> dict[str, Any]:
    """Fit a Cox proportional hazards model (Efron ties) and check proportional hazards.

    ``entry`` names a delayed-entry column (see :func:`kaplan_meier`): each subject joins the risk
    sets only from that time on.

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
        time. ``warnings`` holds complete sentences: fewer than ``MIN_EVENTS_PER_PARAMETER`` (10)
        events per parameter, and lifelines' convergence warnings translated (never its raw,
        truncated text).

    Raises
    ------
    InsufficientDataError
        If there are fewer than 5 subjects, no event, a categorical covariate with one level, or
        the fit does not converge.
    DegenerateModelError
        (a subclass of InsufficientDataError) if a level of a categorical covariate has no event
        (its hazard ratio runs to 0 or infinity: e.g. controls, who do not die of ALS), if one
        covariate orders the events perfectly (monotone likelihood: at every event the subject
        with the event has the highest, or lowest, value of those still at risk), or if a fitted
        hazard ratio or its standard error is not finite or beyond
        ``MAX_STANDARDIZED_LOG_HAZARD_RATIO`` / ``MAX_STANDARDIZED_SE`` per SD of its covariate.
    """
    unknown = [c for c in categorical if c not in covariates]
    if unknown:
        raise ParameterError(f"categorical columns {unknown} are not among the covariates")
    data = _survival_data(
        frame,
        duration,
        observed,
        [*covariates, *([entry] if entry and entry not in covariates else [])],
    )
    if entry:
        _check_entry(data, duration, entry)
    design, names = _encode(data, covariates, categorical, reference or {})
    design[duration] = data[duration].to_numpy(dtype=float)
    design[observed] = data[observed].to_numpy(dtype=bool)
    _check_events(design, observed)
    for column in categorical:
        _check_events_per_level(data, column, observed, design[observed])
    notes = _separation_and_events_per_parameter(
        design, names, duration=duration, observed=observed
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", RuntimeWarning)
        try:
            fitted = design.assign(_entry=data[entry].to_numpy(dtype=float)) if entry else design
            fitter = CoxPHFitter().fit(
                fitted,
                duration_col=duration,
                event_col=observed,
                entry_col="_entry" if entry else None,
            )
        except ConvergenceError as exc:
            raise DegenerateModelError(_convergence_error_sentence(exc, names)) from exc
        except np.linalg.LinAlgError as exc:
            raise DegenerateModelError(_singular_sentence(names)) from exc
        _check_fitted_terms(fitter.summary, design, names)
        # lifelines computes no residuals with delayed entry: the check is then left out, in words.
        ph = None if entry else proportional_hazard_test(fitter, design, time_transform="rank")
    caught_messages = [*notes, *_library_warnings(caught, names, "Cox model")]
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
    ph_check = (
        []
        if ph is None
        else [
            {"term": names[column], "p": as_float(ph.summary.loc[column, "p"])}
            for column in ph.summary.index
        ]
    )
    if ph is None:
        caught_messages.append(
            "The proportional hazards check (Schoenfeld residuals) is not computed with delayed "
            "entry; check it on the time axis from V1."
        )
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
    columns = ["subject", "start", "stop", "event", value_col]
    visits = visits_frame.dropna(subset=["months", value_col]).sort_values(["subject", "months"])
    ends = tte_frame.set_index("subject")
    if ends.index.has_duplicates:
        raise ValueError("tte_frame must hold one row per subject")
    # Vectorized over the sorted visits (a subject's visits are consecutive rows): a loop over
    # subjects cost about 0.15 ms each.
    visits = visits[visits["subject"].isin(ends.index)]
    end = visits["subject"].map(ends["months"]).to_numpy(dtype=float)
    happened = visits["subject"].map(ends["observed"]).map(bool).to_numpy(dtype=bool)
    times = visits["months"].to_numpy(dtype=float)
    keep = times < end
    visits, end, happened, times = visits[keep], end[keep], happened[keep], times[keep]
    subjects = visits["subject"].to_numpy()
    # The last visit kept of each subject runs to the subject's end; any other to the next visit.
    last = np.ones(len(visits), dtype=bool)
    last[:-1] = subjects[1:] != subjects[:-1]
    stop = np.where(last, end, np.append(times[1:], np.nan))
    # An empty interval (two visits at the same time) is dropped; the later visit's value holds.
    interval = stop > times
    if not interval.any():
        return pd.DataFrame([], columns=columns)
    values = visits[value_col][interval]
    if values.dtype == object:
        values = values.infer_objects()
    return pd.DataFrame(
        {
            "subject": subjects[interval],
            "start": times[interval],
            "stop": stop[interval],
            "event": happened[interval] & last[interval],
            value_col: values.to_numpy(),
        },
        columns=columns,
    )


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
        ``{terms: [{term, hazard_ratio, ci_low, ci_high, p}], n_subjects, events, warnings}``;
        ``warnings`` as in :func:`cox` (events per parameter, translated lifelines warnings).

    Raises
    ------
    InsufficientDataError
        If there are fewer than 5 subjects, no event, or the fit does not converge.
    DegenerateModelError
        If a covariate does not vary, or a fitted hazard ratio or its standard error is not finite
        or implausibly large (see :func:`cox`).
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
    names = {str(c): str(c) for c in covariates}
    for column in covariates:
        values = pd.to_numeric(data[column], errors="coerce")
        if values.nunique() < 2:
            raise DegenerateModelError(
                f"The covariate {column!r} has the same value in every interval, so the "
                "time-varying Cox model has nothing to compare and no hazard ratio is estimable; "
                "check that it was measured at the visits."
            )
    notes: list[str] = []
    n_events = int(data.groupby(id_col)[event].any().sum())
    events_note = _events_per_parameter_note(n_events, len(covariates), "time-varying Cox model")
    if events_note:
        notes.append(events_note)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        warnings.simplefilter("always", RuntimeWarning)
        try:
            fitter = CoxTimeVaryingFitter().fit(
                data, id_col=id_col, event_col=event, start_col=start, stop_col=stop
            )
        except ConvergenceError as exc:
            raise DegenerateModelError(_convergence_error_sentence(exc, names)) from exc
        except np.linalg.LinAlgError as exc:
            raise DegenerateModelError(_singular_sentence(names)) from exc
    _check_fitted_terms(fitter.summary, data[list(covariates)], names)
    notes.extend(_library_warnings(caught, names, "time-varying Cox model"))
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
        "events": n_events,
        "warnings": list(dict.fromkeys(notes)),
    }


def _check_events_per_level(
    data: pd.DataFrame, column: str, observed: str, events: pd.Series
) -> None:
    """Refuse a categorical covariate with a level where nobody has the event.

    Such a level's hazard ratio against any other runs to 0 (or, for the reference, every other
    level's to infinity): quasi-complete separation. lifelines then stops at a meaningless value
    such as 1e-8 with an interval from 0 to infinity.
    """
    counts = events.groupby(data[column].to_numpy()).agg(["sum", "size"])
    empty = [level for level, row in counts.iterrows() if row["sum"] == 0]
    if not empty:
        return
    level = empty[0]
    others = int(counts["sum"].sum())
    listed = ", ".join(f"{column} = {_plain(e)}" for e in empty)
    raise DegenerateModelError(
        f"No subject at {listed} has the event ({int(counts.loc[level, 'size'])} subject(s) "
        f"there, all censored; {others} event(s) in the other levels), so the Cox model cannot "
        f"estimate a hazard ratio for {column!r}: it would run to zero or infinity and look like "
        f"a finding. Leave {listed} out of the Cox model (for example controls, who do not reach "
        "ALS events) and compare it with the Kaplan–Meier curves and the log-rank test instead."
    )


def _separation_and_events_per_parameter(
    design: pd.DataFrame, names: dict[str, str], *, duration: str, observed: str
) -> list[str]:
    """Refuse a covariate that orders the events perfectly; return the events-per-parameter note.

    Monotone likelihood (Bryson & Johnson 1981): when at every event time the subject with the
    event has the highest (or at every one the lowest) value of a covariate among those still at
    risk, the partial likelihood keeps increasing with the coefficient and has no maximum.
    """
    times = design[duration].to_numpy(dtype=float)
    happened = design[observed].to_numpy(dtype=bool)
    order = np.argsort(-times, kind="stable")
    sorted_times = times[order]
    # index of the last subject still at risk (time >= t) in the descending order, per subject
    last_at_risk = np.searchsorted(-sorted_times, -times, side="right") - 1
    for column, label in names.items():
        values = design[column].to_numpy(dtype=float)
        highest = np.maximum.accumulate(values[order])[last_at_risk]
        lowest = np.minimum.accumulate(values[order])[last_at_risk]
        at_event = values[happened]
        top, bottom = highest[happened], lowest[happened]
        informative = bool(np.any(top > bottom))
        if not informative:
            continue
        for side, bound in (("highest", top), ("lowest", bottom)):
            if np.all(at_event == bound):
                raise DegenerateModelError(
                    f"The covariate {label!r} separates the events perfectly: at every event the "
                    f"subject with the event has the {side} {label} of all subjects still at "
                    "risk, so its hazard ratio runs to "
                    f"{'infinity' if side == 'highest' else 'zero'} and no estimate or interval "
                    f"is meaningful. Leave {label!r} out of the model, or collect more events "
                    "before modelling it."
                )
    note = _events_per_parameter_note(int(happened.sum()), len(names), "Cox model")
    return [note] if note else []


def _events_per_parameter_note(events: int, parameters: int, model: str) -> str | None:
    """Return a warning sentence when the model has too few events per parameter."""
    if parameters == 0 or events >= MIN_EVENTS_PER_PARAMETER * parameters:
        return None
    return (
        f"The {model} rests on {events} event(s) for {parameters} parameter(s) "
        f"({events / parameters:.1f} per parameter, fewer than {MIN_EVENTS_PER_PARAMETER}): "
        "hazard ratios may be biased away from 1 and their intervals too narrow, so read them "
        "as exploratory."
    )


def _check_fitted_terms(summary: pd.DataFrame, design: pd.DataFrame, names: dict[str, str]) -> None:
    """Refuse a fit whose hazard ratio or standard error is infinite or implausibly large."""
    for column in summary.index:
        label = names.get(str(column), str(column))
        coef = float(summary.loc[column, "coef"])
        se = float(summary.loc[column, "se(coef)"])
        spread = float(pd.to_numeric(design[column]).std()) if column in design else 1.0
        if not (math.isfinite(coef) and math.isfinite(se)):
            problem = "is not finite"
        elif abs(coef) * spread > MAX_STANDARDIZED_LOG_HAZARD_RATIO:
            problem = f"is {math.exp(min(abs(coef) * spread, 700)):.3g}-fold per standard deviation"
        elif se * spread > MAX_STANDARDIZED_SE:
            problem = f"has a standard error of {se * spread:.3g} on the log scale per SD"
        else:
            continue
        raise DegenerateModelError(
            f"The hazard ratio of {label!r} {problem}: the partial likelihood has no finite "
            "maximum (the covariate, or a combination of covariates, separates subjects with and "
            "without the event, or too few events inform it), so no estimate or interval is "
            f"reported. Leave {label!r} out, merge sparse levels, or wait for more events."
        )


def _library_warnings(caught: Sequence[Any], names: dict[str, str], model: str) -> list[str]:
    """Translate lifelines' convergence warnings (and numerical ones) into complete sentences.

    lifelines' messages name the internal column names (``x0_1``), end in code examples or
    links, and were previously cut at their first line; the answer gets a sentence instead.
    """
    sentences: list[str] = []
    for item in caught:
        message = " ".join(str(item.message).split())
        lower = message.lower()
        mentioned = [label for column, label in names.items() if column in message.split()]
        subject = ", ".join(repr(m) for m in mentioned) or "a covariate"
        if issubclass(item.category, ConvergenceWarning):
            if "conditioned on death event" in lower or "conditioned on event" in lower:
                sentences.append(
                    f"In the {model}, {subject} barely varies among the subjects with the event "
                    "or among those without it (a form of separation), so its hazard ratio and "
                    "interval are unreliable."
                )
            elif "very low variance" in lower:
                sentences.append(
                    f"In the {model}, {subject} has almost no variance, which harms convergence; "
                    "its hazard ratio is unreliable."
                )
            elif "correlation" in lower and "duration" in lower:
                sentences.append(
                    f"In the {model}, {subject} is almost perfectly correlated with the time to "
                    "the event (a form of separation), so its hazard ratio is unreliable."
                )
            elif "separation" in lower or "non-unique" in lower:
                sentences.append(
                    f"The {model} shows signs of separation or collinearity: the fit stopped "
                    "without a unique maximum, so hazard ratios and intervals may be wrong."
                )
            elif "failed to converge" in lower:
                sentences.append(
                    f"The {model} did not converge (Newton–Raphson stopped before the maximum), "
                    "so hazard ratios and intervals may be wrong."
                )
            elif "start" in lower and "stop" in lower:
                sentences.append(
                    f"In the {model}, some intervals start and stop at the same time and carry "
                    "no follow-up; check the visit dates."
                )
            elif "dimension" in lower or "more columns than rows" in lower:
                sentences.append(
                    f"The {model} has as many covariates as subjects or more, so it is not "
                    "identified."
                )
            else:
                sentences.append(
                    f"The {model} fit reported a convergence problem, so its hazard ratios and "
                    f"intervals may be wrong (lifelines: {message.rstrip('.')})."
                )
        elif issubclass(item.category, RuntimeWarning) and (
            "overflow" in lower or "divide" in lower or "invalid" in lower
        ):
            sentences.append(
                f"Numbers overflowed or were undefined during the {model} fit, a sign that a "
                "hazard ratio is running away; treat the estimates with caution."
            )
    return list(dict.fromkeys(sentences))


def _convergence_error_sentence(exc: Exception, names: dict[str, str]) -> str:
    """Return the sentence for lifelines' ConvergenceError."""
    labels = ", ".join(repr(label) for label in names.values())
    return (
        "The Cox model did not converge: the optimization of the partial likelihood failed, "
        "which happens when covariates are collinear, one of them is nearly constant, or a "
        f"covariate separates subjects with and without the event (covariates: {labels}). "
        "Remove or merge the covariate that causes it."
    )


def _singular_sentence(names: dict[str, str]) -> str:
    """Return the sentence for a singular matrix during a Cox fit."""
    labels = ", ".join(repr(label) for label in names.values())
    return (
        "The Cox model is degenerate: its information matrix is singular, so the covariates "
        f"({labels}) do not each carry separate information (one is constant or a combination of "
        "the others). Remove the redundant covariate."
    )


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


def _check_entry(data: pd.DataFrame, duration: str, entry: str) -> None:
    """Delayed entry must lie in [0, duration]: nobody is observed before they enter."""
    times = pd.to_numeric(data[entry]).astype(float)
    if (times < 0).any():
        raise ValueError(f"{entry} must not be negative")
    late = data[times > data[duration]]
    if len(late):
        raise ValueError(
            f"{len(late)} subject(s) enter observation after their event or censoring time "
            f"({entry} > {duration})"
        )


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
