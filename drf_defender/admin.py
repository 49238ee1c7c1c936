"""Read-only Django admin page for the access-attempt log.

Rows are written by drf-defender and deleted by ``cleanup_django_defender``, so the
page grants no add, change or delete permission, superusers included. The search box
matches a whole username (normalised as at login) or a whole IP address on the indexed
columns, because a substring search would scan the whole table.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from . import identity
from .models import AccessAttempt
from .service import admin_username_key


@admin.register(AccessAttempt)
class AccessAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "attempt_time",
        "username",
        "ip_address",
        "login_valid",
        "locked_out",
        "integration",
        "scope",
        "path_info",
    )
    list_filter = ("login_valid", "locked_out", "scope", "integration")
    search_fields = ("username_normalized", "ip_address")
    search_help_text = "A whole username or IP address."
    date_hierarchy = "attempt_time"
    ordering = ("-attempt_time",)
    list_per_page = 100
    # Skips the extra COUNT of the whole table behind "N total" when a filter is applied;
    # the paginator still counts the filtered rows.
    show_full_result_count = False
    readonly_fields = [field.name for field in AccessAttempt._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AccessAttempt], search_term: str
    ) -> tuple[QuerySet[AccessAttempt], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        ip = identity.canonical_ip(term)
        if ip is not None:
            return queryset.filter(ip_address=ip), False
        key = admin_username_key(term)
        if not key:
            return queryset.none(), False
        return queryset.filter(username_normalized=key), False
