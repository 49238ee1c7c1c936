"""Fixtures for the lockout service: backends, a controllable clock, counting connections."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from drf_defender.backends.cache import CacheBackend
from drf_defender.backends.redis import RedisBackend
from drf_defender.service import get_service, set_clock
from tests.redis_servers import (
    INSTALL_HINT,
    LocalRedisCluster,
    LocalSentinelGroup,
    RedisUnavailableError,
    find_redis_server_binary,
)

BACKEND_NAMES = ("redis", "cache")
#: The default pair plus the Sentinel and Cluster topologies, which start their own
#: servers once per session. The backend contract suite runs against all of them.
ALL_BACKEND_NAMES = (*BACKEND_NAMES, "sentinel", "cluster")
SENTINEL_BACKEND = "drf_defender.backends.redis_sentinel.RedisSentinelBackend"
CLUSTER_BACKEND = "drf_defender.backends.redis_cluster.RedisClusterBackend"


#: Redis timeouts for tests that count: generous, so that hundreds of threads on a busy
#: 2-core machine are not taken for an outage, whose fail-open policy would let requests
#: through uncounted. Outage tests set short timeouts of their own.
COUNTING_TIMEOUTS = {
    "DEFENDER_REDIS_SOCKET_TIMEOUT": 10.0,
    "DEFENDER_REDIS_CONNECT_TIMEOUT": 10.0,
    "DEFENDER_REDIS_POOL_TIMEOUT": 10.0,
}


class Clock:
    """A clock that only moves when a test moves it."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingConnection(redis.Connection):
    """A redis-py connection that counts round trips (one per packed send)."""

    round_trips = 0
    commands: list[str] = []

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.round_trips += 1
        super().send_packed_command(command, check_health)

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        CountingConnection.commands.append(str(args[0]))
        super().send_command(*args, **kwargs)

    @classmethod
    def reset(cls) -> None:
        cls.round_trips = 0
        cls.commands = []


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Install a controllable clock in the lockout service."""
    fake = Clock()
    set_clock(fake)
    try:
        yield fake
    finally:
        set_clock(None)


@pytest.fixture
def redis_settings(redis_url: str, redis_prefix: str) -> Iterator[dict[str, Any]]:
    """Point drf-defender at the test Redis database under a per-test prefix."""
    values = {
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": redis_url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
        "DEFENDER_REDIS_OPTIONS": {"connection_class": CountingConnection},
        **COUNTING_TIMEOUTS,
    }
    with override_settings(**values):
        yield values


@pytest.fixture
def cache_settings() -> Iterator[dict[str, Any]]:
    """Point drf-defender at a fresh local-memory cache."""
    caches["default"].clear()
    values = {"DEFENDER_BACKEND": "drf_defender.backends.cache.CacheBackend"}
    with override_settings(**values):
        yield values
    caches["default"].clear()


def _start_or_fail(topology: LocalRedisCluster | LocalSentinelGroup) -> None:
    if find_redis_server_binary() is None:
        pytest.fail(
            f"This test starts its own Redis servers, but redis-server is not installed. "
            f"{INSTALL_HINT}",
            pytrace=False,
        )
    try:
        topology.start()
    except RedisUnavailableError as exc:
        pytest.fail(f"Could not start the throwaway Redis servers: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalRedisCluster]:
    """A Redis Cluster of three primaries without replicas, shared by the whole run."""
    cluster = LocalRedisCluster(primaries=3)
    _start_or_fail(cluster)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[LocalSentinelGroup]:
    """One master, one replica and three sentinels, shared by the whole run."""
    group = LocalSentinelGroup()
    _start_or_fail(group)
    try:
        yield group
    finally:
        group.close()


def topology_prefix() -> str:
    """Return a key prefix unique to one test on a server set-up that the run owns."""
    return f"{settings.DEFENDER_CACHE_PREFIX}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def cluster_settings(redis_cluster: LocalRedisCluster) -> Iterator[dict[str, Any]]:
    """Point drf-defender at the run's Redis Cluster under a per-test prefix."""
    values = {
        "DEFENDER_BACKEND": CLUSTER_BACKEND,
        "DEFENDER_REDIS_CLUSTER_NODES": redis_cluster.startup_nodes,
        "DEFENDER_CACHE_PREFIX": topology_prefix(),
        "DEFENDER_REDIS_OPTIONS": {"connection_class": CountingConnection},
        **COUNTING_TIMEOUTS,
    }
    with override_settings(**values):
        yield values


@pytest.fixture
def sentinel_settings(redis_sentinel: LocalSentinelGroup) -> Iterator[dict[str, Any]]:
    """Point drf-defender at the run's Sentinel master under a per-test prefix."""
    values = {
        "DEFENDER_BACKEND": SENTINEL_BACKEND,
        "DEFENDER_REDIS_SENTINELS": redis_sentinel.sentinel_addresses,
        "DEFENDER_REDIS_SENTINEL_SERVICE_NAME": redis_sentinel.service_name,
        "DEFENDER_CACHE_PREFIX": topology_prefix(),
        **COUNTING_TIMEOUTS,
    }
    with override_settings(**values):
        yield values


_SETTINGS_FIXTURES = {
    "redis": "redis_settings",
    "cache": "cache_settings",
    "sentinel": "sentinel_settings",
    "cluster": "cluster_settings",
}


@pytest.fixture(params=BACKEND_NAMES)
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; a test module may parametrize it with ALL_BACKEND_NAMES."""
    name: str = request.param
    request.getfixturevalue(_SETTINGS_FIXTURES[name])
    return name


@pytest.fixture
def backend(backend_name: str) -> Any:
    """A backend instance built from the current settings."""
    return get_service().backend


@pytest.fixture
def service(backend_name: str, clock: Clock) -> Any:
    """The lockout service on each backend, with a controllable clock."""
    return get_service()


@pytest.fixture
def round_trips() -> type[CountingConnection]:
    """Round-trip counter of the Redis backend's connections."""
    CountingConnection.reset()
    return CountingConnection


__all__ = ["CacheBackend", "Clock", "CountingConnection", "RedisBackend"]
