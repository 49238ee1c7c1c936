"""Draining the buffered access log: Redis stream entries to database rows.

In "buffered" mode the service appends each attempt to a capped Redis stream (see
``RedisBackend.attempt_stream_key``). :func:`drain` moves the entries into the
database through a consumer group:

1. XAUTOCLAIM takes over entries that an earlier drain read but did not acknowledge
   (it stopped between reading and acknowledging) once they have been idle for
   ``min_idle_seconds``.
2. XREADGROUP reads new entries, ``batch_size`` at a time.
3. Each batch is inserted with one bulk INSERT that skips rows whose ``stream_id`` is
   stored already, then acknowledged and deleted (XACK and XDEL in one MULTI).

Delivery is at least once and the unique ``stream_id`` column removes the
duplicates: an entry whose row was inserted but not acknowledged is inserted again by
a later drain and skipped by the database. Several drains may run at once; the
consumer group gives each entry to one of them.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import redis

from . import access_log
from .backends.base import Backend
from .exceptions import BackendUnavailable
from .models import AccessAttempt

logger = logging.getLogger(__name__)

GROUP = "drf-defender-drain"
DEFAULT_BATCH_SIZE = 500
#: Default time bound of one run, under the one-minute period of a typical cron line.
DEFAULT_MAX_SECONDS = 50.0
#: Entries read by another drain are taken over after this idle time. It should exceed
#: the time one batch takes, or two drains insert the same batch (which is harmless).
DEFAULT_MIN_IDLE_SECONDS = 60.0


@dataclass
class DrainReport:
    """Counts of one drain run."""

    #: Entries inserted or found stored already, then acknowledged.
    stored: int = 0
    #: Of ``stored``, entries taken over from a drain that did not acknowledge them.
    reclaimed: int = 0
    #: Entries that Redis had trimmed while they were pending, acknowledged without a row.
    trimmed: int = 0
    batches: int = 0
    #: True when the run stopped at ``max_seconds`` with entries left in the stream.
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def consumer_name() -> str:
    """Return this process's consumer name in the group: host name and process ID."""
    return f"{socket.gethostname()}-{os.getpid()}"


def drain(
    backend: Backend,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    min_idle_seconds: float = DEFAULT_MIN_IDLE_SECONDS,
    consumer: str | None = None,
    after_insert: Callable[[Sequence[str]], None] | None = None,
) -> DrainReport:
    """Move buffered entries into the database until the stream is empty or time is up.

    Raises ValueError when ``backend`` has no attempt stream, BackendUnavailable when
    Redis fails, and database errors as they are. The entries of a failed batch stay
    pending, and a later run takes them over. ``after_insert`` is called with the IDs
    of each batch between the insert and the acknowledgement (tests use it to stop
    there).
    """
    if batch_size < 1:
        raise ValueError("The batch size must be at least 1.")
    if not getattr(backend, "supports_attempt_stream", False):
        raise ValueError(
            f"The backend {type(backend).__name__} has no attempt stream to drain; the "
            "buffered access log needs drf_defender.backends.redis.RedisBackend."
        )
    runner = _Drain(
        client=backend.client,  # type: ignore[attr-defined]
        key=backend.attempt_stream_key(),  # type: ignore[attr-defined]
        consumer=consumer or consumer_name(),
        batch_size=batch_size,
        after_insert=after_insert,
    )
    deadline = time.monotonic() + max_seconds
    try:
        runner.ensure_group()
        runner.reclaim(round(min_idle_seconds * 1000), deadline)
        runner.read_new(deadline)
    except redis.RedisError as error:
        raise BackendUnavailable(f"Redis failed while draining the access log: {error}") from error
    return runner.report


class _Drain:
    def __init__(
        self,
        *,
        client: Any,
        key: str,
        consumer: str,
        batch_size: int,
        after_insert: Callable[[Sequence[str]], None] | None,
    ) -> None:
        self.client = client
        self.key = key
        self.consumer = consumer
        self.batch_size = batch_size
        self.after_insert = after_insert
        self.report = DrainReport()

    def ensure_group(self) -> None:
        # Starting at ID 0 makes the group deliver entries appended before it existed.
        try:
            self.client.xgroup_create(self.key, GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def reclaim(self, min_idle_ms: int, deadline: float) -> None:
        cursor: Any = "0-0"
        while True:
            reply = self.client.xautoclaim(
                self.key,
                GROUP,
                self.consumer,
                min_idle_ms,
                start_id=cursor,
                count=self.batch_size,
            )
            cursor, entries = reply[0], reply[1]
            stored = self.store(entries)
            self.report.reclaimed += stored
            if _text(cursor) == "0-0":
                return
            if time.monotonic() >= deadline:
                self.report.stopped_early = True
                return

    def read_new(self, deadline: float) -> None:
        while True:
            if time.monotonic() >= deadline:
                self.report.stopped_early = bool(self.client.xlen(self.key))
                return
            reply = self.client.xreadgroup(
                GROUP, self.consumer, {self.key: ">"}, count=self.batch_size
            )
            entries = reply[0][1] if reply else []
            if not entries:
                return
            self.store(entries)

    def store(self, entries: Sequence[tuple[Any, Mapping[Any, Any] | None]]) -> int:
        """Insert, acknowledge and delete one batch; return the number of rows it held."""
        if not entries:
            return 0
        ids: list[str] = []
        rows: list[AccessAttempt] = []
        for raw_id, fields in entries:
            if raw_id is None:
                continue
            entry_id = _text(raw_id)
            ids.append(entry_id)
            if fields is None:
                # Trimmed by MAXLEN while pending (Redis 6.2 returns it without fields).
                self.report.trimmed += 1
                continue
            entry = {_text(name): _text(value) for name, value in fields.items()}
            rows.append(
                access_log.attempt_from_entry(
                    entry, stream_id=entry_id, fallback_time=_id_time(entry_id)
                )
            )
        access_log.bulk_insert(rows)
        if self.after_insert is not None:
            self.after_insert(ids)
        if ids:
            pipe = self.client.pipeline(transaction=True)
            pipe.xack(self.key, GROUP, *ids)
            pipe.xdel(self.key, *ids)
            pipe.execute()
        self.report.stored += len(rows)
        self.report.batches += 1
        return len(rows)


def stream_status(backend: Backend) -> dict[str, int]:
    """Return the stream's length and the number of entries read but not acknowledged."""
    client = backend.client  # type: ignore[attr-defined]
    key = backend.attempt_stream_key()  # type: ignore[attr-defined]
    try:
        length = int(client.xlen(key))
        try:
            pending = int(client.xpending(key, GROUP)["pending"])
        except redis.ResponseError:
            # NOGROUP: no drain has run yet.
            pending = 0
    except redis.RedisError as error:
        raise BackendUnavailable(f"Redis failed while reading the stream: {error}") from error
    return {"length": length, "pending": pending}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _id_time(entry_id: str) -> datetime | None:
    """Return the time in a stream entry ID (milliseconds before the dash), if readable."""
    milliseconds, _, _ = entry_id.partition("-")
    try:
        return datetime.fromtimestamp(int(milliseconds) / 1000, tz=timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None
