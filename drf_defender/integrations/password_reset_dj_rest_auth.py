"""dj-rest-auth password-reset views with lockout protection.

This module imports dj-rest-auth; :mod:`drf_defender.integrations.password_reset`
re-exports its views on first access, so the mixins there import without it.
"""

from __future__ import annotations

from typing import Any

from dj_rest_auth.views import PasswordResetConfirmView, PasswordResetView
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.encoding import force_str
from django.utils.http import urlsafe_base64_decode

from .password_reset import (
    INTEGRATION_DJ_REST_AUTH_CONFIRM,
    INTEGRATION_DJ_REST_AUTH_RESET,
    DefenderPasswordResetConfirmMixin,
    DefenderPasswordResetMixin,
)


def _allauth_installed() -> bool:
    # dj-rest-auth's serializers switch to allauth's uid encoding and token generator
    # by the same test.
    return apps.is_installed("allauth")


def user_from_uid(uid: str) -> Any | None:
    """Return the user that ``uid`` names, decoded as dj-rest-auth's serializer does."""
    user_model = get_user_model()
    try:
        if _allauth_installed():
            from allauth.account.utils import url_str_to_user_pk

            pk = url_str_to_user_pk(uid)
        else:
            pk = force_str(urlsafe_base64_decode(uid))
        return user_model._default_manager.get(pk=pk)
    except (TypeError, ValueError, OverflowError, ValidationError, user_model.DoesNotExist):
        return None


def check_token(user: Any, token: str) -> bool:
    """Return whether ``token`` is valid for ``user`` with dj-rest-auth's token generator."""
    if _allauth_installed():
        from allauth.account.forms import default_token_generator
    else:
        from django.contrib.auth.tokens import default_token_generator
    return bool(default_token_generator.check_token(user, token))


class DefenderPasswordResetView(DefenderPasswordResetMixin, PasswordResetView):
    """dj-rest-auth's ``PasswordResetView`` with reset requests counted."""

    defender_integration = INTEGRATION_DJ_REST_AUTH_RESET


class DefenderPasswordResetConfirmView(DefenderPasswordResetConfirmMixin, PasswordResetConfirmView):
    """dj-rest-auth's ``PasswordResetConfirmView`` with token checks counted."""

    defender_integration = INTEGRATION_DJ_REST_AUTH_CONFIRM
