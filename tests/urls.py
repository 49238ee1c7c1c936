"""URL configuration of the test suite; tests add their routes to ``urlpatterns``."""

from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("", include("tests.urls_integrations")),
    path("api/defender/", include("drf_defender.admin_api.urls")),
    path("", include("tests.urls_reset_login")),
]
