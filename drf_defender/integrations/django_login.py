"""Lockout protection for Django's login form and the Django admin login.

Add one line to ``MIDDLEWARE``::

    "drf_defender.integrations.django_login.DefenderLoginMiddleware",

The middleware watches POST requests to the login view of every ``AdminSite`` and to
every view class derived from ``django.contrib.auth.views.LoginView``. A view that does
not derive from ``LoginView`` can use :class:`DefenderLoginViewMixin` instead.

Each watched POST starts an attempt in the "login" scope before the view runs, under
the same username and IP counters as the API integrations. A blocked subject gets the
HTML lockout page (see :mod:`drf_defender.lockout_page`) and the view never runs, so
the password is not checked. Otherwise the outcome comes from Django's auth signals:
``user_login_failed`` (sent by ``authenticate()`` when no backend accepts the
credentials) records a failure and ``user_logged_in`` a success. A request that sends
neither signal, such as a form without a password or a correct password of an account
that the admin refuses, gives its reservation back and is not counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib.admin.sites import AdminSite
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.contrib.auth.views import LoginView
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator

from ..compat import login_not_required
from ..conf import defender_settings
from ..exceptions import BackendUnavailableResponse, LockedOut
from ..guard import MAX_BACKEND_USERNAME_LENGTH, username_for_backends
from ..identity import get_username_from_request
from ..keys import SCOPE_LOGIN
from ..lockout_page import lockout_page_response, unavailable_page_response
from ..service import Attempt, get_service

logger = logging.getLogger(__name__)

INTEGRATION_DJANGO_LOGIN = "django_login"
INTEGRATION_DJANGO_ADMIN = "django_admin"

# Request attributes that carry the attempt from the view to the auth signal receivers.
_ATTEMPT_ATTRIBUTE = "_drf_defender_login_attempt"
_LOCKOUT_ATTRIBUTE = "_drf_defender_login_lockout"


def login_integration(view_func: Callable[..., Any]) -> str | None:
    """Return the integration name under which ``view_func`` is protected, or None.

    Views that apply :class:`DefenderLoginViewMixin` themselves return None, so that
    the middleware and the mixin never count one request twice.
    """
    view_class = getattr(view_func, "view_class", None)
    if isinstance(view_class, type):
        if getattr(view_class, "defender_protects_login", False):
            return None
        if issubclass(view_class, LoginView):
            return INTEGRATION_DJANGO_LOGIN
        return None
    site = getattr(view_func, "__self__", None)
    if isinstance(site, AdminSite) and getattr(view_func, "__name__", None) == "login":
        return INTEGRATION_DJANGO_ADMIN
    return None


def start_login_attempt(request: HttpRequest, integration: str) -> HttpResponse | None:
    """Start counting a login POST; return the lockout page if it must not go on.

    Returns None for other methods and for an attempt that may proceed. Works with a
    plain ``HttpRequest``: the username comes from ``request.POST`` through
    DEFENDER_GET_USERNAME_FROM_REQUEST_PATH.
    """
    if request.method != "POST":
        return None
    username = get_username_from_request(request)
    try:
        attempt = get_service().begin(
            request, username=username, scope=SCOPE_LOGIN, integration=integration
        )
    except LockedOut as exc:
        return lockout_page_response(request, exc, scope=SCOPE_LOGIN)
    except BackendUnavailableResponse as exc:
        return unavailable_page_response(request, exc)
    _bound_username_fields(request)
    setattr(request, _ATTEMPT_ATTRIBUTE, attempt)
    return None


def _bound_username_fields(request: HttpRequest) -> None:
    """Cut over-long usernames in ``request.POST`` before the login form reads them.

    The attempt counts under the full value; the form then passes the cut value to
    ``authenticate()``, which matches no account and fails as usual. Without the cut,
    a case-insensitive lookup (django-allauth's backend builds a LIKE pattern) fails
    on SQLite for values over 50 000 bytes and the login page returns 500.
    """
    post = request.POST
    fields = [
        name
        for name in dict.fromkeys(("username", defender_settings.USERNAME_FORM_FIELD))
        if any(len(value) > MAX_BACKEND_USERNAME_LENGTH for value in post.getlist(name))
    ]
    if not fields:
        return
    bounded = post.copy()
    for name in fields:
        bounded.setlist(name, [username_for_backends(value) for value in post.getlist(name)])
    bounded._mutable = False
    request.POST = bounded  # type: ignore[assignment]


def finish_login_attempt(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """End the attempt of ``request`` and return the response to send.

    That is the lockout page if a failure in this request started a lockout, else
    ``response``. An attempt that no auth signal resolved gives its reservation back.
    """
    lockout = discard_login_attempt(request)
    if lockout is not None:
        return lockout_page_response(request, lockout, scope=SCOPE_LOGIN)
    return response


def discard_login_attempt(request: HttpRequest) -> LockedOut | None:
    """Remove the attempt from ``request``, abandoning it if unresolved; return its lockout."""
    attempt: Attempt | None = request.__dict__.pop(_ATTEMPT_ATTRIBUTE, None)
    lockout: LockedOut | None = request.__dict__.pop(_LOCKOUT_ATTRIBUTE, None)
    if attempt is not None and not attempt.resolved:
        attempt.abandon()
    return lockout


def _pending_attempt(request: object) -> Attempt | None:
    # DRF views call authenticate() with a DRF Request; those checks belong to the DRF
    # integrations, so only a plain HttpRequest is looked at.
    if not isinstance(request, HttpRequest):
        return None
    attempt: Attempt | None = request.__dict__.get(_ATTEMPT_ATTRIBUTE)
    if attempt is None or attempt.resolved:
        return None
    return attempt


@receiver(user_login_failed, dispatch_uid="drf_defender.django_login.failure")
def record_login_failure(sender: Any, request: object = None, **kwargs: Any) -> None:
    """Record the failure of a watched login; the lockout response is sent after the view."""
    attempt = _pending_attempt(request)
    if attempt is None:
        return
    try:
        attempt.failed()
    except LockedOut as exc:
        # Raising here would travel through the form's clean(); the page is swapped
        # for the lockout page in finish_login_attempt() instead.
        setattr(request, _LOCKOUT_ATTRIBUTE, exc)


@receiver(user_logged_in, dispatch_uid="drf_defender.django_login.success")
def record_login_success(sender: Any, request: object = None, **kwargs: Any) -> None:
    """Record the success of a watched login."""
    attempt = _pending_attempt(request)
    if attempt is not None:
        attempt.succeeded()


class DefenderLoginMiddleware:
    """Protect the admin login and every ``LoginView`` with the lockout service."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        return finish_login_attempt(request, response)

    def process_view(
        self,
        request: HttpRequest,
        view_func: Callable[..., Any],
        view_args: tuple[Any, ...],
        view_kwargs: dict[str, Any],
    ) -> HttpResponse | None:
        integration = login_integration(view_func)
        if integration is None:
            return None
        return start_login_attempt(request, integration)


class DefenderLoginViewMixin:
    """Protect a class-based login view without the middleware.

    Put it before the view class: ``class MyLogin(DefenderLoginViewMixin, LoginView)``.
    The view must check credentials with ``django.contrib.auth.authenticate()`` and log
    the user in with ``login()``, because the outcome comes from their signals.
    """

    defender_integration: str = INTEGRATION_DJANGO_LOGIN
    #: Tells the middleware that this view counts its own attempts.
    defender_protects_login = True

    # Overriding dispatch() drops the marker that Django 5.1+ puts on LoginView's
    # dispatch(), so it is set again for LoginRequiredMiddleware.
    @method_decorator(login_not_required)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        lockout_response = start_login_attempt(request, self.defender_integration)
        if lockout_response is not None:
            return lockout_response
        try:
            response: HttpResponse = super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except BaseException:
            discard_login_attempt(request)
            raise
        return finish_login_attempt(request, response)


class DefenderLoginView(DefenderLoginViewMixin, LoginView):
    """Django's ``LoginView`` with lockout protection, for projects without the middleware."""
