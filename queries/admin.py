"""Data queries in the admin: browsable with their audit trail, never changed there (the pages,
the API and ``check_data`` go through the services)."""

from django.contrib import admin

from cohort.admin import ReadOnlyRecordAdmin
from queries.models import DataQuery


@admin.register(DataQuery)
class DataQueryAdmin(ReadOnlyRecordAdmin):
    list_display = (
        "id",
        "status",
        "site",
        "record_type",
        "record_id",
        "field",
        "opened_at",
        "auto",
    )
    list_filter = ("status", "site", "record_type", "auto")
    search_fields = ("message", "answer", "subject__study_id")
