"""Django admin for every cohort model; derived fields are read-only, history is browsable."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohort import scales
from cohort.models import (
    AlsfrsR,
    ClinicalEvent,
    Site,
    SiteMembership,
    Study,
    Subject,
    UmnExam,
    Visit,
)


@admin.register(Study)
class StudyAdmin(SimpleHistoryAdmin):
    list_display = ("name", "interval_months", "window_days", "planned_visits")


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name")
    readonly_fields = ("version",)


@admin.register(SiteMembership)
class SiteMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "site")
    list_filter = ("site",)


@admin.register(Subject)
class SubjectAdmin(SimpleHistoryAdmin):
    list_display = ("study_id", "site", "group", "sex", "enrolled_on")
    list_filter = ("site", "group", "sex")
    search_fields = ("study_id",)
    readonly_fields = ("version", "created_at", "updated_at")


@admin.register(Visit)
class VisitAdmin(SimpleHistoryAdmin):
    list_display = ("subject", "visit_code", "date", "status", "days_from_baseline", "in_window")
    list_filter = ("visit_code", "status", "subject__site")
    search_fields = ("subject__study_id",)
    readonly_fields = (
        "days_from_baseline",
        "months_from_onset",
        "target_date",
        "in_window",
        "version",
        "created_at",
        "updated_at",
    )


@admin.register(UmnExam)
class UmnExamAdmin(SimpleHistoryAdmin):
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
class AlsfrsRAdmin(SimpleHistoryAdmin):
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
class ClinicalEventAdmin(SimpleHistoryAdmin):
    list_display = ("subject", "kind", "date")
    list_filter = ("kind",)
    search_fields = ("subject__study_id",)
    readonly_fields = ("version", "created_at")
