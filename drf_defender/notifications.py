"""Email the owner of a username when a login lockout starts.

With DEFENDER_NOTIFY_USER_ON_LOCKOUT on, :func:`notify_user_on_lockout` (connected to
:data:`drf_defender.signals.lockout` by the app config) sends one email through
Django's email framework when the service blocks a username, or an IP-and-username pair,
in the login scope. It sends nothing for IP blocks, for blocks set by an administrator,
for the password-reset scope, and for usernames that match no single active user with
an email address. The HTTP response is never affected: the receiver logs every error
and raises none, and by default (DEFENDER_NOTIFY_EMAIL_BACKGROUND) the email leaves
from a background thread so that the mail server's delay cannot reveal that the
account exists.

In IP-and-username mode, every IP that guesses one username starts a lockout of its
own pair, so the email goes out at most once per username per lockout duration. That
limit is kept in the Django cache named by DEFENDER_CACHE_ALIAS, so it holds across
processes only when that cache is shared.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.core.mail import EmailMessage
from django.db import connections
from django.template.loader import render_to_string

from .conf import defender_settings
from .identity import HASHED_USERNAME_PREFIX, mask_username
from .keys import KIND_PAIR, KIND_USERNAME, REASONS, SCOPE_LOGIN, get_policy

logger = logging.getLogger(__name__)

#: Lockout reasons that name a username.
_REASON_KINDS = {REASONS[KIND_USERNAME]: KIND_USERNAME, REASONS[KIND_PAIR]: KIND_PAIR}

#: Name of the threads that send emails in the background.
THREAD_NAME = "drf-defender-lockout-email"


def notify_user_on_lockout(
    sender: Any,
    *,
    reason: str,
    username: str | None,
    scope: str,
    ip_address: str | None = None,
    seconds: int | None = None,
    lockout_count: int = 1,
    manual: bool = False,
    **kwargs: Any,
) -> None:
    """Receive :data:`drf_defender.signals.lockout` and email the account owner."""
    if not defender_settings.NOTIFY_USER_ON_LOCKOUT:
        return
    kind = _REASON_KINDS.get(reason)
    if kind is None or manual or scope != SCOPE_LOGIN or not username:
        return
    if kind != KIND_PAIR:
        # The IP of the request that started a username lockout is not the owner's
        # business; the email names an IP for a pair lockout only.
        ip_address = None
    try:
        message = _build_message(kind, username, ip_address, seconds, lockout_count)
        if message is None:
            return
        if defender_settings.NOTIFY_EMAIL_BACKGROUND:
            thread = threading.Thread(
                target=_send_in_thread, args=(message, username), name=THREAD_NAME, daemon=True
            )
            thread.start()
        else:
            _send(message, username)
    except Exception:
        # The lockout response must go out whatever fails here (database, templates,
        # cache), so every error is logged instead of raised.
        logger.exception(
            "drf-defender could not prepare the lockout email for username %s",
            mask_username(username),
        )


def find_user(username: str) -> Any | None:
    """Return the one active user with an email address whom ``username`` names, or None.

    ``username`` is the normalised identity that the service counts, so the lookup is
    case-insensitive: first on the user model's USERNAME_FIELD, then, for a value with
    an ``@``, on its email field. A lookup that matches several users returns None, so
    that no email reaches the wrong person.
    """
    if username.startswith(HASHED_USERNAME_PREFIX):
        # A hashed identity cannot be turned back into the name that was typed.
        return None
    user_model = get_user_model()
    manager = user_model._default_manager
    email_field = user_model.get_email_field_name()
    users = list(manager.filter(**{f"{user_model.USERNAME_FIELD}__iexact": username})[:2])
    if not users and "@" in username:
        users = list(manager.filter(**{f"{email_field}__iexact": username})[:2])
    if len(users) != 1:
        return None
    user = users[0]
    if not getattr(user, "is_active", True):
        return None
    email = getattr(user, email_field, "")
    return user if isinstance(email, str) and email else None


def lockout_email_context(
    user: Any, kind: str, ip_address: str | None, seconds: int | None, lockout_count: int
) -> dict[str, Any]:
    """Build the context of the subject and body templates."""
    return {
        "user": user,
        "username": user.get_username(),
        "reason": REASONS[kind],
        "ip_address": ip_address,
        "failure_limit": get_policy(SCOPE_LOGIN).limit(kind),
        "seconds": seconds,
        "minutes": None if seconds is None else max(1, math.ceil(seconds / 60)),
        "lockout_count": lockout_count,
    }


def _build_message(
    kind: str, username: str, ip_address: str | None, seconds: int | None, lockout_count: int
) -> EmailMessage | None:
    user = find_user(username)
    if user is None:
        return None
    if kind == KIND_PAIR and not _first_notice(username, seconds):
        return None
    context = lockout_email_context(user, kind, ip_address, seconds, lockout_count)
    rendered_subject = render_to_string(defender_settings.NOTIFY_EMAIL_SUBJECT_TEMPLATE, context)
    # Email headers must not contain line breaks.
    subject = " ".join(rendered_subject.split())
    body = render_to_string(defender_settings.NOTIFY_EMAIL_BODY_TEMPLATE, context)
    email = getattr(user, get_user_model().get_email_field_name())
    return EmailMessage(subject=subject, body=body, to=[email])


def _first_notice(username: str, seconds: int | None) -> bool:
    """Return whether no email went out for ``username`` during the current lockout."""
    timeout = seconds or int(defender_settings.ACCESS_ATTEMPT_EXPIRATION * 3600)
    key = f"{defender_settings.CACHE_PREFIX}:notified:{username}"
    return bool(caches[defender_settings.CACHE_ALIAS].add(key, 1, timeout=timeout))


def _send(message: EmailMessage, username: str) -> None:
    try:
        message.send()
    except Exception:
        # Mail backends raise many types (SMTPException, OSError, their own); none may
        # reach the login.
        logger.exception(
            "drf-defender could not send the lockout email for username %s",
            mask_username(username),
        )


def _send_in_thread(message: EmailMessage, username: str) -> None:
    try:
        _send(message, username)
    finally:
        # A database-backed mail backend opens a connection in this thread; Django
        # closes request connections only in request threads.
        connections.close_all()
