"""Process-local queue of access-log entries for the buffered access log.

In buffered mode each attempt's entry goes to a Redis stream. A failure below the limit
needs no backend call after its reservation, so sending its entry at once would add a
round trip to the login. Its entry waits here instead. The next backend call of any
request in the process (a reservation, a success or a failure that blocks) carries the
waiting entries in its own pipeline. A timer thread sends whatever is still waiting
``DEFENDER_ACCESS_LOG_FLUSH_INTERVAL`` seconds after the first entry arrived, and the
process sends the rest when it exits normally.

Entries of a process that is killed before a flush are lost. At most one flush
interval of attempts is at risk.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence

from .backends.base import AuditEntry

logger = logging.getLogger("drf_defender.service")


class AuditBuffer:
    """Bounded queue of entries waiting to travel with the next backend call."""

    #: Entries kept at most while the backend is unreachable; older ones are dropped.
    CAPACITY = 10_000

    def __init__(self, flush: Callable[[], None], interval: Callable[[], float]) -> None:
        self._flush = flush
        self._interval = interval
        self._lock = threading.Lock()
        self._entries: deque[AuditEntry] = deque()
        self._timer: threading.Timer | None = None
        self._pid = os.getpid()
        self._dropped = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: AuditEntry) -> None:
        """Queue one entry and make sure a flush is scheduled."""
        with self._lock:
            self._forget_parent()
            self._append([entry])
            self._schedule()

    def take(self) -> list[AuditEntry]:
        """Remove and return every waiting entry, oldest first."""
        if not self._entries:
            return []
        with self._lock:
            self._forget_parent()
            entries = list(self._entries)
            self._entries.clear()
            return entries

    def put_back(self, entries: Sequence[AuditEntry]) -> None:
        """Queue again entries that a failed backend call did not store."""
        if not entries:
            return
        with self._lock:
            self._forget_parent()
            self._append(entries, front=True)
            self._schedule()

    def cancel(self) -> None:
        """Stop the pending timer, if any; waiting entries stay queued."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _append(self, entries: Sequence[AuditEntry], *, front: bool = False) -> None:
        if front:
            self._entries.extendleft(reversed(entries))
        else:
            self._entries.extend(entries)
        excess = len(self._entries) - self.CAPACITY
        if excess <= 0:
            return
        for _ in range(excess):
            self._entries.popleft()
        first = self._dropped == 0
        self._dropped += excess
        if first:
            logger.error(
                "drf-defender dropped %d access-log entries: more than %d waited for an "
                "unreachable backend. Later drops are counted and logged at the next flush.",
                excess,
                self.CAPACITY,
            )

    def _schedule(self) -> None:
        if self._timer is not None or not self._entries:
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
                "drf-defender dropped %d access-log entries in all while the backend was "
                "unreachable",
                dropped,
            )
        self._flush()

    def _forget_parent(self) -> None:
        # A forked child gets a copy of the parent's entries and no timer thread. The
        # parent sends those entries itself, so the child drops its copy.
        pid = os.getpid()
        if pid != self._pid:
            self._pid = pid
            self._entries.clear()
            self._timer = None
            self._dropped = 0
