"""HTML responses for locked-out requests to server-rendered pages.

DRF views respond to a lockout with the JSON body of :class:`~drf_defender.exceptions.LockedOut`.
Django's own login form, the admin login and Django's password-reset pages are HTML
pages, so they answer with a redirect to DEFENDER_LOCKOUT_URL, or else with
DEFENDER_LOCKOUT_TEMPLATE (by default ``drf_defender/lockout.html``) rendered with the
status of the exception and a ``Retry-After`` header.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers

from .conf import defender_settings
from .exceptions import BackendUnavailableResponse, LockedOut
from .keys import SCOPE_LOGIN, get_policy

logger = logging.getLogger(__name__)

DEFAULT_LOCKOUT_TEMPLATE = "drf_defender/lockout.html"


def _minutes(seconds: int | None) -> int | None:
    if seconds is None:
        return None
    return max(1, math.ceil(seconds / 60)) if seconds > 0 else 0


def _detail_message(exc: LockedOut | BackendUnavailableResponse) -> str:
    detail = exc.detail
    if isinstance(detail, dict):
        return str(detail.get("detail", ""))
    return str(detail)


def lockout_context(exc: LockedOut, scope: str = SCOPE_LOGIN) -> dict[str, Any]:
    """Build the template context of a lockout page.

    ``cooloff_time_seconds`` is the configured duration of a first lockout in ``scope``
    (0: until an administrator lifts it); ``retry_after`` is the number of seconds left
    of this lockout, or None when it has no end.
    """
    policy = get_policy(scope)
    limit = getattr(exc, "limit", None)
    if limit is None:
        # LockedOut does not store the limit it states, so use the lowest limit of
        # the subjects that this scope counts.
        limit = min((policy.limit(kind) for kind in policy.kinds), default=None)
    cooloff = policy.lockout_duration(1)
    retry_after = exc.retry_after
    return {
        "message": _detail_message(exc),
        "scope": scope,
        "failure_limit": limit,
        "cooloff_time_seconds": cooloff,
        "cooloff_time_minutes": _minutes(cooloff),
        "retry_after": retry_after,
        "retry_after_minutes": _minutes(retry_after),
    }


def _render(request: HttpRequest, context: dict[str, Any]) -> str:
    template_name = defender_settings.LOCKOUT_TEMPLATE
    if template_name:
        try:
            return render_to_string(template_name, context, request)
        except TemplateDoesNotExist:
            logger.error(
                "DEFENDER_LOCKOUT_TEMPLATE %r was not found; rendered %s instead",
                template_name,
                DEFAULT_LOCKOUT_TEMPLATE,
            )
    return render_to_string(DEFAULT_LOCKOUT_TEMPLATE, context, request)


def lockout_page_response(
    request: HttpRequest, exc: LockedOut, *, scope: str = SCOPE_LOGIN
) -> HttpResponse:
    """Return the HTML response to a locked-out request.

    The response depends only on the exception and the settings, never on whether an
    account exists, so it discloses nothing that the JSON lockout body does not.
    """
    response: HttpResponse
    if defender_settings.LOCKOUT_URL:
        response = HttpResponseRedirect(resolve_url(defender_settings.LOCKOUT_URL))
    else:
        body = _render(request, lockout_context(exc, scope))
        response = HttpResponse(body, status=exc.status_code)
        if exc.wait:
            response["Retry-After"] = str(exc.wait)
    # A lockout page must never be served from a cache after the lockout ends.
    add_never_cache_headers(response)
    return response


def unavailable_page_response(
    request: HttpRequest, exc: BackendUnavailableResponse
) -> HttpResponse:
    """Return the plain response used when the backend is down and the policy is "closed"."""
    response = HttpResponse(
        _detail_message(exc), status=exc.status_code, content_type="text/plain; charset=utf-8"
    )
    add_never_cache_headers(response)
    return response
