"""Clinical scales as pure functions: Penn UMN items -> region subscores, ALSFRS-R -> domains, ΔFS.

No Django here: the models, the importers and the analysis all derive scores through these functions,
so a total can never disagree with its items.
"""

from __future__ import annotations

from collections.abc import Mapping

MONTH_DAYS = 30.4375  # one month in days (365.25 / 12), the study's time unit

# --- Penn upper motor neuron score (domain.md, "Penn upper motor neuron score") ---
UMN_ITEM_MIN, UMN_ITEM_MAX = 0, 1
UMN_BULBAR_ITEMS = ("jaw_jerk", "facial_reflex", "palmomental", "pseudobulbar_affect")
UMN_UPPER_LIMB_ITEMS = (
    "biceps",
    "brachioradialis",
    "triceps",
    "finger_flexors",
    "hoffmann",
    "pectoralis",
    "upper_spasticity",
)
UMN_LOWER_LIMB_ITEMS = (
    "knee",
    "ankle",
    "crossed_adductor",
    "clonus",
    "babinski",
    "hip_adductor",
    "lower_spasticity",
)
UMN_REGIONS: dict[str, tuple[str, ...]] = {
    "bulbar": UMN_BULBAR_ITEMS,
    "right_upper": tuple(f"right_upper_{i}" for i in UMN_UPPER_LIMB_ITEMS),
    "left_upper": tuple(f"left_upper_{i}" for i in UMN_UPPER_LIMB_ITEMS),
    "right_lower": tuple(f"right_lower_{i}" for i in UMN_LOWER_LIMB_ITEMS),
    "left_lower": tuple(f"left_lower_{i}" for i in UMN_LOWER_LIMB_ITEMS),
}
UMN_ITEMS: tuple[str, ...] = tuple(item for items in UMN_REGIONS.values() for item in items)
UMN_REGION_MAX = {region: len(items) for region, items in UMN_REGIONS.items()}
UMN_TOTAL_MAX = sum(UMN_REGION_MAX.values())  # 32
# The left precentral gyrus drives the right limbs and vice versa; bulbar is bilateral.
CONTRALATERAL_REGIONS = {"L": ("right_upper", "right_lower"), "R": ("left_upper", "left_lower")}

# --- ALSFRS-R (Cedarbaum 1999) ---
ALSFRS_ITEM_MIN, ALSFRS_ITEM_MAX = 0, 4
ALSFRS_ITEMS = tuple(f"q{i}" for i in range(1, 13))
ALSFRS_DOMAINS: dict[str, tuple[str, ...]] = {
    "bulbar": ("q1", "q2", "q3"),
    "fine_motor": ("q4", "q5", "q6"),
    "gross_motor": ("q7", "q8", "q9"),
    "respiratory": ("q10", "q11", "q12"),
}
ALSFRS_TOTAL_MAX = ALSFRS_ITEM_MAX * len(ALSFRS_ITEMS)  # 48
#: The published wording of each ALSFRS-R response, item by item (Cedarbaum et al., J Neurol Sci
#: 1999;169:13-21, appendix); item 5 has one wording without gastrostomy (5a) and one with (5b).
ALSFRS_RESPONSES: dict[str, dict[int, str]] = {
    "q1": {
        4: "Normal speech processes",
        3: "Detectable speech disturbance",
        2: "Intelligible with repeating",
        1: "Speech combined with nonvocal communication",
        0: "Loss of useful speech",
    },
    "q2": {
        4: "Normal",
        3: "Slight but definite excess of saliva in mouth; may have nighttime drooling",
        2: "Moderately excessive saliva; may have minimal drooling",
        1: "Marked excess of saliva with some drooling",
        0: "Marked drooling; requires constant tissue or handkerchief",
    },
    "q3": {
        4: "Normal eating habits",
        3: "Early eating problems: occasional choking",
        2: "Dietary consistency changes",
        1: "Needs supplemental tube feeding",
        0: "NPO (exclusively parenteral or enteral feeding)",
    },
    "q4": {
        4: "Normal",
        3: "Slow or sloppy: all words are legible",
        2: "Not all words are legible",
        1: "Able to grip pen but unable to write",
        0: "Unable to grip pen",
    },
    "q5a": {
        4: "Normal",
        3: "Somewhat slow and clumsy, but no help needed",
        2: "Can cut most foods, although clumsy and slow; some help needed",
        1: "Food must be cut by someone, but can still feed slowly",
        0: "Needs to be fed",
    },
    "q5b": {
        4: "Normal",
        3: "Clumsy but able to perform all manipulations independently",
        2: "Some help needed with closures and fasteners",
        1: "Provides minimal assistance to caregiver",
        0: "Unable to perform any aspect of task",
    },
    "q6": {
        4: "Normal function",
        3: "Independent and complete self-care with effort or decreased efficiency",
        2: "Intermittent assistance or substitute methods",
        1: "Needs attendant for self-care",
        0: "Total dependence",
    },
    "q7": {
        4: "Normal",
        3: "Somewhat slow and clumsy, but no help needed",
        2: "Can turn alone or adjust sheets, but with great difficulty",
        1: "Can initiate, but not turn or adjust sheets alone",
        0: "Helpless",
    },
    "q8": {
        4: "Normal",
        3: "Early ambulation difficulties",
        2: "Walks with assistance",
        1: "Nonambulatory functional movement only",
        0: "No purposeful leg movement",
    },
    "q9": {
        4: "Normal",
        3: "Slow",
        2: "Mild unsteadiness or fatigue",
        1: "Needs assistance",
        0: "Cannot do",
    },
    "q10": {
        4: "None",
        3: "Occurs when walking",
        2: "Occurs with one or more of: eating, bathing, dressing (ADL)",
        1: "Occurs at rest: difficulty breathing when either sitting or lying",
        0: "Significant difficulty: considering using mechanical respiratory support",
    },
    "q11": {
        4: "None",
        3: "Some difficulty sleeping at night due to shortness of breath; does not routinely "
        "use more than two pillows",
        2: "Needs extra pillows in order to sleep (more than two)",
        1: "Can only sleep sitting up",
        0: "Unable to sleep",
    },
    "q12": {
        4: "None",
        3: "Intermittent use of BiPAP",
        2: "Continuous use of BiPAP during the night",
        1: "Continuous use of BiPAP during the night and day",
        0: "Invasive mechanical ventilation by intubation or tracheostomy",
    },
}


def response_wording(item: str) -> str:
    """The responses of an item as one line ("4 Normal · 3 ... · 0 ..."); item 5 gives both forms."""
    if item == "q5":
        return (
            "Without gastrostomy (5a): "
            + _joined(ALSFRS_RESPONSES["q5a"])
            + ". With gastrostomy (5b): "
            + _joined(ALSFRS_RESPONSES["q5b"])
        )
    return _joined(ALSFRS_RESPONSES[item])


def _joined(responses: Mapping[int, str]) -> str:
    return " · ".join(f"{score} {text}" for score, text in sorted(responses.items(), reverse=True))


ALSFRS_ITEM_LABELS = {
    "q1": "Speech",
    "q2": "Salivation",
    "q3": "Swallowing",
    "q4": "Handwriting",
    "q5": "Cutting food and handling utensils",
    "q6": "Dressing and hygiene",
    "q7": "Turning in bed and adjusting bed clothes",
    "q8": "Walking",
    "q9": "Climbing stairs",
    "q10": "Dyspnea",
    "q11": "Orthopnea",
    "q12": "Respiratory insufficiency",
}


# --- ALSFRS-R missing data (CDASH --STAT/--REASND, REDCap missing data codes) ---
#: Why an item has no score: the question was not asked ("not done") or the answer is not known.
ALSFRS_NOT_DONE, ALSFRS_UNKNOWN = "not_done", "unknown"
ALSFRS_MISSING_CODES: dict[str, str] = {ALSFRS_NOT_DONE: "Not done", ALSFRS_UNKNOWN: "Unknown"}
#: The same as (value, label) choices (the models' field choices and the API schema's one enum).
ALSFRS_MISSING_CHOICES: list[tuple[str, str]] = list(ALSFRS_MISSING_CODES.items())
#: The same codes as REDCap's project-level missing data codes store them in a field.
ALSFRS_REDCAP_MISSING_CODES: dict[str, str] = {ALSFRS_NOT_DONE: "ND", ALSFRS_UNKNOWN: "UNK"}
#: Whole-form status (CDASH ``QSSTAT``): done, or not done with a reason (``QSREASND``).
ALSFRS_FORM_DONE, ALSFRS_FORM_NOT_DONE = "done", "not_done"
ALSFRS_FORM_STATUSES: dict[str, str] = {
    ALSFRS_FORM_DONE: "Done",
    ALSFRS_FORM_NOT_DONE: "Not done",
}
#: The missing-data code column of each item (``q7`` -> ``q7_missing``).
ALSFRS_MISSING_FIELDS: dict[str, str] = {item: f"{item}_missing" for item in ALSFRS_ITEMS}


def alsfrs_item_title(item: str) -> str:
    """``q8`` -> ``item 8 (Walking)``: how messages name an item."""
    return f"item {item[1:]} ({ALSFRS_ITEM_LABELS[item]})"


def alsfrs_missing_errors(
    items: Mapping[str, int | None],
    missing: Mapping[str, str | None],
    *,
    form_status: str = ALSFRS_FORM_DONE,
    not_done_reason: str = "",
    require_every_item: bool = False,
) -> dict[str, str]:
    """Return {field: message} where scores, missing-data codes and the form status disagree.

    An item holds a score or a missing-data code, never both; with ``require_every_item`` it must
    hold one of them. A form that was not done holds neither scores nor codes and says why.
    """
    errors: dict[str, str] = {}
    if form_status not in ALSFRS_FORM_STATUSES:
        return {"form_status": f"must be one of {', '.join(ALSFRS_FORM_STATUSES)}."}
    if form_status == ALSFRS_FORM_NOT_DONE:
        if not (not_done_reason or "").strip():
            errors["not_done_reason"] = (
                "Say why the ALSFRS-R was not done (e.g. the subject refused)."
            )
        for item in ALSFRS_ITEMS:
            if items.get(item) is not None or missing.get(item):
                errors[item] = (
                    f"The form is marked not done, so {alsfrs_item_title(item)} takes no score or "
                    "code: clear it, or mark the form done."
                )
        return errors
    if (not_done_reason or "").strip():
        errors["not_done_reason"] = "Only a form that was not done takes a reason: clear it."
    for item in ALSFRS_ITEMS:
        code = missing.get(item)
        if code and code not in ALSFRS_MISSING_CODES:
            errors[ALSFRS_MISSING_FIELDS[item]] = (
                f"must be one of {', '.join(ALSFRS_MISSING_CODES)} (got {code})."
            )
        elif code and items.get(item) is not None:
            errors[item] = (
                f"I{alsfrs_item_title(item)[1:]} has both a score and the code "
                f"'{ALSFRS_MISSING_CODES[code].lower()}': keep one of them."
            )
        elif require_every_item and not code and items.get(item) is None:
            errors[item] = (
                f"Give {alsfrs_item_title(item)} a score (0-4), or mark it not done or unknown."
            )
    return errors


def alsfrs_total_note(
    items: Mapping[str, int | None],
    missing: Mapping[str, str | None],
    *,
    form_status: str = ALSFRS_FORM_DONE,
    not_done_reason: str = "",
) -> str:
    """Why the ALSFRS-R total is not computed, in words; empty when every item has a score.

    e.g. "Total not computed: item 8 (Walking) not done; item 3 (Swallowing) unknown."
    """
    if form_status == ALSFRS_FORM_NOT_DONE:
        reason = (not_done_reason or "").strip()
        return "Total not computed: the form was not done" + (f" ({reason})." if reason else ".")
    parts = []
    for item in ALSFRS_ITEMS:
        if items.get(item) is not None:
            continue
        code = missing.get(item)
        known = code in ALSFRS_MISSING_CODES
        state = ALSFRS_MISSING_CODES[str(code)].lower() if known else "not entered"
        parts.append(f"{alsfrs_item_title(item)} {state}")
    return f"Total not computed: {'; '.join(parts)}." if parts else ""


def _check_items(
    items: Mapping[str, int | None], names: tuple[str, ...], low: int, high: int
) -> dict[str, str]:
    errors = {}
    for name in names:
        value = items.get(name)
        if value is not None and not (low <= value <= high):
            errors[name] = f"must be between {low} and {high} (got {value})."
    return errors


def umn_item_errors(items: Mapping[str, int | None]) -> dict[str, str]:
    """Return {item: message} for Penn UMN items outside 0-1; empty when all are valid."""
    return _check_items(items, UMN_ITEMS, UMN_ITEM_MIN, UMN_ITEM_MAX)


def alsfrs_item_errors(items: Mapping[str, int | None]) -> dict[str, str]:
    """Return {item: message} for ALSFRS-R items outside 0-4; empty when all are valid."""
    return _check_items(items, ALSFRS_ITEMS, ALSFRS_ITEM_MIN, ALSFRS_ITEM_MAX)


def _sum_or_none(items: Mapping[str, int | None], names: tuple[str, ...]) -> int | None:
    values = [items.get(name) for name in names]
    if any(v is None for v in values):
        return None  # a missing item leaves its subscore undefined rather than silently low
    return sum(int(v) for v in values if v is not None)


def umn_subscores(items: Mapping[str, int | None]) -> dict[str, int | None]:
    """Region subscores and total of the Penn UMN score.

    Parameters
    ----------
    items : mapping of item column name -> 0, 1 or None (missing)

    Returns
    -------
    dict with ``bulbar`` (0-4), ``right_upper``, ``left_upper``, ``right_lower``, ``left_lower``
    (0-7 each) and ``total`` (0-32); a region with a missing item is None, and so is the total.
    """
    scores = {region: _sum_or_none(items, names) for region, names in UMN_REGIONS.items()}
    regions = list(scores.values())
    scores["total"] = None if any(v is None for v in regions) else sum(v or 0 for v in regions)
    return scores


def contralateral_umn(subscores: Mapping[str, int | None]) -> dict[str, int | None]:
    """Contralateral limb UMN burden per hemisphere: L = right limbs, R = left limbs (0-14)."""
    result: dict[str, int | None] = {}
    for hemisphere, regions in CONTRALATERAL_REGIONS.items():
        values = [subscores.get(r) for r in regions]
        result[hemisphere] = None if any(v is None for v in values) else sum(v or 0 for v in values)
    return result


def alsfrs_subscores(items: Mapping[str, int | None]) -> dict[str, int | None]:
    """Domain subscores (0-12 each) and total (0-48) of the ALSFRS-R; None where an item is missing."""
    scores = {domain: _sum_or_none(items, names) for domain, names in ALSFRS_DOMAINS.items()}
    domains = list(scores.values())
    scores["total"] = None if any(v is None for v in domains) else sum(v or 0 for v in domains)
    return scores


def delta_fs(total_at_baseline: int | None, months_from_onset: float | None) -> float | None:
    """ALSFRS-R progression rate at baseline, ΔFS = (48 − total at V1) / months from onset to V1.

    Returns points per month, or None when the total or the onset is unknown or the onset is not
    before the baseline visit.
    """
    if total_at_baseline is None or months_from_onset is None or months_from_onset <= 0:
        return None
    return (ALSFRS_TOTAL_MAX - total_at_baseline) / months_from_onset


def months_between(start, end) -> float:  # type: ignore[no-untyped-def]
    """Months (30.4375 days) from date ``start`` to date ``end``."""
    return (end - start).days / MONTH_DAYS
