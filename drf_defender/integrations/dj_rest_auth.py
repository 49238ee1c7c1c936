"""dj-rest-auth's login with lockout per username and per IP.

Name the serializer in the settings; dj-rest-auth 5 and later read ``REST_AUTH``, older
versions ``REST_AUTH_SERIALIZERS``, and both accept the same key::

    REST_AUTH = {
        "LOGIN_SERIALIZER": "drf_defender.integrations.dj_rest_auth.DefenderLoginSerializer",
    }

This is the only module of drf-defender that imports dj-rest-auth, which is an optional
dependency: install it with ``pip install "drf-defender[dj-rest-auth]"``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import ValidationError

try:
    from dj_rest_auth.serializers import LoginSerializer
except ImportError as error:
    raise ImproperlyConfigured(
        "drf_defender.integrations.dj_rest_auth needs dj-rest-auth, which is not "
        f"installed ({error}). Install it with: pip install 'drf-defender[dj-rest-auth]'"
    ) from error

from ..guard import begin, username_for_backends
from ..service import Attempt

__all__ = ["DefenderLoginSerializer"]

INTEGRATION_DJ_REST_AUTH = "dj_rest_auth"


class DefenderLoginSerializer(LoginSerializer):
    """dj-rest-auth's ``LoginSerializer`` with lockout.

    dj-rest-auth decides how the user logs in: by username, by email, or by either,
    following django-allauth's login methods when allauth is installed. Every
    credential check goes through ``authenticate()``, so this class starts the attempt
    there, just before the password is checked, and counts it under the identifier
    that the user typed in the field the check used (the email or the username).
    Without allauth, dj-rest-auth looks an email up itself and checks the password of
    the username it finds. That attempt counts under the typed email too, and so does
    an email that matches no account, although no password is checked for it, so that
    the lockout looks the same whether the account exists or not.

    Every response other than the lockout is dj-rest-auth's own: the same status codes
    and error bodies for wrong credentials, missing fields and inactive accounts. An
    inactive account is only reported after its correct password, as dj-rest-auth does,
    and that response counts as a failure.
    """

    integration = INTEGRATION_DJ_REST_AUTH

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        self._defender_typed = attrs
        self._defender_attempt: Attempt | None = None
        self._defender_validating = True
        username = attrs.get("username")
        checked = attrs
        if isinstance(username, str):
            checked = {**attrs, "username": username_for_backends(username)}
        try:
            validated = super().validate(checked)
        except ValidationError:
            attempt = self._defender_attempt or self._begin_without_check(attrs)
            if attempt is not None:
                # Raises LockedOut instead when this failure is over the limit.
                attempt.failed()
            raise
        except BaseException:
            if self._defender_attempt is not None:
                self._defender_attempt.abandon()
            raise
        finally:
            self._defender_validating = False
        if self._defender_attempt is not None:
            self._defender_attempt.succeeded()
        return validated

    def authenticate(self, **kwargs: Any) -> Any:
        if getattr(self, "_defender_validating", False) and self._defender_attempt is None:
            # Raises LockedOut when the client is blocked: the password is not checked.
            self._defender_attempt = begin(
                self.context.get("request"),
                self._typed_identifier(kwargs),
                integration=self.integration,
            )
        return super().authenticate(**kwargs)

    def _typed_identifier(self, credentials: dict[str, Any]) -> str | None:
        """Return the typed value of the field whose value this check uses."""
        email = credentials.get("email")
        if email:
            return str(email)
        username = credentials.get("username")
        if not username:
            return None
        typed_username = self._defender_typed.get("username")
        if typed_username and username == username_for_backends(typed_username):
            return str(typed_username)
        typed_email = self._defender_typed.get("email")
        if typed_email:
            # dj-rest-auth found this username through the typed email.
            return str(typed_email)
        return str(username)

    def _begin_without_check(self, attrs: dict[str, Any]) -> Attempt | None:
        """Start an attempt for a login that dj-rest-auth rejected without a check.

        Without allauth, an email that matches no account (and no username) is rejected
        before any password check. Counting it under the email makes an unknown email
        lock out like a known one. Other rejections without a check are missing
        fields, which are not counted.
        """
        email = attrs.get("email")
        if "allauth" in settings.INSTALLED_APPS or attrs.get("username"):
            return None
        if not (email and attrs.get("password")):
            return None
        return begin(self.context.get("request"), str(email), integration=self.integration)
