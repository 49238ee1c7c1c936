"""The lockout service: the one place where policy meets storage.

Every integration follows the same three steps::

    attempt = get_service().begin(request, username=username)   # may raise LockedOut
    ... check the credentials ...
    attempt.succeeded()  # or attempt.failed(), which raises LockedOut on a new block

``begin`` reserves a credential check for each counted subject in one backend round
trip, so that however many requests race, at most LIMIT + 1 of them reach the password
hasher for one subject. ``failed`` costs one more round trip only when it starts a
block, and ``succeeded`` only when failures are on record to clear: otherwise the
release travels with the process's next reservation (see ``pending_writes``).

Reset rule on success: the counters of the username and of the IP-and-username pair are
deleted. The IP counter loses only the failures of that same username from that IP,
because each IP reservation also counts its pair for this purpose. A user's own typos are
forgiven, but a client that owns one valid account cannot refill its budget for
guessing other accounts by logging in between guesses. A success never lifts an
active block.
"""

from __future__ import annotations

import atexit
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from django.http import HttpRequest

from . import identity, signals
from .backends import get_backend
from .backends.base import (
    Backend,
    FailureOutcome,
    Reservation,
    ReserveStatus,
    SubjectSpec,
    SubjectState,
)
from .conf import defender_settings, on_reload
from .exceptions import BackendUnavailable, BackendUnavailableResponse, LockedOut
from .keys import (
    KIND_IP,
    KIND_PAIR,
    KIND_USERNAME,
    PAIR_SEPARATOR,
    SCOPE_LOGIN,
    ScopePolicy,
    Subject,
    get_policy,
)
from .pending_writes import PendingWrites

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
_clock: Clock = time.time


def now() -> float:
    """Return the service's current time in epoch seconds."""
    return _clock()


def set_clock(clock: Clock | None) -> None:
    """Replace the service's clock (``None`` restores ``time.time``); meant for tests."""
    global _clock
    _clock = clock or time.time


# --------------------------------------------------------------------------------------
# Outage reporting


class OutageReporter:
    """Log one error per outage window and one message when the backend recovers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._last_log = 0.0
        self._suppressed = 0

    @property
    def is_down(self) -> bool:
        return self._down_since is not None

    def failure(self, error: BackendUnavailable, operation: str) -> None:
        current = time.monotonic()
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = current
            interval = float(defender_settings.BACKEND_ERROR_LOG_INTERVAL)
            if not first and current - self._last_log < interval:
                self._suppressed += 1
                return
            suppressed, self._suppressed = self._suppressed, 0
            self._last_log = current
        logger.error(
            "drf-defender backend unavailable during %s (policy: fail %s, %d similar "
            "errors not logged): %s",
            operation,
            defender_settings.BACKEND_FAILURE_POLICY,
            suppressed,
            error,
        )

    def success(self) -> None:
        if self._down_since is None:
            return
        with self._lock:
            if self._down_since is None:
                return
            duration = time.monotonic() - self._down_since
            suppressed = self._suppressed
            self._down_since = None
            self._suppressed = 0
        logger.warning(
            "drf-defender backend recovered after %.1f s (%d errors not logged)",
            duration,
            suppressed,
        )


# --------------------------------------------------------------------------------------
# Allow and deny lists


@dataclass
class _Lists:
    """Allow and deny lists from settings merged with the run-time lists of the backend."""

    version: str | None = None
    loaded_at: float = -math.inf
    username_allow: frozenset[str] = frozenset()
    username_deny: frozenset[str] = frozenset()
    ip_allow: list[IPv4Network | IPv6Network] = field(default_factory=list)
    ip_deny: list[IPv4Network | IPv6Network] = field(default_factory=list)
    shared: list[IPv4Network | IPv6Network] = field(default_factory=list)

    def allows(self, ip: str | None, username: str | None) -> bool:
        if username is not None and username in self.username_allow:
            return True
        return identity.ip_in_networks(ip, self.ip_allow)

    def denies(self, ip: str | None, username: str | None) -> bool:
        if username is not None and username in self.username_deny:
            return True
        return identity.ip_in_networks(ip, self.ip_deny)


def _usernames(values: Iterable[str]) -> frozenset[str]:
    names = (identity.username_identity(value) for value in values)
    return frozenset(name for name in names if name)


def _networks(values: Iterable[str]) -> list[IPv4Network | IPv6Network]:
    networks: list[IPv4Network | IPv6Network] = []
    for value in values:
        try:
            networks.extend(identity.parse_networks([value]))
        except ValueError:
            logger.warning("drf-defender ignores the invalid list entry %r", value)
    return networks


# --------------------------------------------------------------------------------------
# Attempts


@dataclass
class Attempt:
    """One credential check in progress, as returned by :meth:`LockoutService.begin`.

    Call exactly one of :meth:`succeeded`, :meth:`failed` or :meth:`abandon`.
    """

    service: LockoutService
    scope: str
    ip: str | None
    username: str | None
    username_key: str | None
    integration: str
    request: HttpRequest | None = None
    reservations: list[Reservation] = field(default_factory=list)
    #: False when nothing is counted: allow-listed, no identity, or backend down.
    tracked: bool = True
    degraded: bool = False
    resolved: bool = False

    def succeeded(self) -> None:
        """Record a successful credential check."""
        if self._resolve():
            self.service._record_success(self)

    def failed(self) -> None:
        """Record a failed credential check.

        Raises :class:`LockedOut` if this failure is over a limit, so the caller sends
        the lockout response instead of its bad-credentials error.
        """
        if self._resolve():
            self.service._record_failure(self)

    def abandon(self) -> None:
        """Give back the reservations of a check that did not happen (invalid input)."""
        if self._resolve() and self.reservations:
            self.service._release(self.reservations)

    def _resolve(self) -> bool:
        if self.resolved:
            return False
        self.resolved = True
        return True


@dataclass(frozen=True)
class IdentityStatus:
    """The state of every subject that an identity is counted under."""

    scope: str
    states: list[SubjectState]
    checked_at: float

    @property
    def blocked(self) -> bool:
        return any(state.blocked for state in self.states)

    def seconds_left(self) -> int | None:
        """Return the seconds until every block ends; None when one has no end."""
        waits = [state.seconds_left(self.checked_at) for state in self.states if state.blocked]
        if not waits:
            return 0
        if any(wait is None for wait in waits):
            return None
        return max(wait for wait in waits if wait is not None)


# --------------------------------------------------------------------------------------
# The service


class LockoutService:
    """Count failed credential checks, block subjects past their limit, and report."""

    #: Maximum number of subjects remembered as blocked, to route requests from them.
    HINT_CAPACITY = 10_000

    def __init__(self, backend: Backend | None = None) -> None:
        self._backend = backend
        self.outages = OutageReporter()
        self._lists = _Lists()
        self._lists_lock = threading.Lock()
        # Subjects this process saw blocked, with the end of the block (inf: no end).
        # They only order the backend calls, so that a request for a blocked subject
        # costs one round trip; every decision still comes from the backend.
        self._blocked_hints: dict[Subject, float] = {}
        self.pending = PendingWrites(self.flush_pending_writes, _flush_interval)

    @property
    def backend(self) -> Backend:
        return self._backend if self._backend is not None else get_backend()

    # --- building subjects -------------------------------------------------------------

    def subjects(
        self, policy: ScopePolicy, ip: str | None, username_key: str | None, shared: bool
    ) -> list[Subject]:
        """Return the subjects one attempt is counted under."""
        ip_identity = identity.ip_subject(ip) if ip else None
        scope = policy.scope
        result: list[Subject] = []
        for kind in policy.kinds:
            if kind == KIND_IP and ip_identity and not shared:
                result.append(Subject(KIND_IP, ip_identity, scope, ip or ip_identity))
            elif kind == KIND_USERNAME and username_key:
                result.append(Subject(KIND_USERNAME, username_key, scope, username_key))
            elif kind == KIND_PAIR and ip_identity and username_key:
                pair = f"{ip_identity}{PAIR_SEPARATOR}{username_key}"
                result.append(Subject(KIND_PAIR, pair, scope, f"{ip} {username_key}"))
            elif kind == KIND_PAIR and username_key:
                # Without an IP, the pair degrades to the username alone.
                result.append(Subject(KIND_USERNAME, username_key, scope, username_key))
            elif kind == KIND_PAIR and ip_identity and not shared:
                # Without a username, the pair degrades to the IP alone.
                result.append(Subject(KIND_IP, ip_identity, scope, ip or ip_identity))
        return result

    # --- the login path ----------------------------------------------------------------

    def begin(
        self,
        request: HttpRequest | None = None,
        *,
        username: str | None = None,
        ip: str | None = None,
        scope: str = SCOPE_LOGIN,
        integration: str = "custom",
    ) -> Attempt:
        """Start a credential check; raise :class:`LockedOut` if it must not happen.

        ``username`` is the value as typed (normalised here); ``ip`` defaults to the
        client IP of ``request``. Raises :class:`BackendUnavailableResponse` when the
        backend is down and ``DEFENDER_BACKEND_FAILURE_POLICY`` is "closed".
        """
        attempt = self._new_attempt(request, username, ip, scope, integration)
        try:
            self._begin(attempt)
        except BackendUnavailable as error:
            self._on_outage(error, "begin")
            attempt.tracked = False
            attempt.degraded = True
            attempt.reservations = []
        except LockedOut:
            # A deny-list refusal has already sent the signal and resolved the attempt.
            if not attempt.resolved:
                attempt.resolved = True
                self._send_attempt(signals.attempt_blocked, attempt, locked_out=True)
            raise
        return attempt

    def _new_attempt(
        self,
        request: HttpRequest | None,
        username: str | None,
        ip: str | None,
        scope: str,
        integration: str,
    ) -> Attempt:
        if ip is None and request is not None:
            ip = identity.client_ip(request)
        return Attempt(
            service=self,
            scope=scope,
            ip=ip,
            username=username if isinstance(username, str) else None,
            username_key=identity.username_identity(username),
            integration=integration,
            request=request,
        )

    def check(
        self,
        request: HttpRequest | None = None,
        *,
        username: str | None = None,
        ip: str | None = None,
        scope: str = SCOPE_LOGIN,
        integration: str = "custom",
    ) -> None:
        """Raise :class:`LockedOut` if a subject of this identity is blocked or denied.

        Unlike ``begin``, nothing is reserved or counted. ``begin`` caps the concurrent
        checks of one subject at LIMIT + 1, which would refuse valid requests of a busy
        client when a secret is checked on every request. ``check`` sets no such cap and
        so does not bound racing guesses either: use it only for secrets too long to
        guess, such as API tokens, and record a failed check with ``begin`` and
        ``failed``. The backend outage policy applies as in ``begin``.
        """
        attempt = self._new_attempt(request, username, ip, scope, integration)
        ip = attempt.ip
        try:
            lists = self._current_lists()
            if self._screen(attempt, lists):
                return
            policy = get_policy(scope)
            shared = identity.ip_in_networks(ip, lists.shared)
            subjects = self.subjects(policy, ip, attempt.username_key, shared)
            current = now()
            specs = [SubjectSpec.build(subject, policy) for subject in subjects]
            states = self.backend.get_states(specs, current) if specs else []
            self.outages.success()
        except BackendUnavailable as error:
            self._on_outage(error, "check")
            return
        blocked = [state for state in states if state.blocked]
        if not blocked:
            return
        waits = [state.seconds_left(current) for state in blocked]
        retry_after = None
        if all(wait is not None for wait in waits):
            retry_after = max(1, *(wait for wait in waits if wait is not None))
        attempt.resolved = True
        self._send_attempt(signals.attempt_blocked, attempt, locked_out=True)
        raise LockedOut(
            retry_after,
            limit=min(policy.limit(state.subject.kind) for state in blocked),
            status_code=defender_settings.LOCKOUT_STATUS_CODE,
        )

    def _begin(self, attempt: Attempt) -> None:
        lists = self._current_lists()
        if self._screen(attempt, lists):
            return

        policy = get_policy(attempt.scope)
        shared = identity.ip_in_networks(attempt.ip, lists.shared)
        subjects = self.subjects(policy, attempt.ip, attempt.username_key, shared)
        if not subjects:
            attempt.tracked = False
            _log_untracked(attempt)
            return

        specs = [self._spec(subject, policy, attempt) for subject in subjects]
        reservations = self._reserve(specs, policy)
        self.outages.success()
        attempt.reservations = reservations

        # The version read with the reservation shows whether another process changed
        # the run-time lists since this process loaded them.
        if self._lists_changed:
            self._lists_changed = False
            lists = self._reload_lists()
            if lists.allows(attempt.ip, attempt.username_key) or lists.denies(
                attempt.ip, attempt.username_key
            ):
                self._release(reservations)
                attempt.reservations = []
                self._screen(attempt, lists)

    _lists_changed = False

    @staticmethod
    def _spec(subject: Subject, policy: ScopePolicy, attempt: Attempt) -> SubjectSpec:
        companion = None
        if subject.kind == KIND_IP and attempt.username_key:
            pair = f"{subject.identity}{PAIR_SEPARATOR}{attempt.username_key}"
            companion = Subject(KIND_PAIR, pair, subject.scope)
        return SubjectSpec.build(subject, policy, companion)

    def _screen(self, attempt: Attempt, lists: _Lists) -> bool:
        """Apply the allow and deny lists; return True if the attempt is not counted."""
        if lists.denies(attempt.ip, attempt.username_key):
            attempt.tracked = False
            attempt.resolved = True
            self._send_attempt(signals.attempt_blocked, attempt, locked_out=True)
            raise LockedOut(None, status_code=defender_settings.LOCKOUT_STATUS_CODE)
        if lists.allows(attempt.ip, attempt.username_key):
            attempt.tracked = False
            return True
        return False

    def _reserve(self, specs: list[SubjectSpec], policy: ScopePolicy) -> list[Reservation]:
        """Reserve a check on every subject, or raise LockedOut with nothing counted."""
        current = now()
        hinted = [spec for spec in specs if self._hinted_blocked(spec.subject, current)]
        reservations: list[Reservation] = []
        if hinted:
            # Ask about the subjects last seen blocked first: if one still is, the
            # request is refused after one round trip and nothing was counted.
            reservations, version = self._reserve_carrying_writes(hinted, current)
            self._note_version(version)
            self._refuse_if_locked(reservations, policy)
            specs = [spec for spec in specs if spec not in hinted]
        if specs:
            more, version = self._reserve_carrying_writes(specs, current)
            self._note_version(version)
            reservations.extend(more)
            self._refuse_if_locked(reservations, policy)
        return reservations

    def _reserve_carrying_writes(
        self, specs: list[SubjectSpec], current: float
    ) -> tuple[list[Reservation], str | None]:
        entries = self.pending.take()
        releases = self.pending.take_releases()
        try:
            return self.backend.reserve(specs, current, audit=entries, release=releases)
        except BackendUnavailable:
            # NOTE: when a Cluster pipeline fails on one node only, entries that reached
            # the stream's node are queued again too, so the log may hold them twice.
            self.pending.put_back(entries)
            raise

    def _refuse_if_locked(self, reservations: list[Reservation], policy: ScopePolicy) -> None:
        refused = [r for r in reservations if r.status != ReserveStatus.RESERVED]
        for reservation in reservations:
            if reservation.status == ReserveStatus.BLOCKED:
                ends = reservation.blocked_until or 0
                self._hint(reservation.spec.subject, ends)
            elif reservation.status == ReserveStatus.RESERVED:
                self._blocked_hints.pop(reservation.spec.subject, None)
        if not refused:
            return
        self._release(r for r in reservations if r.status == ReserveStatus.RESERVED)
        raise self._lockout(refused, policy)

    def _lockout(self, refused: list[Reservation], policy: ScopePolicy) -> LockedOut:
        current = now()
        waits: list[int | None] = []
        for reservation in refused:
            if reservation.status == ReserveStatus.BLOCKED:
                ends = reservation.blocked_until or 0
                waits.append(None if ends == 0 else max(1, math.ceil(ends - current)))
            else:
                # A check that will decide the block is still under way; the block it
                # would start is the next one in the escalation.
                # NOTE: the lockout count is not read here, so the first duration is
                # reported even when the coming block would escalate.
                duration = policy.lockout_duration(reservation.lockout_count + 1)
                waits.append(None if duration == 0 else duration)
        retry_after = None if any(w is None for w in waits) else max(w for w in waits if w)
        limit = min(r.spec.limit for r in refused)
        return LockedOut(
            retry_after, limit=limit, status_code=defender_settings.LOCKOUT_STATUS_CODE
        )

    def _queue_audit(self, attempt: Attempt, *, success: bool, locked_out: bool) -> None:
        """Queue the attempt's access-log entry for the stream, in buffered mode."""
        if not (
            defender_settings.STORE_ACCESS_ATTEMPTS
            and defender_settings.ACCESS_LOG_MODE == "buffered"
        ):
            return
        backend = self.backend
        if backend.supports_attempt_stream:
            # The timer sends the entries to this backend even if the settings that
            # chose it have changed since.
            self._pending_backend = backend
            self.pending.add(audit_entry(attempt, success=success, locked_out=locked_out))

    _pending_backend: Backend | None = None

    def flush_pending_writes(self, *, final: bool = False) -> None:
        """Send the access-log entries and releases that wait in this process.

        A timer calls it; tests and shutdown code may call it directly. On a backend
        outage the entries wait for the next call and the releases are dropped, which
        leaves their counters one higher until they expire. With ``final`` set the
        entries are dropped too, and the loss is logged.
        """
        if final:
            self.pending.cancel()
        entries = self.pending.take()
        releases = self.pending.take_releases()
        if not (entries or releases):
            return
        backend = self._pending_backend or self.backend
        try:
            backend.release(releases, now(), audit=entries)
            self.outages.success()
        except BackendUnavailable as error:
            if final:
                logger.error(
                    "drf-defender dropped %d access-log entries and %d releases: the "
                    "backend is unreachable and the service is shutting down: %s",
                    len(entries),
                    len(releases),
                    error,
                )
                return
            self.pending.put_back(entries)
            self.outages.failure(error, "flush of waiting writes")

    def _record_failure(self, attempt: Attempt) -> None:
        locked_out: LockedOut | None = None
        # A slot above a limit always ends in a block (new or concurrent), so the
        # record can be marked "locked out" before the backend replies.
        predicted = any(r.count > r.spec.limit for r in attempt.reservations)
        self._queue_audit(attempt, success=False, locked_out=predicted)
        if attempt.tracked and attempt.reservations:
            # Only a slot above the limit costs a backend call. The waiting entries
            # travel with that call, or else wait for a later one.
            carried = self.pending.take() if predicted else []
            try:
                outcomes = self.backend.record_failure(attempt.reservations, now(), carried)
                self.outages.success()
            except BackendUnavailable as error:
                self.pending.put_back(carried)
                self._on_outage(error, "record_failure", raise_closed=False)
                outcomes = []
            locked = [o for o in outcomes if o.blocked_until is not None]
            for outcome in outcomes:
                if outcome.blocked_now:
                    self._announce_block(outcome, attempt)
            if locked:
                locked_out = self._failure_lockout(locked)
        self._send_attempt(signals.attempt_failed, attempt, locked_out=locked_out is not None)
        if locked_out is not None:
            raise locked_out

    def _failure_lockout(self, outcomes: list[FailureOutcome]) -> LockedOut:
        current = now()
        waits = [
            None if not o.blocked_until else max(1, math.ceil(o.blocked_until - current))
            for o in outcomes
        ]
        retry_after = None if any(w is None for w in waits) else max(w for w in waits if w)
        for outcome in outcomes:
            self._hint(outcome.spec.subject, outcome.blocked_until or 0)
        limit = min(o.spec.limit for o in outcomes)
        return LockedOut(
            retry_after, limit=limit, status_code=defender_settings.LOCKOUT_STATUS_CODE
        )

    def _record_success(self, attempt: Attempt) -> None:
        self._queue_audit(attempt, success=True, locked_out=False)
        if attempt.tracked and attempt.reservations:
            if self._can_defer_release(attempt.reservations):
                # Nothing was on record but this request's own reservation, so giving
                # it back is all that the success has to do, and it can wait for the
                # next backend call of the process.
                self._pending_backend = self.backend
                self.pending.add_releases([r.spec for r in attempt.reservations])
            else:
                self._clear_after_success(attempt.reservations)
        self._send_attempt(signals.attempt_succeeded, attempt, locked_out=False)

    def _can_defer_release(self, reservations: list[Reservation]) -> bool:
        # A companion above 1 contains earlier failures of the pair, for example after
        # an unblock cleared the IP's own counter. Only an immediate success deletes it.
        return self.backend.carries_pending_writes and all(
            r.count == 1 and r.companion_count <= 1 for r in reservations
        )

    def _clear_after_success(self, reservations: list[Reservation]) -> None:
        clear = [r.spec for r in reservations if r.spec.subject.kind != KIND_IP]
        release = [r.spec for r in reservations if r.spec.subject.kind == KIND_IP]
        carried = self.pending.take()
        try:
            self.backend.record_success(clear, release, now(), carried)
            self.outages.success()
        except BackendUnavailable as error:
            self.pending.put_back(carried)
            self._on_outage(error, "record_success", raise_closed=False)

    def _release(self, reservations: Iterable[Reservation]) -> None:
        specs = [r.spec for r in reservations if r.status == ReserveStatus.RESERVED]
        if not specs:
            return
        try:
            self.backend.release(specs, now())
        except BackendUnavailable as error:
            self._on_outage(error, "release", raise_closed=False)

    def _on_outage(
        self, error: BackendUnavailable, operation: str, *, raise_closed: bool = True
    ) -> None:
        self.outages.failure(error, operation)
        if raise_closed and defender_settings.BACKEND_FAILURE_POLICY == "closed":
            raise BackendUnavailableResponse(
                status_code=defender_settings.BACKEND_UNAVAILABLE_STATUS_CODE
            ) from error

    # --- hints -------------------------------------------------------------------------

    def _hint(self, subject: Subject, ends: float) -> None:
        if len(self._blocked_hints) >= self.HINT_CAPACITY:
            self._blocked_hints.clear()
        self._blocked_hints[subject] = math.inf if ends == 0 else ends

    def _hinted_blocked(self, subject: Subject, current: float) -> bool:
        ends = self._blocked_hints.get(subject)
        if ends is None:
            return False
        if ends <= current:
            self._blocked_hints.pop(subject, None)
            return False
        return True

    # --- lists ---------------------------------------------------------------------------

    def _current_lists(self) -> _Lists:
        lists = self._lists
        max_age = float(defender_settings.LISTS_CACHE_SECONDS)
        if time.monotonic() - lists.loaded_at < max_age:
            return lists
        return self._reload_lists()

    def _reload_lists(self) -> _Lists:
        with self._lists_lock:
            version, stored = self.backend.get_lists()
            lists = _Lists(
                version=version,
                loaded_at=time.monotonic(),
                username_allow=_usernames(
                    [*defender_settings.USERNAME_ALLOWLIST, *stored["username_allow"]]
                ),
                username_deny=_usernames(
                    [*defender_settings.USERNAME_DENYLIST, *stored["username_deny"]]
                ),
                ip_allow=_networks([*defender_settings.IP_ALLOWLIST, *stored["ip_allow"]]),
                ip_deny=_networks([*defender_settings.IP_DENYLIST, *stored["ip_deny"]]),
                shared=_networks(defender_settings.SHARED_NETWORKS),
            )
            self._lists = lists
        return lists

    def _note_version(self, version: str | None) -> None:
        if version != self._lists.version:
            self._lists_changed = True

    def invalidate_lists(self) -> None:
        """Make the next attempt reload the allow and deny lists."""
        self._lists = _Lists()

    # --- signals -------------------------------------------------------------------------

    def _announce_block(self, outcome: FailureOutcome, attempt: Attempt) -> None:
        subject = outcome.spec.subject
        seconds = (
            None if not outcome.blocked_until else max(1, math.ceil(outcome.blocked_until - now()))
        )
        # The request that started the block names both values, whichever subject
        # tripped, and ``reason`` names the subject that did.
        username = attempt.username_key
        ip_address = attempt.ip
        logger.warning(
            "drf-defender blocked %s %s in scope %s for %s (lockout %d)",
            subject.reason,
            _masked(subject.kind, subject.label),
            subject.scope,
            "ever" if seconds is None else f"{seconds} s",
            outcome.lockout_count,
        )
        self._send_block_signals(
            subject,
            username=username,
            ip_address=ip_address,
            seconds=seconds,
            lockout_count=outcome.lockout_count,
            manual=False,
        )

    def _send_block_signals(
        self,
        subject: Subject,
        *,
        username: str | None,
        ip_address: str | None,
        seconds: int | None,
        lockout_count: int,
        manual: bool,
    ) -> None:
        if subject.kind == KIND_USERNAME:
            signals.username_block.send(
                sender=LockoutService, username=subject.label, scope=subject.scope
            )
        elif subject.kind == KIND_IP:
            signals.ip_block.send(
                sender=LockoutService, ip_address=subject.label, scope=subject.scope
            )
        signals.lockout.send(
            sender=LockoutService,
            reason=subject.reason,
            username=username,
            ip_address=ip_address,
            scope=subject.scope,
            seconds=seconds,
            lockout_count=lockout_count,
            manual=manual,
        )

    def _send_attempt(self, signal: Any, attempt: Attempt, *, locked_out: bool) -> None:
        signal.send(
            sender=LockoutService,
            request=attempt.request,
            username=attempt.username,
            ip_address=attempt.ip,
            scope=attempt.scope,
            integration=attempt.integration,
            locked_out=locked_out,
            attempt=attempt,
        )

    # --- administration ------------------------------------------------------------------

    def identity_subjects(
        self, *, username: str | None = None, ip: str | None = None, scope: str = SCOPE_LOGIN
    ) -> list[Subject]:
        """Return every subject an identity can be counted under, whatever the mode."""
        username_key = admin_username_key(username)
        ip_identity = identity.ip_subject(ip) if ip else None
        subjects: list[Subject] = []
        if ip_identity:
            subjects.append(Subject(KIND_IP, ip_identity, scope, ip or ip_identity))
        if username_key:
            subjects.append(Subject(KIND_USERNAME, username_key, scope, username_key))
        if ip_identity and username_key:
            pair = f"{ip_identity}{PAIR_SEPARATOR}{username_key}"
            subjects.append(Subject(KIND_PAIR, pair, scope, f"{ip} {username_key}"))
        return subjects

    def status(
        self, *, username: str | None = None, ip: str | None = None, scope: str = SCOPE_LOGIN
    ) -> IdentityStatus:
        """Return the failure counts and blocks stored for an identity.

        Writes that wait in this process are sent first, so that the counts include
        the releases of its recent successes.
        """
        if len(self.pending):
            self.flush_pending_writes()
        policy = get_policy(scope)
        subjects = self.identity_subjects(username=username, ip=ip, scope=scope)
        specs = [SubjectSpec.build(subject, policy) for subject in subjects]
        current = now()
        return IdentityStatus(scope, self.backend.get_states(specs, current), current)

    def block(
        self,
        kind: str,
        value: str,
        *,
        duration: int | None = None,
        scope: str = SCOPE_LOGIN,
        actor: str | None = None,
    ) -> SubjectState:
        """Block a username (``kind="username"``) or an IP by hand.

        ``duration`` is in seconds; 0 blocks until unblocked; None uses the first
        lockout duration of the scope.
        """
        policy = get_policy(scope)
        subject = self._admin_subject(kind, value, scope)
        seconds = policy.lockout_duration(1) if duration is None else int(duration)
        state = self.backend.block(SubjectSpec.build(subject, policy), seconds, now())
        logger.info(
            "drf-defender: %s blocked %s %s in scope %s by hand",
            actor or "an administrator",
            subject.reason,
            _masked(subject.kind, subject.label),
            scope,
        )
        self._send_block_signals(
            subject,
            username=subject.label if kind == KIND_USERNAME else None,
            ip_address=subject.label if kind == KIND_IP else None,
            seconds=seconds or None,
            lockout_count=state.lockout_count,
            manual=True,
        )
        return state

    def unblock(
        self, kind: str, value: str, *, scope: str = SCOPE_LOGIN, actor: str | None = None
    ) -> bool:
        """Lift the block and delete the counters of one subject; return whether it was blocked.

        ``kind`` is "username", "ip" or "ipusername"; for the pair, ``value`` is
        ``"<ip>|<username>"``. The effect is immediate for every process.
        """
        subject = self._admin_subject(kind, value, scope)
        was_blocked = self.backend.unblock(subject)
        self._blocked_hints.pop(subject, None)
        logger.info(
            "drf-defender: %s %s %s %s in scope %s and deleted its counters",
            actor or "an administrator",
            "unblocked" if was_blocked else "found no block on",
            subject.reason,
            _masked(subject.kind, subject.label),
            scope,
        )
        if subject.kind == KIND_USERNAME:
            signals.username_unblock.send(
                sender=LockoutService, username=subject.label, scope=scope
            )
        elif subject.kind == KIND_IP:
            signals.ip_unblock.send(sender=LockoutService, ip_address=subject.label, scope=scope)
        signals.unblock.send(
            sender=LockoutService, reason=subject.reason, identity=subject.label, scope=scope
        )
        return was_blocked

    def list_blocked(
        self, kind: str, *, scope: str = SCOPE_LOGIN, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[SubjectState]]:
        """Return the number of blocked subjects of ``kind`` and one page of them."""
        return self.backend.list_blocked(scope, kind, now(), offset=offset, limit=limit)

    def get_lists(self) -> dict[str, set[str]]:
        """Return the run-time allow and deny lists stored in the backend."""
        return self.backend.get_lists()[1]

    def add_list_entry(self, list_name: str, value: str, *, actor: str | None = None) -> bool:
        """Add a username, IP or network to a run-time list; effective at once here.

        Sends ``list_entry_added`` when the entry was not there yet.
        """
        added = self.backend.add_list_entry(list_name, value)
        self.invalidate_lists()
        if added:
            self._announce_list_change(signals.list_entry_added, "added", list_name, value, actor)
        return added

    def remove_list_entry(self, list_name: str, value: str, *, actor: str | None = None) -> bool:
        """Remove an entry from a run-time list; effective at once here.

        Sends ``list_entry_removed`` when the entry was there.
        """
        removed = self.backend.remove_list_entry(list_name, value)
        self.invalidate_lists()
        if removed:
            self._announce_list_change(
                signals.list_entry_removed, "removed", list_name, value, actor
            )
        return removed

    @staticmethod
    def _announce_list_change(
        signal: Any, verb: str, list_name: str, value: str, actor: str | None
    ) -> None:
        kind = KIND_IP if list_name.startswith("ip_") else KIND_USERNAME
        logger.info(
            "drf-defender: %s %s %s in the list %s",
            actor or "an administrator",
            verb,
            _masked(kind, value),
            list_name,
        )
        signal.send(sender=LockoutService, list_name=list_name, value=value, actor=actor)

    def _admin_subject(self, kind: str, value: str, scope: str) -> Subject:
        if kind == KIND_USERNAME:
            key = admin_username_key(value)
            if not key:
                raise ValueError("The username is empty.")
            return Subject(KIND_USERNAME, key, scope, key)
        if kind == KIND_IP:
            canonical = identity.canonical_ip(value)
            if canonical is None:
                raise ValueError(f"{value!r} is not a valid IP address.")
            return Subject(KIND_IP, identity.ip_subject(canonical), scope, canonical)
        if kind == KIND_PAIR:
            ip_value, _, username_value = value.partition(PAIR_SEPARATOR)
            ip_subject = self._admin_subject(KIND_IP, ip_value, scope)
            user_subject = self._admin_subject(KIND_USERNAME, username_value, scope)
            pair = f"{ip_subject.identity}{PAIR_SEPARATOR}{user_subject.identity}"
            return Subject(KIND_PAIR, pair, scope, f"{ip_subject.label} {user_subject.label}")
        raise ValueError(f"Unknown subject kind {kind!r}: use 'ip', 'username' or 'ipusername'.")


def admin_username_key(value: str | None) -> str | None:
    """Return the identity of a username typed by an administrator.

    A hashed identity, as status lookups and block listings show it for long or
    non-ASCII usernames, is taken as it is, so that a listed entry can be looked up and
    unblocked. Any other value is normalised like a login username.
    """
    if isinstance(value, str) and _HASHED_IDENTITY.fullmatch(value):
        return value
    return identity.username_identity(value)


# NOTE: a login username that is itself "h:" followed by 40 lowercase hex digits is read
# here as a hashed identity and not hashed again. Only a user who typed exactly that form
# at login is affected.
_HASHED_IDENTITY = re.compile(
    re.escape(identity.HASHED_USERNAME_PREFIX)
    + f"[0-9a-f]{{{identity.HASHED_USERNAME_HEX_DIGITS}}}"
)


#: Maximum characters of each text field in an attempt record: the widest column of the
#: access log (``http_accept``, 1025 as in django-defender). Narrower columns truncate again.
AUDIT_FIELD_MAX = 1025


def audit_entry(attempt: Attempt, *, success: bool, locked_out: bool) -> dict[str, str]:
    """Describe one credential check as text fields, for the access log."""
    request = attempt.request
    meta = request.META if request is not None else {}
    path = request.path if request is not None else ""

    def text(value: object) -> str:
        # A lone surrogate (JSON allows "\ud800") cannot be encoded as UTF-8, and redis-py
        # would raise while sending the whole failure pipeline; it becomes "?".
        cut = str(value or "")[:AUDIT_FIELD_MAX]
        return cut.encode("utf-8", "replace").decode("utf-8")

    return {
        "time": f"{now():.6f}",
        "ip": text(attempt.ip),
        "username": text(attempt.username),
        "username_key": text(attempt.username_key),
        "user_agent": text(meta.get("HTTP_USER_AGENT")),
        "http_accept": text(meta.get("HTTP_ACCEPT")),
        "path": text(path),
        "success": "1" if success else "0",
        "locked_out": "1" if locked_out else "0",
        "integration": text(attempt.integration),
        "scope": text(attempt.scope),
    }


def _masked(kind: str, label: str) -> str:
    if defender_settings.LOG_FULL_IDENTITIES:
        return label
    if kind == KIND_IP:
        return identity.mask_ip(label)
    if kind == KIND_USERNAME:
        return identity.mask_username(label)
    ip, _, username = label.partition(" ")
    return f"{identity.mask_ip(ip)} {identity.mask_username(username)}"


_untracked_logged_at = -math.inf


def _log_untracked(attempt: Attempt) -> None:
    global _untracked_logged_at
    current = time.monotonic()
    if current - _untracked_logged_at < 60:
        return
    _untracked_logged_at = current
    logger.warning(
        "drf-defender could not count a %s attempt from %s: neither a client IP nor a "
        "username was found (check DEFENDER_USERNAME_FORM_FIELD and the proxy settings)",
        attempt.integration,
        attempt.request.path if attempt.request is not None else "custom code",
    )


def _flush_interval() -> float:
    return float(defender_settings.PENDING_WRITES_FLUSH_INTERVAL)


_service: LockoutService | None = None
_service_lock = threading.Lock()


def get_service() -> LockoutService:
    """Return the process-wide lockout service."""
    global _service
    service = _service
    if service is None:
        with _service_lock:
            if _service is None:
                _service = LockoutService()
            service = _service
    return service


@on_reload
def _reset_service() -> None:
    global _service
    with _service_lock:
        retired, _service = _service, None
    if retired is not None:
        retired.flush_pending_writes(final=True)


@atexit.register
def _flush_at_exit() -> None:
    """Send the writes that still wait when the interpreter exits."""
    service = _service
    if service is not None:
        service.flush_pending_writes(final=True)
