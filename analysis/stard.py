"""STARD 2015 reporting of the diagnostic study: the participant flow and the checklist.

STARD 2015 (Bossuyt et al., BMJ 2015;351:h5527; Cohen et al., BMJ Open 2016;6:e012799 for the
explanation) asks for a participant flow diagram and 30 checklist items. ``flow`` counts the
subjects of ``analysis.diagnostic_study.diagnostic_frame`` through the diagram; ``flow_svg`` draws
it (a self-contained SVG: no script, no outside request); ``checklist`` fills the items the data
can answer and lists the others for the authors. The numbers come from the same frame as the
diagnostic analysis, so the diagram, the report and the 2×2 table always agree.
"""

from __future__ import annotations

import datetime as dt
import html
from collections import Counter
from collections.abc import Sequence
from typing import Any

import pandas as pd

from analysis import diagnostic_study as ds

#: Node ids of the flow, in drawing order by row.
ROWS: tuple[tuple[str, ...], ...] = (
    ("enrolled",),
    ("index_missing", "index_done"),
    ("index_positive", "index_indeterminate", "index_negative"),
    (
        "positive_no_reference",
        "positive_reference",
        "indeterminate_reference",
        "negative_reference",
        "negative_no_reference",
    ),
    ("tp", "fp", "indeterminate_present", "indeterminate_absent", "fn", "tn"),
)


def positive_calls(frame: pd.DataFrame, *, marker: str, cutoff: float | None) -> pd.Series:
    """Index test result per subject: True/False where done, None otherwise.

    MBS read: positive as read. Band contrast: positive at or above the pre-specified ``cutoff``
    (a flow diagram needs a binary result; choosing the cut-off on the same data would be
    optimistic, so it must be given).
    """
    done = frame["index_status"] == ds.DONE
    if marker == "mbs_read":
        return (
            frame["index_value"]
            .where(done)
            .map(lambda v: None if v is None or pd.isna(v) else bool(v))
        )
    if cutoff is None:
        raise ValueError(
            "The flow diagram needs a positive or negative index test: give the pre-specified "
            "cutoff for band_contrast (positive at or above it)."
        )
    values = pd.to_numeric(frame["index_value"], errors="coerce")
    return (
        (values >= cutoff)
        .where(done & values.notna())
        .map(lambda v: None if v is None or pd.isna(v) else bool(v))
    )


def flow(frame: pd.DataFrame, *, marker: str, cutoff: float | None = None) -> dict[str, Any]:
    """The participant flow ``{nodes: [{id, label, n}], edges: [{from, to, n, reason}]}``.

    Every subject of ``frame`` is counted once per row of the diagram; an edge with a reason
    exists for each reason a subject leaves the main path (index test missing, reference
    standard missing), so the reasons add up to the node they lead to.
    """
    called = positive_calls(frame, marker=marker, cutoff=cutoff)
    status = frame["index_status"]
    has_reference = frame["reference_status"] == ds.DONE
    disease = frame["disease"].map(lambda v: None if v is None or pd.isna(v) else bool(v))
    counts: dict[str, int] = {"enrolled": len(frame)}
    counts["index_missing"] = int((status == ds.MISSING).sum())
    counts["index_done"] = len(frame) - counts["index_missing"]
    counts["index_indeterminate"] = int((status == ds.INDETERMINATE).sum())
    positive = called.map(lambda v: v is True)
    negative = called.map(lambda v: v is False)
    indeterminate = status == ds.INDETERMINATE
    counts["index_positive"] = int(positive.sum())
    counts["index_negative"] = int(negative.sum())
    for side, mask in (("positive", positive), ("negative", negative)):
        counts[f"{side}_reference"] = int((mask & has_reference).sum())
        counts[f"{side}_no_reference"] = int((mask & ~has_reference).sum())
    counts["indeterminate_reference"] = int((indeterminate & has_reference).sum())
    present = disease.map(lambda v: v is True)
    absent = disease.map(lambda v: v is False)
    counts["tp"] = int((positive & present).sum())
    counts["fp"] = int((positive & absent).sum())
    counts["fn"] = int((negative & present).sum())
    counts["tn"] = int((negative & absent).sum())
    counts["indeterminate_present"] = int((indeterminate & present).sum())
    counts["indeterminate_absent"] = int((indeterminate & absent).sum())

    index_name = "MBS read" if marker == "mbs_read" else f"band contrast ≥ {cutoff:g}"
    labels = {
        "enrolled": "Enrolled",
        "index_missing": "No index test",
        "index_done": f"Index test ({index_name})",
        "index_positive": "Index test positive",
        "index_indeterminate": "Index test indeterminate",
        "index_negative": "Index test negative",
        "positive_no_reference": "No reference standard",
        "positive_reference": "Reference standard",
        "indeterminate_reference": "Reference standard",
        "negative_reference": "Reference standard",
        "negative_no_reference": "No reference standard",
        "tp": "Target condition present",
        "fp": "Target condition absent",
        "indeterminate_present": "Target condition present",
        "indeterminate_absent": "Target condition absent",
        "fn": "Target condition present",
        "tn": "Target condition absent",
    }
    nodes = [{"id": node, "label": labels[node], "n": counts[node]} for row in ROWS for node in row]
    edges: list[dict[str, Any]] = []

    def edge(source: str, target: str, n: int, reason: str | None = None) -> None:
        edges.append({"from": source, "to": target, "n": n, "reason": reason})

    for reason, n in _reasons(frame.loc[status == ds.MISSING, "index_reason"]):
        edge("enrolled", "index_missing", n, reason)
    edge("enrolled", "index_done", counts["index_done"])
    edge("index_done", "index_positive", counts["index_positive"])
    edge("index_done", "index_indeterminate", counts["index_indeterminate"])
    edge("index_done", "index_negative", counts["index_negative"])
    for side, mask in (("positive", positive), ("negative", negative)):
        edge(f"index_{side}", f"{side}_reference", counts[f"{side}_reference"])
        for reason, n in _reasons(frame.loc[mask & ~has_reference, "reference_reason"]):
            edge(f"index_{side}", f"{side}_no_reference", n, reason)
    edge("index_indeterminate", "indeterminate_reference", counts["indeterminate_reference"])
    edge("positive_reference", "tp", counts["tp"])
    edge("positive_reference", "fp", counts["fp"])
    edge("negative_reference", "fn", counts["fn"])
    edge("negative_reference", "tn", counts["tn"])
    edge("indeterminate_reference", "indeterminate_present", counts["indeterminate_present"])
    edge("indeterminate_reference", "indeterminate_absent", counts["indeterminate_absent"])
    return {"marker": marker, "cutoff": cutoff, "nodes": nodes, "edges": edges}


def _reasons(values: pd.Series) -> list[tuple[str, int]]:
    return Counter(str(v) for v in values).most_common()


# --- the diagram as SVG -----------------------------------------------------------------------

_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _MARGIN = 168, 58, 14, 46, 16


def flow_svg(flow_answer: dict[str, Any], *, title: str = "") -> str:
    """Draw the flow as a standalone SVG (boxes by row, arrows between them, reasons listed)."""
    nodes = {n["id"]: n for n in flow_answer["nodes"]}
    widest = max(len(row) for row in ROWS)
    width = _MARGIN * 2 + widest * _BOX_W + (widest - 1) * _GAP_X
    top = _MARGIN + (24 if title else 0)
    places: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(ROWS):
        row_width = len(row) * _BOX_W + (len(row) - 1) * _GAP_X
        left = (width - row_width) / 2
        for c, node in enumerate(row):
            places[node] = (left + c * (_BOX_W + _GAP_X), top + r * (_BOX_H + _GAP_Y))
    reasons = [e for e in flow_answer["edges"] if e["reason"]]
    height = top + len(ROWS) * (_BOX_H + _GAP_Y) + 18 * len(reasons) + _MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="12" '
        'role="img" aria-label="STARD participant flow diagram">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        'fill="#444"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="#fff"/>',
    ]
    if title:
        out.append(
            f'<text x="{width / 2:.0f}" y="{_MARGIN + 10}" text-anchor="middle" '
            f'font-size="14" font-weight="bold">{html.escape(title)}</text>'
        )
    drawn: set[tuple[str, str]] = set()
    for e in flow_answer["edges"]:
        key = (e["from"], e["to"])
        if key in drawn:
            continue
        drawn.add(key)
        x1, y1 = places[e["from"]]
        x2, y2 = places[e["to"]]
        out.append(
            f'<line x1="{x1 + _BOX_W / 2:.1f}" y1="{y1 + _BOX_H:.1f}" x2="{x2 + _BOX_W / 2:.1f}" '
            f'y2="{y2:.1f}" stroke="#444" marker-end="url(#arrow)"/>'
        )
    for node_id, (x, y) in places.items():
        node = nodes[node_id]
        leaves = node_id.endswith(("missing", "no_reference"))
        fill = "#fdf1e8" if leaves else "#eef5fb"
        out.append(
            f'<g id="node-{node_id}"><rect x="{x:.1f}" y="{y:.1f}" width="{_BOX_W}" '
            f'height="{_BOX_H}" rx="6" fill="{fill}" stroke="#0072B2"/>'
            f'<text x="{x + _BOX_W / 2:.1f}" y="{y + 23:.1f}" text-anchor="middle">'
            f"{html.escape(node['label'])}</text>"
            f'<text x="{x + _BOX_W / 2:.1f}" y="{y + 43:.1f}" text-anchor="middle" '
            f'font-weight="bold">n = {node["n"]}</text></g>'
        )
    y = top + len(ROWS) * (_BOX_H + _GAP_Y) + 4
    for e in reasons:
        target = nodes[e["to"]]["label"]
        out.append(
            f'<text x="{_MARGIN}" y="{y:.0f}">{html.escape(target)}: '
            f"{html.escape(str(e['reason']))} (n = {e['n']})</text>"
        )
        y += 18
    out.append("</svg>")
    return "\n".join(out)


# --- the checklist ------------------------------------------------------------------------------

#: STARD 2015 items: (number, section, what the item asks).
ITEMS: tuple[tuple[str, str, str], ...] = (
    (
        "1",
        "Title or abstract",
        "Identification as a study of diagnostic accuracy using at least one measure of accuracy",
    ),
    ("2", "Abstract", "Structured summary of study design, methods, results and conclusions"),
    (
        "3",
        "Introduction",
        "Scientific and clinical background, including the intended use and "
        "clinical role of the index test",
    ),
    ("4", "Introduction", "Study objectives and hypotheses"),
    (
        "5",
        "Methods: study design",
        "Whether data collection was planned before the index test "
        "and reference standard were performed (prospective) or after (retrospective)",
    ),
    ("6", "Methods: participants", "Eligibility criteria"),
    (
        "7",
        "Methods: participants",
        "On what basis potentially eligible participants were identified",
    ),
    (
        "8",
        "Methods: participants",
        "Where and when potentially eligible participants were "
        "identified (setting, location and dates)",
    ),
    (
        "9",
        "Methods: participants",
        "Whether participants formed a consecutive, random or convenience series",
    ),
    ("10a", "Methods: test methods", "Index test, in sufficient detail to allow replication"),
    (
        "10b",
        "Methods: test methods",
        "Reference standard, in sufficient detail to allow replication",
    ),
    ("11", "Methods: test methods", "Rationale for choosing the reference standard"),
    (
        "12a",
        "Methods: test methods",
        "Definition of and rationale for test positivity cut-offs "
        "or result categories of the index test, distinguishing pre-specified from exploratory",
    ),
    (
        "12b",
        "Methods: test methods",
        "Definition of and rationale for test positivity cut-offs "
        "or result categories of the reference standard",
    ),
    (
        "13a",
        "Methods: test methods",
        "Whether clinical information and reference standard "
        "results were available to the performers or readers of the index test",
    ),
    (
        "13b",
        "Methods: test methods",
        "Whether clinical information and index test results were "
        "available to the assessors of the reference standard",
    ),
    (
        "14",
        "Methods: analysis",
        "Methods for estimating or comparing measures of diagnostic accuracy",
    ),
    (
        "15",
        "Methods: analysis",
        "How indeterminate index test or reference standard results were handled",
    ),
    (
        "16",
        "Methods: analysis",
        "How missing data on the index test and reference standard were handled",
    ),
    (
        "17",
        "Methods: analysis",
        "Any analyses of variability in diagnostic accuracy, "
        "distinguishing pre-specified from exploratory",
    ),
    ("18", "Methods: analysis", "Intended sample size and how it was determined"),
    ("19", "Results: participants", "Flow of participants, using a diagram"),
    (
        "20",
        "Results: participants",
        "Baseline demographic and clinical characteristics of participants",
    ),
    (
        "21a",
        "Results: participants",
        "Distribution of severity of disease in those with the target condition",
    ),
    (
        "21b",
        "Results: participants",
        "Distribution of alternative diagnoses in those without the target condition",
    ),
    (
        "22",
        "Results: participants",
        "Time interval and any clinical interventions between index test and reference standard",
    ),
    (
        "23",
        "Results: test results",
        "Cross tabulation of the index test results by the results of the reference standard",
    ),
    (
        "24",
        "Results: test results",
        "Estimates of diagnostic accuracy and their precision (such as 95% confidence intervals)",
    ),
    (
        "25",
        "Results: test results",
        "Any adverse events from performing the index test or the reference standard",
    ),
    (
        "26",
        "Discussion",
        "Study limitations, including sources of potential bias, statistical "
        "uncertainty, and generalisability",
    ),
    (
        "27",
        "Discussion",
        "Implications for practice, including the intended use and clinical role of the index test",
    ),
    ("28", "Other information", "Registration number and name of registry"),
    ("29", "Other information", "Where the full study protocol can be accessed"),
    ("30", "Other information", "Sources of funding and other support; role of funders"),
)


def checklist(
    frame: pd.DataFrame,
    flow_answer: dict[str, Any],
    accuracy: dict[str, Any] | None,
    *,
    facts: dict[str, Any],
) -> list[dict[str, Any]]:
    """The 30 STARD items: ``answer`` filled from the data where it can, else None (for the
    authors). ``facts`` carries what the study knows about itself: ``reference_months``,
    ``raters_per_scan``, ``algorithm_version``, ``population``, ``sites``,
    ``enrolment_first``/``enrolment_last`` (dates or None when withheld), ``characteristics``
    (text) and ``severity`` (text)."""
    counts = {n["id"]: n["n"] for n in flow_answer["nodes"]}
    marker = flow_answer["marker"]
    cutoff = flow_answer["cutoff"]
    answers: dict[str, str] = {}
    index_dates = pd.to_datetime(frame["index_date"], errors="coerce")
    reference_dates = pd.to_datetime(frame["reference_date"], errors="coerce")
    both = index_dates.notna() & reference_dates.notna()
    before = int((index_dates[both] < reference_dates[both]).sum())
    answers["5"] = (
        "Prospective: data were entered in MotorBand as the study went on; the index test was "
        f"done at the baseline visit and the reference standard later ({before} of "
        f"{int(both.sum())} subjects with both have the index test before the reference "
        "standard)."
    )
    where = ", ".join(facts.get("sites", [])) or "not recorded"
    first, last = facts.get("enrolment_first"), facts.get("enrolment_last")
    when = f"enrolled {first} to {last}" if first and last else "enrolment dates withheld"
    answers["8"] = f"Sites {where}; {when}."
    if marker == "mbs_read":
        answers["10a"] = (
            "Susceptibility-weighted MRI at the baseline visit, read for the motor band sign by "
            f"{facts.get('raters_per_scan', 'k')} blinded raters per scan (grades 0 none, 1 "
            "partial, 2 definite band, per hemisphere); consensus = median grade; raters two "
            "grades apart go to an adjudicator whose final read replaces the consensus."
        )
    else:
        answers["10a"] = (
            "Band contrast quantified from the SWI magnitude at the baseline visit by MotorBand's "
            f"band algorithm {facts.get('algorithm_version') or '(version not recorded)'} "
            "(deep precentral against deep postcentral cortex)."
        )
    months = facts.get("reference_months")
    answers["10b"] = (
        f"The diagnosis made at least {months} months after enrolment (or the last one when "
        "follow-up ended earlier by death or withdrawal), recorded as Gold Coast criteria "
        "(Shefner 2020), revised El Escorial category (Brooks 2000) and phenotype, by a "
        "reference-standard assessor."
    )
    answers["12a"] = (
        "Pre-specified: positive when either hemisphere's settled grade is at least 1."
        if marker == "mbs_read"
        else f"Pre-specified cut-off: band contrast ≥ {cutoff:g}."
    )
    answers["12b"] = (
        "Target condition: motor neuron disease with upper motor neuron involvement (final "
        "phenotype ALS or PLS); PMA, mimics and other diagnoses are its absence."
    )
    answers["13a"] = (
        "No: raters saw a de-identified image only (no clinical information, no reference "
        "standard); MotorBand enforces this and its tests check every page and endpoint."
    )
    answers["13b"] = (
        "Clinical information yes; index test results no: the reference-standard assessor's role "
        "reaches no MBS read or band value in MotorBand (enforced and tested)."
    )
    answers["14"] = (
        "Sensitivity, specificity, PPV and NPV with Wilson score 95% intervals; likelihood "
        "ratios with the log method of Simel, Samsa and Matchar (1991); 2×2 table."
    )
    answers["15"] = (
        f"Indeterminate index tests (n = {counts['index_indeterminate']}: raters two grades apart "
        "awaiting the final read) are reported and left out of the 2×2 table; their reference "
        f"standard results are shown in the flow diagram."
    )
    answers["16"] = (
        f"Not imputed: {counts['index_missing']} without an index test and "
        f"{counts['positive_no_reference'] + counts['negative_no_reference']} without a "
        "reference standard are reported with their reasons and left out."
    )
    answers["17"] = (
        "Pre-specified in the software: by diagnostic category (El Escorial, Gold Coast), field "
        "strength and site."
    )
    answers["19"] = "See the flow diagram (stard_flow.svg)."
    if facts.get("characteristics"):
        answers["20"] = str(facts["characteristics"])
    if facts.get("severity"):
        answers["21a"] = str(facts["severity"])
    alternatives = frame.loc[frame["disease"].map(lambda v: v is False), "reference_phenotype"]
    if len(alternatives):
        listed = Counter(str(v) if v is not None else "healthy control" for v in alternatives)
        answers["21b"] = ", ".join(f"{k}: {n}" for k, n in sorted(listed.items()))
    days = pd.to_numeric(frame["days_index_to_reference"], errors="coerce").dropna()
    if len(days):
        answers["22"] = (
            f"Median {days.median():.0f} days (IQR {days.quantile(0.25):.0f} to "
            f"{days.quantile(0.75):.0f}; range {days.min():.0f} to {days.max():.0f}) from the "
            "index test to the reference standard; clinical interventions are not recorded."
        )
    answers["23"] = f"TP {counts['tp']}, FP {counts['fp']}, FN {counts['fn']}, TN {counts['tn']}."
    if accuracy is not None:
        answers["24"] = "; ".join(
            f"{label} {_estimate(accuracy.get(key))}"
            for key, label in (
                ("sensitivity", "sensitivity"),
                ("specificity", "specificity"),
                ("ppv", "PPV"),
                ("npv", "NPV"),
                ("lr_positive", "LR+"),
                ("lr_negative", "LR−"),
            )
            if accuracy.get(key)
        )
    return [
        {"item": number, "section": section, "asks": asks, "answer": answers.get(number)}
        for number, section, asks in ITEMS
    ]


def _estimate(value: dict[str, Any] | None) -> str:
    if not value or value.get("estimate") is None:
        return "not estimable"
    if value.get("ci_low") is None:
        return f"{value['estimate']:.2f}"
    return f"{value['estimate']:.2f} (95% CI {value['ci_low']:.2f} to {value['ci_high']:.2f})"


def report_markdown(
    items: Sequence[dict[str, Any]], *, title: str, created: dt.datetime | None = None
) -> str:
    """The checklist as Markdown: filled items first by number, then those left to the authors."""
    lines = [f"# {title}", ""]
    if created is not None:
        lines += [f"Generated by MotorBand on {created:%Y-%m-%d %H:%M %Z}.", ""]
    lines += [
        "STARD 2015 (Bossuyt et al., BMJ 2015;351:h5527). Items answered from the study's data:",
        "",
        "| Item | Section | Answer |",
        "|---|---|---|",
    ]
    lines += [
        f"| {i['item']} | {i['section']} | {_cell(i['answer'])} |" for i in items if i["answer"]
    ]
    lines += ["", "Items for the authors to complete:", ""]
    lines += [f"- **{i['item']}** ({i['section']}): {i['asks']}" for i in items if not i["answer"]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
