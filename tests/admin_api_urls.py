"""URLconf of the admin API tests: the admin API and login endpoints of each integration.

Each login endpoint uses one of drf-defender's integrations, so the tests can lock a
client out through real HTTP requests and check the admin API's effect on it. Every
view here is annotated for drf-spectacular, so the schema of this URLconf must
generate without a warning.
"""

from __future__ import annotations

from typing import Any

from dj_rest_auth.views import LoginView
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authentication import BasicAuthentication
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from drf_defender.integrations.dj_rest_auth import DefenderLoginSerializer
from drf_defender.integrations.rest_framework import (
    DefenderBasicAuthentication,
    DefenderObtainAuthToken,
    DefenderTokenAuthentication,
)
from drf_defender.integrations.simplejwt import DefenderTokenObtainPairView

WHO_AM_I = inline_serializer("WhoAmI", fields={"username": serializers.CharField()})


class WhoAmIView(APIView):
    """Return the authenticated user's name."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: WHO_AM_I})
    def get(self, request: Request) -> Response:
        return Response({"username": request.user.get_username()})


class BasicWhoAmIView(WhoAmIView):
    authentication_classes = [DefenderBasicAuthentication]


class TokenWhoAmIView(WhoAmIView):
    authentication_classes = [DefenderTokenAuthentication]


class PlainBasicWhoAmIView(WhoAmIView):
    authentication_classes = [BasicAuthentication]


def _view(cls: type[Any], **initkwargs: Any) -> Any:
    return cls.as_view(**initkwargs)


urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("api/defender/", include("drf_defender.admin_api.urls")),
    path("api/token/", _view(DefenderObtainAuthToken), name="token"),
    path("api/plain-token/", _view(ObtainAuthToken), name="plain-token"),
    path("api/jwt/", _view(DefenderTokenObtainPairView), name="jwt"),
    path(
        "api/jwt-configured/",
        _view(
            TokenObtainPairView,
            _serializer_class="drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer",
        ),
        name="jwt-configured",
    ),
    path(
        "api/rest-auth/login/",
        _view(LoginView, serializer_class=DefenderLoginSerializer),
        name="rest-auth-login",
    ),
    path("api/whoami/basic/", _view(BasicWhoAmIView), name="whoami-basic"),
    path("api/whoami/token/", _view(TokenWhoAmIView), name="whoami-token"),
    path("api/whoami/plain/", _view(PlainBasicWhoAmIView), name="whoami-plain"),
]
