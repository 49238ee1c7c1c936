"""Login views of the systems that need code around DRF's token view.

Plain DRF and django-axes use ``rest_framework.authtoken.views.ObtainAuthToken`` as it
is, and drf-defender its drop-in ``DefenderObtainAuthToken``. django-defender has no
DRF integration. Its README shows how to adapt it to custom authentication with three
calls around the credential check, and ``DjangoDefenderObtainAuthToken`` makes exactly
those calls. Peer packages are imported inside the functions that use them, so that no
system's process loads another's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from rest_framework import status
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response

TRUSTED_PROXY = "127.0.0.1"


def client_ip_behind_one_proxy(request: HttpRequest) -> str | None:
    """Return the client address when one trusted proxy on 127.0.0.1 may forward it.

    django-axes reads the client IP through this callable (AXES_CLIENT_IP_CALLABLE), so
    that it applies the same rule as the other systems: the right-most X-Forwarded-For
    entry when the peer is the trusted proxy, REMOTE_ADDR otherwise.
    """
    meta = request.META
    peer = meta.get("REMOTE_ADDR")
    forwarded = meta.get("HTTP_X_FORWARDED_FOR")
    if peer == TRUSTED_PROXY and forwarded:
        return str(forwarded).rsplit(",", 1)[-1].strip()
    return peer


def _submitted_username(request: Request) -> str | None:
    data = request.data
    if isinstance(data, Mapping):
        value = data.get("username")
        return value if isinstance(value, str) else None
    return None


class DjangoDefenderObtainAuthToken(ObtainAuthToken):
    """DRF's token view with django-defender's README wiring for custom authentication.

    Before the check: ``is_already_locked``; after it: ``add_login_attempt_to_db`` and
    ``check_request``; a blocked client gets AuthenticationFailed, as in the README.
    """

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from defender import config, utils
        from rest_framework.exceptions import AuthenticationFailed

        username = _submitted_username(request)
        if utils.is_already_locked(request, username=username):
            raise AuthenticationFailed(
                f"You have attempted to login {config.FAILURE_LIMIT} times with no success."
            )
        serializer = self.get_serializer(data=request.data)
        valid = serializer.is_valid()
        utils.add_login_attempt_to_db(request, login_valid=valid, username=username)
        not_blocked = utils.check_request(request, login_unsuccessful=not valid, username=username)
        if not valid or not not_blocked:
            return Response(serializer.errors, status=status.HTTP_400_BAD_REQUEST)
        token, _created = Token.objects.get_or_create(user=serializer.validated_data["user"])
        return Response({"token": token.key})
