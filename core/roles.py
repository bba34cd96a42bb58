"""Roles, sites and the acting user: the one place that decides what a caller may see and change.

A user's study role is one Django group; coordinators are scoped to their site memberships. Every
service, selector and queryset takes an ``Acting``: a Django user (``request.user``), an ``Actor``
built from one, or ``None`` for the system itself (the demo loader, a worker on its own behalf).
``actor_of`` turns any of them into an ``Actor``: who acts, with which role, on which sites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser, Group
from django.contrib.auth.models import User as StudyUser
from django.db import connection
from django.http import HttpRequest

COORDINATOR = "coordinator"
RATER = "rater"
INVESTIGATOR = "investigator"
DATA_MANAGER = "data_manager"
ADMIN = "admin"
ASSESSOR = "assessor"
ROLES = (COORDINATOR, RATER, INVESTIGATOR, DATA_MANAGER, ADMIN, ASSESSOR)
ROLE_LABELS = {
    COORDINATOR: "Site coordinator",
    RATER: "Blinded rater",
    INVESTIGATOR: "Investigator",
    DATA_MANAGER: "Data manager",
    ADMIN: "Administrator",
    ASSESSOR: "Reference-standard assessor (blinded to the MBS)",
}

# Who may do what, beyond reading their scope.
CLINICAL_READERS = frozenset({COORDINATOR, INVESTIGATOR, DATA_MANAGER, ADMIN})
CLINICAL_WRITERS = frozenset({COORDINATOR, DATA_MANAGER, ADMIN})
ANALYSTS = frozenset({INVESTIGATOR, DATA_MANAGER, ADMIN})
EXPORTERS = frozenset({DATA_MANAGER, ADMIN})
# An import (a study bundle, a REDCap file) may write any site's clinical data: clinical writers
# who reach every site (a coordinator writes their own sites only).
IMPORTERS = frozenset({DATA_MANAGER, ADMIN})
# The access log (logins, exports, downloads: core.access) is read by those who answer for the data.
ACCESS_LOG_READERS = frozenset({DATA_MANAGER, ADMIN})
ALL_SITES = frozenset({INVESTIGATOR, DATA_MANAGER, ADMIN, ASSESSOR})
# The reference standard of the diagnostic study (the final diagnosis) is set by assessors who read
# the clinical record of every site but never a scan, a band value or an MBS read: they reach the
# clinical records (subjects, visits, forms, events, diagnoses) and nothing of imaging or analysis.
REFERENCE_ASSESSORS = frozenset({ASSESSOR})
CLINICAL_RECORD_READERS = CLINICAL_READERS | REFERENCE_ASSESSORS
# Who records a (non-reference) diagnosis in a subject's history: the site's clinical writers and
# the assessors.
DIAGNOSIS_WRITERS = CLINICAL_WRITERS | REFERENCE_ASSESSORS
# Blinded reads: raters grade their own queue; reviewers (unblinded) see every read, the agreement
# and the adjudication queue; assigners fill the raters' queues.
READERS = frozenset({RATER})
READ_REVIEWERS = frozenset({INVESTIGATOR, DATA_MANAGER, ADMIN})
READ_ASSIGNERS = frozenset({DATA_MANAGER, ADMIN})
# Data queries (queries app): monitors open a query on a field of a record and close it once the
# site has answered; the site's clinical writers answer.
MONITORS = frozenset({DATA_MANAGER, ADMIN})

#: Where a user's role is kept once read (one query per user object, not per check).
ROLE_CACHE_ATTRIBUTE = "_motorband_role"

User = AbstractBaseUser | AnonymousUser


@dataclass(frozen=True)
class Actor:
    """Who acts: the user (None for the system), the study role, and the sites the role reaches.

    ``site_ids`` is None when the role reaches every site, and empty when it reaches none.
    """

    user: StudyUser | None
    role: str | None
    site_ids: frozenset[int] | None

    @property
    def history_user(self) -> StudyUser | None:
        """The user recorded in the audit trail (None for the system or an anonymous caller)."""
        return self.user

    @property
    def username(self) -> str:
        return self.user.get_username() if self.user is not None else "system"

    def reaches_site(self, site_id: int) -> bool:
        """Whether the role's scope includes this site."""
        return self.site_ids is None or site_id in self.site_ids

    def may_write_site(self, site_id: int) -> bool:
        return self.role in CLINICAL_WRITERS and self.reaches_site(site_id)


#: Anyone who can act: a Django user, an Actor, or None (the system).
Acting = Actor | AbstractBaseUser | AnonymousUser | None

SYSTEM = Actor(user=None, role=None, site_ids=frozenset())


def _user_role(user: Any) -> str | None:
    if not user.is_authenticated or not user.is_active:
        return None
    if getattr(user, "is_superuser", False):
        return ADMIN
    cached = getattr(user, ROLE_CACHE_ATTRIBUTE, False)
    if cached is not False:
        return cast("str | None", cached)
    names = _group_names(user.pk)
    role = next(
        (
            r
            for r in (ADMIN, DATA_MANAGER, INVESTIGATOR, COORDINATOR, ASSESSOR, RATER)
            if r in names
        ),
        None,
    )
    setattr(user, ROLE_CACHE_ATTRIBUTE, role)
    return role


def _group_names(user_id: int) -> set[str]:
    """Names of a user's groups, in one plain query: it runs at every request (the role), where
    the ORM's related manager spent more time building the query than the database answering."""
    through = StudyUser.groups.through._meta.db_table
    group = Group._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # Table names from the models, quoted; the user is a parameter.
            f"SELECT g.name FROM {connection.ops.quote_name(group)} g "
            f"JOIN {connection.ops.quote_name(through)} m ON m.group_id = g.id "
            "WHERE m.user_id = %s",
            [user_id],
        )
        return {row[0] for row in cursor.fetchall()}


def actor_of(who: Acting) -> Actor:
    """The Actor behind a user, an Actor itself, or the system for None.

    Site memberships are read at each call (they may change while a user object lives); the
    role is read once per user object.
    """
    if isinstance(who, Actor):
        return who
    if who is None:
        return SYSTEM
    role = _user_role(who)
    if role in ALL_SITES:
        ids: frozenset[int] | None = None
    elif role == COORDINATOR:
        ids = frozenset(who.site_memberships.values_list("site_id", flat=True))  # type: ignore[union-attr]
    else:
        ids = frozenset()
    return Actor(user=history_user(who), role=role, site_ids=ids)


def history_user(who: Acting) -> StudyUser | None:
    """The user to record in the audit trail (and in ``created_by`` fields) for this caller:
    None for the system or an anonymous caller."""
    if isinstance(who, Actor):
        return who.user
    if isinstance(who, StudyUser) and who.is_authenticated:
        return who
    return None


def study_user(who: Acting) -> StudyUser | None:
    """The signed-in user behind a caller (None for the system or an anonymous caller)."""
    return history_user(who)


def role_of(who: Acting) -> str | None:
    """The caller's study role, or None (anonymous, inactive, without a role, or the system)."""
    if isinstance(who, Actor):
        return who.role
    if who is None:
        return None
    return _user_role(who)


def has_role(who: Acting, allowed: set[str] | frozenset[str] | tuple[str, ...]) -> bool:
    return role_of(who) in allowed


def is_rater(who: Acting) -> bool:
    """Whether the caller reads scans blinded (and must see nothing but their own queue)."""
    return role_of(who) in READERS


def is_reference_assessor(who: Acting) -> bool:
    """Whether the caller sets the reference standard (and must see no MBS read or band value)."""
    return role_of(who) in REFERENCE_ASSESSORS


def can_review_reads(who: Acting) -> bool:
    """Whether the caller may see every rater's reads, the agreement and the adjudication queue."""
    return role_of(who) in READ_REVIEWERS


def can_assign_reads(who: Acting) -> bool:
    return role_of(who) in READ_ASSIGNERS


def site_ids(who: Acting) -> list[int] | None:
    """Ids of the sites whose clinical data the caller may read: None means all sites."""
    ids = actor_of(who).site_ids
    return None if ids is None else sorted(ids)


def can_write_site(who: Acting, site_id: int) -> bool:
    return actor_of(who).may_write_site(site_id)


def role_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the user's role, for navigation."""
    role = role_of(getattr(request, "user", None))
    return {"study_role": role, "study_role_label": ROLE_LABELS.get(role or "", "")}
