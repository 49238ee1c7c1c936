"""Routes protected by each DRF-side integration, for tests through the real URL conf."""

from __future__ import annotations

from typing import Any

from dj_rest_auth.serializers import LoginSerializer
from dj_rest_auth.views import LoginView
from django.contrib.auth import authenticate
from django.urls import URLPattern, path
from rest_framework.authentication import BaseAuthentication
from rest_framework.authtoken.views import obtain_auth_token as drf_obtain_auth_token
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from drf_defender.guard import protected, username_for_backends
from drf_defender.integrations.rest_framework import obtain_auth_token
from drf_defender.integrations.simplejwt import DefenderTokenObtainPairView


class MeView(APIView):
    """Return the authenticated user, using the current DEFAULT_AUTHENTICATION_CLASSES."""

    permission_classes = [IsAuthenticated]

    def get_authenticators(self) -> list[BaseAuthentication]:
        # APIView copies DEFAULT_AUTHENTICATION_CLASSES when DRF is imported; reading them
        # per request lets tests apply the documented settings with override_settings.
        return [authenticator() for authenticator in api_settings.DEFAULT_AUTHENTICATION_CLASSES]

    def get(self, request: Request) -> Response:
        return Response(
            {
                "username": request.user.get_username(),
                "authenticator": type(request.successful_authenticator).__name__,
            }
        )


class CustomLoginView(APIView):
    """Log in through the custom serializer of the docs' guard recipe."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        # Imported here so that a broken docs page fails the tests that use it, not the
        # URL conf of the whole suite.
        from tests.integrations.recipes import recipe_namespace

        serializer_class = recipe_namespace("custom-serializer")["PasswordLoginSerializer"]
        serializer = serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return Response({"username": serializer.validated_data["user"].get_username()})


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
@protected(integration="custom_decorated")
def decorated_login(request: Request) -> Response:
    """Log in with a function protected by the guard decorator."""
    username = request.data.get("username")
    if isinstance(username, str):
        username = username_for_backends(username)
    user = authenticate(request._request, username=username, password=request.data.get("password"))
    if user is None:
        raise AuthenticationFailed("Wrong username or password.")
    return Response({"username": user.get_username()})


urlpatterns: list[URLPattern] = [
    path("api/me/", MeView.as_view(), name="integrations-me"),
    path("api/auth/token/", obtain_auth_token, name="integrations-token"),
    # DRF's own view, to compare responses with.
    path("api/auth/token/plain/", drf_obtain_auth_token, name="integrations-token-plain"),
    path("api/auth/jwt/", DefenderTokenObtainPairView.as_view(), name="integrations-jwt"),
    # SimpleJWT's own view, protected through SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"].
    path(
        "api/auth/jwt/settings/",
        TokenObtainPairView.as_view(),
        name="integrations-jwt-settings",
    ),
    # dj-rest-auth's view, protected through REST_AUTH["LOGIN_SERIALIZER"].
    path("api/auth/login/", LoginView.as_view(), name="integrations-login"),
    # The same view with dj-rest-auth's own serializer, to compare responses with.
    path(
        "api/auth/login/plain/",
        LoginView.as_view(serializer_class=LoginSerializer),
        name="integrations-login-plain",
    ),
    path("api/custom/login/", CustomLoginView.as_view(), name="integrations-custom"),
    path("api/custom/decorated/", decorated_login, name="integrations-decorated"),
]
