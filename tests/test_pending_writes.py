"""Buffered access log: entries that wait in the process, the timer and the outages."""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import Any

import pytest
import redis
from django.test import override_settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from drf_defender.backends.redis import RedisBackend
from drf_defender.pending_writes import PendingWrites
from drf_defender.service import get_service

ATTACKER = "203.0.113.10"


@pytest.fixture
def buffered(redis_settings: Any, clock: Any) -> Any:
    """The service in buffered mode on the test Redis database, with no timer flush."""
    with override_settings(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True,
        DEFENDER_ACCESS_LOG_MODE="buffered",
        DEFENDER_PENDING_WRITES_FLUSH_INTERVAL=3600,
    ):
        yield get_service()


def stream_usernames(client: redis.Redis, service: Any) -> list[str]:
    entries = client.xrange(service.backend.attempt_stream_key())
    return [fields[b"username"].decode() for _, fields in entries]


def unreachable_backend(prefix: str) -> RedisBackend:
    """Return a backend on a loopback port that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    return RedisBackend(prefix, client)


def test_failure_entry_waits_for_flush(buffered: Any, redis_client: Any) -> None:
    buffered.begin(username="alice", ip=ATTACKER).failed()
    assert len(buffered.pending) == 1
    assert stream_usernames(redis_client, buffered) == []

    buffered.flush_pending_writes()

    assert len(buffered.pending) == 0
    assert stream_usernames(redis_client, buffered) == ["alice"]


def test_success_after_failure_carries_entries(buffered: Any, redis_client: Any) -> None:
    buffered.begin(username="bob", ip="198.51.100.20").failed()
    buffered.begin(username="alice", ip=ATTACKER).failed()
    # bob has a failure on record, so his success clears it at once, carrying alice's entry.
    buffered.begin(username="bob", ip="198.51.100.20").succeeded()
    assert stream_usernames(redis_client, buffered) == ["bob", "alice", "bob"]
    assert len(buffered.pending) == 0


def test_first_success_waits_with_its_entry(buffered: Any, redis_client: Any) -> None:
    buffered.begin(username="bob", ip="198.51.100.20").succeeded()
    assert stream_usernames(redis_client, buffered) == []
    assert len(buffered.pending) == 3  # the entry and two releases

    buffered.flush_pending_writes()

    assert stream_usernames(redis_client, buffered) == ["bob"]
    assert len(buffered.pending) == 0


def test_blocking_failure_carries_waiting_entries(buffered: Any, redis_client: Any) -> None:
    for _ in range(3):
        buffered.begin(username="alice", ip=ATTACKER).failed()
    # Each reservation carried the entry of the failure before it.
    assert stream_usernames(redis_client, buffered) == ["alice", "alice"]
    attempt = buffered.begin(username="alice", ip=ATTACKER)
    with pytest.raises(Exception, match="login is locked"):
        attempt.failed()
    assert stream_usernames(redis_client, buffered) == ["alice"] * 4
    assert len(buffered.pending) == 0


def test_timer_sends_waiting_entry(buffered: Any, redis_client: Any, settings: Any) -> None:
    settings.DEFENDER_PENDING_WRITES_FLUSH_INTERVAL = 0.05
    service = get_service()
    service.begin(username="alice", ip=ATTACKER).failed()

    deadline = time.monotonic() + 10
    while not stream_usernames(redis_client, service) and time.monotonic() < deadline:
        time.sleep(0.02)

    assert stream_usernames(redis_client, service) == ["alice"]
    assert len(service.pending) == 0


def test_outage_keeps_entries_for_later(
    buffered: Any, redis_client: Any, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    buffered.begin(username="alice", ip=ATTACKER).failed()
    working = buffered._pending_backend
    buffered._pending_backend = unreachable_backend(redis_prefix)
    with caplog.at_level(logging.ERROR, logger="drf_defender"):
        buffered.flush_pending_writes()
    buffered.pending.cancel()

    assert len(buffered.pending) == 1
    assert any("flush of waiting writes" in r.getMessage() for r in caplog.records)

    buffered._pending_backend = working
    buffered.flush_pending_writes()
    assert stream_usernames(redis_client, buffered) == ["alice"]


def test_final_flush_drops_and_logs_on_outage(
    buffered: Any, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    buffered.begin(username="alice", ip=ATTACKER).failed()
    buffered._pending_backend = unreachable_backend(redis_prefix)
    with caplog.at_level(logging.ERROR, logger="drf_defender"):
        buffered.flush_pending_writes(final=True)

    assert len(buffered.pending) == 0
    assert any(
        "dropped 1 access-log entries and 0 releases" in r.getMessage() for r in caplog.records
    )


def test_settings_change_sends_waiting_entries(
    redis_settings: Any, clock: Any, redis_client: Any
) -> None:
    with override_settings(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_ACCESS_LOG_MODE="buffered"
    ):
        service = get_service()
        service.begin(username="alice", ip=ATTACKER).failed()
        assert len(service.pending) == 1
    assert len(service.pending) == 0
    assert stream_usernames(redis_client, service) == ["alice"]


def test_reservation_outage_puts_entries_back(buffered: Any, redis_prefix: str) -> None:
    service = type(buffered)(unreachable_backend(redis_prefix))
    service.pending.add({"username": "alice"})

    attempt = service.begin(username="bob", ip=ATTACKER)

    assert attempt.degraded
    assert len(service.pending) == 1
    service.pending.cancel()


def test_reservation_outage_after_lists_puts_entries_back(buffered: Any, redis_prefix: str) -> None:
    service = type(buffered)(unreachable_backend(redis_prefix))
    service._lists = buffered._current_lists()
    service.pending.add({"username": "alice"})

    attempt = service.begin(username="bob", ip=ATTACKER)

    assert attempt.degraded
    assert [entry["username"] for entry in service.pending.take()] == ["alice"]


# --- the queue on its own -----------------------------------------------------------------


class Flushes:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def idle_buffer() -> PendingWrites:
    # An interval long enough that no timer fires during the test.
    return PendingWrites(Flushes(), lambda: 3600.0)


def test_take_returns_entries_in_order() -> None:
    buffer = idle_buffer()
    for name in ("a", "b", "c"):
        buffer.add({"username": name})
    assert [e["username"] for e in buffer.take()] == ["a", "b", "c"]
    assert buffer.take() == []
    buffer.cancel()


def test_put_back_goes_first() -> None:
    buffer = idle_buffer()
    buffer.add({"username": "new"})
    buffer.put_back([{"username": "old-1"}, {"username": "old-2"}])
    assert [e["username"] for e in buffer.take()] == ["old-1", "old-2", "new"]
    buffer.cancel()


def test_capacity_drops_oldest_and_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(PendingWrites, "CAPACITY", 3)
    buffer = idle_buffer()
    with caplog.at_level(logging.ERROR, logger="drf_defender"):
        for number in range(5):
            buffer.add({"username": str(number)})
    buffer.cancel()

    assert [e["username"] for e in buffer.take()] == ["2", "3", "4"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "dropped 1 waiting writes" in messages[0]


def test_timer_runs_flush_once() -> None:
    flushes = Flushes()
    buffer = PendingWrites(flushes, lambda: 0.01)
    buffer.add({"username": "a"})
    buffer.add({"username": "b"})

    deadline = time.monotonic() + 10
    while flushes.count == 0 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert flushes.count == 1


def test_forked_child_drops_parent_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = idle_buffer()
    buffer.add({"username": "parent"})
    buffer.cancel()
    monkeypatch.setattr(os, "getpid", lambda: -1)

    assert buffer.take() == []
    buffer.add({"username": "child"})
    assert [e["username"] for e in buffer.take()] == ["child"]
    buffer.cancel()


# --- releases of successful logins ----------------------------------------------------------


def other_process_failures(username: str) -> int:
    """Return the stored count as read by another process that has no pending writes."""
    return type(get_service())().status(username=username).states[0].failures


def test_release_waits_then_timer_sends_it(redis_settings: Any, clock: Any, settings: Any) -> None:
    settings.DEFENDER_PENDING_WRITES_FLUSH_INTERVAL = 0.05
    service = get_service()
    service.begin(username="alice", ip=ATTACKER).succeeded()

    deadline = time.monotonic() + 10
    while other_process_failures("alice") and time.monotonic() < deadline:
        time.sleep(0.02)

    assert other_process_failures("alice") == 0
    assert len(service.pending) == 0


def test_status_sends_pending_release_first(buffered: Any) -> None:
    buffered.begin(username="alice", ip=ATTACKER).succeeded()
    assert other_process_failures("alice") == 1

    assert buffered.status(username="alice").states[0].failures == 0
    assert other_process_failures("alice") == 0


def test_failed_flush_drops_releases(buffered: Any, redis_prefix: str) -> None:
    buffered.begin(username="alice", ip=ATTACKER).succeeded()
    working = buffered._pending_backend
    buffered._pending_backend = unreachable_backend(redis_prefix)

    buffered.flush_pending_writes()
    buffered.pending.cancel()

    # The access-log entry waits for the next try; the releases are gone for good.
    assert buffered.pending.take_releases() == []
    assert [entry["username"] for entry in buffered.pending.take()] == ["alice"]
    buffered._pending_backend = working
    assert other_process_failures("alice") == 1


def test_success_after_unblocked_ip_clears_companion(buffered: Any) -> None:
    for _ in range(2):
        buffered.begin(username="alice", ip=ATTACKER).failed()
    buffered.unblock("ip", ATTACKER)
    buffered.unblock("username", "alice")

    attempt = buffered.begin(username="alice", ip=ATTACKER)
    assert [r.count for r in attempt.reservations] == [1, 1]
    assert [r.companion_count for r in attempt.reservations if r.companion_count] == [3]
    attempt.succeeded()

    # The companion held earlier failures of the pair, so the success cleared at once.
    assert buffered.pending.take_releases() == []
    assert other_process_failures("alice") == 0


def test_cache_backend_releases_at_once(cache_settings: Any, clock: Any) -> None:
    service = get_service()
    service.begin(username="alice", ip=ATTACKER).succeeded()
    assert len(service.pending) == 0
    assert other_process_failures("alice") == 0
