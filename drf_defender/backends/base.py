"""The contract that every lockout backend implements.

The service decides policy; a backend stores counters and blocks and makes each
subject's update atomic. Times are seconds since the epoch, given by the service's
clock, so that tests can move time without sleeping. Stored expiry times are compared
with that clock, and the backend's own key expiry only reclaims memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum

from ..keys import ScopePolicy, Subject


@dataclass(frozen=True)
class SubjectSpec:
    """A subject with the limits of its scope, as a backend needs them."""

    subject: Subject
    limit: int
    attempt_window: int
    lockout_durations: tuple[int, ...]
    lockout_memory: int
    #: For an IP subject: the pair of this IP and the username, counted beside the IP
    #: (never blocked) so that a success can forgive that username's own failures.
    companion: Subject | None = None

    @classmethod
    def build(
        cls, subject: Subject, policy: ScopePolicy, companion: Subject | None = None
    ) -> SubjectSpec:
        return cls(
            subject=subject,
            limit=policy.limit(subject.kind),
            attempt_window=policy.attempt_window,
            lockout_durations=policy.lockout_durations,
            lockout_memory=policy.lockout_memory,
            companion=companion,
        )


class ReserveStatus(IntEnum):
    """Outcome of reserving a credential check for one subject."""

    #: The failure counter was incremented; ``count`` is this request's slot.
    RESERVED = 0
    #: The subject is blocked; nothing was counted.
    BLOCKED = 1
    #: LIMIT + 1 checks are already under way or done; nothing was counted.
    OVER_LIMIT = 2


@dataclass(frozen=True)
class Reservation:
    spec: SubjectSpec
    status: ReserveStatus
    count: int = 0
    #: End of the block (epoch seconds); 0 for a block without expiry, None if not blocked.
    blocked_until: float | None = None
    lockout_count: int = 0
    #: The companion's count after this reservation; 0 without a companion.
    companion_count: int = 0


@dataclass(frozen=True)
class FailureOutcome:
    spec: SubjectSpec
    #: This failure started a block.
    blocked_now: bool
    #: End of the block (epoch seconds); 0 for a block without expiry, None if not blocked.
    blocked_until: float | None = None
    lockout_count: int = 0


@dataclass(frozen=True)
class SubjectState:
    """Stored state of one subject, for status lookups and listings."""

    subject: Subject
    failures: int = 0
    blocked: bool = False
    blocked_since: float | None = None
    #: End of the block (epoch seconds); 0 for a block without expiry.
    blocked_until: float | None = None
    lockout_count: int = 0
    manual: bool = False

    def seconds_left(self, now: float) -> int | None:
        """Return whole seconds until the block ends, None if it has no end, 0 if unblocked."""
        if not self.blocked:
            return 0
        if not self.blocked_until:
            return None
        return max(0, int(self.blocked_until - now + 0.999))


#: One access-attempt record for the buffered access log: field name to text.
AuditEntry = Mapping[str, str]


class Backend(ABC):
    """Storage of failure counters, blocks and run-time lists.

    Every method that takes several specs may send them in one round trip; each subject's
    update is atomic on its own. Driver errors are raised as
    :class:`drf_defender.exceptions.BackendUnavailable`.
    """

    #: Whether counting is atomic across processes (not only threads of one process).
    atomic_across_processes: bool = False
    #: Whether ``audit`` entries are kept in a stream for the buffered access log.
    supports_attempt_stream: bool = False
    #: Whether the service may hold back releases and access-log entries until its
    #: next ``reserve`` call, because every call costs a network round trip.
    carries_pending_writes: bool = False

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    # --- the login path --------------------------------------------------------------

    @abstractmethod
    def reserve(
        self,
        specs: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
        release: Sequence[SubjectSpec] = (),
    ) -> tuple[list[Reservation], str | None]:
        """Reserve one credential check for each subject, before the password is checked.

        For each subject, atomically: a blocked subject returns BLOCKED; a subject whose
        counter already holds ``limit + 1`` returns OVER_LIMIT; otherwise the counter is
        incremented (and the companion's counter with it) and the request gets that
        slot. Also returns the version of the run-time lists, read in the same round trip.
        The reservations of ``release`` are given back first, as :meth:`release` does,
        and ``audit`` entries are appended to the attempt stream, in that round trip too.
        """

    @abstractmethod
    def release(
        self, specs: Sequence[SubjectSpec], now: float, audit: Sequence[AuditEntry] = ()
    ) -> None:
        """Give back reservations that were not followed by a failure.

        For a spec with a companion, both counters go down by one, but only while the
        companion's count is above zero: otherwise a concurrent success of the same
        pair has taken this reservation off already. ``audit`` entries are appended to
        the attempt stream in the same round trip when the backend has one.
        """

    @abstractmethod
    def record_failure(
        self, reservations: Sequence[Reservation], now: float, audit: Sequence[AuditEntry] = ()
    ) -> list[FailureOutcome]:
        """Confirm reserved slots as failures; a slot above the limit starts a block.

        The block's duration escalates with the subject's lockouts within
        ``lockout_memory``. The counter is then kept at ``limit``, so one more failure
        after the block ends starts the next block. ``audit`` entries are appended to
        the attempt stream in the same round trip when the backend has one.
        """

    @abstractmethod
    def record_success(
        self,
        clear: Sequence[SubjectSpec],
        release: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        """Delete the counters of ``clear`` and release the reservations of ``release``.

        For a spec of ``release`` with a companion, the companion's count (this
        request's reservation, that username's earlier failures from this IP and its
        requests still in flight) is taken off the IP counter and the companion is
        deleted. A missing companion takes nothing off, because a concurrent success of
        the same pair has taken this reservation off already. Blocks are never lifted.
        """

    # --- administration --------------------------------------------------------------

    @abstractmethod
    def get_states(self, specs: Sequence[SubjectSpec], now: float) -> list[SubjectState]:
        """Return the stored state of each subject."""

    @abstractmethod
    def block(
        self, spec: SubjectSpec, duration: int, now: float, *, manual: bool = True
    ) -> SubjectState:
        """Block a subject for ``duration`` seconds (0: until unblocked)."""

    @abstractmethod
    def unblock(self, subject: Subject) -> bool:
        """Delete a subject's block, counter and lockout history; return whether it was blocked."""

    @abstractmethod
    def list_blocked(
        self, scope: str, kind: str, now: float, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[SubjectState]]:
        """Return the number of blocked subjects of ``kind`` and one page of them.

        Ordered by block end, soonest first; blocks without expiry come last.
        """

    # --- run-time allow and deny lists -----------------------------------------------

    @abstractmethod
    def get_lists(self) -> tuple[str | None, dict[str, set[str]]]:
        """Return the lists' version and their entries, by list name."""

    @abstractmethod
    def add_list_entry(self, list_name: str, value: str) -> bool:
        """Add ``value`` to a list; return False if it was there already."""

    @abstractmethod
    def remove_list_entry(self, list_name: str, value: str) -> bool:
        """Remove ``value`` from a list; return False if it was not there."""

    # --- health ----------------------------------------------------------------------

    @abstractmethod
    def ping(self) -> None:
        """Raise BackendUnavailable unless the storage replies."""

    def close(self) -> None:  # noqa: B027 - optional hook with nothing to do by default
        """Release connections; the default has none to release."""
