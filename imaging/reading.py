"""Blinded reads of the motor band sign: queues, reads and corrections.

The functions that write (``read_assignments_create``, ``read_assignments_auto``, ``read_submit``,
``read_correct``) are the only writers of ``ReadAssignment`` and ``Read`` rows; the API, the pages,
the ``assign_reads`` command and the demo call them. The read-only functions below them answer what
the blinded rater sees (their queue and their own reads) and what the unblinded reviewers see
(consensus, adjudication queue, agreement); the statistics come from analysis.stats.agreement.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import transaction
from django.db.models import Count, Max, QuerySet

from core import records, roles
from core.roles import Acting, StudyUser
from imaging.models import (
    NON_DIAGNOSTIC_DETAIL_MAX_LENGTH,
    Adjudication,
    QcStatus,
    Read,
    ReadAssignment,
    ReadOutcome,
    Scan,
    ScanKind,
    read_outcome_errors,
)

#: Scan kinds that are read (domain.md: the band is graded on SWI).
READ_KINDS = (ScanKind.SWI,)
#: Raters per scan when scans are assigned automatically.
DEFAULT_RATERS_PER_SCAN = 2
GRADE_MIN, GRADE_MAX = min(g for g, _ in Read.GRADE_CHOICES), max(g for g, _ in Read.GRADE_CHOICES)
CONFIDENCE_MIN, CONFIDENCE_MAX = 1, 3
COMMENT_MAX_LENGTH = 2000
REASON_MAX_LENGTH = 300
DETAIL_MAX_LENGTH = NON_DIAGNOSTIC_DETAIL_MAX_LENGTH
HEMISPHERE_FIELDS = {"L": "left_grade", "R": "right_grade"}
#: Raters more than this many grades apart in a hemisphere need an adjudicator's final read.
ADJUDICATION_SPREAD = 1


class ReadStatus:
    PENDING = "pending"
    SUBMITTED = "submitted"


def active_raters() -> QuerySet[Any]:
    """Active users whose study role is rater, by username."""
    return (
        get_user_model()
        .objects.filter(is_active=True, is_superuser=False, groups__name=roles.RATER)
        .distinct()
        .order_by("username")
    )


def _check_rater(rater: Acting) -> StudyUser:
    """The rater's user account; ValidationError unless the caller is an active rater."""
    user = roles.study_user(rater)
    if user is None or not roles.is_rater(rater):
        raise ValidationError({"rater": f"'{rater}' is not an active user with the rater role."})
    return user


def _check_imported_rater(rater: StudyUser) -> None:
    """ValidationError unless the account's study role is rater (active or not: an import creates
    inactive accounts for raters who read elsewhere)."""
    names = set(rater.groups.values_list("name", flat=True))
    others = sorted(names & (set(roles.ROLES) - {roles.RATER}))
    if rater.is_superuser or roles.RATER not in names or others:
        role = (
            "an administrator"
            if rater.is_superuser
            else (f"the study role {', '.join(others)}" if others else "no rater role")
        )
        raise ValidationError(
            {
                "rater": f"'{rater}' has {role}: a blinded read can only be attributed to an "
                "account whose study role is rater. Name the rater's own account."
            }
        )


def _check_readable(scans: Iterable[Scan]) -> list[Scan]:
    scans = list(scans)
    wrong = [s.code for s in scans if s.kind not in READ_KINDS]
    if wrong:
        raise ValidationError(
            {"scans": f"Only SWI scans are read; these are not: {', '.join(wrong)}."}
        )
    return scans


def _append_to_queue(
    rater: StudyUser, scans: list[Scan], rng: random.Random
) -> list[ReadAssignment]:
    """Add scans to the end of a rater's queue in a random order (skipping those already queued)."""
    queued = set(ReadAssignment.objects.filter(rater=rater).values_list("scan_id", flat=True))
    new = [s for s in dict.fromkeys(scans) if s.pk not in queued]
    rng.shuffle(new)
    last = ReadAssignment.objects.filter(rater=rater).aggregate(m=Max("position"))["m"] or 0
    return ReadAssignment.objects.bulk_create(
        ReadAssignment(scan=scan, rater=rater, position=last + i)
        for i, scan in enumerate(new, start=1)
    )


def assignable_scans(*, fewer_than: int | None = None) -> QuerySet[Scan]:
    """SWI scans that may join reading queues: not failed QC, by id, each annotated with
    ``n_raters`` (raters it is assigned to); with ``fewer_than``, only scans with fewer raters."""
    scans = (
        Scan.objects.filter(kind__in=READ_KINDS)
        .exclude(qc_status=QcStatus.FAIL)
        .annotate(n_raters=Count("assignments", distinct=True))
        .order_by("pk")
    )
    if fewer_than is not None:
        scans = scans.filter(n_raters__lt=fewer_than)
    return scans


@dataclass(frozen=True)
class QueueSize:
    """One rater's queue: scans assigned, read and left to read (failed-QC scans excluded)."""

    rater: str
    assigned: int
    read: int
    pending: int
    added: int = 0


def queue_sizes(
    *, raters: Iterable[StudyUser] | None = None, added: Iterable[ReadAssignment] = ()
) -> list[QueueSize]:
    """Queue sizes of the given raters (default: every active rater and anyone with a queue),
    with how many assignments of ``added`` each just received."""
    new: dict[int, int] = defaultdict(int)
    for assignment in added:
        new[assignment.rater_id] += 1
    users = list(raters) if raters is not None else None
    if users is None:
        ids = set(active_raters().values_list("pk", flat=True)) | set(
            ReadAssignment.objects.values_list("rater_id", flat=True)
        )
        users = list(get_user_model().objects.filter(pk__in=ids).order_by("username"))
    sizes = []
    for user in users:
        queued = ReadAssignment.objects.filter(rater=user).exclude(scan__qc_status=QcStatus.FAIL)
        assigned = queued.count()
        read = Read.objects.filter(
            rater=user, is_current=True, scan__in=queued.values("scan_id")
        ).count()
        sizes.append(
            QueueSize(
                rater=user.get_username(),
                assigned=assigned,
                read=read,
                pending=assigned - read,
                added=new[user.pk],
            )
        )
    return sizes


@transaction.atomic
def read_assignments_create(
    *, user: Acting, rater: Acting, scans: Iterable[Scan], seed: int | None = None
) -> list[ReadAssignment]:
    """Queue the given SWI scans for one rater (a data manager's explicit assignment).

    Scans already in the rater's queue are skipped; the new ones go to the end of the queue in a
    random order (``seed`` makes it reproducible). Returns the new assignments.
    """
    if user is not None and not roles.can_assign_reads(user):
        raise ValidationError("Only data managers and administrators assign scans to raters.")
    return _append_to_queue(_check_rater(rater), _check_readable(scans), random.Random(seed))


@transaction.atomic
def read_assignments_auto(
    *,
    user: Acting,
    k: int = DEFAULT_RATERS_PER_SCAN,
    seed: int | None = None,
    scans: Iterable[Scan] | None = None,
    raters: Iterable[StudyUser] | None = None,
    progress: Callable[[Iterable[Scan]], Iterable[Scan]] | None = None,
) -> list[ReadAssignment]:
    """Give every SWI scan ``k`` raters, chosen among the active raters, and shuffle the queues.

    ``scans`` defaults to every SWI scan that did not fail QC (:func:`assignable_scans`); a scan
    that already has raters only gets the missing ones. Each scan goes to the raters with
    the fewest scans queued so far (ties broken at random), so the work is balanced; each rater's
    new scans then join the end of their queue in a random order. ``seed`` makes both choices
    reproducible. ``progress`` wraps the scan iterable (e.g. tqdm). Returns the new assignments.
    """
    if user is not None and not roles.can_assign_reads(user):
        raise ValidationError("Only data managers and administrators assign scans to raters.")
    if k < 1:
        raise ValidationError({"k": "Each scan needs at least one rater."})
    pool = [_check_rater(r) for r in (raters if raters is not None else active_raters())]
    if len(pool) < k:
        raise ValidationError(
            {
                "k": f"{k} raters per scan were asked for, but only {len(pool)} active rater(s) exist."
            }
        )
    if scans is None:
        scans = assignable_scans()
    scans = _check_readable(scans)
    rng = random.Random(seed)
    load = {r.pk: ReadAssignment.objects.filter(rater=r).count() for r in pool}
    existing: dict[int, set[int]] = defaultdict(set)
    for scan_id, rater_id in ReadAssignment.objects.filter(
        scan__in=[s.pk for s in scans]
    ).values_list("scan_id", "rater_id"):
        existing[scan_id].add(rater_id)
    new_per_rater: dict[int, list[Scan]] = defaultdict(list)
    for scan in progress(scans) if progress else scans:
        missing = k - len(existing[scan.pk])
        if missing <= 0:
            continue
        candidates = [r for r in pool if r.pk not in existing[scan.pk]]
        tie_break = {r.pk: rng.random() for r in candidates}
        for rater in sorted(candidates, key=lambda r: (load[r.pk], tie_break[r.pk]))[:missing]:
            new_per_rater[rater.pk].append(scan)
            load[rater.pk] += 1
    created: list[ReadAssignment] = []
    for rater in pool:
        if new_per_rater[rater.pk]:
            created += _append_to_queue(rater, new_per_rater[rater.pk], rng)
    return created


def _is_in(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _validated(
    *,
    left_grade: Any,
    right_grade: Any,
    confidence: Any,
    comment: str,
    outcome: str = ReadOutcome.GRADED,
    non_diagnostic_reason: str = "",
    non_diagnostic_detail: str = "",
) -> dict[str, Any]:
    """The values of a read, checked: the outcome rule (``read_outcome_errors``), then ranges."""
    outcome = outcome or ReadOutcome.GRADED
    reason = (non_diagnostic_reason or "").strip()
    detail = (non_diagnostic_detail or "").strip()
    values = {"left_grade": left_grade, "right_grade": right_grade, "confidence": confidence}
    errors = read_outcome_errors(
        outcome=outcome,
        non_diagnostic_reason=reason,
        non_diagnostic_detail=detail,
        **values,
    )
    for name in ("left_grade", "right_grade"):
        value = values[name]
        if name not in errors and value is not None and not _is_in(value, GRADE_MIN, GRADE_MAX):
            errors[name] = (
                f"A grade is {GRADE_MIN} (no band), 1 (partial band) or {GRADE_MAX} (definite band)."
            )
    if (
        "confidence" not in errors
        and confidence is not None
        and not _is_in(confidence, CONFIDENCE_MIN, CONFIDENCE_MAX)
    ):
        errors["confidence"] = (
            f"Confidence is {CONFIDENCE_MIN} (low), 2 (moderate) or {CONFIDENCE_MAX} (high)."
        )
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX_LENGTH:
        errors["comment"] = f"Keep the comment under {COMMENT_MAX_LENGTH} characters."
    if errors:
        raise ValidationError(errors)
    return {
        **values,
        "outcome": outcome,
        "non_diagnostic_reason": reason,
        "non_diagnostic_detail": detail,
        "comment": comment,
    }


def is_assigned(rater: StudyUser, scan: Scan) -> bool:
    return ReadAssignment.objects.filter(rater=rater, scan=scan).exists()


@transaction.atomic
def read_submit(
    *,
    rater: Acting,
    scan: Scan,
    left_grade: int | None = None,
    right_grade: int | None = None,
    confidence: int | None = None,
    comment: str = "",
    outcome: str = ReadOutcome.GRADED,
    non_diagnostic_reason: str = "",
    non_diagnostic_detail: str = "",
) -> Read:
    """Record a rater's read of a scan in their queue; once submitted it is locked.

    A graded read (the default outcome) has both grades and a confidence; a ``non_diagnostic``
    read has a reason (motion, coverage, artefact, or other with a description) and no grade.
    Raises ValidationError when the user is not a rater, the scan is not in their queue, they
    already read it (a change is a correction, :func:`read_correct`), the values do not follow
    the outcome or a value is out of range.
    """
    rater = _check_rater(rater)
    values = _validated(
        left_grade=left_grade,
        right_grade=right_grade,
        confidence=confidence,
        comment=comment,
        outcome=outcome,
        non_diagnostic_reason=non_diagnostic_reason,
        non_diagnostic_detail=non_diagnostic_detail,
    )
    Scan.objects.select_for_update().get(pk=scan.pk)  # one submission at a time per scan
    if not is_assigned(rater, scan):
        raise ValidationError({"scan": "This scan is not in your reading queue."})
    if Read.objects.filter(rater=rater, scan=scan, is_current=True).exists():
        raise ValidationError(
            {
                "scan": "You already read this scan; a read is locked once submitted (correct it "
                "with a reason instead)."
            }
        )
    read = Read(scan=scan, rater=rater, **values)
    return records.save(read, user=rater, reason="submitted", exclude=["supersedes"])


@transaction.atomic
def read_import(
    *,
    user: Acting,
    scan: Scan,
    rater: StudyUser,
    left_grade: Any,
    right_grade: Any,
    confidence: Any,
    comment: str = "",
    outcome: str = ReadOutcome.GRADED,
    non_diagnostic_reason: str = "",
    non_diagnostic_detail: str = "",
) -> Read:
    """Record a read made elsewhere (a study bundle's phenotype/reads.tsv).

    The rater may be an inactive account created by the import, but must be a rater's: a blinded
    read is never attributed to an account of another role. The scan joins that rater's queue (as
    already read) so queues, consensus and agreement treat imported reads like local ones.
    """
    _check_imported_rater(rater)
    values = _validated(
        left_grade=left_grade,
        right_grade=right_grade,
        confidence=confidence,
        comment=comment,
        outcome=outcome,
        non_diagnostic_reason=non_diagnostic_reason,
        non_diagnostic_detail=non_diagnostic_detail,
    )
    if Read.objects.filter(rater=rater, scan=scan, is_current=True).exists():
        raise ValidationError({"rater": f"{rater} already has a read of this scan."})
    if not is_assigned(rater, scan):
        position = ReadAssignment.objects.filter(rater=rater).count() + 1
        ReadAssignment.objects.create(scan=scan, rater=rater, position=position)
    read = Read(scan=scan, rater=rater, **values)
    return records.save(read, user=user, reason="imported", exclude=["supersedes"])


@transaction.atomic
def read_correct(
    *,
    rater: Acting,
    read: Read,
    reason: str,
    left_grade: int | None = None,
    right_grade: int | None = None,
    confidence: int | None = None,
    comment: str = "",
    outcome: str = ReadOutcome.GRADED,
    non_diagnostic_reason: str = "",
    non_diagnostic_detail: str = "",
) -> Read:
    """Correct a submitted read: a new read supersedes it, with a required reason (audited).

    Only the rater who made the read corrects it, and only its current version. The old read stays
    (``is_current`` false) with its history; the new one points to it through ``supersedes``. The
    correction may change the outcome (a graded read found non-diagnostic, or the reverse).
    """
    rater = _check_rater(rater)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the read is corrected."})
    if len(reason) > REASON_MAX_LENGTH:
        raise ValidationError({"reason": f"Keep the reason under {REASON_MAX_LENGTH} characters."})
    values = _validated(
        left_grade=left_grade,
        right_grade=right_grade,
        confidence=confidence,
        comment=comment,
        outcome=outcome,
        non_diagnostic_reason=non_diagnostic_reason,
        non_diagnostic_detail=non_diagnostic_detail,
    )
    old = Read.objects.select_for_update().get(pk=read.pk)
    if old.rater_id != rater.pk:
        raise ValidationError({"read": "Only the rater who made a read can correct it."})
    if not old.is_current:
        raise ValidationError(
            {"read": "This read was already corrected; correct its current version."}
        )
    if not is_assigned(rater, old.scan):
        raise ValidationError({"scan": "This scan is no longer in your reading queue."})
    old.is_current = False
    records.save(
        old,
        user=rater,
        reason=f"superseded: {reason}",
        validate=False,
        update_fields=["is_current"],
    )
    new = Read(scan=old.scan, rater=rater, supersedes=old, reason=reason, **values)
    return records.save(new, user=rater, reason=f"correction: {reason}", exclude=["supersedes"])


# --- adjudication -------------------------------------------------------------------------------


def disagreement(scan: Scan) -> dict[str, int]:
    """Spread (highest minus lowest grade) of the current graded reads of a scan, per hemisphere."""
    grades: list[tuple[int, int]] = [
        (left, right)
        for left, right in Read.objects.filter(
            scan=scan, is_current=True, outcome=ReadOutcome.GRADED
        ).values_list("left_grade", "right_grade")
        if left is not None and right is not None  # always, on a graded read
    ]
    return {
        hemisphere: (max(g[i] for g in grades) - min(g[i] for g in grades)) if grades else 0
        for i, hemisphere in enumerate(HEMISPHERE_FIELDS)
    }


def graded_reads_suffice(n_graded: int, n_non_diagnostic: int) -> bool:
    """Whether a scan's graded reads are enough for a consensus: more graded reads than
    non-diagnostic ones (a strict majority of its current reads). The same rule as
    ``analysis.stats.agreement.graded_reads_suffice`` (imaging cannot import analysis)."""
    return n_graded > n_non_diagnostic


def outcome_split(scan: Scan) -> tuple[int, int]:
    """Numbers of current graded and non-diagnostic reads of a scan."""
    outcomes = list(
        Read.objects.filter(scan=scan, is_current=True).values_list("outcome", flat=True)
    )
    graded = sum(o == ReadOutcome.GRADED for o in outcomes)
    return graded, len(outcomes) - graded


@transaction.atomic
def adjudication_save(
    *,
    user: Acting,
    scan: Scan,
    left_grade: int,
    right_grade: int,
    comment: str = "",
    reason: str = "",
    expected_version: int | None = None,
) -> Adjudication:
    """Record (or correct, with a reason) the final read of a scan whose raters disagree by more
    than one grade, or split between graded and non-diagnostic reads without a graded majority;
    it replaces their consensus. The final read is always graded (MotorBand's choice: a scan
    every rater found non-diagnostic needs no adjudication, and an adjudicator who cannot grade
    a split scan leaves it without consensus). Investigators, data managers and admins only (they
    are unblinded); the adjudicator is whoever records it."""
    if not roles.can_review_reads(user):
        raise ValidationError(
            "Only investigators, data managers and administrators adjudicate reads."
        )
    adjudicator = roles.study_user(user)
    if adjudicator is None:
        raise ValidationError("An adjudication needs a signed-in adjudicator.")
    missing = {
        name: "A final read grades both hemispheres (it is never non-diagnostic)."
        for name, value in (("left_grade", left_grade), ("right_grade", right_grade))
        if value is None
    }
    if missing:
        raise ValidationError(missing)
    values = _validated(
        left_grade=left_grade, right_grade=right_grade, confidence=CONFIDENCE_MAX, comment=comment
    )
    Scan.objects.select_for_update().get(pk=scan.pk)  # one adjudication at a time per scan
    spread = disagreement(scan)
    graded, non_diagnostic = outcome_split(scan)
    split = graded > 0 and non_diagnostic > 0 and not graded_reads_suffice(graded, non_diagnostic)
    if max(spread.values()) <= ADJUDICATION_SPREAD and not split:
        if graded == 0 and non_diagnostic > 0:
            raise ValidationError(
                {
                    "scan": f"Every rater read scan {scan.code} as non-diagnostic: it has no "
                    "grade to adjudicate (a final read is graded only)."
                }
            )
        raise ValidationError(
            {
                "scan": f"Scan {scan.code}'s raters do not disagree by more than "
                f"{ADJUDICATION_SPREAD} grade: their consensus stands, no adjudication is needed."
            }
        )
    existing = Adjudication.objects.filter(scan=scan).first()
    if existing is None:
        adjudication = Adjudication(scan=scan, adjudicator=adjudicator)
        audit = "adjudicated"
    else:
        reason = (reason or "").strip()
        if not reason:
            raise ValidationError({"reason": "Say why the final read changes (audit trail)."})
        adjudication = records.lock(existing, expected_version=expected_version)
        adjudication.adjudicator = adjudicator
        audit = f"correction: {reason}"
    adjudication.left_grade = values["left_grade"]
    adjudication.right_grade = values["right_grade"]
    adjudication.comment = values["comment"]
    return records.save(adjudication, user=user, reason=audit)


# --- what a blinded rater sees ------------------------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """One scan of a rater's queue: the pseudonymous code and nothing about the subject."""

    scan_id: int
    scan_code: str
    position: int
    status: str
    read_id: int | None


def reading_queue(*, rater: Acting) -> list[QueueItem]:
    """The rater's queue in its randomized order, with whether each scan is read yet."""
    user = roles.study_user(rater)
    if user is None or not roles.is_rater(rater):
        return []
    rater = user
    read_ids = dict(Read.objects.filter(rater=rater, is_current=True).values_list("scan_id", "pk"))
    rows = (
        ReadAssignment.objects.filter(rater=rater)
        .exclude(scan__qc_status=QcStatus.FAIL)  # a scan that failed QC is not read
        .order_by("position")
        .values_list("scan_id", "scan__code", "position")
    )
    return [
        QueueItem(
            scan_id=scan_id,
            scan_code=code,
            position=position,
            status=ReadStatus.SUBMITTED if scan_id in read_ids else ReadStatus.PENDING,
            read_id=read_ids.get(scan_id),
        )
        for scan_id, code, position in rows
    ]


def queued_scan(*, rater: Acting, code: str) -> Scan:
    """A scan of the rater's queue by its code; ObjectDoesNotExist when not queued for them."""
    user = roles.study_user(rater)
    if user is None or not roles.is_rater(rater):
        raise Scan.DoesNotExist("not a rater")
    return Scan.objects.exclude(qc_status=QcStatus.FAIL).get(code=code, assignments__rater=user)


def current_read(*, rater: Acting, scan: Scan) -> Read | None:
    user = roles.study_user(rater)
    if user is None:
        return None
    return Read.objects.filter(rater=user, scan=scan, is_current=True).first()


def read_list(*, user: Acting) -> QuerySet[Read]:
    """Reads the user may see: a rater their own only, reviewers every read, others none."""
    reads = Read.objects.select_related("scan", "rater").order_by("scan_id", "rater_id", "pk")
    rater = roles.study_user(user)
    if rater is not None and roles.is_rater(user):
        return reads.filter(rater=rater)
    if roles.can_review_reads(user):
        return reads
    return reads.none()


def read_of(*, user: Acting, read_id: int) -> Read:
    """One read the user may see; ObjectDoesNotExist otherwise."""
    try:
        return read_list(user=user).get(pk=read_id)
    except (ValueError, TypeError) as exc:
        raise ObjectDoesNotExist(str(exc)) from exc
