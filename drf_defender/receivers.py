"""Signal receivers that write the access log in the "inline" and "celery" modes.

The log records credential checks: ``attempt_failed`` and ``attempt_succeeded``.
Requests refused before any check (``attempt_blocked``) get no row; the failure that
started a block has ``locked_out=True``. In "buffered" mode the service puts the
record into the Redis stream itself, so these receivers write nothing. A backend
without a stream is the exception: then they write inline, and the check
drf_defender.W102 warns about it.

Database errors (inline mode) and publishing errors (Celery mode) never reach the
login. They are logged at most once a minute per kind, with a count of the errors not
logged.
"""

from __future__ import annotations

from typing import Any

from . import access_log, signals
from .conf import defender_settings
from .service import Attempt, audit_entry

#: Celery publishing retries once at once, so that a pooled connection the broker
#: dropped is replaced, but a broker that is down costs the login milliseconds, not the
#: seconds of Celery's default retry policy.
CELERY_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}


def record_failed(sender: Any, *, attempt: Attempt, locked_out: bool, **kwargs: Any) -> None:
    """Record a failed credential check."""
    _record(attempt, success=False, locked_out=locked_out)


def record_succeeded(sender: Any, *, attempt: Attempt, **kwargs: Any) -> None:
    """Record a successful credential check."""
    _record(attempt, success=True, locked_out=False)


def _record(attempt: Attempt, *, success: bool, locked_out: bool) -> None:
    if not defender_settings.STORE_ACCESS_ATTEMPTS:
        return
    mode = access_log.access_log_mode()
    if mode == access_log.MODE_BUFFERED and attempt.service.backend.supports_attempt_stream:
        return
    entry = audit_entry(attempt, success=success, locked_out=locked_out)
    if mode == access_log.MODE_CELERY:
        _send_to_celery(entry)
    else:
        access_log.write_entry(entry)


def _send_to_celery(entry: dict[str, str]) -> None:
    # Broad on purpose: publishing can fail with kombu, socket, Celery configuration or
    # import errors (Celery missing), and none of them may turn a login into an error.
    try:
        from .tasks import record_access_attempt

        record_access_attempt.apply_async(
            args=(entry,), retry=True, retry_policy=CELERY_RETRY_POLICY
        )
    except Exception as error:
        access_log.errors.report(
            "celery",
            "drf-defender could not record an access-attempt row through Celery; the login went "
            "on and the row is lost (%d similar errors not logged): %s",
            error,
        )


def connect() -> None:
    """Connect the receivers; safe to call more than once."""
    signals.attempt_failed.connect(
        record_failed, dispatch_uid="drf_defender.receivers.record_failed"
    )
    signals.attempt_succeeded.connect(
        record_succeeded, dispatch_uid="drf_defender.receivers.record_succeeded"
    )
