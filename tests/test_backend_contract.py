"""One contract suite, run against every backend: a single Redis server, Redis Sentinel,
Redis Cluster and the Django cache."""

from __future__ import annotations

import pytest

from drf_defender.backends.base import Reservation, ReserveStatus, SubjectSpec
from drf_defender.keys import (
    KIND_IP,
    KIND_PAIR,
    KIND_USERNAME,
    PAIR_SEPARATOR,
    SCOPE_PASSWORD_RESET,
    Subject,
)
from tests.defender_fixtures import ALL_BACKEND_NAMES

pytestmark = pytest.mark.parametrize("backend_name", ALL_BACKEND_NAMES, indirect=True)

NOW = 1_800_000_000.0
ALICE = Subject(KIND_USERNAME, "alice", display="alice")
IP = Subject(KIND_IP, "203.0.113.10", display="203.0.113.10")


def spec(
    subject: Subject = ALICE,
    limit: int = 3,
    window: int = 300,
    durations=(300,),
    memory=86400,
    companion: Subject | None = None,
):
    return SubjectSpec(
        subject=subject,
        limit=limit,
        attempt_window=window,
        lockout_durations=tuple(durations),
        lockout_memory=memory,
        companion=companion,
    )


def reserve_one(backend, subject_spec, now=NOW) -> Reservation:
    reservations, _version = backend.reserve([subject_spec], now)
    return reservations[0]


def fail_times(backend, subject_spec, count, now=NOW):
    """Reserve and fail ``count`` times in sequence; return the last outcome."""
    outcome = None
    for _ in range(count):
        reservation = reserve_one(backend, subject_spec, now)
        assert reservation.status == ReserveStatus.RESERVED
        (outcome,) = backend.record_failure([reservation], now)
    return outcome


def test_reserve_hands_out_increasing_slots(backend):
    s = spec()
    slots = [reserve_one(backend, s).count for _ in range(4)]
    assert slots == [1, 2, 3, 4]


def test_reserve_refuses_past_limit_plus_one(backend):
    s = spec()
    for _ in range(4):
        reserve_one(backend, s)
    refused = reserve_one(backend, s)
    assert refused.status == ReserveStatus.OVER_LIMIT
    assert backend.get_states([s], NOW)[0].failures == 4


def test_failures_within_limit_do_not_block(backend):
    s = spec()
    outcome = fail_times(backend, s, 3)
    assert outcome.blocked_now is False
    assert outcome.blocked_until is None
    assert backend.get_states([s], NOW)[0].failures == 3


def test_failure_over_limit_blocks(backend):
    s = spec()
    fail_times(backend, s, 3)
    outcome = fail_times(backend, s, 1)
    assert outcome.blocked_now is True
    assert outcome.blocked_until == pytest.approx(NOW + 300)
    assert outcome.lockout_count == 1
    state = backend.get_states([s], NOW)[0]
    assert state.blocked
    assert state.seconds_left(NOW) == 300
    assert state.failures == 3


def test_blocked_subject_is_refused_without_counting(backend):
    s = spec()
    fail_times(backend, s, 4)
    refused = reserve_one(backend, s, NOW + 10)
    assert refused.status == ReserveStatus.BLOCKED
    assert refused.blocked_until == pytest.approx(NOW + 300)
    assert backend.get_states([s], NOW + 10)[0].failures == 3


def test_block_ends_after_cooloff(backend):
    s = spec()
    fail_times(backend, s, 4)
    later = NOW + 301
    assert backend.get_states([s], later)[0].blocked is False
    assert reserve_one(backend, s, later).status == ReserveStatus.RESERVED


def test_escalating_durations(backend):
    s = spec(window=10_000, durations=(10, 30, 0))
    first = fail_times(backend, s, 4)
    assert first.blocked_until == pytest.approx(NOW + 10)
    # The counter stays at the limit: one failure after the block ends blocks again.
    second = fail_times(backend, s, 1, now=NOW + 11)
    assert second.blocked_now is True
    assert second.lockout_count == 2
    assert second.blocked_until == pytest.approx(NOW + 11 + 30)
    third = fail_times(backend, s, 1, now=NOW + 42)
    assert third.lockout_count == 3
    assert third.blocked_until == 0
    state = backend.get_states([s], NOW + 10**6)[0]
    assert state.blocked is True
    assert state.seconds_left(NOW + 10**6) is None


def test_escalation_forgotten_after_memory(backend):
    s = spec(window=5, durations=(10, 30), memory=100)
    fail_times(backend, s, 4)
    outcome = fail_times(backend, s, 4, now=NOW + 200)
    assert outcome.lockout_count == 1
    assert outcome.blocked_until == pytest.approx(NOW + 210)


def test_failures_forgotten_after_attempt_window(backend):
    s = spec(window=5)
    fail_times(backend, s, 1)
    fail_times(backend, s, 1, now=NOW + 6)
    assert backend.get_states([s], NOW + 6)[0].failures == 1
    fail_times(backend, s, 1, now=NOW + 7)
    assert backend.get_states([s], NOW + 7)[0].failures == 2


def test_zero_window_never_forgets(backend):
    s = spec(window=0)
    fail_times(backend, s, 2)
    assert backend.get_states([s], NOW + 10**7)[0].failures == 2


def test_release_gives_back_a_slot_and_stops_at_zero(backend):
    s = spec()
    reserve_one(backend, s)
    backend.release([s], NOW)
    backend.release([s], NOW)
    assert backend.get_states([s], NOW)[0].failures == 0
    assert reserve_one(backend, s).count == 1


def test_record_success_clears_and_releases(backend):
    user = spec()
    ip = spec(IP)
    fail_times(backend, user, 2)
    fail_times(backend, ip, 2)
    reservations, _ = backend.reserve([user, ip], NOW)
    assert [r.count for r in reservations] == [3, 3]
    backend.record_success([user], [ip], NOW)
    user_state, ip_state = backend.get_states([user, ip], NOW)
    assert user_state.failures == 0
    assert ip_state.failures == 2


def test_success_never_lifts_a_block(backend):
    s = spec()
    fail_times(backend, s, 4)
    backend.record_success([s], [], NOW)
    assert backend.get_states([s], NOW)[0].blocked is True


def test_manual_block_and_unblock(backend):
    s = spec()
    state = backend.block(s, 60, NOW)
    assert state.blocked and state.manual
    assert reserve_one(backend, s).status == ReserveStatus.BLOCKED
    assert backend.unblock(ALICE) is True
    assert backend.get_states([s], NOW)[0].blocked is False
    assert backend.unblock(ALICE) is False
    assert reserve_one(backend, s).count == 1


def test_permanent_manual_block(backend):
    s = spec()
    backend.block(s, 0, NOW)
    state = backend.get_states([s], NOW + 10**8)[0]
    assert state.blocked
    assert state.blocked_until == 0


def test_unblock_deletes_counter_and_history(backend):
    s = spec(durations=(10, 100))
    fail_times(backend, s, 4)
    backend.unblock(ALICE)
    state = backend.get_states([s], NOW)[0]
    assert (state.failures, state.lockout_count, state.blocked) == (0, 0, False)
    # History is gone, so the next block is a first block again.
    assert fail_times(backend, s, 4).blocked_until == pytest.approx(NOW + 10)


def test_list_blocked_pages_in_end_order(backend):
    for number in range(5):
        subject = Subject(KIND_USERNAME, f"user{number}", display=f"user{number}")
        backend.block(spec(subject), 100 + number, NOW)
    backend.block(spec(Subject(KIND_USERNAME, "forever", display="forever")), 0, NOW)
    total, page = backend.list_blocked("login", KIND_USERNAME, NOW, offset=0, limit=3)
    assert total == 6
    assert [state.subject.identity for state in page] == ["user0", "user1", "user2"]
    total, page = backend.list_blocked("login", KIND_USERNAME, NOW, offset=3, limit=10)
    assert [state.subject.identity for state in page] == ["user3", "user4", "forever"]
    assert page[-1].blocked_until == 0


def test_list_blocked_drops_expired_and_unblocked(backend):
    backend.block(spec(ALICE), 10, NOW)
    backend.block(spec(Subject(KIND_USERNAME, "bob", display="bob")), 100, NOW)
    backend.block(spec(Subject(KIND_USERNAME, "carol", display="carol")), 100, NOW)
    backend.unblock(Subject(KIND_USERNAME, "carol"))
    total, page = backend.list_blocked("login", KIND_USERNAME, NOW + 50)
    assert total == 1
    assert [state.subject.identity for state in page] == ["bob"]


def test_automatic_block_is_listed(backend):
    fail_times(backend, spec(IP), 4)
    total, page = backend.list_blocked("login", KIND_IP, NOW)
    assert total == 1
    assert page[0].subject.label == "203.0.113.10"
    assert page[0].lockout_count == 1
    assert page[0].blocked_since == pytest.approx(NOW)
    assert page[0].manual is False


def test_scopes_are_counted_apart(backend):
    login = spec()
    reset = spec(Subject(KIND_USERNAME, "alice", scope=SCOPE_PASSWORD_RESET))
    fail_times(backend, login, 4)
    assert reserve_one(backend, reset).status == ReserveStatus.RESERVED
    total, _ = backend.list_blocked(SCOPE_PASSWORD_RESET, KIND_USERNAME, NOW)
    assert total == 0


def test_lists_add_remove_and_version(backend):
    version_before, lists = backend.get_lists()
    assert lists["ip_deny"] == set()
    assert backend.add_list_entry("ip_deny", "203.0.113.0/24") is True
    assert backend.add_list_entry("ip_deny", "203.0.113.0/24") is False
    version_after, lists = backend.get_lists()
    assert lists["ip_deny"] == {"203.0.113.0/24"}
    assert version_after != version_before
    _, version_in_reserve = backend.reserve([spec()], NOW)
    assert version_in_reserve == version_after
    assert backend.remove_list_entry("ip_deny", "203.0.113.0/24") is True
    assert backend.remove_list_entry("ip_deny", "203.0.113.0/24") is False
    assert backend.get_lists()[1]["ip_deny"] == set()


def test_reserve_many_subjects_at_once(backend):
    reservations, _ = backend.reserve([spec(ALICE), spec(IP)], NOW)
    assert [r.status for r in reservations] == [ReserveStatus.RESERVED] * 2
    assert [r.spec.subject for r in reservations] == [ALICE, IP]


def test_ping_answers(backend):
    backend.ping()


def _pair_spec(ip: str, username: str) -> SubjectSpec:
    pair = Subject(KIND_PAIR, f"{ip}{PAIR_SEPARATOR}{username}")
    return spec(Subject(KIND_IP, ip, display=ip), companion=pair)


def test_release_of_many_subjects_at_once(backend):
    users = [spec(Subject(KIND_USERNAME, f"user{n}", display=f"user{n}")) for n in range(5)]
    ips = [_pair_spec(f"198.51.100.{n}", f"user{n}") for n in range(5)]
    specs = users + ips
    backend.reserve(specs, NOW)
    fail_times(backend, users[0], 1)
    backend.reserve(specs, NOW)

    backend.release(specs, NOW)

    states = backend.get_states(specs, NOW)
    assert [state.failures for state in states] == [2, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    backend.release(specs, NOW)
    backend.release(specs, NOW)
    assert [state.failures for state in backend.get_states(specs, NOW)] == [0] * 10


def test_release_travels_with_a_reservation(backend):
    released = [_pair_spec(f"198.51.100.{n}", "bob") for n in range(3)]
    backend.reserve(released, NOW)
    reservations, _ = backend.reserve([spec()], NOW, release=released)
    assert [r.count for r in reservations] == [1]
    assert [s.failures for s in backend.get_states(released, NOW)] == [0, 0, 0]
