"""Fixtures for the lockout service: backends, a controllable clock, counting connections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.test import override_settings

from drf_defender.backends.cache import CacheBackend
from drf_defender.backends.redis import RedisBackend
from drf_defender.service import get_service, set_clock

BACKEND_NAMES = ("redis", "cache")


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


@pytest.fixture(params=BACKEND_NAMES)
def backend_name(request: pytest.FixtureRequest) -> str:
    """Each backend in turn."""
    name: str = request.param
    if name == "redis":
        request.getfixturevalue("redis_settings")
    else:
        request.getfixturevalue("cache_settings")
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
