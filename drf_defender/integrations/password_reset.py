"""Lockout protection for password-reset requests and reset confirmations.

Both views count in the "password_reset" scope, whose limit and cool-off are
DEFENDER_PASSWORD_RESET_LIMIT and DEFENDER_PASSWORD_RESET_COOLOFF_TIME. Its counters
are separate from the login counters, so reset traffic never locks a login and login
failures never lock a reset.

Reset requests (dj-rest-auth's ``PasswordResetView``, Django's ``PasswordResetView``):
every well-formed request is counted as one failure of the submitted email address
and of the client IP, whether or not an account has that address. A failure in this
scope therefore means "one reset email requested", not "something went wrong". The
request is counted before any email is sent, so requests 1 to LIMIT send their email
and request LIMIT + 1 and later get the lockout response and send nothing. Because
unknown addresses are counted exactly like known ones, the lockout response is the same
for both, and the normal response stays what the view returns for both. A malformed
address is rejected by the view's own validation and is not counted.

Reset confirmations (dj-rest-auth's and Django's ``PasswordResetConfirmView``): each
check of a token from the client counts. A wrong token or an unknown uid is a failure
of the client IP and of the reset target, whose identity is ``reset-confirm:<email>``
for the uid's user, or ``reset-confirm:uid-<uid>`` when no user has that uid. The
target has a prefix of its own, so that reset requests for an address, which anyone
can send, never block the owner from confirming a token. A valid token is a success.

When a reset completes (the new password is saved), the reset counters of the user's
email are cleared, as a success in the reset scope. A success never lifts an active
block, so an address blocked for too many requests stays blocked until its cool-off
ends. With DEFENDER_PASSWORD_RESET_UNBLOCKS_LOGIN on (the default), a completed reset
also lifts a login block of the user's username and email address: the owner has
proved control of the mailbox and replaced the password that was being guessed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.views import APIView

from ..compat import login_not_required
from ..conf import defender_settings
from ..exceptions import BackendUnavailable, BackendUnavailableResponse, LockedOut
from ..identity import mask_username
from ..keys import KIND_USERNAME, SCOPE_LOGIN, SCOPE_PASSWORD_RESET, get_policy
from ..lockout_page import lockout_page_response, unavailable_page_response
from ..service import Attempt, get_service

logger = logging.getLogger(__name__)

#: Prefix of the identity under which token checks for one reset target are counted.
CONFIRM_IDENTITY_PREFIX = "reset-confirm:"

INTEGRATION_DJ_REST_AUTH_RESET = "dj_rest_auth_password_reset"
INTEGRATION_DJ_REST_AUTH_CONFIRM = "dj_rest_auth_password_reset_confirm"
INTEGRATION_DJANGO_RESET = "django_password_reset"
INTEGRATION_DJANGO_CONFIRM = "django_password_reset_confirm"

#: Actor named in the log when a completed reset lifts a login block.
UNBLOCK_ACTOR = "password reset"


# --------------------------------------------------------------------------------------
# The lockout response


def reset_lockout_message(retry_after: int | None, limit: int | None) -> str:
    """Build the translated message of a password-reset lockout."""
    if retry_after is None:
        wait = str(_("until an administrator unlocks it"))
    else:
        minutes = max(1, math.ceil(retry_after / 60))
        wait = ngettext("for %(n)d minute", "for %(n)d minutes", minutes) % {"n": minutes}
    if limit is None:
        return str(_("Too many password reset attempts: password reset is locked %(wait)s.")) % {
            "wait": wait
        }
    return str(
        _(
            "Too many password reset attempts (the limit is %(limit)d): password reset is "
            "locked %(wait)s."
        )
    ) % {"limit": limit, "wait": wait}


class PasswordResetLockedOut(LockedOut):
    """The lockout response of the reset views: a :class:`LockedOut` with its own message.

    Status, ``Retry-After``, ``code`` and ``retry_after`` are those of the login lockout,
    so clients handle both alike.
    """

    default_detail = _("Too many password reset attempts. Try again later.")

    def __init__(
        self, retry_after: int | None, *, limit: int | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(retry_after, limit=limit, status_code=status_code)
        self.limit = limit
        self.detail["detail"] = ErrorDetail(
            reset_lockout_message(retry_after, limit), code=self.default_code
        )

    @classmethod
    def from_lockout(cls, exc: LockedOut) -> PasswordResetLockedOut:
        """Rewrite a lockout raised by the service for the reset scope."""
        if isinstance(exc, cls):
            return exc
        # A deny-list entry raises without a limit; every other reset lockout comes
        # from the one limit that the reset scope has.
        limit = (
            None
            if exc.retry_after is None
            else get_policy(SCOPE_PASSWORD_RESET).limit(KIND_USERNAME)
        )
        return cls(exc.retry_after, limit=limit, status_code=exc.status_code)


# --------------------------------------------------------------------------------------
# Counting, shared by the views


def count_reset_request(request: HttpRequest, email: str, *, integration: str) -> None:
    """Count one reset request for ``email`` from the client of ``request``.

    Raises :class:`PasswordResetLockedOut` when the address or the IP is over its limit;
    the caller must then send no email.
    """
    try:
        attempt = get_service().begin(
            request, username=email, scope=SCOPE_PASSWORD_RESET, integration=integration
        )
        attempt.failed()
    except LockedOut as exc:
        raise PasswordResetLockedOut.from_lockout(exc) from exc


def confirm_identity(user: Any | None, uid: str) -> str:
    """Return the identity under which token checks for the reset target are counted."""
    if user is not None:
        email = user_email(user)
        if email:
            return f"{CONFIRM_IDENTITY_PREFIX}{email}"
        return f"{CONFIRM_IDENTITY_PREFIX}user-{user.pk}"
    return f"{CONFIRM_IDENTITY_PREFIX}uid-{uid}"


def begin_confirm(request: HttpRequest, user: Any | None, uid: str, *, integration: str) -> Attempt:
    """Start counting a token check; raise :class:`PasswordResetLockedOut` if it must not run."""
    try:
        return get_service().begin(
            request,
            username=confirm_identity(user, uid),
            scope=SCOPE_PASSWORD_RESET,
            integration=integration,
        )
    except LockedOut as exc:
        raise PasswordResetLockedOut.from_lockout(exc) from exc


def record_token_check(attempt: Attempt, valid: bool) -> None:
    """Record the outcome of a token check; raise :class:`PasswordResetLockedOut` when a
    wrong token starts a lockout."""
    if valid:
        attempt.succeeded()
        return
    try:
        attempt.failed()
    except LockedOut as exc:
        raise PasswordResetLockedOut.from_lockout(exc) from exc


def user_email(user: Any) -> str:
    """Return the email address of ``user``, or an empty string."""
    field = "email"
    get_field_name = getattr(type(user), "get_email_field_name", None)
    if callable(get_field_name):
        field = get_field_name()
    value = getattr(user, field, "")
    return value if isinstance(value, str) else ""


def complete_reset(user: Any, *, integration: str) -> None:
    """Clear the reset counters of the user's email after a reset that saved a password.

    With DEFENDER_PASSWORD_RESET_UNBLOCKS_LOGIN, also lift a login block of the user's
    username and email. Backend errors are logged and never raised: the password has
    already changed.
    """
    service = get_service()
    email = user_email(user)
    if email:
        try:
            attempt = service.begin(
                None, username=email, scope=SCOPE_PASSWORD_RESET, integration=integration
            )
        except LockedOut:
            logger.info(
                "drf-defender keeps the password-reset block of %s until it expires",
                mask_username(email),
            )
        except BackendUnavailableResponse:
            logger.warning(
                "drf-defender could not clear the password-reset counters of %s: backend "
                "unavailable",
                mask_username(email),
            )
        else:
            attempt.succeeded()
    if defender_settings.PASSWORD_RESET_UNBLOCKS_LOGIN:
        lift_login_blocks(user)


def lift_login_blocks(user: Any) -> None:
    """Lift a login block of the username and of the email address of ``user``.

    Blocks of IP addresses, and of IP-and-username pairs, stay: an IP is not owned by
    one account.
    """
    service = get_service()
    names = dict.fromkeys(name for name in (user.get_username(), user_email(user)) if name)
    for name in names:
        try:
            if service.status(username=name, scope=SCOPE_LOGIN).blocked:
                service.unblock(KIND_USERNAME, name, scope=SCOPE_LOGIN, actor=UNBLOCK_ACTOR)
        except (BackendUnavailable, ValueError) as error:
            logger.warning(
                "drf-defender could not lift the login block of %s after a password reset: %s",
                mask_username(name),
                error,
            )


def char_field_value(value: object) -> str | None:
    """Return ``value`` as DRF's ``CharField`` would accept it, or None if it would not.

    The confirm view must count every request whose uid and token reach the token
    check, including numbers that ``CharField`` turns into text.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------------------
# Mixins


class DefenderPasswordResetMixin:
    """Count reset requests per email and per IP; put it before the view class.

    Works on dj-rest-auth's ``PasswordResetView`` (a DRF view: the lockout is the JSON
    :class:`PasswordResetLockedOut` response) and on Django's ``PasswordResetView`` (an
    HTML view: the lockout page of :mod:`drf_defender.lockout_page`).
    """

    #: Request field, or form field, that carries the email address.
    defender_email_field = "email"
    #: Name recorded with each attempt; None picks one from the view type.
    defender_integration: str | None = None

    request: HttpRequest

    def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(self, APIView):
            email = self.defender_reset_email(request)
            if email is not None:
                integration = self.defender_integration or INTEGRATION_DJ_REST_AUTH_RESET
                count_reset_request(request, email, integration=integration)
        return super().post(request, *args, **kwargs)  # type: ignore[misc]

    def defender_reset_email(self, request: Any) -> str | None:
        """Return the email address of a DRF reset request, or None if it is invalid.

        The address is validated like dj-rest-auth's serializer does (DRF's
        ``EmailField``); a request that fails this check gets the view's 400 and is not
        counted. Override this for a serializer with other rules.
        """
        data = request.data
        if not isinstance(data, Mapping):
            return None
        try:
            value = serializers.EmailField().run_validation(data.get(self.defender_email_field))
        except serializers.ValidationError:
            return None
        return value if isinstance(value, str) and value else None

    def form_valid(self, form: Any) -> HttpResponse:
        # Only Django's FormView calls form_valid(); DRF views count in post().
        email = form.cleaned_data.get(self.defender_email_field)
        if isinstance(email, str) and email:
            integration = self.defender_integration or INTEGRATION_DJANGO_RESET
            try:
                count_reset_request(self.request, email, integration=integration)
            except LockedOut as exc:
                return lockout_page_response(self.request, exc, scope=SCOPE_PASSWORD_RESET)
            except BackendUnavailableResponse as exc:
                return unavailable_page_response(self.request, exc)
        response: HttpResponse = super().form_valid(form)  # type: ignore[misc]
        return response


class DefenderPasswordResetConfirmMixin:
    """Count token checks per IP and per reset target; put it before the view class.

    On dj-rest-auth's ``PasswordResetConfirmView`` the uid and token come from the
    request body, and a check happens when both are present. On Django's
    ``PasswordResetConfirmView`` a check happens when the URL carries a token (the link
    from the email) rather than the ``set-password`` placeholder of the form step.
    """

    defender_integration: str | None = None

    request: HttpRequest

    @method_decorator(login_not_required)
    @method_decorator(sensitive_post_parameters())
    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self, APIView):
            lockout_response = self._defender_check_link(request, kwargs)
            if lockout_response is not None:
                return lockout_response
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    # --- dj-rest-auth ---------------------------------------------------------------

    def post(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(self, APIView):
            return super().post(request, *args, **kwargs)  # type: ignore[misc]
        data = request.data
        uid = token = None
        if isinstance(data, Mapping):
            uid = char_field_value(data.get("uid"))
            token = char_field_value(data.get("token"))
        if uid is None or token is None:
            # The serializer rejects the request before it checks any token.
            return super().post(request, *args, **kwargs)

        integration = self.defender_integration or INTEGRATION_DJ_REST_AUTH_CONFIRM
        user = self.defender_get_user(uid)
        attempt = begin_confirm(request, user, uid, integration=integration)
        valid = user is not None and self.defender_check_token(user, token)
        record_token_check(attempt, valid)

        response = super().post(request, *args, **kwargs)
        if valid and 200 <= response.status_code < 300:
            complete_reset(user, integration=integration)
        return response

    # --- Django ---------------------------------------------------------------------

    def _defender_check_link(self, request: HttpRequest, kwargs: dict[str, Any]) -> Any:
        uidb64 = kwargs.get("uidb64")
        token = kwargs.get("token")
        if not isinstance(uidb64, str) or not isinstance(token, str):
            return None
        if token == getattr(self, "reset_url_token", None):
            # The form step: its token was checked, and counted, on the link request.
            return None
        integration = self.defender_integration or INTEGRATION_DJANGO_CONFIRM
        user = self.defender_get_user(uidb64)
        try:
            attempt = begin_confirm(request, user, uidb64, integration=integration)
            valid = user is not None and self.defender_check_token(user, token)
            record_token_check(attempt, valid)
        except LockedOut as exc:
            return lockout_page_response(request, exc, scope=SCOPE_PASSWORD_RESET)
        except BackendUnavailableResponse as exc:
            return unavailable_page_response(request, exc)
        return None

    def form_valid(self, form: Any) -> HttpResponse:
        # Only Django's view calls form_valid(), after it saved the new password.
        response: HttpResponse = super().form_valid(form)  # type: ignore[misc]
        user = getattr(self, "user", None)
        if user is not None:
            complete_reset(
                user, integration=self.defender_integration or INTEGRATION_DJANGO_CONFIRM
            )
        return response

    # --- hooks ----------------------------------------------------------------------

    def defender_get_user(self, uid: str) -> Any | None:
        """Return the user that ``uid`` names, decoded as the view decodes it, or None."""
        if isinstance(self, APIView):
            from .password_reset_dj_rest_auth import user_from_uid

            return user_from_uid(uid)
        return self.get_user(uid)  # type: ignore[attr-defined]

    def defender_check_token(self, user: Any, token: str) -> bool:
        """Return whether ``token`` is valid for ``user``, checked as the view checks it."""
        if isinstance(self, APIView):
            from .password_reset_dj_rest_auth import check_token

            return check_token(user, token)
        return bool(self.token_generator.check_token(user, token))  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------
# Ready-made views


class DefenderDjangoPasswordResetView(DefenderPasswordResetMixin, auth_views.PasswordResetView):
    """Django's ``PasswordResetView`` with reset requests counted."""

    defender_integration = INTEGRATION_DJANGO_RESET


class DefenderDjangoPasswordResetConfirmView(
    DefenderPasswordResetConfirmMixin, auth_views.PasswordResetConfirmView
):
    """Django's ``PasswordResetConfirmView`` with token checks counted."""

    defender_integration = INTEGRATION_DJANGO_CONFIRM


# The dj-rest-auth views live in a module of their own, imported on first use, so that
# this module imports without dj-rest-auth installed.
_DJ_REST_AUTH_VIEWS = ("DefenderPasswordResetView", "DefenderPasswordResetConfirmView")


def __getattr__(name: str) -> Any:
    if name in _DJ_REST_AUTH_VIEWS:
        from . import password_reset_dj_rest_auth

        return getattr(password_reset_dj_rest_auth, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
