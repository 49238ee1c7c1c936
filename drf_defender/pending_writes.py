"""Process-local queue of writes that travel with the next backend call.

Two kinds of write can wait without changing a lockout decision:

- **Access-log entries** of the buffered access log. A failure below the limit needs no
  backend call after its reservation, so sending its entry at once would add a round
  trip to the login.
- **Reservations to give back** after a success of an identity that had no failure on
  record. Until the release arrives, the counters hold one check more than happened,
  which can only make a lockout come sooner, never later.

The next reservation of any request in the process carries the waiting writes in its
own pipeline, releases first, so the same client's next attempt in this process reads
exact counts. A timer thread sends what is still waiting
``DEFENDER_PENDING_WRITES_FLUSH_INTERVAL`` seconds after the first write arrived, and the
process sends the rest when it exits normally.

Writes of a process that is killed before a flush are lost. Lost entries are missing
from the log, and a lost release leaves a count of one until the counter expires.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .backends.base import AuditEntry, SubjectSpec

logger = logging.getLogger("drf_defender.service")


class PendingWrites:
    """Bounded queues of access-log entries and releases waiting for a backend call."""

    #: Writes of each kind kept at most while the backend is unreachable; older ones
    #: are dropped.
    CAPACITY = 10_000

    def __init__(self, flush: Callable[[], None], interval: Callable[[], float]) -> None:
        self._flush = flush
        self._interval = interval
        self._lock = threading.Lock()
        self._entries: deque[AuditEntry] = deque()
        self._releases: deque[SubjectSpec] = deque()
        self._timer: threading.Timer | None = None
        self._pid = os.getpid()
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._entries) + len(self._releases)

    def add(self, entry: AuditEntry) -> None:
        """Queue one access-log entry and make sure a flush is scheduled."""
        with self._lock:
            self._forget_parent()
            self._append(self._entries, [entry])
            self._schedule()

    def add_releases(self, specs: Sequence[SubjectSpec]) -> None:
        """Queue reservations to give back and make sure a flush is scheduled."""
        with self._lock:
            self._forget_parent()
            self._append(self._releases, specs)
            self._schedule()

    def take(self) -> list[AuditEntry]:
        """Remove and return every waiting access-log entry, oldest first."""
        return self._take(self._entries)

    def take_releases(self) -> list[SubjectSpec]:
        """Remove and return every waiting release, oldest first."""
        return self._take(self._releases)

    def _take(self, queue: deque[Any]) -> list[Any]:
        # Checking without the lock first keeps the common case cheap: nothing is waiting.
        if not queue:
            return []
        with self._lock:
            self._forget_parent()
            return _drain(queue)

    def put_back(self, entries: Sequence[AuditEntry]) -> None:
        """Queue again access-log entries that a failed backend call did not store.

        Releases are never put back: a failed call may have applied some of them, and
        applying one twice would erase a real failure.
        """
        if not entries:
            return
        with self._lock:
            self._forget_parent()
            self._append(self._entries, entries, front=True)
            self._schedule()

    def cancel(self) -> None:
        """Stop the pending timer, if any; waiting writes stay queued."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _append(self, queue: deque[Any], items: Sequence[Any], *, front: bool = False) -> None:
        if front:
            queue.extendleft(reversed(items))
        else:
            queue.extend(items)
        excess = len(queue) - self.CAPACITY
        if excess <= 0:
            return
        for _ in range(excess):
            queue.popleft()
        first = self._dropped == 0
        self._dropped += excess
        if first:
            logger.error(
                "drf-defender dropped %d waiting writes (access-log entries or releases): "
                "more than %d waited for an unreachable backend. Later drops are counted "
                "and logged at the next flush.",
                excess,
                self.CAPACITY,
            )

    def _schedule(self) -> None:
        if self._timer is not None or not (self._entries or self._releases):
            return
        timer = threading.Timer(self._interval(), self._run_timer)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _run_timer(self) -> None:
        with self._lock:
            self._timer = None
            dropped, self._dropped = self._dropped, 0
        if dropped:
            logger.error(
                "drf-defender dropped %d waiting writes in all while the backend was unreachable",
                dropped,
            )
        self._flush()

    def _forget_parent(self) -> None:
        # A forked child gets a copy of the parent's queues and no timer thread. The
        # parent sends those writes itself, so the child drops its copy.
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._entries.clear()
            self._releases.clear()
            self._timer = None
            self._dropped = 0


def _drain(queue: deque[Any]) -> list[Any]:
    items = list(queue)
    queue.clear()
    return items
