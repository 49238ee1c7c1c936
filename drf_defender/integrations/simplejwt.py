"""SimpleJWT's token-pair login with lockout per username and per IP.

Either route the login URL to :class:`DefenderTokenObtainPairView`, or keep SimpleJWT's
``TokenObtainPairView`` and set ``SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"]`` to
``"drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer"``.

This is the only module of drf-defender that imports SimpleJWT, which is an optional
dependency: install it with ``pip install "drf-defender[simplejwt]"``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

try:
    from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
    from rest_framework_simplejwt.views import TokenObtainPairView
except ImportError as error:
    raise ImproperlyConfigured(
        "drf_defender.integrations.simplejwt needs djangorestframework-simplejwt, which "
        f"is not installed ({error}). Install it with: pip install 'drf-defender[simplejwt]'"
    ) from error

from ..guard import protect, username_for_backends
from ..parsers import DEFAULT_PARSERS

__all__ = ["DefenderTokenObtainPairSerializer", "DefenderTokenObtainPairView"]

INTEGRATION_SIMPLEJWT = "simplejwt"


class DefenderTokenObtainPairSerializer(TokenObtainPairSerializer):
    """SimpleJWT's ``TokenObtainPairSerializer`` with lockout.

    Wrong credentials keep SimpleJWT's 401 ``no_active_account`` error and count as a
    failure for the username (the ``USERNAME_FIELD`` value as typed) and the client
    IP. A locked-out client gets ``LockedOut`` before the password is checked.
    """

    integration = INTEGRATION_SIMPLEJWT

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        username = attrs.get(self.username_field)
        request = self.context.get("request")
        if isinstance(username, str):
            attrs = {**attrs, self.username_field: username_for_backends(username)}
        with protect(request, username, integration=self.integration) as attempt:
            data = super().validate(attrs)
            attempt.succeeded()
        return data


class DefenderTokenObtainPairView(TokenObtainPairView):
    """SimpleJWT's ``TokenObtainPairView`` using :class:`DefenderTokenObtainPairSerializer`."""

    serializer_class = DefenderTokenObtainPairSerializer
    parser_classes = DEFAULT_PARSERS
