"""DRF permission classes: thin adapters over ``core.roles``, which alone decides roles and scope.

Permissions here answer "may this role touch this kind of resource at all" (403 when not, for any
id, so a 403 never tells whether a record exists). Which *records* a user may see is decided by the
viewsets' querysets (``Model.objects.visible_to(user)``, core.scoping): a record outside the caller's sites is simply
not found (404).
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from core import roles
from core.scoping import SITE_LOOKUP, site_of


class RolePermission(BasePermission):
    """Safe methods need one of ``read_roles``; any other method needs one of ``write_roles``."""

    read_roles: frozenset[str] = frozenset()
    write_roles: frozenset[str] = frozenset()
    message = "Your study role does not allow this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        allowed = self.read_roles if request.method in SAFE_METHODS else self.write_roles
        return roles.role_of(request.user) in allowed


class ClinicalReadWrite(RolePermission):
    """Clinical data: coordinators, investigators, data managers and admins read (coordinators
    their own sites only, by queryset scoping); coordinators, data managers and admins write."""

    read_roles = frozenset(roles.CLINICAL_READERS)
    write_roles = frozenset(roles.CLINICAL_WRITERS)
    message = "Your study role cannot read or change clinical data here."

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method in SAFE_METHODS:
            return True
        # Querysets are already scoped, so this only matters if a view forgets to scope: a write
        # to another site's record must never go through.
        if not hasattr(type(obj), SITE_LOOKUP):
            return True
        return roles.can_write_site(request.user, site_of(obj))


class ClinicalRecordReadWrite(ClinicalReadWrite):
    """The clinical record (subjects, visits, forms, events): as ``ClinicalReadWrite``, and the
    blinded reference-standard assessors read it too (it holds no MBS read or band value)."""

    read_roles = frozenset(roles.CLINICAL_RECORD_READERS)


class DiagnosisReadWrite(ClinicalRecordReadWrite):
    """Diagnoses: clinical record readers read; the site's clinical writers and the assessors
    record them (the service keeps the reference standard to the assessors)."""

    write_roles = frozenset(roles.DIAGNOSIS_WRITERS)
    message = "Your study role cannot read or record diagnoses."

    def has_object_permission(self, request: Request, view: APIView, obj: Any) -> bool:
        if request.method not in SAFE_METHODS and roles.is_reference_assessor(request.user):
            return True
        return super().has_object_permission(request, view, obj)


class SiteReadAdminWrite(RolePermission):
    """Sites: clinical readers read (coordinators their own sites), only admins change them."""

    read_roles = frozenset(roles.CLINICAL_RECORD_READERS)
    write_roles = frozenset({roles.ADMIN})
    message = "Only administrators can change sites."
