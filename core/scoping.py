"""Querysets that scope themselves to the caller: a model says where its site is, once.

A site-bound model declares ``SITE_LOOKUP`` (the lookup path from the model to its site's id, e.g.
``"visit__subject__site_id"``) and ``objects = SiteScopedQuerySet.as_manager()``; every selector
and viewset then reads through ``Model.objects.visible_to(user)``, so no view can forget the scope.
Clinical readers (coordinators, investigators, data managers, admins) see their sites' rows;
everyone else (raters, anonymous callers, the system) sees none. A model of the clinical record
that the blinded reference-standard assessors may read too declares
``READ_ROLES = CLINICAL_RECORD_READERS``; imaging and analysis rows (scans, band values, reads) keep
the default and stay out of their reach.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from django.db import models

from core.roles import CLINICAL_READERS, CLINICAL_WRITERS, Acting, actor_of

if TYPE_CHECKING:
    from typing import Self

M = TypeVar("M", bound=models.Model)

#: The class attribute naming a model's lookup path to its site id.
SITE_LOOKUP = "SITE_LOOKUP"
#: The class attribute naming the roles that read a model's rows (default: the clinical readers).
READ_ROLES = "READ_ROLES"


class SiteScopedQuerySet(models.QuerySet[M]):
    """A queryset of site-bound clinical rows that can restrict itself to a caller's sites."""

    def visible_to(self, who: Acting) -> Self:
        """The rows the caller may read: their sites' rows, every row, or none."""
        actor = actor_of(who)
        if actor.role not in getattr(self.model, READ_ROLES, CLINICAL_READERS):
            return self.none()
        if actor.site_ids is None:
            return self
        lookup: str = getattr(self.model, SITE_LOOKUP)
        return self.filter(**{f"{lookup}__in": sorted(actor.site_ids)})

    def writable_by(self, who: Acting) -> Self:
        """The rows the caller may change (a coordinator's own sites; data managers and admins
        everywhere; nobody else)."""
        actor = actor_of(who)
        if actor.role not in CLINICAL_WRITERS:
            return self.none()
        return self.visible_to(actor)


def site_of(instance: models.Model) -> Any:
    """The site id of a site-bound row, following the model's SITE_LOOKUP."""
    value: Any = instance
    for part in getattr(type(instance), SITE_LOOKUP).split("__"):
        value = getattr(value, part)
    return value
