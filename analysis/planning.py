"""The sample-size planner for the next study, with defaults taken from the current study's data.

The formulas and the simulation are pure (``analysis.stats.planning``); this module finds the
defaults a planner would look up by hand (the prevalence of the target condition among suspected
patients, the sensitivity and specificity of the MBS read against the final diagnosis, the number
of subjects per site, the variance components of band contrast over the visits) and says where each
came from, so a statistician can accept or overwrite them.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pandas as pd

from analysis import diagnostic_study, frames
from analysis.stats import planning
from analysis.stats.errors import InsufficientDataError
from cohort.models import Group, Study
from core.roles import Acting

TARGETS = ("sensitivity", "specificity", "hazard_ratio", "slope_difference")
#: What a planner assumes when the study has nothing to say (stated in the answer's defaults).
FALLBACK = {
    "expected": 0.8,
    "half_width": 0.1,
    "prevalence": 0.5,
    "alpha": 0.05,
    "power": 0.8,
    "hr": 2.0,
    "proportion": 0.5,
}
#: Groups whose band-contrast slopes the slope planner compares (patients minus controls).
SLOPE_GROUPS = ("ALS", "CONTROL")


def _given(params: dict[str, Any], name: str) -> bool:
    return params.get(name) is not None


def plan(*, user: Acting, params: dict[str, Any]) -> dict[str, Any]:
    """Answer the planner for ``params["target"]`` with the given values or the study's defaults.

    The answer carries ``defaults``: ``{name: {value, source}}`` for every value not given.
    """
    target = params["target"]
    defaults: dict[str, dict[str, Any]] = {}

    def value(name: str, study_value: tuple[Any, str] | None = None) -> Any:
        if _given(params, name):
            return params[name]
        if study_value is not None and study_value[0] is not None:
            defaults[name] = {"value": study_value[0], "source": study_value[1]}
            return study_value[0]
        defaults[name] = {"value": FALLBACK[name], "source": "conventional assumption"}
        return FALLBACK[name]

    if target in ("sensitivity", "specificity"):
        study = _diagnostic_defaults(user)
        answer = planning.buderer(
            target,
            expected=value("expected", study.get(target)),
            half_width=value("half_width"),
            prevalence=value("prevalence", study.get("prevalence")),
            alpha=value("alpha"),
            design_effect=_design_effect(params, defaults),
        )
    elif target == "hazard_ratio":
        answer = planning.schoenfeld_events(
            hr=value("hr"),
            power=value("power"),
            alpha=value("alpha"),
            proportion=value("proportion", _mbs_positive_share(user)),
        )
    else:
        components, difference = _slope_defaults(user, params)
        sd_names = ("sd_intercept", "sd_slope", "corr_intercept_slope", "sd_residual")
        chosen = {}
        for name in sd_names:
            if _given(params, name):
                chosen[name] = params[name]
            elif components is not None:
                chosen[name] = components[name]
                defaults[name] = {"value": components[name], "source": components["source"]}
            else:
                raise InsufficientDataError(
                    f"give {name}: the study has too few subjects with three or more visits of "
                    "band contrast to estimate it"
                )
        if _given(params, "difference"):
            diff = params["difference"]
        elif difference is not None:
            diff = difference[0]
            defaults["difference"] = {"value": diff, "source": difference[1]}
        else:
            raise InsufficientDataError(
                "give the slope difference to detect: the study has no ALS and control slopes "
                "to take it from"
            )
        schedule = Study.current().schedule
        visits = params.get("visits") or schedule.planned_visits
        if not _given(params, "visits"):
            defaults["visits"] = {"value": visits, "source": "the study's planned visits"}
        months = [float(i * schedule.interval_months) for i in range(visits)]
        answer = planning.slope_difference_sample_size(
            diff,
            power=value("power"),
            visits_months=months,
            alpha=value("alpha"),
            dropout_per_visit=params.get("dropout_per_visit") or 0.0,
            n_sim=params.get("n_sim") or 1000,
            seed=params.get("seed") or planning.DEFAULT_SEED,
            **chosen,
        )
        answer["visits_months"] = months
    answer["target"] = target
    answer["defaults"] = defaults
    return answer


def _design_effect(params: dict[str, Any], defaults: dict[str, dict[str, Any]]) -> float:
    if _given(params, "design_effect"):
        return float(params["design_effect"])
    if _given(params, "cluster_size") and _given(params, "icc"):
        effect = planning.design_effect(params["cluster_size"], params["icc"])
        defaults["design_effect"] = {"value": effect, "source": "1 + (m − 1) ICC"}
        return effect
    defaults["design_effect"] = {"value": 1.0, "source": "no clustering assumed"}
    return 1.0


def _diagnostic_defaults(user: Acting) -> dict[str, tuple[Any, str]]:
    """Prevalence, sensitivity and specificity of the MBS read among suspected ALS, where known."""
    frame = diagnostic_study.diagnostic_frame(user=user, marker="mbs_read")
    known = frame[frame["reference_status"] == diagnostic_study.DONE]
    out: dict[str, tuple[Any, str]] = {}
    if len(known):
        share = float(known["disease"].astype(bool).mean())
        if 0 < share < 1:
            out["prevalence"] = (
                round(share, 3),
                f"target condition in {int(known['disease'].astype(bool).sum())} of {len(known)} "
                "suspected ALS subjects with a reference standard",
            )
    try:
        accuracy = diagnostic_study.accuracy_against_reference(frame, marker="mbs_read")
    except (InsufficientDataError, ValueError, KeyError):
        return out
    for name in ("sensitivity", "specificity"):
        estimate = accuracy[name]["estimate"]
        if estimate is not None and 0 < estimate < 1:
            out[name] = (
                round(float(estimate), 3),
                f"{name} of the MBS read against the final diagnosis in this study",
            )
    return out


def _mbs_positive_share(user: Acting) -> tuple[Any, str] | None:
    frame = frames.analysis_frame(
        user=user, visit_codes=[frames.BASELINE_VISIT], groups=["ALS", "PLS"]
    )
    reads = frame["mbs"].dropna()
    if len(reads) < 2:
        return None
    share = float(reads.astype(bool).mean())
    if not 0 < share < 1:
        return None
    return (
        round(share, 3),
        f"MBS-positive share at V1 among ALS and PLS ({int(reads.astype(bool).sum())} of "
        f"{len(reads)})",
    )


def _slope_defaults(
    user: Acting, params: dict[str, Any]
) -> tuple[dict[str, Any] | None, tuple[float, str] | None]:
    """Variance components of band contrast among patients and the ALS − control slope."""
    frame = frames.analysis_frame(user=user)
    data = frame[["subject", "group", "months", "band_contrast"]].dropna()
    components: dict[str, Any] | None = None
    patients = data[data["group"].isin([Group.ALS, Group.PLS])]
    try:
        components = planning.variance_components(
            patients, subject="subject", time="months", outcome="band_contrast"
        )
        components["source"] = (
            f"band contrast of {components['n_subjects']} ALS and PLS subjects in this study "
            f"({components['method']})"
        )
    except InsufficientDataError:
        components = None
    slopes = {}
    for group in SLOPE_GROUPS:
        with contextlib.suppress(InsufficientDataError):
            slopes[group] = planning.variance_components(
                data[data["group"] == group],
                subject="subject",
                time="months",
                outcome="band_contrast",
            )["mean_slope"]
    difference = None
    if len(slopes) == len(SLOPE_GROUPS):
        observed = slopes["ALS"] - slopes["CONTROL"]
        if observed != 0:
            difference = (
                float(observed),
                "observed mean slope of ALS minus controls (band contrast per month)",
            )
    return components, difference


def defaults_table(answer: dict[str, Any]) -> pd.DataFrame:
    """The defaults of an answer as rows (for the page's CSV)."""
    return pd.DataFrame(
        [
            {"name": k, "value": v["value"], "source": v["source"]}
            for k, v in answer["defaults"].items()
        ],
        columns=["name", "value", "source"],
    )
