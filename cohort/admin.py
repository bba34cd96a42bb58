"""Django admin for every cohort model: records and their audit trails are browsable; changes go
through the services (the study settings and sites here, clinical records in the pages and API),
so the admin never bypasses a rule, a derived field, a version or a change reason."""

from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.forms import ModelForm
from django.http import HttpRequest
from simple_history.admin import SimpleHistoryAdmin

from cohort import scales, services
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Diagnosis,
    Site,
    SiteMembership,
    Study,
    Subject,
    UmnExam,
    Visit,
)


class ReadOnlyRecordAdmin(SimpleHistoryAdmin):
    """Browse records and their history; change them in the pages or the API (the services)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Study)
class StudyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "interval_months", "window_days", "planned_visits")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not Study.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        saved = services.study_update(user=request.user, data=changed)
        obj.pk = saved.pk


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name")
    readonly_fields = ("version",)

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        if not change:
            saved = services.site_create(user=request.user, code=obj.code, name=obj.name)
            obj.pk, obj.version = saved.pk, saved.version
            return
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        saved = services.site_update(Site.objects.get(pk=obj.pk), user=request.user, data=changed)
        obj.version = saved.version

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.site_delete(obj, user=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # Bulk deletion would bypass site_delete's check for subjects: one site at a time.
        return obj is not None and super().has_delete_permission(request, obj)


@admin.register(SiteMembership)
class SiteMembershipAdmin(ReadOnlyRecordAdmin):
    list_display = ("user", "site")
    list_filter = ("site",)


@admin.register(Subject)
class SubjectAdmin(ReadOnlyRecordAdmin):
    list_display = ("study_id", "site", "group", "sex", "enrolled_on")
    list_filter = ("site", "group", "sex")
    search_fields = ("study_id",)
    readonly_fields = ("version", "created_at", "updated_at")


@admin.register(Visit)
class VisitAdmin(ReadOnlyRecordAdmin):
    list_display = ("subject", "visit_code", "date", "status", "days_from_baseline", "in_window")
    list_filter = ("visit_code", "status", "subject__site")
    search_fields = ("subject__study_id",)
    readonly_fields = (
        "days_from_baseline",
        "months_from_onset",
        "target_date",
        "in_window",
        "kings_stage",
        "mitos_stage",
        "version",
        "created_at",
        "updated_at",
    )


@admin.register(UmnExam)
class UmnExamAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "visit",
        "bulbar",
        "right_upper",
        "left_upper",
        "right_lower",
        "left_lower",
        "total",
    )
    search_fields = ("visit__subject__study_id",)
    readonly_fields = (*scales.UMN_REGIONS, "total", "version", "updated_at")


@admin.register(AlsfrsR)
class AlsfrsRAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "visit",
        "total",
        "bulbar",
        "fine_motor",
        "gross_motor",
        "respiratory",
        "delta_fs",
    )
    search_fields = ("visit__subject__study_id",)
    readonly_fields = (*scales.ALSFRS_DOMAINS, "total", "delta_fs", "version", "updated_at")


@admin.register(ClinicalEvent)
class ClinicalEventAdmin(ReadOnlyRecordAdmin):
    list_display = ("subject", "kind", "date")
    list_filter = ("kind",)
    search_fields = ("subject__study_id",)
    readonly_fields = ("version", "created_at")


@admin.register(Diagnosis)
class DiagnosisAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "subject",
        "date",
        "phenotype",
        "gold_coast",
        "el_escorial",
        "reference_standard",
    )
    list_filter = ("phenotype", "reference_standard")
    search_fields = ("subject__study_id",)
    readonly_fields = ("version", "created_at", "assessor")
