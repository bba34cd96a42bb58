"""Permissions of the blinded-read API: thin adapters over ``core.roles``.

Raters reach their own queue and reads only (the querysets do the rest: another rater's read or a
scan outside their queue is not found); reviewers (investigators, data managers, admins) are
unblinded and read every read, the agreement and the adjudication queue; nobody but a rater
submits a read.
"""

from __future__ import annotations

from core import roles
from core.api.permissions import RolePermission


class ReadAccess(RolePermission):
    """Reads: raters (their own) and reviewers (all) read; raters alone submit and correct."""

    read_roles = frozenset(roles.READERS | roles.READ_REVIEWERS)
    write_roles = frozenset(roles.READERS)
    message = "Only blinded raters submit reads; reviewers read them."


class RaterOnly(RolePermission):
    """A rater's own reading queue."""

    read_roles = frozenset(roles.READERS)
    write_roles = frozenset()
    message = "The reading queue belongs to blinded raters."


class ReadReviewer(RolePermission):
    """Unblinded views of all reads: agreement and adjudication."""

    read_roles = frozenset(roles.READ_REVIEWERS)
    write_roles = frozenset()
    message = "Agreement and adjudication are open to investigators, data managers and admins."


class Adjudicator(RolePermission):
    """Final reads of disagreeing scans: reviewers (unblinded) read and record them."""

    read_roles = frozenset(roles.READ_REVIEWERS)
    write_roles = frozenset(roles.READ_REVIEWERS)
    message = "Adjudication is open to investigators, data managers and admins."
