"""Django REST framework's Basic and Token authentication and obtain-token login, with lockout.

``DefenderBasicAuthentication`` and ``DefenderTokenAuthentication`` replace DRF's
``BasicAuthentication`` and ``TokenAuthentication`` in ``DEFAULT_AUTHENTICATION_CLASSES``
or a view's ``authentication_classes``; ``DefenderObtainAuthToken`` (or the
``obtain_auth_token`` view function) replaces DRF's ``ObtainAuthToken``.

A locked-out client gets :class:`~drf_defender.exceptions.LockedOut` (HTTP 429 by
default, with ``Retry-After``) before any password or token is looked at. Every other
response keeps DRF's status code and ``WWW-Authenticate`` header. An ``Authorization``
header that cannot be parsed always gets a 401, also for inputs that make DRF's own
classes fail with a 500, such as a NUL character in the user id on PostgreSQL.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BasicAuthentication, TokenAuthentication
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from ..guard import begin, protect, username_for_backends
from ..service import get_service

__all__ = [
    "DefenderAuthTokenSerializer",
    "DefenderBasicAuthentication",
    "DefenderObtainAuthToken",  # noqa: F822 - served by __getattr__
    "DefenderTokenAuthentication",
    "authorization_header",
    "decode_basic_credentials",
    "obtain_auth_token",  # noqa: F822 - served by __getattr__
]

INTEGRATION_BASIC = "basic"
INTEGRATION_TOKEN = "token"  # noqa: S105 - an integration name, not a secret
INTEGRATION_OBTAIN_TOKEN = "obtain_token"  # noqa: S105 - an integration name, not a secret

MESSAGE_NO_CREDENTIALS = _("Invalid authorization header. No credentials were given.")
MESSAGE_SPACES = _("Invalid authorization header. The credentials must not contain spaces.")
MESSAGE_BASIC_ENCODING = _(
    "Invalid Basic authorization header. The credentials must be base64 of user-id:password."
)
MESSAGE_BASIC_USER_ID = _("Invalid Basic authorization header. The user id is empty or invalid.")
MESSAGE_TOKEN_CHARACTERS = _("Invalid token header. The token contains invalid characters.")


def authorization_header(request: Request | HttpRequest) -> bytes:
    """Return the ``Authorization`` header as the bytes the client sent.

    WSGI and ASGI servers hand header bytes to Django as Latin-1 text, so encoding as
    Latin-1 restores them. A character above U+00FF cannot come from a server (only
    from test code) and becomes ``?``, which no valid credential contains.
    """
    value = request.META.get("HTTP_AUTHORIZATION", b"")
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("latin-1", errors="replace")
    return b""


def decode_basic_credentials(encoded: bytes) -> tuple[str, str] | None:
    """Decode the base64 part of a Basic header into ``(user_id, password)``, or None.

    The base64 must be strict (no characters outside the alphabet, correct padding).
    The decoded bytes are read as UTF-8 and, if they are not valid UTF-8, as Latin-1,
    as DRF does, so clients that send either encoding keep working. The value is split
    at the first colon only, so a password may contain colons. A value without a colon
    is invalid: it is never read as a user id with an empty password.
    """
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    user_id, colon, password = text.partition(":")
    if not colon:
        return None
    return user_id, password


def _has_control_characters(text: str) -> bool:
    # Control characters (NUL above all) make PostgreSQL raise on the user lookup.
    return any(unicodedata.category(char) == "Cc" for char in text)


def _count_malformed(request: Request, integration: str, message: Any) -> AuthenticationFailed:
    """Record a failure for the client IP only, and return the 401 error to raise.

    No username can be read from a malformed header, so none is counted. The failure
    may lock the IP out, in which case ``LockedOut`` is raised here instead.
    """
    begin(request, None, integration=integration).failed()
    return AuthenticationFailed(message)


class DefenderBasicAuthentication(BasicAuthentication):
    """DRF's ``BasicAuthentication`` with lockout per username and per IP.

    Each request with a Basic header is one attempt. A blocked username or IP gets
    ``LockedOut`` before the password is checked. A wrong password, or a valid
    password of an inactive account, counts as a failure for the username and the IP,
    and so does a user id with control characters, which is rejected without a check.
    A header that cannot be parsed, or has an empty user id, gets a 401 and counts for
    the IP only.

    The service lets at most LIMIT + 1 checks of one username or IP run at once, so a
    client that sends more concurrent requests with the same credentials gets
    ``LockedOut`` for the extra ones. Use token or JWT authentication for clients
    that send many requests in parallel.
    """

    integration = INTEGRATION_BASIC

    def authenticate(self, request: Request) -> tuple[AbstractBaseUser, None] | None:
        parts = authorization_header(request).split()
        if not parts or parts[0].lower() != b"basic":
            return None
        if len(parts) == 1:
            raise _count_malformed(request, self.integration, MESSAGE_NO_CREDENTIALS)
        if len(parts) > 2:
            raise _count_malformed(request, self.integration, MESSAGE_SPACES)

        credentials = decode_basic_credentials(parts[1])
        if credentials is None:
            raise _count_malformed(request, self.integration, MESSAGE_BASIC_ENCODING)
        user_id, password = credentials
        if not user_id.strip():
            raise _count_malformed(request, self.integration, MESSAGE_BASIC_USER_ID)

        with protect(request, user_id, integration=self.integration) as attempt:
            if _has_control_characters(user_id):
                # No account has such a name, and PostgreSQL rejects NUL in a lookup.
                raise AuthenticationFailed(MESSAGE_BASIC_USER_ID)
            result = self.authenticate_credentials(
                username_for_backends(user_id), password, request
            )
            attempt.succeeded()
        return result


class DefenderTokenAuthentication(TokenAuthentication):
    """DRF's ``TokenAuthentication`` with lockout per IP for invalid tokens.

    A request from a blocked IP gets ``LockedOut`` before the token is looked up, so
    it costs no database query. An unknown token, a token of an inactive user, and a
    header that cannot be parsed each count as one failure for the IP; no username is
    counted. A valid token counts nothing and takes no reservation, so any number of
    concurrent requests of one client pass. Tokens are too long to guess, which makes
    the race bound that passwords get unnecessary here. Set ``keyword`` in a subclass
    for another scheme name, as with DRF's class.
    """

    integration = INTEGRATION_TOKEN

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode("latin-1"):
            return None
        if len(parts) == 1:
            raise _count_malformed(request, self.integration, MESSAGE_NO_CREDENTIALS)
        if len(parts) > 2:
            raise _count_malformed(request, self.integration, MESSAGE_SPACES)
        try:
            key = parts[1].decode("utf-8")
        except UnicodeDecodeError:
            raise _count_malformed(request, self.integration, MESSAGE_TOKEN_CHARACTERS) from None
        if _has_control_characters(key):
            raise _count_malformed(request, self.integration, MESSAGE_TOKEN_CHARACTERS)

        get_service().check(_django_request(request), integration=self.integration)
        try:
            return self.authenticate_credentials(key)
        except AuthenticationFailed:
            begin(request, None, integration=self.integration).failed()
            raise


class DefenderAuthTokenSerializer(AuthTokenSerializer):
    """DRF's ``AuthTokenSerializer`` with lockout per username and per IP.

    Missing or blank fields get DRF's 400 errors without being counted. Wrong
    credentials get DRF's 400 error and count as a failure; a locked-out client gets
    ``LockedOut`` before the password is checked.
    """

    integration = INTEGRATION_OBTAIN_TOKEN

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username = attrs.get("username")
        if not (username and attrs.get("password")):
            # DRF's own error for missing credentials; no check happens, so none is counted.
            return super().validate(attrs)
        request = self.context.get("request")
        with protect(request, username, integration=self.integration) as attempt:
            validated = super().validate({**attrs, "username": username_for_backends(username)})
            attempt.succeeded()
        return validated


#: Names served by :mod:`drf_defender.integrations.rest_framework_views` on first access.
_VIEW_NAMES = ("DefenderObtainAuthToken", "obtain_auth_token")


def __getattr__(name: str) -> Any:
    # DRF resolves DEFAULT_AUTHENTICATION_CLASSES, and so imports this module, while
    # rest_framework.views is still being imported. Importing DRF's views here at import
    # time would be a circular import, so the obtain-token view loads on first access.
    if name in _VIEW_NAMES:
        from . import rest_framework_views

        return getattr(rest_framework_views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _django_request(request: Request | HttpRequest) -> HttpRequest:
    inner = getattr(request, "_request", None)
    return inner if isinstance(inner, HttpRequest) else request
