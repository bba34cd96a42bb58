"""What the unblinded reviewers see of the blinded reads: consensus, adjudication queue, agreement.

The reads themselves are imaging's (``imaging.reading`` writes them); their consensus (domain.md:
median over raters per hemisphere) and the agreement statistics (``analysis.stats.agreement``)
are analyses of them, read here. Non-diagnostic reads carry no grade: they count in neither the
consensus nor the agreement, and both say how many were left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from analysis.stats import agreement
from analysis.stats.errors import InsufficientDataError
from imaging.models import Adjudication, Read, ReadOutcome, Scan
from imaging.reading import ADJUDICATION_SPREAD, HEMISPHERE_FIELDS


@dataclass
class ScanConsensus:
    """Consensus of the current reads of one scan (domain.md: median over raters per hemisphere).

    Raters more than one grade apart in a hemisphere have no consensus there: it waits for an
    adjudicator's final read, which then replaces the consensus of the whole scan. Only graded
    reads are graded: a scan whose reads are all non-diagnostic has no consensus (it is
    non-diagnostic), and one whose graded reads are no majority (one graded, one non-diagnostic)
    waits for an adjudicator's final read as well.
    """

    scan_id: int
    scan_code: str
    reads: list[dict[str, Any]] = field(default_factory=list)
    left: float | None = None
    right: float | None = None
    mbs_positive: bool | None = None
    left_spread: int = 0
    right_spread: int = 0
    adjudication: dict[str, Any] | None = None
    n_graded: int = 0
    n_non_diagnostic: int = 0
    non_diagnostic_reasons: list[str] = field(default_factory=list)

    @property
    def non_diagnostic(self) -> bool:
        """Every current read of the scan is non-diagnostic."""
        return self.n_non_diagnostic > 0 and self.n_graded == 0

    @property
    def too_few_graded(self) -> bool:
        """Some reads are graded, but not a majority of them (no consensus without a final read)."""
        return self.n_graded > 0 and not agreement.graded_reads_suffice(
            self.n_graded, self.n_non_diagnostic
        )

    @property
    def needs_adjudication(self) -> bool:
        return max(self.left_spread, self.right_spread) > ADJUDICATION_SPREAD or self.too_few_graded

    @property
    def awaiting_adjudication(self) -> bool:
        return self.needs_adjudication and self.adjudication is None


def _rater_name() -> str:
    """The lookup of a read's rater name as ``get_username()`` gives it."""
    return f"rater__{get_user_model().USERNAME_FIELD}"


def _current_reads(scans: QuerySet[Scan] | None = None) -> QuerySet[Read]:
    reads = Read.objects.filter(is_current=True).select_related("scan", "rater")
    if scans is not None:
        reads = reads.filter(scan__in=scans)
    return reads.order_by("scan_id", "rater__username")


def consensus_list(scans: QuerySet[Scan] | None = None) -> list[ScanConsensus]:
    """Consensus grades, MBS status and rater spread of every scan with current reads."""
    by_scan: dict[int, ScanConsensus] = {}
    for read in _current_reads(scans):
        entry = by_scan.setdefault(read.scan_id, ScanConsensus(read.scan_id, read.scan.code))
        entry.reads.append(
            {
                "read": read.pk,
                "rater": read.rater.get_username(),
                "outcome": read.outcome,
                "non_diagnostic_reason": read.non_diagnostic_reason,
                "non_diagnostic_detail": read.non_diagnostic_detail,
                "left_grade": read.left_grade,
                "right_grade": read.right_grade,
                "confidence": read.confidence,
                "comment": read.comment,
            }
        )
    final = {
        a.scan_id: a
        for a in Adjudication.objects.filter(scan_id__in=list(by_scan)).select_related(
            "adjudicator"
        )
    }
    for entry in by_scan.values():
        graded = [r for r in entry.reads if r["outcome"] == ReadOutcome.GRADED]
        lefts = [r["left_grade"] for r in graded]
        rights = [r["right_grade"] for r in graded]
        entry.n_graded = len(graded)
        entry.n_non_diagnostic = len(entry.reads) - len(graded)
        entry.non_diagnostic_reasons = sorted(
            {r["non_diagnostic_reason"] for r in entry.reads if r["outcome"] != ReadOutcome.GRADED}
        )
        adjudication = final.get(entry.scan_id)
        if adjudication is not None:
            entry.adjudication = {
                "id": adjudication.pk,
                "left_grade": adjudication.left_grade,
                "right_grade": adjudication.right_grade,
                "adjudicator": adjudication.adjudicator.get_username(),
                "comment": adjudication.comment,
            }
        entry.left, entry.right = agreement.settled_scan_grades(
            lefts,
            rights,
            n_non_diagnostic=entry.n_non_diagnostic,
            adjudicated=(adjudication.left_grade, adjudication.right_grade)
            if adjudication
            else None,
        )
        entry.mbs_positive = agreement.mbs_positive(entry.left, entry.right)
        entry.left_spread = max(lefts) - min(lefts) if lefts else 0
        entry.right_spread = max(rights) - min(rights) if rights else 0
    return list(by_scan.values())


def scan_consensus(scan: Scan) -> ScanConsensus:
    """Consensus of one scan (no grade and undetermined status while it has no read)."""
    found = consensus_list(Scan.objects.filter(pk=scan.pk))
    return found[0] if found else ScanConsensus(scan.pk, scan.code)


def adjudication_queue() -> list[ScanConsensus]:
    """Scans whose raters disagree by more than one grade in a hemisphere, or whose graded reads
    are no majority beside non-diagnostic ones, and that have no final read yet."""
    return [entry for entry in consensus_list() if entry.awaiting_adjudication]


def reads_frame(scans: QuerySet[Scan] | None = None) -> pd.DataFrame:
    """Long frame of current graded reads, one row per scan hemisphere and rater.

    Columns ``item`` (``<scan id>:<L|R>``, a hemisphere is the graded unit), ``scan``,
    ``hemisphere``, ``rater`` (username), ``grade``. Non-diagnostic reads have no grade and no
    row (:func:`non_diagnostic_counts` counts them).
    """
    # Plain tuples, not model instances: at 10,000 subjects the instances took seconds.
    reads = _current_reads(scans).filter(outcome=ReadOutcome.GRADED)
    rows = [
        {
            "item": f"{scan_id}:{hemisphere}",
            "scan": scan_id,
            "hemisphere": hemisphere,
            "rater": rater,
            "grade": grade,
        }
        for scan_id, rater, *values in reads.values_list(
            "scan_id", _rater_name(), *HEMISPHERE_FIELDS.values()
        )
        for hemisphere, grade in zip(HEMISPHERE_FIELDS, values, strict=True)
    ]
    return pd.DataFrame(rows, columns=["item", "scan", "hemisphere", "rater", "grade"])


def non_diagnostic_counts(scans: QuerySet[Scan] | None = None) -> dict[str, Any]:
    """Current non-diagnostic reads, which agreement leaves out: ``{count, by_rater: [{rater,
    count}]}`` (raters by username; only raters with at least one)."""
    per_rater: dict[str, int] = {}
    for name in (
        _current_reads(scans)
        .exclude(outcome=ReadOutcome.GRADED)
        .values_list(_rater_name(), flat=True)
    ):
        per_rater[name] = per_rater.get(name, 0) + 1
    return {
        "count": sum(per_rater.values()),
        "by_rater": [{"rater": name, "count": n} for name, n in sorted(per_rater.items())],
    }


def agreement_report(scans: QuerySet[Scan] | None = None) -> dict[str, Any]:
    """Inter-rater agreement of the current reads, each scan hemisphere being one graded item.

    Returns
    -------
    dict
        ``{n_scans, n_items, n_raters, pairs: [{rater_a, rater_b, kappa, ci_low, ci_high, se, n,
        percent_agreement}], fleiss: {kappa, ci_low, ci_high, se, n_items, n_raters,
        percent_agreement} or None, mean_pairwise_kappa, non_diagnostic: {count, by_rater},
        warnings}``: Cohen's kappa with linear weights per rater pair (95% CI kappa ± 1.96 SE),
        Fleiss' kappa over the items read by the most raters (bootstrap 95% CI), percent
        agreement (0-100), all over graded reads only; ``non_diagnostic`` counts the
        non-diagnostic reads left out, per rater, and a warning says so.
    """
    frame = reads_frame(scans)
    left_out = non_diagnostic_counts(scans)
    notes: list[str] = []
    if left_out["count"]:
        per_rater = ", ".join(f"{r['rater']} {r['count']}" for r in left_out["by_rater"])
        notes.append(
            f"{left_out['count']} non-diagnostic read{'s' if left_out['count'] != 1 else ''} "
            f"left out (no grade to compare): {per_rater}."
        )
    empty = {
        "n_scans": 0,
        "n_items": 0,
        "n_raters": 0,
        "pairs": [],
        "fleiss": None,
        "mean_pairwise_kappa": None,
        "non_diagnostic": left_out,
        "warnings": notes,
    }
    if frame.empty:
        return empty
    try:
        summary = agreement.agreement_summary(frame[["item", "rater", "grade"]])
    except InsufficientDataError:
        return {**empty, "n_scans": int(frame["scan"].nunique())}
    return {
        "n_scans": int(frame["scan"].nunique()),
        **summary,
        "non_diagnostic": left_out,
        "warnings": notes + list(summary.get("warnings", [])),
    }
