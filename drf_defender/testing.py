"""Helpers for the test suites of projects that use drf-defender.

``NullBackend`` counts nothing and blocks nothing, for tests that do not exercise
lockouts::

    @override_settings(DEFENDER_BACKEND="drf_defender.testing.NullBackend")

``reset_lockouts()`` deletes every counter, block and run-time list entry of the
configured backend, for tests that do. ``frozen_clock()`` moves the service's time
without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .backends.base import (
    AuditEntry,
    Backend,
    FailureOutcome,
    Reservation,
    ReserveStatus,
    SubjectSpec,
    SubjectState,
)
from .keys import LIST_NAMES, Subject
from .service import get_service, set_clock

__all__ = ["FrozenClock", "NullBackend", "frozen_clock", "reset_lockouts"]


class NullBackend(Backend):
    """A backend that stores nothing: every check is allowed and nothing is listed."""

    atomic_across_processes = True

    def reserve(
        self,
        specs: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
        release: Sequence[SubjectSpec] = (),
    ) -> tuple[list[Reservation], str | None]:
        return [
            Reservation(spec=spec, status=ReserveStatus.RESERVED, count=1) for spec in specs
        ], None

    def release(
        self, specs: Sequence[SubjectSpec], now: float, audit: Sequence[AuditEntry] = ()
    ) -> None:
        return None

    def record_failure(
        self, reservations: Sequence[Reservation], now: float, audit: Sequence[AuditEntry] = ()
    ) -> list[FailureOutcome]:
        return [FailureOutcome(spec=r.spec, blocked_now=False) for r in reservations]

    def record_success(
        self,
        clear: Sequence[SubjectSpec],
        release: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        return None

    def get_states(self, specs: Sequence[SubjectSpec], now: float) -> list[SubjectState]:
        return [SubjectState(subject=spec.subject) for spec in specs]

    def block(
        self, spec: SubjectSpec, duration: int, now: float, *, manual: bool = True
    ) -> SubjectState:
        return SubjectState(subject=spec.subject)

    def unblock(self, subject: Subject) -> bool:
        return False

    def list_blocked(
        self, scope: str, kind: str, now: float, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[SubjectState]]:
        return 0, []

    def get_lists(self) -> tuple[str | None, dict[str, set[str]]]:
        return None, {name: set() for name in LIST_NAMES}

    def add_list_entry(self, list_name: str, value: str) -> bool:
        return False

    def remove_list_entry(self, list_name: str, value: str) -> bool:
        return False

    def ping(self) -> None:
        return None


def reset_lockouts() -> int:
    """Delete every counter, block and run-time list entry under DEFENDER_CACHE_PREFIX.

    Works with the Redis backends (SCAN and DEL under the prefix, never FLUSHDB) and the
    cache backend (the whole cache alias is cleared, because a Django cache cannot list
    keys). Returns the number of Redis keys deleted, or 0 for the cache backend.
    """
    service = get_service()
    backend = service.backend
    client = getattr(backend, "client", None)
    deleted = 0
    if client is not None:
        pattern = _escape_glob(backend.prefix) + ":*"
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += _delete(client, batch)
                batch = []
        if batch:
            deleted += _delete(client, batch)
    else:
        cache = getattr(backend, "cache", None)
        if cache is not None:
            cache.clear()
    service.invalidate_lists()
    service._blocked_hints.clear()
    return deleted


def _delete(client: Any, keys: list[bytes]) -> int:
    # One DEL per key, because the keys of a Redis Cluster live in different slots.
    return sum(int(client.delete(key)) for key in keys)


def _escape_glob(text: str) -> str:
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


class FrozenClock:
    """A clock for the lockout service that moves only when told to."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def frozen_clock(start: float = 1_800_000_000.0) -> Iterator[FrozenClock]:
    """Install a :class:`FrozenClock` in the lockout service for the block's duration."""
    clock = FrozenClock(start)
    set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(None)
