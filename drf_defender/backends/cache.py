"""Backend on Django's cache framework, the embedded default that needs no Redis server.

Atomicity: every operation on a subject runs under one process-wide lock, so with a
per-process cache (``LocMemCache``) counting is exact across the threads of a process.
A per-process cache is not shared between worker processes, though: each process keeps
its own counters, so an attacker may get up to LIMIT + 1 checks per process. With a
shared cache (Memcached, database, file, Django's RedisCache) the read-modify-write
steps of different processes can interleave and lose increments. Use the Redis backend
wherever more than one process serves logins.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from django.core.cache import BaseCache, caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.exceptions import ImproperlyConfigured

from ..conf import defender_settings
from ..exceptions import BackendUnavailable
from ..keys import LIST_NAMES, Subject, index_key, lists_key, lists_version_key, subject_key
from .base import (
    AuditEntry,
    Backend,
    FailureOutcome,
    Reservation,
    ReserveStatus,
    SubjectSpec,
    SubjectState,
)

_lock = threading.RLock()

#: Django cache timeout for a duration in seconds, where 0 means no expiry.
_FOREVER = None


def _timeout(seconds: float) -> float | None:
    return _FOREVER if seconds <= 0 else max(1.0, seconds)


def _live(record: dict[str, Any] | None, now: float) -> bool:
    if not record:
        return False
    ends = record.get("e", record.get("u", 0))
    return bool(ends == 0 or ends > now)


class CacheBackend(Backend):
    """Counters and blocks in a Django cache (``DEFENDER_CACHE_ALIAS``)."""

    atomic_across_processes = False

    def __init__(self, prefix: str, cache: BaseCache | None = None) -> None:
        super().__init__(prefix)
        if cache is None:
            alias = defender_settings.CACHE_ALIAS
            try:
                cache = caches[alias]
            except InvalidCacheBackendError as error:
                raise ImproperlyConfigured(
                    f"DEFENDER_CACHE_ALIAS is {alias!r}, but CACHES has no such alias."
                ) from error
        self.cache = cache

    def _key(self, role: str, subject: Subject) -> str:
        return subject_key(self.prefix, role, subject)

    def _get(self, key: str) -> Any:
        try:
            return self.cache.get(key)
        except Exception as error:
            raise BackendUnavailable(f"cache read failed: {error}") from error

    def _set(self, key: str, value: Any, seconds: float) -> None:
        try:
            self.cache.set(key, value, timeout=_timeout(seconds))
        except Exception as error:
            raise BackendUnavailable(f"cache write failed: {error}") from error

    def _delete(self, *keys: str) -> None:
        try:
            self.cache.delete_many(list(keys))
        except Exception as error:
            raise BackendUnavailable(f"cache delete failed: {error}") from error

    # --- the login path --------------------------------------------------------------

    def reserve(
        self,
        specs: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
        release: Sequence[SubjectSpec] = (),
    ) -> tuple[list[Reservation], str | None]:
        with _lock:
            self.release(release, now)
            reservations = [self._reserve_one(spec, now) for spec in specs]
            version = self._get(lists_version_key(self.prefix))
        return reservations, None if version is None else str(version)

    def _reserve_one(self, spec: SubjectSpec, now: float) -> Reservation:
        block = self._get(self._key("blocked", spec.subject))
        if _live(block, now):
            return Reservation(
                spec=spec,
                status=ReserveStatus.BLOCKED,
                blocked_until=block["u"],
                lockout_count=block["n"],
            )
        failed_key = self._key("failed", spec.subject)
        failed = self._get(failed_key)
        count = failed["c"] if _live(failed, now) else 0
        if count > spec.limit:
            return Reservation(spec=spec, status=ReserveStatus.OVER_LIMIT, count=count)
        count += 1
        window = spec.attempt_window
        self._set(failed_key, {"c": count, "e": now + window if window else 0}, window)
        if spec.companion is not None:
            companion_key = self._key("failed", spec.companion)
            companion = self._get(companion_key)
            companion_count = int(companion["c"] if _live(companion, now) else 0) + 1
            record = {"c": companion_count, "e": now + window if window else 0}
            self._set(companion_key, record, window)
            return Reservation(
                spec=spec,
                status=ReserveStatus.RESERVED,
                count=count,
                companion_count=companion_count,
            )
        return Reservation(spec=spec, status=ReserveStatus.RESERVED, count=count)

    def release(
        self, specs: Sequence[SubjectSpec], now: float, audit: Sequence[AuditEntry] = ()
    ) -> None:
        with _lock:
            for spec in specs:
                if spec.companion is not None:
                    # A concurrent success of the same pair may have taken this
                    # reservation off both counters already; see record_success().
                    companion_key = self._key("failed", spec.companion)
                    companion = self._get(companion_key)
                    if not (_live(companion, now) and companion["c"] > 0):
                        continue
                    self._take_back(companion_key, 1, now)
                self._take_back(self._key("failed", spec.subject), 1, now)

    def _take_back(self, key: str, amount: int, now: float) -> None:
        failed = self._get(key)
        if _live(failed, now) and failed["c"] > 0:
            failed["c"] = max(0, failed["c"] - amount)
            remaining = failed["e"] - now if failed["e"] else 0
            self._set(key, failed, remaining)

    def record_failure(
        self, reservations: Sequence[Reservation], now: float, audit: Sequence[AuditEntry] = ()
    ) -> list[FailureOutcome]:
        with _lock:
            return [self._fail_one(reservation, now) for reservation in reservations]

    def _fail_one(self, reservation: Reservation, now: float) -> FailureOutcome:
        spec = reservation.spec
        if reservation.count <= spec.limit:
            return FailureOutcome(spec=spec, blocked_now=False)
        subject = spec.subject
        block_key = self._key("blocked", subject)
        block = self._get(block_key)
        if _live(block, now):
            return FailureOutcome(
                spec=spec, blocked_now=False, blocked_until=block["u"], lockout_count=block["n"]
            )
        history_key = self._key("lockouts", subject)
        history = self._get(history_key)
        lockouts = (history["c"] if _live(history, now) else 0) + 1
        memory = spec.lockout_memory
        self._set(history_key, {"c": lockouts, "e": now + memory if memory else 0}, memory)
        duration = spec.lockout_durations[min(lockouts, len(spec.lockout_durations)) - 1]
        ends = now + duration if duration else 0
        record = {"s": now, "u": ends, "n": lockouts, "m": False, "d": subject.label}
        self._set(block_key, record, duration)
        failed_key = self._key("failed", subject)
        failed = self._get(failed_key)
        if failed:
            failed["c"] = spec.limit
            remaining = failed["e"] - now if failed["e"] else 0
            if remaining >= 0:
                self._set(failed_key, failed, remaining)
        self._index_add(subject, ends)
        return FailureOutcome(
            spec=spec, blocked_now=True, blocked_until=ends, lockout_count=lockouts
        )

    def record_success(
        self,
        clear: Sequence[SubjectSpec],
        release: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        with _lock:
            if clear:
                self._delete(*(self._key("failed", spec.subject) for spec in clear))
            for spec in release:
                if spec.companion is None:
                    self._take_back(self._key("failed", spec.subject), 1, now)
                    continue
                # The companion contains this request's reservation and those of the
                # pair's requests still in flight. Without it, a concurrent success
                # took them all off already, and nothing is left to take off.
                companion_key = self._key("failed", spec.companion)
                companion = self._get(companion_key)
                own = companion["c"] if _live(companion, now) else 0
                self._delete(companion_key)
                self._take_back(self._key("failed", spec.subject), own, now)

    # --- administration --------------------------------------------------------------

    def get_states(self, specs: Sequence[SubjectSpec], now: float) -> list[SubjectState]:
        return [self._state(spec.subject, now) for spec in specs]

    def _state(self, subject: Subject, now: float) -> SubjectState:
        failed = self._get(self._key("failed", subject))
        history = self._get(self._key("lockouts", subject))
        block = self._get(self._key("blocked", subject))
        failures = failed["c"] if _live(failed, now) else 0
        lockouts = history["c"] if _live(history, now) else 0
        if not _live(block, now):
            return SubjectState(subject=subject, failures=failures, lockout_count=lockouts)
        display = block.get("d") or subject.display
        return SubjectState(
            subject=Subject(subject.kind, subject.identity, subject.scope, display),
            failures=failures,
            blocked=True,
            blocked_since=block["s"],
            blocked_until=block["u"],
            lockout_count=max(lockouts, block["n"]),
            manual=bool(block["m"]),
        )

    def block(
        self, spec: SubjectSpec, duration: int, now: float, *, manual: bool = True
    ) -> SubjectState:
        subject = spec.subject
        with _lock:
            history = self._get(self._key("lockouts", subject))
            lockouts = history["c"] if _live(history, now) else 0
            ends = now + duration if duration else 0
            record = {"s": now, "u": ends, "n": lockouts, "m": manual, "d": subject.label}
            self._set(self._key("blocked", subject), record, duration)
            self._index_add(subject, ends)
        return SubjectState(
            subject=subject,
            blocked=True,
            blocked_since=now,
            blocked_until=ends,
            lockout_count=lockouts,
            manual=manual,
        )

    def unblock(self, subject: Subject) -> bool:
        with _lock:
            block_key = self._key("blocked", subject)
            was_blocked = self._get(block_key) is not None
            self._delete(block_key, self._key("failed", subject), self._key("lockouts", subject))
            index = self._get(self._index(subject)) or {}
            if index.pop(subject.identity, None) is not None:
                self._set(self._index(subject), index, 0)
        return was_blocked

    def _index(self, subject: Subject) -> str:
        return index_key(self.prefix, subject.scope, subject.kind)

    def _index_add(self, subject: Subject, ends: float) -> None:
        key = self._index(subject)
        index = self._get(key) or {}
        index[subject.identity] = ends
        self._set(key, index, 0)

    def list_blocked(
        self, scope: str, kind: str, now: float, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[SubjectState]]:
        key = index_key(self.prefix, scope, kind)
        with _lock:
            index = self._get(key) or {}
            live = {ident: ends for ident, ends in index.items() if ends == 0 or ends > now}
            if len(live) != len(index):
                self._set(key, live, 0)
        ordered = sorted(live.items(), key=lambda item: (item[1] == 0, item[1], item[0]))
        page = ordered[offset : offset + limit]
        states = [self._state(Subject(kind, ident, scope), now) for ident, _ends in page]
        return len(live), [state for state in states if state.blocked]

    # --- run-time allow and deny lists -----------------------------------------------

    def get_lists(self) -> tuple[str | None, dict[str, set[str]]]:
        with _lock:
            version = self._get(lists_version_key(self.prefix))
            lists = {
                name: set(self._get(lists_key(self.prefix, name)) or ()) for name in LIST_NAMES
            }
        return (None if version is None else str(version)), lists

    def add_list_entry(self, list_name: str, value: str) -> bool:
        return self._change_list(list_name, value, add=True)

    def remove_list_entry(self, list_name: str, value: str) -> bool:
        return self._change_list(list_name, value, add=False)

    def _change_list(self, list_name: str, value: str, *, add: bool) -> bool:
        key = lists_key(self.prefix, list_name)
        with _lock:
            entries = set(self._get(key) or ())
            if (value in entries) == add:
                return False
            if add:
                entries.add(value)
            else:
                entries.discard(value)
            self._set(key, entries, 0)
            version_key = lists_version_key(self.prefix)
            self._set(version_key, int(self._get(version_key) or 0) + 1, 0)
        return True

    # --- health ----------------------------------------------------------------------

    def ping(self) -> None:
        self._get(f"{self.prefix}:ping")
