"""Writing access-log rows: mode selection, row building, inline and bulk inserts.

Every writer starts from the same record, the ``dict[str, str]`` that
:func:`drf_defender.service.audit_entry` returns: the receivers build it from a signal,
the Celery task receives it as its argument, and the drain reads it from the Redis
stream. :func:`attempt_from_entry` turns that record into an unsaved
:class:`~drf_defender.models.AccessAttempt`, truncating every value to its column.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.db import DatabaseError, connections, router, transaction
from django.db.models import QuerySet
from django.utils import timezone as django_timezone
from django.utils.module_loading import import_string

from . import identity
from .conf import defender_settings
from .models import (
    HTTP_ACCEPT_MAX_LENGTH,
    INTEGRATION_MAX_LENGTH,
    PATH_INFO_MAX_LENGTH,
    SCOPE_MAX_LENGTH,
    USER_AGENT_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    AccessAttempt,
)
from .service import admin_username_key

logger = logging.getLogger(__name__)

MODE_INLINE = "inline"
MODE_CELERY = "celery"
MODE_BUFFERED = "buffered"
MODES = (MODE_INLINE, MODE_CELERY, MODE_BUFFERED)


def access_log_mode() -> str:
    """Return how attempt rows are written: "inline", "celery" or "buffered".

    DEFENDER_ACCESS_LOG_MODE wins when the project sets it. Otherwise
    DEFENDER_USE_CELERY = True selects "celery", as it does in django-defender, and
    the default is "inline". An unknown mode is reported by the system check
    drf_defender.E101 and treated as "inline" so that rows are still written.
    """
    if defender_settings.is_set("ACCESS_LOG_MODE"):
        mode = defender_settings.ACCESS_LOG_MODE
        return mode if mode in MODES else MODE_INLINE
    return MODE_CELERY if defender_settings.USE_CELERY else MODE_INLINE


# --------------------------------------------------------------------------------------
# Rate-limited error reporting


class ErrorReporter:
    """Log the first error of a kind at once, then at most one per interval with a count.

    A database or broker outage would otherwise log one error per login attempt.
    """

    def __init__(self, interval: float = 60.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def report(self, kind: str, message: str, error: BaseException) -> None:
        """Log ``message`` (which takes the suppressed count and the error) for ``kind``."""
        current = time.monotonic()
        with self._lock:
            last = self._last_logged.get(kind)
            if last is not None and current - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            suppressed = self._suppressed.pop(kind, 0)
            self._last_logged[kind] = current
        logger.error(message, suppressed, error, exc_info=error)

    def reset(self) -> None:
        with self._lock:
            self._last_logged.clear()
            self._suppressed.clear()


errors = ErrorReporter()


# --------------------------------------------------------------------------------------
# Building rows


def clean_text(value: object, max_length: int) -> str:
    """Return ``value`` as text that every supported database accepts, cut to ``max_length``.

    NUL characters (rejected by PostgreSQL) become U+FFFD, and lone surrogates (which
    cannot be encoded as UTF-8) become "?". Truncation counts characters, as the
    ``varchar(n)`` columns of PostgreSQL, MySQL and SQLite do.
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = text[:max_length]
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _flag(value: object) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


def _attempt_time(value: object, fallback: datetime | None) -> datetime:
    try:
        seconds = float(str(value))
        moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        moment = fallback or django_timezone.now()
    if not settings.USE_TZ:
        return django_timezone.make_naive(moment, timezone.utc)
    return moment


def attempt_from_entry(
    entry: Mapping[str, Any],
    *,
    stream_id: str | None = None,
    fallback_time: datetime | None = None,
) -> AccessAttempt:
    """Build an unsaved row from an audit entry; missing or malformed fields get defaults.

    ``fallback_time`` is used when the entry has no readable ``time`` field; the drain
    passes the time encoded in the stream entry ID.
    """
    return AccessAttempt(
        attempt_time=_attempt_time(entry.get("time"), fallback_time),
        ip_address=identity.canonical_ip(entry.get("ip") or None),
        username=clean_text(entry.get("username"), USERNAME_MAX_LENGTH),
        username_normalized=clean_text(entry.get("username_key"), USERNAME_MAX_LENGTH),
        user_agent=clean_text(entry.get("user_agent"), USER_AGENT_MAX_LENGTH),
        http_accept=clean_text(entry.get("http_accept"), HTTP_ACCEPT_MAX_LENGTH),
        path_info=clean_text(entry.get("path"), PATH_INFO_MAX_LENGTH),
        login_valid=_flag(entry.get("success")),
        locked_out=_flag(entry.get("locked_out")),
        integration=clean_text(entry.get("integration"), INTEGRATION_MAX_LENGTH),
        scope=clean_text(entry.get("scope"), SCOPE_MAX_LENGTH),
        stream_id=stream_id,
    )


# --------------------------------------------------------------------------------------
# Writing rows


def write_entry(entry: Mapping[str, Any]) -> bool:
    """Insert one row for ``entry``; log a database error instead of raising it.

    Outside a transaction this is exactly one INSERT. Inside one (ATOMIC_REQUESTS, or
    a view wrapped in ``atomic``) the INSERT runs in a savepoint, so that a failed
    write cannot break the caller's transaction. The row then commits or rolls back
    with that transaction. Returns whether the row was written.
    """
    attempt = attempt_from_entry(entry)
    alias = router.db_for_write(AccessAttempt)
    try:
        if connections[alias].in_atomic_block:
            with transaction.atomic(using=alias):
                attempt.save(force_insert=True, using=alias)
        else:
            attempt.save(force_insert=True, using=alias)
    except DatabaseError as error:
        errors.report(
            "database",
            "drf-defender could not write an access-attempt row; the login went on "
            "(%d similar errors not logged): %s",
            error,
        )
        return False
    return True


def bulk_insert(rows: Sequence[AccessAttempt]) -> None:
    """Insert ``rows`` in one statement, skipping rows whose ``stream_id`` is stored already.

    Database errors propagate: the drain must not acknowledge entries it did not store.
    """
    if rows:
        AccessAttempt.objects.bulk_create(rows, ignore_conflicts=True)


# --------------------------------------------------------------------------------------
# Reading rows


def filter_attempts(
    queryset: QuerySet[AccessAttempt] | None = None,
    *,
    username: str | None = None,
    ip: str | None = None,
    success: bool | None = None,
    since: datetime | None = None,
    scope: str | None = None,
) -> QuerySet[AccessAttempt]:
    """Filter attempts on the indexed columns, newest first.

    ``username`` is normalised as logins are, so "Alice" finds rows typed "alice ", and
    a hashed identity ("h:" and 40 hex digits, as listings show long names) is matched
    as it is. ``ip`` is compared in canonical form. Raises ValueError for an invalid IP
    address or a username that normalises to nothing.
    """
    rows = AccessAttempt.objects.all() if queryset is None else queryset
    if username is not None:
        key = admin_username_key(username)
        if not key:
            raise ValueError("The username is empty.")
        rows = rows.filter(username_normalized=key)
    if ip is not None:
        canonical = identity.canonical_ip(ip)
        if canonical is None:
            raise ValueError(f"{ip!r} is not a valid IP address.")
        rows = rows.filter(ip_address=canonical)
    if success is not None:
        rows = rows.filter(login_valid=success)
    if since is not None:
        rows = rows.filter(attempt_time__gte=since)
    if scope is not None:
        rows = rows.filter(scope=scope)
    return rows.order_by("-attempt_time", "-pk")


def as_dict(attempt: AccessAttempt) -> dict[str, Any]:
    """Return one row as JSON-ready data."""
    return {
        "id": attempt.pk,
        "attempt_time": attempt.attempt_time.isoformat(),
        "ip_address": attempt.ip_address,
        "username": attempt.username,
        "username_normalized": attempt.username_normalized,
        "login_valid": attempt.login_valid,
        "locked_out": attempt.locked_out,
        "integration": attempt.integration,
        "scope": attempt.scope,
        "path_info": attempt.path_info,
        "user_agent": attempt.user_agent,
        "http_accept": attempt.http_accept,
    }


# --------------------------------------------------------------------------------------
# Deleting expired rows


def expiry_cutoff(now: float) -> datetime:
    """Return the time before which rows are expired: ``now`` minus the retention hours."""
    hours = float(defender_settings.ACCESS_ATTEMPT_EXPIRATION)
    cutoff = datetime.fromtimestamp(now, tz=timezone.utc) - timedelta(hours=hours)
    if not settings.USE_TZ:
        return django_timezone.make_naive(cutoff, timezone.utc)
    return cutoff


def count_expired(cutoff: datetime) -> int:
    """Count the rows strictly older than ``cutoff``."""
    return AccessAttempt.objects.filter(attempt_time__lt=cutoff).count()


def delete_expired(cutoff: datetime, batch_size: int) -> Iterable[int]:
    """Delete rows strictly older than ``cutoff`` and yield the count of each batch.

    The rows are walked in primary-key ranges of ``batch_size`` between the smallest
    and largest key of the expired rows found at the start, so no statement deletes
    more than ``batch_size`` rows and no row is loaded into memory. Each batch commits
    on its own (autocommit), so locks are held for one batch at a time. Rows that
    expire, or are inserted with an old time, after the start are left for the next
    run.
    """
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    from django.db.models import Max, Min

    bounds = AccessAttempt.objects.filter(attempt_time__lt=cutoff).aggregate(
        low=Min("pk"), high=Max("pk")
    )
    low, high = bounds["low"], bounds["high"]
    if low is None or high is None:
        return
    start = low
    while start <= high:
        batch = AccessAttempt.objects.filter(
            pk__gte=start, pk__lt=start + batch_size, attempt_time__lt=cutoff
        )
        # _raw_delete sends one DELETE without fetching rows, even when a project
        # connects pre_delete or post_delete for every model. Nothing refers to this
        # table, so there is nothing to cascade.
        yield batch._raw_delete(batch.db)
        start += batch_size


# --------------------------------------------------------------------------------------
# System checks


@register("drf_defender")
def check_access_log(**kwargs: Any) -> list[CheckMessage]:
    """Check the access-log settings against the installed packages and the backend."""
    messages: list[CheckMessage] = []
    explicit_mode = defender_settings.is_set("ACCESS_LOG_MODE")
    mode = defender_settings.ACCESS_LOG_MODE
    if explicit_mode and mode not in MODES:
        messages.append(
            Error(
                f"DEFENDER_ACCESS_LOG_MODE is {mode!r}; it must be one of "
                f"{', '.join(repr(m) for m in MODES)}.",
                hint="Use 'inline' (the default), 'celery' or 'buffered'.",
                id="drf_defender.E101",
            )
        )
        return messages

    maxlen = defender_settings.ACCESS_LOG_STREAM_MAXLEN
    if not isinstance(maxlen, int) or isinstance(maxlen, bool) or maxlen < 1:
        messages.append(
            Error(
                f"DEFENDER_ACCESS_LOG_STREAM_MAXLEN is {maxlen!r}; it must be a whole number "
                "of entries, at least 1.",
                hint="Use a number of entries such as 100000.",
                id="drf_defender.E102",
            )
        )
    if not defender_settings.STORE_ACCESS_ATTEMPTS:
        return messages

    effective = access_log_mode()
    if explicit_mode and defender_settings.USE_CELERY and mode != MODE_CELERY:
        messages.append(
            CheckWarning(
                f"DEFENDER_USE_CELERY is True but DEFENDER_ACCESS_LOG_MODE is {mode!r}, which "
                "takes precedence: rows are not written by Celery.",
                hint="Remove one of the two settings.",
                id="drf_defender.W101",
            )
        )
    if effective == MODE_CELERY and importlib.util.find_spec("celery") is None:
        messages.append(
            Error(
                "The access log is written by Celery, but Celery is not installed.",
                hint="Install drf-defender[celery], or set DEFENDER_ACCESS_LOG_MODE = 'inline'.",
                id="drf_defender.E103",
            )
        )
    if effective == MODE_BUFFERED and not _backend_supports_stream():
        messages.append(
            CheckWarning(
                f"DEFENDER_ACCESS_LOG_MODE is 'buffered', but the backend "
                f"{defender_settings.BACKEND!r} has no attempt stream: rows are written "
                "inline instead.",
                hint="Use 'drf_defender.backends.redis.RedisBackend', or set "
                "DEFENDER_ACCESS_LOG_MODE = 'inline'.",
                id="drf_defender.W102",
            )
        )
    return messages


def _backend_supports_stream() -> bool:
    try:
        backend_class = import_string(defender_settings.BACKEND)
    except ImportError:
        # drf_defender.E004 reports the import error.
        return True
    return bool(getattr(backend_class, "supports_attempt_stream", False))
