"""A Redis server that the test owns goes away mid-run: the outage policy holds."""

from __future__ import annotations

import logging
import time

import pytest
from django.test import override_settings

from drf_defender.exceptions import BackendUnavailableResponse, LockedOut
from drf_defender.service import get_service

ATTACKER = "203.0.113.10"


@pytest.fixture
def own_server(redis_server, redis_prefix):
    """A throwaway redis-server that drf-defender uses, and its settings."""
    server = redis_server()
    values = {
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": server.url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
    }
    with override_settings(**values):
        yield server


def login(username="alice", ip=ATTACKER, *, correct=False):
    try:
        attempt = get_service().begin(username=username, ip=ip)
    except LockedOut:
        return "locked"
    if correct:
        attempt.succeeded()
        return "ok"
    try:
        attempt.failed()
    except LockedOut:
        return "locked"
    return "bad"


def errors_logged(caplog) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "drf_defender.service" and r.levelno >= logging.ERROR
    ]


def test_fail_open_during_outage_and_recovery(own_server, caplog):
    caplog.set_level(logging.INFO, logger="drf_defender")
    assert login() == "bad"
    own_server.stop()
    results = [login(correct=index % 2 == 0) for index in range(10)]
    assert results == ["ok", "bad"] * 5
    assert len(errors_logged(caplog)) == 1
    own_server.start()
    deadline = time.monotonic() + 10
    while login(username="bob") != "bad":
        assert time.monotonic() < deadline, "the service did not recover"
        time.sleep(0.1)
    assert any("recovered" in r.getMessage() for r in caplog.records)
    # Counting works again on the restarted (empty) server.
    assert [login(username="carol") for _ in range(4)][-1] == "locked"


def test_fail_closed_answers_503(own_server):
    with override_settings(DEFENDER_BACKEND_FAILURE_POLICY="closed"):
        assert login() == "bad"
        own_server.stop()
        with pytest.raises(BackendUnavailableResponse) as raised:
            get_service().begin(username="alice", ip=ATTACKER)
        assert raised.value.status_code == 503
        assert raised.value.detail["code"] == "lockout_backend_unavailable"


def test_paused_server_answers_within_timeout(own_server):
    assert login() == "bad"
    own_server.pause()
    try:
        started = time.monotonic()
        assert login(correct=True) == "ok"
        elapsed = time.monotonic() - started
    finally:
        own_server.resume()
    # Bounded by the socket timeout (0.3 s), with a wide margin for a loaded machine.
    assert elapsed < 5


def test_outage_after_begin_still_answers(own_server):
    attempt = get_service().begin(username="alice", ip=ATTACKER)
    own_server.stop()
    attempt.failed()
    attempt = get_service().begin(username="alice", ip=ATTACKER)
    attempt.succeeded()


def test_admin_calls_raise_backend_unavailable(own_server):
    from drf_defender.exceptions import BackendUnavailable

    own_server.stop()
    with pytest.raises(BackendUnavailable):
        get_service().status(username="alice")
    with pytest.raises(BackendUnavailable):
        get_service().unblock("username", "alice")


def test_unreachable_url_from_the_start(redis_prefix):
    # A port that the test reserved and closed again: nothing listens there.
    from tests.redis_servers import find_free_port

    url = f"redis://127.0.0.1:{find_free_port()}/0"
    with override_settings(
        DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
        DEFENDER_REDIS_URL=url,
        DEFENDER_CACHE_PREFIX=redis_prefix,
    ):
        assert login(correct=True) == "ok"
        assert login() == "bad"
