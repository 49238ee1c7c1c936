"""Routes of the demo project; every login route is protected by drf-defender."""

from __future__ import annotations

from demo.views import MeView, password_reset_link
from dj_rest_auth.views import LoginView, LogoutView
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from drf_defender.integrations.password_reset import (
    DefenderPasswordResetConfirmView,
    DefenderPasswordResetView,
)
from drf_defender.integrations.rest_framework import DefenderObtainAuthToken
from drf_defender.integrations.simplejwt import DefenderTokenObtainPairView

urlpatterns: list[URLPattern | URLResolver] = [
    # Protected by DefenderLoginMiddleware.
    path("admin/", admin.site.urls),
    # dj-rest-auth's view, which REST_AUTH["LOGIN_SERIALIZER"] protects.
    path("api/auth/login/", LoginView.as_view(), name="login"),
    path("api/auth/logout/", LogoutView.as_view(), name="logout"),
    path("api/auth/token/", DefenderObtainAuthToken.as_view(), name="token"),
    path("api/auth/jwt/", DefenderTokenObtainPairView.as_view(), name="jwt"),
    path(
        "api/auth/password/reset/",
        DefenderPasswordResetView.as_view(),
        name="password-reset",
    ),
    path(
        "api/auth/password/reset/confirm/",
        DefenderPasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    # The link in the reset email; Django's email template needs this URL name.
    path(
        "api/auth/password/reset/link/<str:uidb64>/<str:token>/",
        password_reset_link,
        name="password_reset_confirm",
    ),
    path("api/me/", MeView.as_view(), name="me"),
    path("api/defender/", include("drf_defender.admin_api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]
