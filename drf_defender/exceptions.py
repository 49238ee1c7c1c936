"""Exceptions raised by drf-defender."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework import status
from rest_framework.exceptions import APIException, ErrorDetail


class DefenderError(Exception):
    """Base class of drf-defender's own errors."""


class BackendUnavailable(DefenderError):
    """The lockout backend could not be reached or timed out.

    The driver's exception is chained as ``__cause__``.
    """


class LockedOut(APIException):
    """The client is locked out after too many failed attempts.

    DRF's exception handler turns ``wait`` into a ``Retry-After`` header. The body is
    ``{"detail": ..., "code": "locked_out", "retry_after": <seconds or null>}``; it is the
    same whichever subject (username, IP or both) is blocked, so it reveals nothing
    about accounts. ``retry_after`` is null for a lockout that lasts until an
    administrator lifts it.
    """

    status_code: int = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "locked_out"
    default_detail = _("Too many failed login attempts. Try again later.")

    def __init__(
        self,
        retry_after: int | None,
        *,
        limit: int | None = None,
        status_code: int | None = None,
    ) -> None:
        message = lockout_message(retry_after, limit)
        super().__init__(detail=message, code=self.default_code)
        if status_code is not None:
            self.status_code = status_code
        self.retry_after = retry_after
        #: The failure limit that was reached, when known.
        self.limit = limit
        self.wait: int | None = retry_after if retry_after and retry_after > 0 else None
        # Set after construction: DRF's constructor turns every value into a string.
        self.detail: Any = {
            "detail": ErrorDetail(message, code=self.default_code),
            "code": self.default_code,
            "retry_after": retry_after,
        }


class BackendUnavailableResponse(APIException):
    """The lockout backend is down and the failure policy is "closed"."""

    status_code: int = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "lockout_backend_unavailable"
    default_detail = _("Login is temporarily unavailable. Try again in a moment.")

    def __init__(self, status_code: int | None = None) -> None:
        super().__init__()
        if status_code is not None:
            self.status_code = status_code
        self.detail: Any = {
            "detail": ErrorDetail(str(self.default_detail), code=self.default_code),
            "code": self.default_code,
        }


def lockout_message(retry_after: int | None, limit: int | None) -> str:
    """Build the translated lockout message stating the limit and the cool-off."""
    if retry_after is None:
        wait = str(_("until an administrator unlocks it"))
    else:
        minutes = max(1, (retry_after + 59) // 60)
        wait = ngettext("for %(n)d minute", "for %(n)d minutes", minutes) % {"n": minutes}
    if limit is None:
        return str(_("Too many failed login attempts: login is locked %(wait)s.") % {"wait": wait})
    return str(
        _("Too many failed login attempts (the limit is %(limit)d): login is locked %(wait)s.")
        % {"limit": limit, "wait": wait}
    )
