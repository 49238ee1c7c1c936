"""The one route every system serves: POST /login/ with a JSON username and password."""

from __future__ import annotations

from django.conf import settings
from django.urls import path
from django.utils.module_loading import import_string

login_view = import_string(settings.BENCH_LOGIN_VIEW)

urlpatterns = [path("login/", login_view.as_view(), name="login")]
