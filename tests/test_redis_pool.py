"""The Redis connection pool: a busy pool makes logins wait instead of losing counts."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import redis
from django.test import override_settings

from drf_defender.backends.redis_sentinel import BlockingSentinelConnectionPool
from drf_defender.checks import check_backend, check_redis_topology
from drf_defender.exceptions import BackendUnavailableResponse
from drf_defender.service import get_service

IP = "203.0.113.40"
THREADS = 24
USERNAMES = 4


def fail_in_threads(count: int) -> list[BaseException]:
    """Record ``count`` failures from as many threads released together; return errors."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            get_service().begin(username=f"user-{index % USERNAMES}", ip=IP).failed()
        except BaseException as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return errors


def ip_failures() -> int:
    states = get_service().status(ip=IP).states
    return sum(state.failures for state in states)


@pytest.mark.parametrize("backend_name", ["redis", "sentinel", "cluster"], indirect=True)
def test_more_threads_than_connections_lose_no_failure(
    backend_name: str, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 1_000
    settings.DEFENDER_REDIS_MAX_CONNECTIONS = 2

    with caplog.at_level(logging.ERROR, logger="drf_defender"):
        errors = fail_in_threads(THREADS)

    assert errors == []
    assert ip_failures() == THREADS
    for index in range(USERNAMES):
        states = get_service().status(username=f"user-{index}").states
        assert [state.failures for state in states] == [THREADS // USERNAMES]
    assert [r for r in caplog.records if r.name.startswith("drf_defender")] == []


def test_sentinel_pool_follows_the_settings(sentinel_settings: Any, settings: Any) -> None:
    settings.DEFENDER_REDIS_MAX_CONNECTIONS = 7
    settings.DEFENDER_REDIS_POOL_TIMEOUT = 2.5
    pool = get_service().backend.client.connection_pool
    assert isinstance(pool, BlockingSentinelConnectionPool)
    assert (pool.max_connections, pool.timeout) == (7, 2.5)


def test_plain_redis_pool_follows_the_settings(redis_settings: Any, settings: Any) -> None:
    settings.DEFENDER_REDIS_MAX_CONNECTIONS = 7
    settings.DEFENDER_REDIS_POOL_TIMEOUT = 2.5
    pool = get_service().backend.client.connection_pool
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert (pool.max_connections, pool.timeout) == (7, 2.5)


def test_cluster_node_pools_follow_the_settings(cluster_settings: Any, settings: Any) -> None:
    settings.DEFENDER_REDIS_MAX_CONNECTIONS = 7
    settings.DEFENDER_REDIS_POOL_TIMEOUT = 2.5
    service = get_service()
    service.begin(username="alice", ip=IP).failed()
    nodes = service.backend.client.get_nodes()
    assert nodes
    for node in nodes:
        pool = node.redis_connection.connection_pool
        assert isinstance(pool, redis.BlockingConnectionPool)
        assert (pool.max_connections, pool.timeout) == (7, 2.5)


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_pool_timeout_applies_outage_policy(
    redis_settings: Any, settings: Any, policy: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings.DEFENDER_REDIS_MAX_CONNECTIONS = 1
    settings.DEFENDER_REDIS_POOL_TIMEOUT = 0.2
    settings.DEFENDER_BACKEND_FAILURE_POLICY = policy
    service = get_service()
    pool = service.backend.client.connection_pool
    busy_connection = pool.get_connection()
    try:
        with caplog.at_level(logging.ERROR, logger="drf_defender"):
            if policy == "closed":
                with pytest.raises(BackendUnavailableResponse):
                    service.begin(username="alice", ip=IP)
            else:
                attempt = service.begin(username="alice", ip=IP)
                assert attempt.degraded
        assert any("backend unavailable" in r.getMessage() for r in caplog.records)
    finally:
        pool.release(busy_connection)

    service.begin(username="alice", ip=IP).failed()
    assert ip_failures() == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEFENDER_REDIS_MAX_CONNECTIONS", 0),
        ("DEFENDER_REDIS_MAX_CONNECTIONS", "100"),
        ("DEFENDER_REDIS_POOL_TIMEOUT", 0),
        ("DEFENDER_REDIS_POOL_TIMEOUT", None),
        ("DEFENDER_REDIS_POOL_TIMEOUT", True),
    ],
)
def test_check_rejects_bad_pool_settings(redis_settings: Any, name: str, value: Any) -> None:
    with override_settings(**{name: value}):
        ids = [message.id for message in check_redis_topology()]
    assert ids == ["drf_defender.E019"]


def test_check_ignores_pool_settings_of_the_cache_backend(cache_settings: Any) -> None:
    with override_settings(DEFENDER_REDIS_MAX_CONNECTIONS=0):
        ids = [message.id for message in check_redis_topology()]
    assert ids == []


@pytest.mark.parametrize("interval", [0, -1, "1", None, True])
def test_check_rejects_bad_flush_interval(redis_settings: Any, interval: Any) -> None:
    with override_settings(DEFENDER_PENDING_WRITES_FLUSH_INTERVAL=interval):
        ids = [message.id for message in check_backend()]
    assert ids == ["drf_defender.E020"]
