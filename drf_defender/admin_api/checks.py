"""System check that the admin API is routed when DEFENDER_ADMIN_API_ENABLED is True."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error, Tags, register
from django.urls import NoReverseMatch, reverse

from ..conf import defender_settings

#: Any route of the admin API; reversing it shows whether the URLconf is included.
PROBE_ROUTE = "drf_defender_admin:summary"


@register(Tags.urls, "drf_defender")
def check_admin_api_urls(**kwargs: Any) -> list[CheckMessage]:
    if not defender_settings.ADMIN_API_ENABLED:
        return []
    try:
        reverse(PROBE_ROUTE)
    except NoReverseMatch:
        return [
            Error(
                "DEFENDER_ADMIN_API_ENABLED is True, but the URLconf does not include "
                "drf_defender.admin_api.urls, so every admin API request gets 404.",
                hint='Add path("api/defender/", include("drf_defender.admin_api.urls")) to '
                "ROOT_URLCONF, or set DEFENDER_ADMIN_API_ENABLED = False.",
                id="drf_defender.E201",
            )
        ]
    return []
