"""Roles and site scoping: the one place that decides what a user may see and change.

A user's role is one Django group; coordinators are scoped to their site memberships. The API, the
pages, the selectors and the exports all ask this module.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest

COORDINATOR = "coordinator"
RATER = "rater"
INVESTIGATOR = "investigator"
DATA_MANAGER = "data_manager"
ADMIN = "admin"
ROLES = (COORDINATOR, RATER, INVESTIGATOR, DATA_MANAGER, ADMIN)
ROLE_LABELS = {
    COORDINATOR: "Site coordinator",
    RATER: "Blinded rater",
    INVESTIGATOR: "Investigator",
    DATA_MANAGER: "Data manager",
    ADMIN: "Administrator",
}

# Who may do what, beyond reading their scope.
CLINICAL_READERS = {COORDINATOR, INVESTIGATOR, DATA_MANAGER, ADMIN}
CLINICAL_WRITERS = {COORDINATOR, DATA_MANAGER, ADMIN}
ANALYSTS = {INVESTIGATOR, DATA_MANAGER, ADMIN}
EXPORTERS = {DATA_MANAGER, ADMIN}
ALL_SITES = {INVESTIGATOR, DATA_MANAGER, ADMIN}
# Blinded reads: raters grade their own queue; reviewers (unblinded) see every read, the agreement
# and the adjudication queue; assigners fill the raters' queues.
READERS = {RATER}
READ_REVIEWERS = {INVESTIGATOR, DATA_MANAGER, ADMIN}
READ_ASSIGNERS = {DATA_MANAGER, ADMIN}

User = AbstractBaseUser | AnonymousUser


def role_of(user: Any) -> str | None:
    """The user's study role, or None (anonymous or without a role)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    cached = getattr(user, "_motorband_role", False)
    if cached is not False:
        return cached
    names = set(user.groups.values_list("name", flat=True))
    role = next(
        (r for r in (ADMIN, DATA_MANAGER, INVESTIGATOR, COORDINATOR, RATER) if r in names), None
    )
    user._motorband_role = role
    return role


def has_role(user: Any, roles: set[str] | tuple[str, ...]) -> bool:
    return role_of(user) in roles


def is_rater(user: Any) -> bool:
    """Whether the user reads scans blinded (and must see nothing but their own queue)."""
    return role_of(user) in READERS


def can_review_reads(user: Any) -> bool:
    """Whether the user may see every rater's reads, the agreement and the adjudication queue."""
    return role_of(user) in READ_REVIEWERS


def can_assign_reads(user: Any) -> bool:
    return role_of(user) in READ_ASSIGNERS


def site_ids(user: Any) -> list[int] | None:
    """Ids of the sites whose clinical data the user may read: None means all sites."""
    role = role_of(user)
    if role in ALL_SITES:
        return None
    if role == COORDINATOR:
        return list(user.site_memberships.values_list("site_id", flat=True))
    return []


def scope_by_site(queryset: QuerySet, user: Any, site_field: str) -> QuerySet:
    """Restrict a queryset of clinical rows to the user's sites (``site_field`` is the lookup path)."""
    role = role_of(user)
    if role not in CLINICAL_READERS:
        return queryset.none()
    ids = site_ids(user)
    if ids is None:
        return queryset
    return queryset.filter(**{f"{site_field}__in": ids})


def can_write_site(user: Any, site_id: int) -> bool:
    role = role_of(user)
    if role not in CLINICAL_WRITERS:
        return False
    ids = site_ids(user)
    return ids is None or site_id in ids


def role_context(request: HttpRequest) -> dict[str, Any]:
    """Template context: the user's role, for navigation."""
    role = role_of(getattr(request, "user", None))
    return {"study_role": role, "study_role_label": ROLE_LABELS.get(role or "", "")}
