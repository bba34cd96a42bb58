"""King's and MiToS clinical stages of ALS derived from the ALSFRS-R items of one visit.

References
----------
- Roche JC, Rojas-Garcia R, Scott KM, et al. A proposed staging system for amyotrophic lateral
  sclerosis. Brain 2012;135:847-852 (doi:10.1093/brain/awr351): King's stages 1-3 = number of CNS
  regions (bulbar, upper limb, lower limb) functionally involved, stage 4 = need for gastrostomy
  (4A) or for non-invasive ventilation (4B), stage 5 = death.
- Balendra R, Jones A, Jivraj N, et al. Estimating clinical stage of amyotrophic lateral sclerosis
  from the ALS Functional Rating Scale. Amyotroph Lateral Scler Frontotemporal Degener
  2014;15:279-284 (doi:10.3109/21678421.2014.897357): the mapping from ALSFRS-R items used here —
  bulbar = any of items 1-3 below 4, upper limb = item 4 or item 5a below 4, lower limb = item 8
  below 4, 4A = item 5 answered as 5b (gastrostomy), 4B = item 10 (dyspnoea) = 0 or item 12
  (respiratory insufficiency) below 4 (any use of NIV).
- Chiò A, Hammond ER, Mora G, Bonito V, Filippini G. Development and evaluation of a clinical
  staging system for amyotrophic lateral sclerosis. J Neurol Neurosurg Psychiatry 2015;86:38-44
  (doi:10.1136/jnnp-2013-306589), Table 1: MiToS domains lost — movement (item 8 walking <= 1 or
  item 6 dressing and hygiene <= 1), swallowing (item 3 <= 1), communicating (item 1 speech <= 1
  AND item 4 handwriting <= 1), breathing (item 10 dyspnoea <= 1 or item 12 respiratory
  insufficiency <= 2); stage = number of domains lost (0-4), 5 = death. Some published code uses
  "or" for communicating; the paper's table says "and", and so does this module.

Choice where 4A and 4B both apply: MotorBand reports ``4b``. Respiratory failure is the graver
milestone (in Roche 2012 NIV comes later in the disease course than gastrostomy, and respiratory
failure is what ALS patients die of), and the public P-ALS staging code (Balendra's item rules)
tests the 4B condition before the 4A one. Both facts stay visible in the flags
``nutritional_failure`` and ``respiratory_failure``.

Missing items (None) are allowed: a stage is given whenever the items present decide it (e.g.
item 10 = 0 makes the stage 4b whatever the limb items say); otherwise the stage is None and
``reason`` names the missing items it depends on.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: ALSFRS-R item keys, item 1 (speech) to item 12 (respiratory insufficiency).
ITEM_KEYS = tuple(f"q{number}" for number in range(1, 13))
#: Normal (best) and worst score of every ALSFRS-R item.
ITEM_NORMAL, ITEM_WORST = 4, 0

#: King's regions and the items that decide them (item 5 only when answered as 5a).
BULBAR_ITEMS = ("q1", "q2", "q3")
UPPER_LIMB_ITEMS = ("q4", "q5")
LOWER_LIMB_ITEMS = ("q8",)
#: King's 4B: item 10 at this score or item 12 at most ``KINGS_Q12_RESPIRATORY_MAX``.
KINGS_Q10_RESPIRATORY = 0
KINGS_Q12_RESPIRATORY_MAX = 3

#: MiToS: independence in a domain is lost at these scores or below (Chiò 2015, Table 1).
MITOS_LOST_AT_MOST = {"q1": 1, "q3": 1, "q4": 1, "q6": 1, "q8": 1, "q10": 1, "q12": 2}
MITOS_DOMAINS = ("movement", "swallowing", "communicating", "breathing")
#: MiToS stage of a patient who has died.
MITOS_DEATH = 5


@dataclass(frozen=True)
class KingsStage:
    """King's clinical stage at one visit.

    Attributes
    ----------
    stage : str or None
        ``"1"``, ``"2"``, ``"3"``, ``"4a"`` or ``"4b"``; None when not staged (no region
        involved) or not derivable (an item it depends on is missing), with ``reason``.
    regions : int or None
        Number of regions involved (0-3), None when a missing item leaves it open.
    nutritional_failure : bool
        Gastrostomy: item 5 answered as 5b or a gastrostomy on or before the visit.
    respiratory_failure : bool
        Known respiratory failure: item 10 = 0, item 12 <= 3 or NIV on or before the visit (False
        when not known, including when items 10 or 12 are missing).
    reason : str or None
        Why ``stage`` is None, in one sentence; None when staged.
    """

    stage: str | None
    regions: int | None
    nutritional_failure: bool
    respiratory_failure: bool
    reason: str | None


@dataclass(frozen=True)
class MitosStage:
    """MiToS stage at one visit.

    Attributes
    ----------
    stage : int or None
        0-4 (number of domains lost) or 5 (death); None when a missing item leaves it open.
    domains_lost : tuple of str
        Domains known to be lost, in the order movement, swallowing, communicating, breathing.
    reason : str or None
        Why ``stage`` is None; None when staged.
    """

    stage: int | None
    domains_lost: tuple[str, ...]
    reason: str | None


def kings_stage(
    items: Mapping[str, int | None],
    *,
    q5_gastrostomy: bool,
    gastrostomy: bool = False,
    niv: bool = False,
) -> KingsStage:
    """Return the King's stage of one visit from its ALSFRS-R items (Balendra 2014).

    Parameters
    ----------
    items : mapping
        ``"q1"`` to ``"q12"`` → score 0-4, or None (or absent) when missing.
    q5_gastrostomy : bool
        Item 5 was answered as 5b (patient with gastrostomy); its score then does not count for
        the upper limb region.
    gastrostomy : bool
        A gastrostomy event on or before the visit date.
    niv : bool
        A non-invasive ventilation event on or before the visit date.

    Returns
    -------
    KingsStage
        Stage 4 takes precedence over 1-3, and 4B over 4A (see the module docstring).

    Raises
    ------
    ValueError
        An unknown item key or a score outside 0-4.
    """
    scores = _scores(items)
    nutritional = bool(q5_gastrostomy or gastrostomy)
    respiratory = _any_true(
        [
            bool(niv),
            _compare(scores["q10"], lambda s: s == KINGS_Q10_RESPIRATORY),
            _compare(scores["q12"], lambda s: s <= KINGS_Q12_RESPIRATORY_MAX),
        ]
    )
    regions, open_regions = _kings_regions(scores, q5_gastrostomy=q5_gastrostomy)

    def result(stage: str | None, reason: str | None) -> KingsStage:
        return KingsStage(
            stage=stage,
            regions=regions,
            nutritional_failure=nutritional,
            respiratory_failure=respiratory is True,
            reason=reason,
        )

    if respiratory is True:
        return result("4b", None)
    respiratory_missing = _missing(scores, ("q10", "q12"))
    if respiratory is None:
        if nutritional:
            return result(
                None,
                f"Gastrostomy puts this visit in King's stage 4, but {_missing_phrase(respiratory_missing)} "
                "and respiratory failure (item 10 = 0 or item 12 at most 3) would make it 4B "
                "rather than 4A.",
            )
        return result(
            None,
            f"The stage is not known because {_missing_phrase(respiratory_missing)}: respiratory "
            "failure (item 10 = 0 or item 12 at most 3) would put this visit in King's stage 4B.",
        )
    if nutritional:
        return result("4a", None)
    if regions is None:
        return result(
            None,
            f"The stage is not known because {_missing_phrase(open_regions)}, so the number of "
            "regions involved (bulbar, upper limb, lower limb) is not known.",
        )
    if regions == 0:
        return result(
            None,
            "No region is involved (items 1-4, 5a and 8 all normal) and there is no gastrostomy "
            "or respiratory failure: King's staging starts at stage 1.",
        )
    return result(str(regions), None)


def mitos_stage(items: Mapping[str, int | None], *, dead: bool = False) -> MitosStage:
    """Return the MiToS stage of one visit from its ALSFRS-R items (Chiò 2015).

    Parameters
    ----------
    items : mapping
        ``"q1"`` to ``"q12"`` → score 0-4, or None (or absent) when missing.
    dead : bool
        The patient has died (stage 5).

    Returns
    -------
    MitosStage

    Raises
    ------
    ValueError
        An unknown item key or a score outside 0-4.
    """
    scores = _scores(items)

    def lost(key: str) -> bool | None:
        return _compare(scores[key], lambda s: s <= MITOS_LOST_AT_MOST[key])

    domains: dict[str, tuple[bool | None, tuple[str, ...]]] = {
        "movement": (_any_true([lost("q6"), lost("q8")]), ("q6", "q8")),
        "swallowing": (lost("q3"), ("q3",)),
        "communicating": (_all_true([lost("q1"), lost("q4")]), ("q1", "q4")),
        "breathing": (_any_true([lost("q10"), lost("q12")]), ("q10", "q12")),
    }
    known_lost = tuple(name for name in MITOS_DOMAINS if domains[name][0] is True)
    if dead:
        return MitosStage(stage=MITOS_DEATH, domains_lost=known_lost, reason=None)
    open_domains = [name for name in MITOS_DOMAINS if domains[name][0] is None]
    if open_domains:
        missing = [key for name in open_domains for key in _missing(scores, domains[name][1])]
        return MitosStage(
            stage=None,
            domains_lost=known_lost,
            reason=f"The stage is not known because {_missing_phrase(missing)}, so whether "
            f"independence is lost in the {' and '.join(open_domains)} domain(s) is not known.",
        )
    return MitosStage(stage=len(known_lost), domains_lost=known_lost, reason=None)


def _kings_regions(
    scores: Mapping[str, int | None], *, q5_gastrostomy: bool
) -> tuple[int | None, list[str]]:
    """Return the number of regions involved (None if open) and the missing items it needs."""
    upper_items = ("q4",) if q5_gastrostomy else UPPER_LIMB_ITEMS
    involved = [
        _any_true([_compare(scores[key], lambda s: s < ITEM_NORMAL) for key in region])
        for region in (BULBAR_ITEMS, upper_items, LOWER_LIMB_ITEMS)
    ]
    if None in involved:
        open_items = [
            key
            for region, state in zip(
                (BULBAR_ITEMS, upper_items, LOWER_LIMB_ITEMS), involved, strict=True
            )
            if state is None
            for key in _missing(scores, region)
        ]
        return None, open_items
    return sum(1 for state in involved if state), []


def _scores(items: Mapping[str, int | None]) -> dict[str, int | None]:
    """Return all twelve items as int or None, refusing unknown keys and impossible scores."""
    unknown = sorted(set(items) - set(ITEM_KEYS))
    if unknown:
        raise ValueError(
            f"unknown ALSFRS-R item(s) {unknown}: items are named q1 (speech) to q12 "
            "(respiratory insufficiency)"
        )
    scores: dict[str, int | None] = {}
    for key in ITEM_KEYS:
        value = items.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            scores[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"ALSFRS-R item {key} must be a score 0-4, got {value!r}")
        if not float(value).is_integer() or not ITEM_WORST <= value <= ITEM_NORMAL:
            raise ValueError(f"ALSFRS-R item {key} must be a whole score 0-4, got {value!r}")
        scores[key] = int(value)
    return scores


def _compare(score: int | None, rule: Callable[[int], bool]) -> bool | None:
    """Return ``rule(score)``, or None when the score is missing."""
    return None if score is None else bool(rule(score))


def _any_true(states: list[bool | None]) -> bool | None:
    """Three-valued "or": True if any is True, False if all are False, else None (open)."""
    if any(state is True for state in states):
        return True
    if all(state is False for state in states):
        return False
    return None


def _all_true(states: list[bool | None]) -> bool | None:
    """Three-valued "and": False if any is False, True if all are True, else None (open)."""
    if any(state is False for state in states):
        return False
    if all(state is True for state in states):
        return True
    return None


def _missing(scores: Mapping[str, int | None], keys: tuple[str, ...]) -> list[str]:
    """Return the keys among ``keys`` whose score is missing."""
    return [key for key in keys if scores[key] is None]


def _missing_phrase(keys: list[str]) -> str:
    """Return missing item keys as a clause: ["q10", "q12"] → "items 10 and 12 are missing"."""
    numbers_ = [key[1:] for key in dict.fromkeys(keys)]
    if len(numbers_) == 1:
        return f"item {numbers_[0]} is missing"
    return "items " + ", ".join(numbers_[:-1]) + " and " + numbers_[-1] + " are missing"


def visit_stages(
    items: Mapping[str, int | None] | None,
    *,
    q5_gastrostomy: bool,
    visit_date: Any,
    events: Mapping[str, Any],
) -> dict[str, Any]:
    """The stage fields of one visit (``Visit.kings_stage`` ...), all None without an ALSFRS-R.

    ``events`` maps event kinds (``gastrostomy``, ``niv``, ``death``) to their dates; an event on
    or before the visit date counts (King's 4A/4B from a gastrostomy or NIV event; MiToS 5 once
    dead).
    """
    if items is None or visit_date is None:
        return dict.fromkeys(
            ("kings_stage", "kings_nutritional_failure", "kings_respiratory_failure", "mitos_stage")
        )

    def happened(kind: str) -> bool:
        date = events.get(kind)
        return date is not None and date <= visit_date

    kings = kings_stage(
        items,
        q5_gastrostomy=q5_gastrostomy,
        gastrostomy=happened("gastrostomy"),
        niv=happened("niv"),
    )
    mitos = mitos_stage(items, dead=happened("death"))
    return {
        "kings_stage": kings.stage,
        "kings_nutritional_failure": kings.nutritional_failure,
        "kings_respiratory_failure": kings.respiratory_failure,
        "mitos_stage": mitos.stage,
    }
