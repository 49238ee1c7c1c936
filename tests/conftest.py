"""Shared fixtures: Redis servers, clients and per-test key prefixes.

Redis fixtures never skip. When no server can be reached or started, they fail with
instructions, because a silent skip would hide the backend tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings

from tests.redis_servers import (
    INSTALL_HINT,
    RedisServer,
    RedisServerPool,
    RedisUnavailableError,
    delete_keys_with_prefix,
    find_redis_server_binary,
    ping,
)

pytest_plugins = ["tests.defender_fixtures"]

LOCAL_REDIS = "redis://127.0.0.1:6379"
DEFAULT_TEST_REDIS_DB = 9


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def redis_db_number() -> int:
    """Return the Redis database number for tests, from DEFENDER_TEST_REDIS_DB (default 9)."""
    raw = os.environ.get("DEFENDER_TEST_REDIS_DB", str(DEFAULT_TEST_REDIS_DB))
    try:
        number = int(raw)
    except ValueError:
        number = -1
    if number < 0:
        pytest.fail(
            f"Invalid DEFENDER_TEST_REDIS_DB value {raw!r}: expected a database number such as 9.",
            pytrace=False,
        )
    return number


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of the Redis database for this run: REDIS_URL, 127.0.0.1:6379, or a throwaway server."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        if not ping(configured, timeout=2.0):
            pytest.fail(
                f"REDIS_URL is set to {redact_url(configured)}, but that server does not reply to "
                "PING. Start it, or unset REDIS_URL to use 127.0.0.1:6379.",
                pytrace=False,
            )
        yield configured
        return

    db = redis_db_number()
    local_url = f"{LOCAL_REDIS}/{db}"
    if ping(local_url):
        yield local_url
        return

    if find_redis_server_binary() is None:
        pytest.fail(
            "The Redis tests need a Redis server, but no server replies on 127.0.0.1:6379 and "
            f"redis-server is not installed. {INSTALL_HINT}",
            pytrace=False,
        )
    server = RedisServer(db=db)
    try:
        server.start()
    except RedisUnavailableError as exc:
        server.close()
        pytest.fail(f"Could not start a throwaway redis-server: {exc}", pytrace=False)
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A redis-py client connected to the ``redis_url`` database."""
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=2.0, socket_timeout=5.0)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix unique to this test; its keys are deleted with SCAN and DEL at teardown."""
    # Fixed-length hex keeps any prefix from being the start of another test's prefix.
    prefix = f"{settings.DEFENDER_CACHE_PREFIX}-{uuid.uuid4().hex[:16]}"
    yield prefix
    delete_keys_with_prefix(redis_client, prefix)


@pytest.fixture
def redis_server() -> Iterator[Callable[..., RedisServer]]:
    """Factory that starts throwaway redis-servers on free loopback ports, stopped at teardown."""
    if find_redis_server_binary() is None:
        pytest.fail(
            f"This test starts its own redis-server, which is not installed. {INSTALL_HINT}",
            pytrace=False,
        )
    pool = RedisServerPool()

    def start(**kwargs: object) -> RedisServer:
        try:
            return pool.start(**kwargs)  # type: ignore[arg-type]
        except RedisUnavailableError as exc:
            pytest.fail(f"Could not start a throwaway redis-server: {exc}", pytrace=False)

    try:
        yield start
    finally:
        pool.close_all()
