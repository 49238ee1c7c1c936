"""Protect a custom credential check with the lockout service.

Three forms, all on top of :meth:`drf_defender.service.LockoutService.begin`:

The context manager::

    with protect(request, username) as attempt:
        user = check_credentials(username, password)  # raises AuthenticationFailed
        attempt.succeeded()

The decorator, for a function that raises on bad credentials::

    @protected(username=lambda request, *args, **kwargs: request.data.get("username"))
    def login_view(request): ...

The function pair::

    attempt = begin(request, username)      # may raise LockedOut
    if credentials_ok:
        attempt.succeeded()
    else:
        attempt.failed()                    # may raise LockedOut

``protect`` and ``protected`` map exceptions as follows. A failure exception
(:data:`FAILURE_EXCEPTIONS`) leaving the block records a failed check and is re-raised,
unless that failure locks the client out: then :class:`~drf_defender.exceptions.LockedOut`
is raised instead. Any other exception gives the reservation back (``abandon``). A block
that ends normally must have called ``attempt.succeeded()`` or ``attempt.failed()``.
If it called neither, nothing is counted, and a warning is both logged and issued as
:class:`UnresolvedAttemptWarning`, so that a forgotten call shows up in tests and logs.

Validate the shape of the input (missing fields) before entering the block: a
``ValidationError`` inside it counts as a failed check.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, Literal, TypeVar, cast

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated, ValidationError

from . import identity
from .keys import SCOPE_LOGIN
from .service import Attempt, get_service

__all__ = [
    "FAILURE_EXCEPTIONS",
    "MAX_BACKEND_USERNAME_LENGTH",
    "Attempt",
    "UnresolvedAttemptWarning",
    "begin",
    "protect",
    "protected",
    "username_for_backends",
]

logger = logging.getLogger(__name__)

#: Exceptions that mean "the credentials were wrong" when they leave a protected block.
FAILURE_EXCEPTIONS: tuple[type[BaseException], ...] = (
    AuthenticationFailed,
    NotAuthenticated,
    ValidationError,
    DjangoPermissionDenied,
)

F = TypeVar("F", bound=Callable[..., Any])

#: Maximum length of a username passed on to the authentication backends. Django's
#: username field has 150 characters and an email address at most 254. Much longer
#: values break some lookups, because SQLite rejects LIKE patterns over 50 000 bytes,
#: and case-insensitive lookups such as django-allauth's build such patterns.
MAX_BACKEND_USERNAME_LENGTH = 1024


class UnresolvedAttemptWarning(RuntimeWarning):
    """A protected block ended without calling ``succeeded()`` or ``failed()``."""


def begin(
    request: HttpRequest | Any | None,
    username: str | None,
    *,
    scope: str = SCOPE_LOGIN,
    integration: str = "custom",
    ip: str | None = None,
) -> Attempt:
    """Start a credential check and return its :class:`Attempt`.

    Raises :class:`~drf_defender.exceptions.LockedOut` when the username or the client
    IP is blocked, before anything is checked. ``request`` may be a Django or a DRF
    request; ``ip`` overrides the client IP read from it. Call exactly one of
    ``attempt.succeeded()``, ``attempt.failed()`` or ``attempt.abandon()`` afterwards.
    """
    return get_service().begin(
        _django_request(request), username=username, ip=ip, scope=scope, integration=integration
    )


class protect:
    """Context manager that wraps one credential check; it yields the :class:`Attempt`.

    ``LockedOut`` is raised on entry when the client is blocked, so the block does not
    run. See the module documentation for how exceptions leaving the block are counted.
    """

    def __init__(
        self,
        request: HttpRequest | Any | None,
        username: str | None,
        *,
        scope: str = SCOPE_LOGIN,
        integration: str = "custom",
        ip: str | None = None,
        failures: tuple[type[BaseException], ...] = FAILURE_EXCEPTIONS,
    ) -> None:
        self.request = request
        self.username = username
        self.scope = scope
        self.integration = integration
        self.ip = ip
        self.failures = failures
        self.attempt: Attempt | None = None

    def __enter__(self) -> Attempt:
        self.attempt = begin(
            self.request,
            self.username,
            scope=self.scope,
            integration=self.integration,
            ip=self.ip,
        )
        return self.attempt

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        attempt = self.attempt
        if attempt is None:
            return False
        if exc is None:
            if not attempt.resolved:
                attempt.abandon()
                _report_unresolved(attempt)
            return False
        if isinstance(exc, self.failures):
            # Raises LockedOut instead when this failure is over the limit.
            attempt.failed()
        else:
            attempt.abandon()
        return False


def protected(
    *,
    username: Callable[..., str | None] | None = None,
    scope: str = SCOPE_LOGIN,
    integration: str = "custom",
    is_success: Callable[[Any], bool] | None = None,
    failures: tuple[type[BaseException], ...] = FAILURE_EXCEPTIONS,
) -> Callable[[F], F]:
    """Decorate a function that checks credentials so that each call is one attempt.

    The request is the first positional argument that is a Django or DRF request (so
    both function views and methods work), or the ``request`` keyword argument.
    ``username`` is called with the function's own arguments and returns the username
    as typed; by default, ``DEFENDER_GET_USERNAME_FROM_REQUEST_PATH`` reads it from the
    request body.

    A failure exception counts as a failed check, as with :class:`protect`. A normal
    return counts as a success, unless ``is_success`` is given and returns False for
    the return value: then the failure is recorded (which may raise ``LockedOut``) and
    the value is returned. Synchronous functions only.
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            request = _find_request(args, kwargs)
            if username is not None:
                typed = username(*args, **kwargs)
            elif request is not None:
                typed = identity.get_username_from_request(request)
            else:
                typed = None
            with protect(
                request, typed, scope=scope, integration=integration, failures=failures
            ) as attempt:
                result = function(*args, **kwargs)
                if is_success is None or is_success(result):
                    attempt.succeeded()
                else:
                    attempt.failed()
            return result

        return cast(F, wrapper)

    return decorate


def username_for_backends(username: str) -> str:
    """Return ``username`` cut to :data:`MAX_BACKEND_USERNAME_LENGTH` characters.

    Pass the result to ``authenticate()`` and the full value to ``begin`` or ``protect``.
    The attempt then counts under the full username, stored as a bounded hash. The
    backends look up a value that matches no account, so the check fails like one for
    any unknown username, with the integration's usual error.
    """
    # NOTE: an account of a custom user model whose username has more than 1024
    # characters cannot log in through the integrations.
    return username[:MAX_BACKEND_USERNAME_LENGTH]


def _django_request(request: Any) -> HttpRequest | None:
    """Return the Django request behind a DRF request (or the request itself)."""
    if request is None:
        return None
    inner = getattr(request, "_request", None)
    return inner if isinstance(inner, HttpRequest) else request


def _find_request(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    for value in (*args, kwargs.get("request")):
        if isinstance(value, HttpRequest) or isinstance(
            getattr(value, "_request", None), HttpRequest
        ):
            return value
    return None


def _report_unresolved(attempt: Attempt) -> None:
    message = (
        "A protected %s credential check ended without attempt.succeeded() or "
        "attempt.failed(); nothing was counted. Call one of them inside the block."
    )
    logger.warning(message, attempt.integration)
    warnings.warn(message % attempt.integration, UnresolvedAttemptWarning, stacklevel=3)
