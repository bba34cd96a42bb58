"""The access log in the admin: readable by administrators, changeable by no one."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.models import AccessEvent


@admin.register(AccessEvent)
class AccessEventAdmin(admin.ModelAdmin):
    list_display = ["when", "username", "action", "target", "client_address"]
    list_filter = ["action", "when"]
    search_fields = ["username", "target", "client_address"]
    date_hierarchy = "when"
    readonly_fields = [
        "when",
        "user",
        "username",
        "action",
        "target",
        "detail",
        "client_address",
    ]

    # Append-only for every role, superusers included: no add, change or delete (nor bulk delete).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
