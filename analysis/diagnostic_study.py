"""The prospective diagnostic accuracy study: the index test at V1 against the reference standard.

A subject enrolled under investigation for ALS (``SUSPECTED``) has the index test at the baseline
visit (the blinded MBS read, or the quantified band contrast) and a reference standard later: the
diagnosis flagged ``reference_standard`` by a blinded assessor after the study's pre-specified
follow-up (``cohort.models.Diagnosis``). ``diagnostic_frame`` gives one row per subject with both and
the reason whenever either is missing; the diagnostic report, the STARD flow diagram and the STARD
report of a release all read it, so they always count the same subjects.

Target condition (MotorBand's choice, stated in every answer): motor neuron disease with upper
motor neuron involvement, i.e. a reference diagnosis of ALS or PLS; PMA (lower motor neuron only),
mimics and other diagnoses are its absence. Over the whole cohort, healthy controls have no
diagnosis history and count as without the target condition by their enrolment group (said in a
warning), and subjects enrolled as ALS or PLS without a reference diagnosis are missing it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis import frames
from analysis.stats import agreement, diagnostic
from cohort.models import Diagnosis, Group, Phenotype, Study, Subject
from core import roles
from core.roles import Acting
from imaging.models import QcStatus, Read, ReadOutcome

#: Reference diagnoses that are the target condition (UMN-involving motor neuron disease).
TARGET_PHENOTYPES = (Phenotype.ALS.value, Phenotype.PLS.value)
POPULATIONS = ("suspected", "all")
REFERENCES = ("enrolment", "final_diagnosis")
DISEASE = "target condition"
NO_DISEASE = "no target condition"

#: Index test states.
DONE = "done"
INDETERMINATE = "indeterminate"
MISSING = "missing"

#: Columns of ``diagnostic_frame``.
COLUMNS = (
    "subject",
    "site",
    "group",
    "scanner",
    "field_strength",
    "index_date",
    "index_value",
    "index_status",
    "index_reason",
    "reference_phenotype",
    "reference_gold_coast",
    "reference_el_escorial",
    "reference_date",
    "reference_status",
    "reference_reason",
    "disease",
    "days_index_to_reference",
)


def diagnostic_frame(
    *,
    user: Acting,
    marker: str,
    population: str = "suspected",
    sites: Sequence[str] | None = None,
    visit_code: str = frames.BASELINE_VISIT,
    harmonize: bool = False,
) -> pd.DataFrame:
    """One row per subject of the population with the index test and the reference standard.

    ``index_status`` is ``done`` (a value), ``indeterminate`` (the raters disagree by two grades
    and no final read exists yet, a hemisphere is ungraded, or the reads are non-diagnostic:
    reason "non-diagnostic read (motion, ...)") or ``missing`` (no completed
    visit, no usable scan or band value, no read), with ``index_reason``. ``disease`` is True/False
    from the reference diagnosis, or None with ``reference_reason``. Analysts only (anyone else
    gets an empty frame).
    """
    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {', '.join(POPULATIONS)}")
    subjects = Subject.objects.visible_to(user).select_related("site")
    if roles.role_of(user) not in roles.ANALYSTS:
        subjects = subjects.none()
    if population == "suspected":
        subjects = subjects.filter(group=Group.SUSPECTED)
    if sites:
        subjects = subjects.filter(site__code__in=list(sites))
    base = pd.DataFrame.from_records(
        subjects.values("id", "study_id", "site__code", "group"),
        columns=["id", "study_id", "site__code", "group"],
    ).rename(columns={"study_id": "subject", "site__code": "site"})
    if base.empty:
        return pd.DataFrame(columns=list(COLUMNS))

    visits = frames.analysis_frame(user=user, visit_codes=[visit_code], harmonize=harmonize)
    column = "mbs" if marker == "mbs_read" else marker
    index = _index_visits(visits, column)
    read_visits = subjects_with_reads(user, visit_code)
    non_diagnostic = non_diagnostic_reads(user, visit_code)

    rows: list[dict[str, Any]] = []
    references = {
        d.subject_id: d
        for d in Diagnosis.objects.filter(
            reference_standard=True, subject_id__in=base["id"].tolist()
        )
    }
    for subject in base.itertuples(index=False):
        row: dict[str, Any] = {
            "subject": subject.subject,
            "site": subject.site,
            "group": subject.group,
        }
        row.update(
            _index(
                index,
                subject.subject,
                column,
                marker,
                visit_code,
                read_visits,
                non_diagnostic=non_diagnostic,
            )
        )
        row.update(_reference(references.get(subject.id), subject.group))
        if row["index_date"] is not None and row["reference_date"] is not None:
            row["days_index_to_reference"] = (
                pd.Timestamp(row["reference_date"]) - pd.Timestamp(row["index_date"])
            ).days
        else:
            row["days_index_to_reference"] = None
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame.attrs["warnings"] = list(visits.attrs.get("warnings", []))
    frame.attrs["algorithm_version"] = visits.attrs.get("algorithm_version")
    return frame


def subjects_with_reads(user: Acting, visit_code: str) -> set[str]:
    """Study ids whose visit has current reads on a scan that did not fail QC."""
    return set(
        Read.objects.filter(
            is_current=True,
            scan__visit__visit_code=visit_code,
            scan__visit__subject__in=Subject.objects.visible_to(user),
        )
        .exclude(scan__qc_status=QcStatus.FAIL)
        .values_list("scan__visit__subject__study_id", flat=True)
    )


def non_diagnostic_reads(user: Acting, visit_code: str) -> dict[str, list[str]]:
    """Study ids whose visit's reads are non-diagnostic, with their reasons (sorted).

    A visit counts where its current reads (scans that did not fail QC) include non-diagnostic
    ones and its graded reads are no majority (``agreement.graded_reads_suffice``): all
    non-diagnostic, or one graded beside one non-diagnostic. Its index test is then indeterminate
    for that reason (an adjudicator's final read, where one exists, gives it a value first).
    """
    counts: dict[str, list[int]] = {}
    reasons: dict[str, set[str]] = {}
    for study_id, outcome, reason in (
        Read.objects.filter(
            is_current=True,
            scan__visit__visit_code=visit_code,
            scan__visit__subject__in=Subject.objects.visible_to(user),
        )
        .exclude(scan__qc_status=QcStatus.FAIL)
        .values_list("scan__visit__subject__study_id", "outcome", "non_diagnostic_reason")
    ):
        graded_and_not = counts.setdefault(study_id, [0, 0])
        if outcome == ReadOutcome.GRADED:
            graded_and_not[0] += 1
        else:
            graded_and_not[1] += 1
            reasons.setdefault(study_id, set()).add(reason)
    return {
        study_id: sorted(reasons[study_id])
        for study_id, (graded, not_graded) in counts.items()
        if not_graded and not agreement.graded_reads_suffice(graded, not_graded)
    }


#: The columns of a visit that the index test reads, besides the marker's.
_INDEX_COLUMNS = ("scanner", "field_strength", "date", "band_excluded")


def _index_visits(visits: pd.DataFrame, column: str) -> dict[str, dict[str, Any]]:
    """The first visit row of each subject, as the values ``visits.loc[subject]`` would give.

    Looking each subject up in the frame cost about half a millisecond (six seconds at 10,000
    subjects); the columns are read once here instead, each element as a row of the frame holds
    it (numbers as numpy scalars, dates as Timestamps).
    """
    first = visits.drop_duplicates("subject")
    names = list(dict.fromkeys([*_INDEX_COLUMNS, column]))
    values = {
        name: list(first[name]) if name == "date" else first[name].to_numpy() for name in names
    }
    return {
        subject: {name: values[name][row] for name in names}
        for row, subject in enumerate(first["subject"])
    }


def _index(
    visits: dict[str, dict[str, Any]],
    study_id: str,
    column: str,
    marker: str,
    visit_code: str,
    read_visits: set[str],
    *,
    non_diagnostic: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    visit = visits.get(study_id)
    if visit is None:
        return {
            "scanner": None,
            "field_strength": None,
            "index_date": None,
            "index_value": None,
            "index_status": MISSING,
            "index_reason": f"no completed {visit_code}",
        }
    value = visit[column]
    out = {
        "scanner": visit["scanner"],
        "field_strength": visit["field_strength"],
        "index_date": visit["date"].date() if pd.notna(visit["date"]) else None,
        "index_value": None if pd.isna(value) else (bool(value) if marker == "mbs_read" else value),
        "index_status": DONE,
        "index_reason": None,
    }
    if out["index_value"] is not None:
        return out
    if marker == "mbs_read":
        if non_diagnostic and study_id in non_diagnostic:
            out["index_status"] = INDETERMINATE
            out["index_reason"] = f"non-diagnostic read ({', '.join(non_diagnostic[study_id])})"
        elif study_id in read_visits:
            out["index_status"] = INDETERMINATE
            out["index_reason"] = (
                "reads disagree by two grades (awaiting the final read) or a hemisphere is ungraded"
            )
        else:
            out["index_status"] = MISSING
            out["index_reason"] = f"no blinded read at {visit_code}"
        return out
    out["index_status"] = MISSING
    excluded = visit.get("band_excluded")
    out["index_reason"] = excluded if isinstance(excluded, str) and excluded else "no band value"
    return out


def _reference(diagnosis: Diagnosis | None, group: str) -> dict[str, Any]:
    if diagnosis is not None:
        return {
            "reference_phenotype": diagnosis.phenotype,
            "reference_gold_coast": diagnosis.gold_coast,
            "reference_el_escorial": diagnosis.el_escorial,
            "reference_date": diagnosis.date,
            "reference_status": DONE,
            "reference_reason": None,
            "disease": diagnosis.phenotype in TARGET_PHENOTYPES,
        }
    empty = {
        "reference_phenotype": None,
        "reference_gold_coast": None,
        "reference_el_escorial": None,
        "reference_date": None,
    }
    if group == Group.CONTROL:
        return {
            **empty,
            "reference_status": DONE,
            "reference_reason": "healthy control (enrolment group)",
            "disease": False,
        }
    return {
        **empty,
        "reference_status": MISSING,
        "reference_reason": "no reference-standard diagnosis yet",
        "disease": None,
    }


def disease_label(disease: Any) -> str | None:
    if disease is None or pd.isna(disease):
        return None
    return DISEASE if bool(disease) else NO_DISEASE


#: Subgroups of the accuracy against the final diagnosis, and the column each reads.
SUBGROUPS = {
    "el_escorial": "reference_el_escorial",
    "gold_coast": "reference_gold_coast",
    "field_strength": "field_strength",
    "site": "site",
}


def accuracy_against_reference(
    frame: pd.DataFrame, *, marker: str, cutoff: float | None = None
) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV and likelihood ratios against the reference standard.

    Subjects whose index test is indeterminate or missing, or whose reference standard is
    missing, are counted (``indeterminate``, ``excluded``), never silently dropped. Subgroup
    results by diagnostic category (of the reference diagnosis: only patients have one, so only
    sensitivity is defined there), field strength and site; for band contrast they are read at the
    cut-off of the whole analysis.
    """
    continuous = marker != "mbs_read"
    index_done = frame["index_status"] == DONE
    reference_done = frame["reference_status"] == DONE
    studied = frame[index_done & reference_done].copy()
    studied["reference"] = studied["disease"].map(disease_label)
    if not continuous:
        studied["index_value"] = studied["index_value"].astype(bool)
    else:
        studied["index_value"] = pd.to_numeric(studied["index_value"])
    result = diagnostic.diagnostic_accuracy(
        studied,
        marker="index_value",
        group_col="reference",
        positive_groups=[DISEASE],
        negative_groups=[NO_DISEASE],
        continuous=continuous,
        cutoff=cutoff if continuous else None,
    )
    result["marker"] = marker
    result["indeterminate"] = int((frame["index_status"] == INDETERMINATE).sum())
    reasons: Counter[str] = Counter()
    for row in frame.itertuples(index=False):
        if row.index_status != DONE:
            reasons[f"index test {row.index_status}: {row.index_reason}"] += 1
        elif row.reference_status != DONE:
            reasons[f"reference standard missing: {row.reference_reason}"] += 1
    result["excluded"] = {
        "count": sum(reasons.values()),
        "unit": "subjects",
        "reasons": [{"reason": r, "count": n} for r, n in reasons.most_common()],
    }
    threshold = result.get("threshold")
    called = (
        studied["index_value"] >= threshold
        if continuous and threshold is not None
        else studied["index_value"].astype(bool)
    )
    studied["_called"] = called.astype(bool)
    result["subgroups"] = {name: _subgroups(studied, column) for name, column in SUBGROUPS.items()}
    result["target_condition"] = (
        "motor neuron disease with upper motor neuron involvement: a reference diagnosis of "
        f"{' or '.join(TARGET_PHENOTYPES)}"
    )
    return result


def _subgroups(studied: pd.DataFrame, column: str) -> list[dict[str, Any]]:
    rows = []
    for level, part in studied.groupby(studied[column].fillna("not recorded"), sort=True):
        disease = part["reference"] == DISEASE
        called = part["_called"]
        tp, fn = int((called & disease).sum()), int((~called & disease).sum())
        fp, tn = int((called & ~disease).sum()), int((~called & ~disease).sum())
        rows.append(
            {
                "level": level if isinstance(level, str) else float(level),
                "n": len(part),
                "table": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
                "sensitivity": _proportion(tp, tp + fn),
                "specificity": _proportion(tn, tn + fp),
            }
        )
    return rows


def _proportion(k: int, n: int) -> dict[str, Any]:
    if n == 0:
        return {"estimate": None, "ci_low": None, "ci_high": None}
    low, high = diagnostic.wilson_ci(k, n)
    return {"estimate": k / n, "ci_low": low, "ci_high": high}


def study_facts(
    frame: pd.DataFrame, *, user: Acting, population: str, withhold_identifiers: bool = False
) -> dict[str, Any]:
    """What the STARD checklist needs to know about the study beyond the frame's rows."""
    # The frame's subjects are picked here from every subject the user may see (in study id
    # order): a list of 10,000 study ids in the query itself cost a second to bind.
    in_frame = set(frame["subject"])
    visible = Subject.objects.visible_to(user)
    subjects = [
        row
        for row in visible.values_list("study_id", "enrolled_on", "birth_date", "sex")
        if row[0] in in_frame
    ]
    enrolled = sorted(enrolled_on for _, enrolled_on, _, _ in subjects)
    reads_per_scan = Counter(
        scan_id
        for scan_id, study_id in Read.objects.filter(
            is_current=True, scan__visit__subject__in=visible
        ).values_list("scan_id", "scan__visit__subject__study_id")
        if study_id in in_frame
    )
    raters = sorted(reads_per_scan.values())
    facts: dict[str, Any] = {
        "population": population,
        "reference_months": Study.current().reference_standard_months,
        "raters_per_scan": raters[len(raters) // 2] if raters else None,
        "algorithm_version": frame.attrs.get("algorithm_version"),
        "sites": [] if withhold_identifiers else sorted(set(frame["site"])),
        "enrolment_first": None if withhold_identifiers or not enrolled else enrolled[0],
        "enrolment_last": None if withhold_identifiers or not enrolled else enrolled[-1],
    }
    ages = [
        (e - b).days / frames.YEAR_DAYS
        for _, e, b, _ in subjects
        if b is not None and e is not None
    ]
    sexes = Counter(sex for _, _, _, sex in subjects)
    if ages:
        series = pd.Series(ages)
        facts["characteristics"] = (
            f"{len(frame)} subjects; age at enrolment mean {series.mean():.1f} years (SD "
            f"{series.std(ddof=1) if len(series) > 1 else 0:.1f}); sex "
            + ", ".join(f"{k} {n}" for k, n in sorted(sexes.items()))
            + "."
        )
    target = frame[frame["disease"].map(lambda v: v is True)]
    if len(target):
        categories = Counter(
            str(v) if v is not None else "not given" for v in target["reference_el_escorial"]
        )
        baseline = frames.analysis_frame(user=user, visit_codes=[frames.BASELINE_VISIT])
        totals = baseline[baseline["subject"].isin(target["subject"])]["alsfrs_total"].dropna()
        severity = "El Escorial " + ", ".join(f"{k} {n}" for k, n in sorted(categories.items()))
        if len(totals):
            severity += (
                f"; ALSFRS-R total at V1 median {totals.median():.0f} (IQR "
                f"{totals.quantile(0.25):.0f} to {totals.quantile(0.75):.0f}, n = {len(totals)})"
            )
        facts["severity"] = severity + "."
    return facts
