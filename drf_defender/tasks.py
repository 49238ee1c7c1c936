"""Celery tasks of the access log; the only module of drf-defender that imports Celery.

``record_access_attempt`` writes one row in "celery" mode. ``drain_access_attempts``
drains the Redis stream of "buffered" mode and is meant for Celery beat, for example::

    CELERY_BEAT_SCHEDULE = {
        "drf-defender-drain": {
            "task": "drf_defender.tasks.drain_access_attempts",
            "schedule": 60.0,
        },
    }

Both are shared tasks, so they bind to the project's Celery app.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import access_log, access_log_drain
from .service import get_service

logger = logging.getLogger(__name__)


@shared_task(
    name="drf_defender.tasks.record_access_attempt",
    ignore_result=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def record_access_attempt(entry: dict[str, str]) -> None:
    """Insert the row for one audit entry; retried with back-off while the database is down."""
    row = access_log.attempt_from_entry(entry)
    row.save(force_insert=True)


@shared_task(name="drf_defender.tasks.drain_access_attempts", ignore_result=True)
def drain_access_attempts(
    batch_size: int = access_log_drain.DEFAULT_BATCH_SIZE,
    max_seconds: float = access_log_drain.DEFAULT_MAX_SECONDS,
) -> dict[str, Any]:
    """Move buffered entries from the Redis stream into the database."""
    service = get_service()
    # Entries of this worker's own logins, such as those of eager tasks, go first.
    service.flush_pending_writes()
    report = access_log_drain.drain(service.backend, batch_size=batch_size, max_seconds=max_seconds)
    logger.info(
        "drf-defender drained %d access attempts (%d reclaimed from a stopped drain)",
        report.stored,
        report.reclaimed,
    )
    return report.as_dict()
