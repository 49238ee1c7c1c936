"""LockoutService.check (a lookup that counts nothing) and the attempt_blocked signal."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from drf_defender import signals
from drf_defender.exceptions import BackendUnavailableResponse, LockedOut
from drf_defender.keys import KIND_IP, KIND_USERNAME
from tests.integrations.support import ATTACKER, OTHER_IP, failures


class Receiver:
    def __init__(self, signal: Any) -> None:
        self.calls: list[dict[str, Any]] = []
        self.signal = signal
        signal.connect(self.receive)

    def receive(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def disconnect(self) -> None:
        self.signal.disconnect(self.receive)


@pytest.fixture
def blocked_signals():
    receiver = Receiver(signals.attempt_blocked)
    yield receiver.calls
    receiver.disconnect()


def lock_ip(service, ip=ATTACKER):
    for index in range(4):
        attempt = service.begin(username=f"user{index}", ip=ip)
        try:
            attempt.failed()
        except LockedOut:
            pass


def test_check_counts_nothing(service):
    for _ in range(10):
        service.check(username="alice", ip=ATTACKER)
    assert failures(service, username="alice", ip=ATTACKER)[KIND_IP] == 0
    assert failures(service, username="alice", ip=ATTACKER)[KIND_USERNAME] == 0


def test_check_rejects_blocked_ip(service, clock, blocked_signals):
    lock_ip(service)
    with pytest.raises(LockedOut) as raised:
        service.check(ip=ATTACKER, integration="token")
    assert raised.value.retry_after == 300
    assert raised.value.status_code == 429
    assert [call["integration"] for call in blocked_signals] == ["token"]
    service.check(ip=OTHER_IP)
    clock.advance(301)
    service.check(ip=ATTACKER)


def test_check_rejects_blocked_username(service):
    service.block("username", "alice", duration=0)
    with pytest.raises(LockedOut) as raised:
        service.check(username="Alice", ip=OTHER_IP)
    assert raised.value.retry_after is None
    assert raised.value.wait is None


@override_settings(DEFENDER_IP_DENYLIST=["203.0.113.0/24"])
def test_check_rejects_denied_ip(service, blocked_signals):
    with pytest.raises(LockedOut):
        service.check(ip=ATTACKER)
    assert len(blocked_signals) == 1
    service.check(ip=OTHER_IP)


def test_check_ignores_reservations_in_flight(service):
    # Five checks of one IP under way: begin() refuses another, check() does not.
    pending = [service.begin(ip=ATTACKER) for _ in range(4)]
    with pytest.raises(LockedOut):
        service.begin(ip=ATTACKER)
    service.check(ip=ATTACKER)
    for attempt in pending:
        attempt.abandon()


def test_begin_on_blocked_subject_sends_attempt_blocked(service, blocked_signals):
    lock_ip(service)
    assert blocked_signals == []
    with pytest.raises(LockedOut):
        service.begin(username="alice", ip=ATTACKER, integration="basic")
    assert len(blocked_signals) == 1
    assert blocked_signals[0]["integration"] == "basic"
    assert blocked_signals[0]["username"] == "alice"
    assert blocked_signals[0]["locked_out"] is True


@override_settings(DEFENDER_USERNAME_DENYLIST=["mallory"])
def test_denied_username_sends_attempt_blocked_once(service, blocked_signals):
    with pytest.raises(LockedOut):
        service.begin(username="mallory", ip=ATTACKER)
    assert len(blocked_signals) == 1


@pytest.fixture
def stopped_server(redis_server, redis_prefix):
    """drf-defender pointed at a throwaway redis-server that has been stopped."""
    server = redis_server()
    values = {
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": server.url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
    }
    with override_settings(**values):
        server.stop()
        yield server


def test_check_fails_open_during_outage(stopped_server):
    from drf_defender.service import get_service

    get_service().check(ip=ATTACKER)


def test_check_fails_closed_during_outage(stopped_server):
    from drf_defender.service import get_service

    with override_settings(DEFENDER_BACKEND_FAILURE_POLICY="closed"):
        with pytest.raises(BackendUnavailableResponse):
            get_service().check(ip=ATTACKER)
