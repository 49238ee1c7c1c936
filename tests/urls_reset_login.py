"""Routes of the password-reset and Django-login tests.

The names ``password_reset_done``, ``password_reset_confirm`` and
``password_reset_complete`` are the ones that Django's reset views and their email
templates reverse, and that dj-rest-auth reverses for the link in its reset email.
"""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from drf_defender.integrations.django_login import DefenderLoginView
from drf_defender.integrations.password_reset import (
    DefenderDjangoPasswordResetConfirmView,
    DefenderDjangoPasswordResetView,
    DefenderPasswordResetConfirmView,
    DefenderPasswordResetView,
)

# The admin's login template renders without an admin context, so both login views use it.
LOGIN_TEMPLATE = "admin/login.html"

urlpatterns: list[URLPattern] = [
    # dj-rest-auth
    path("api/reset/", DefenderPasswordResetView.as_view(), name="test_rest_password_reset"),
    path(
        "api/reset/confirm/",
        DefenderPasswordResetConfirmView.as_view(),
        name="test_rest_password_reset_confirm",
    ),
    # Django's HTML views
    path(
        "accounts/password_reset/",
        DefenderDjangoPasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "accounts/password_reset/done/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        DefenderDjangoPasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # Django's LoginView, protected by the middleware, and the ready-made protected view
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name=LOGIN_TEMPLATE),
        name="test_django_login",
    ),
    path(
        "accounts/mixin-login/",
        DefenderLoginView.as_view(template_name=LOGIN_TEMPLATE),
        name="test_mixin_login",
    ),
]
