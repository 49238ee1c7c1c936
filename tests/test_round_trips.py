"""Backend round trips per login, counted on the redis-py connection (counts, not times)."""

from __future__ import annotations

import pytest
from django.test import override_settings

from drf_defender.backends import redis as redis_backend
from drf_defender.exceptions import LockedOut
from drf_defender.service import get_service, now

pytestmark = pytest.mark.usefixtures("redis_settings")

ATTACKER = "203.0.113.10"


@pytest.fixture
def warm(round_trips):
    """A service whose connection and list cache are ready, and a zeroed counter."""
    service = get_service()
    service.backend.ping()
    service._current_lists()
    round_trips.reset()
    return service


def test_success_without_failures_costs_one_round_trip(warm, round_trips):
    attempt = warm.begin(username="alice", ip="198.51.100.20")
    assert round_trips.round_trips == 1
    attempt.succeeded()
    assert round_trips.round_trips == 1


def test_next_reservation_carries_the_release(warm, round_trips):
    warm.begin(username="alice", ip="198.51.100.20").succeeded()
    attempt = warm.begin(username="alice", ip="198.51.100.20")
    assert round_trips.round_trips == 2
    # The release ran before the reservation, so only this request's slot is counted.
    assert [r.count for r in attempt.reservations] == [1, 1]


def test_success_after_failure_costs_two_round_trips(warm, round_trips):
    warm.begin(username="alice", ip="198.51.100.20").failed()
    round_trips.reset()
    attempt = warm.begin(username="alice", ip="198.51.100.20")
    assert round_trips.round_trips == 1
    attempt.succeeded()
    assert round_trips.round_trips == 2
    assert warm.status(username="alice").states[0].failures == 0


def test_failure_below_limit_costs_one_round_trip(warm, round_trips):
    attempt = warm.begin(username="alice", ip=ATTACKER)
    attempt.failed()
    assert round_trips.round_trips == 1


def test_failure_that_blocks_costs_two_round_trips(warm, round_trips):
    for _ in range(3):
        warm.begin(username="alice", ip=ATTACKER).failed()
    round_trips.reset()
    attempt = warm.begin(username="alice", ip=ATTACKER)
    with pytest.raises(LockedOut):
        attempt.failed()
    assert round_trips.round_trips == 2


def test_blocked_request_costs_one_round_trip(warm, round_trips):
    for _ in range(4):
        try:
            warm.begin(username="alice", ip=ATTACKER).failed()
        except LockedOut:
            pass
    round_trips.reset()
    for _ in range(5):
        with pytest.raises(LockedOut):
            warm.begin(username="alice", ip=ATTACKER)
    assert round_trips.round_trips == 5


def test_blocked_username_from_new_ip_settles_to_one_round_trip(warm, round_trips):
    for _ in range(4):
        try:
            warm.begin(username="alice", ip=ATTACKER).failed()
        except LockedOut:
            pass
    # Another process has not seen the block yet.
    other = type(warm)()
    other._current_lists()
    round_trips.reset()
    with pytest.raises(LockedOut):
        other.begin(username="alice", ip="198.51.100.77")
    # Its first request learns which subject is blocked and releases the IP reservation.
    assert round_trips.round_trips == 2
    round_trips.reset()
    with pytest.raises(LockedOut):
        other.begin(username="alice", ip="198.51.100.78")
    assert round_trips.round_trips == 1


def test_released_reservation_leaves_ip_uncounted(warm):
    for _ in range(4):
        try:
            warm.begin(username="alice", ip=ATTACKER).failed()
        except LockedOut:
            pass
    for _ in range(3):
        with pytest.raises(LockedOut):
            warm.begin(username="alice", ip="198.51.100.77")
    ip_state = warm.status(ip="198.51.100.77").states[0]
    assert ip_state.failures == 0


@pytest.fixture
def warm_buffered(round_trips):
    """A warm service with the access log buffered in the Redis stream."""
    with override_settings(
        DEFENDER_ACCESS_LOG_MODE="buffered", DEFENDER_STORE_ACCESS_ATTEMPTS=True
    ):
        service = get_service()
        service.backend.ping()
        service._current_lists()
        round_trips.reset()
        yield service


def stream_entries(client, service):
    return [fields for _, fields in client.xrange(service.backend.attempt_stream_key())]


def test_buffered_success_adds_no_round_trip(warm_buffered, round_trips, redis_client):
    warm_buffered.begin(username="alice", ip="198.51.100.20").failed()
    round_trips.reset()
    attempt = warm_buffered.begin(username="alice", ip="198.51.100.20")
    attempt.succeeded()
    assert round_trips.round_trips == 2
    entries = stream_entries(redis_client, warm_buffered)[1:]
    assert len(entries) == 1
    assert entries[0][b"username"] == b"alice"
    assert entries[0][b"success"] == b"1"


def test_buffered_failure_adds_no_round_trip(warm_buffered, round_trips, redis_client):
    warm_buffered.begin(username="alice", ip=ATTACKER).failed()
    assert round_trips.round_trips == 1
    assert stream_entries(redis_client, warm_buffered) == []

    # The next reservation carries the waiting entry in its own pipeline.
    warm_buffered.begin(username="bob", ip="198.51.100.20")
    assert round_trips.round_trips == 2
    entries = stream_entries(redis_client, warm_buffered)
    assert len(entries) == 1
    assert entries[0][b"username"] == b"alice"
    assert entries[0][b"success"] == b"0"


def test_releases_share_script_calls_in_chunks(warm, monkeypatch):
    monkeypatch.setattr(redis_backend, "RELEASE_CHUNK", 2)
    specs = [
        warm.begin(username=f"user{n}", ip=f"198.51.100.{n}").reservations[0].spec for n in range(5)
    ]
    commands: list = []
    assert warm.backend._queue_releases(commands, specs) == 3
    assert [command[0] for command in commands] == ["EVALSHA"] * 3
    warm.backend.release(specs, now())
    assert [s.failures for s in warm.backend.get_states(specs, now())] == [0] * 5
