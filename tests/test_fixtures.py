"""Tests of the shared fixtures, the redis-server helpers and the test settings."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from redis.connection import parse_url
from rest_framework.test import APIClient

from tests.conftest import redact_url
from tests.redis_servers import (
    RedisServer,
    RedisUnavailableError,
    delete_keys_with_prefix,
    find_free_port,
    no_retry,
    ping,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
ServerFactory = Callable[..., RedisServer]


def direct_client(server: RedisServer, timeout: float = 1.0) -> redis.Redis:
    """Return a client for ``server`` that fails on the first error instead of retrying."""
    return redis.Redis.from_url(
        server.url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=no_retry()
    )


# --- redis_url, redis_client, redis_prefix ---------------------------------------------


@pytest.mark.redis
def test_redis_url_replies_to_ping(redis_url: str) -> None:
    assert ping(redis_url, timeout=2.0)


@pytest.mark.redis
def test_redis_client_reads_own_writes(redis_client: redis.Redis, redis_prefix: str) -> None:
    key = f"{redis_prefix}:roundtrip"

    redis_client.set(key, "value")

    assert redis_client.get(key) == b"value"


@pytest.mark.redis
def test_redis_client_uses_url_database(redis_client: redis.Redis, redis_url: str) -> None:
    expected_db = int(parse_url(redis_url).get("db", 0))

    assert redis_client.connection_pool.connection_kwargs["db"] == expected_db


@pytest.mark.redis
def test_redis_prefix_starts_with_run_prefix(redis_prefix: str) -> None:
    assert redis_prefix.startswith(f"{settings.DEFENDER_CACHE_PREFIX}-")
    assert len(redis_prefix) == len(settings.DEFENDER_CACHE_PREFIX) + 17


@pytest.fixture
def prefix_cleanup_check(redis_client: redis.Redis) -> Iterator[dict[str, str]]:
    """Check, after ``redis_prefix`` is torn down, that it deleted only its own keys.

    A test requests this fixture before ``redis_prefix``, so pytest tears it down after.
    """
    record: dict[str, str] = {}
    yield record

    prefix = record["prefix"]
    try:
        left_over = list(redis_client.scan_iter(match=prefix + "*"))
        assert left_over == [], f"keys under {prefix!r} survived teardown: {left_over}"
        for neighbour in (record["shorter"], record["embedded"]):
            assert redis_client.get(neighbour) == b"keep", f"{neighbour!r} was deleted"
    finally:
        redis_client.delete(record["shorter"], record["embedded"])


@pytest.mark.redis
def test_redis_prefix_teardown_deletes_own_keys(
    prefix_cleanup_check: dict[str, str], redis_prefix: str, redis_client: redis.Redis
) -> None:
    record = prefix_cleanup_check
    record["prefix"] = redis_prefix
    # Two keys that resemble the prefix but do not start with it.
    record["shorter"] = redis_prefix[:-1] + "#outside"
    record["embedded"] = "outside:" + redis_prefix
    for name in ("a", "b:c", "d:e:f"):
        redis_client.set(f"{redis_prefix}:{name}", "1")
    redis_client.set(record["shorter"], "keep")
    redis_client.set(record["embedded"], "keep")

    assert len(list(redis_client.scan_iter(match=redis_prefix + "*"))) == 3


@pytest.mark.redis
def test_delete_keys_with_prefix_many_keys(redis_client: redis.Redis, redis_prefix: str) -> None:
    pipe = redis_client.pipeline(transaction=False)
    for index in range(1200):
        pipe.set(f"{redis_prefix}:bulk:{index}", index)
    pipe.execute()

    deleted = delete_keys_with_prefix(redis_client, f"{redis_prefix}:bulk:", batch=100)

    assert deleted == 1200
    assert list(redis_client.scan_iter(match=f"{redis_prefix}:bulk:*")) == []


@pytest.mark.redis
def test_delete_keys_with_prefix_escapes_glob(redis_client: redis.Redis, redis_prefix: str) -> None:
    glob_prefix = f"{redis_prefix}:[ab]*?"
    inside = f"{glob_prefix}:key"
    # An unescaped pattern "<prefix>:[ab]*?*" would match this key too.
    outside = f"{redis_prefix}:a-other"
    redis_client.set(inside, "1")
    redis_client.set(outside, "1")

    deleted = delete_keys_with_prefix(redis_client, glob_prefix)

    assert deleted == 1
    assert redis_client.exists(inside) == 0
    assert redis_client.exists(outside) == 1


def test_delete_keys_with_prefix_rejects_empty() -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    with pytest.raises(ValueError, match="empty prefix"):
        delete_keys_with_prefix(client, "")
    client.close()


def test_redis_url_fails_loudly_when_unreachable() -> None:
    """A configured but unreachable Redis fails the test run instead of skipping it."""
    dead_url = f"redis://:hunter2@127.0.0.1:{find_free_port()}/0"
    env = {**os.environ, "REDIS_URL": dead_url}

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--no-cov",
            "-q",
            "tests/test_fixtures.py::test_redis_url_replies_to_ping",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr

    assert result.returncode == 1, output
    assert "does not reply to PING" in output
    assert "skipped" not in output
    assert "hunter2" not in output


def test_redact_url_hides_password() -> None:
    assert redact_url("redis://user:secret@127.0.0.1:6379/9") == "redis://user:***@127.0.0.1:6379/9"
    assert redact_url("redis://127.0.0.1:6379/9") == "redis://127.0.0.1:6379/9"


# --- redis_server factory ------------------------------------------------------------


@pytest.mark.redis
def test_server_replies_on_loopback(redis_server: ServerFactory) -> None:
    server = redis_server()

    assert server.port is not None
    assert server.url == f"redis://127.0.0.1:{server.port}/0"
    assert ping(server.url)


@pytest.mark.redis
def test_two_servers_get_different_ports(redis_server: ServerFactory) -> None:
    first = redis_server()
    second = redis_server()

    assert first.port != second.port
    assert ping(first.url)
    assert ping(second.url)


@pytest.mark.redis
def test_stopped_server_refuses_connections(redis_server: ServerFactory) -> None:
    server = redis_server()

    server.stop()

    assert not server.is_running()
    client = direct_client(server)
    with pytest.raises(redis.ConnectionError):
        client.ping()
    client.close()


@pytest.mark.redis
def test_restart_reuses_port_without_data(redis_server: ServerFactory) -> None:
    server = redis_server()
    port = server.port
    client = direct_client(server)
    client.set("before-restart", "1")
    client.close()

    server.stop()
    server.start()

    assert server.port == port
    client = direct_client(server)
    assert client.ping()
    # The server keeps nothing on disk, so a restart starts empty.
    assert client.exists("before-restart") == 0
    client.close()


@pytest.mark.redis
def test_paused_server_times_out_until_resumed(redis_server: ServerFactory) -> None:
    server = redis_server()

    server.pause()
    client = direct_client(server, timeout=0.3)
    with pytest.raises((redis.TimeoutError, redis.ConnectionError)):
        client.ping()
    client.close()

    server.resume()
    client = direct_client(server)
    assert client.ping()
    client.close()


@pytest.mark.redis
def test_stop_ends_paused_server(redis_server: ServerFactory) -> None:
    server = redis_server()
    server.pause()

    server.stop()

    assert not server.is_running()


@pytest.mark.redis
def test_pause_requires_running_server(redis_server: ServerFactory) -> None:
    server = redis_server()
    server.stop()

    with pytest.raises(RedisUnavailableError, match="not running"):
        server.pause()
    with pytest.raises(RedisUnavailableError, match="not running"):
        server.resume()


@pytest.fixture
def servers_gone_check() -> Iterator[list[int]]:
    """Check, after the ``redis_server`` factory is torn down, that each recorded PID exited."""
    pids: list[int] = []
    yield pids

    assert pids, "the test recorded no PIDs"
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.redis
def test_factory_teardown_stops_servers(
    servers_gone_check: list[int], redis_server: ServerFactory
) -> None:
    running = redis_server()
    paused = redis_server()
    paused.pause()

    for server in (running, paused):
        assert server.pid is not None
        servers_gone_check.append(server.pid)


def test_missing_binary_names_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REDIS_SERVER_BIN", str(tmp_path / "no-such-redis-server"))

    with pytest.raises(RedisUnavailableError, match="apt-get install redis-server"):
        RedisServer()


def test_url_requires_started_server() -> None:
    server = RedisServer()
    try:
        with pytest.raises(RedisUnavailableError, match="start"):
            _ = server.url
    finally:
        server.close()


# --- test settings ---------------------------------------------------------------------


def test_cache_prefix_is_unique_per_run() -> None:
    prefix = settings.DEFENDER_CACHE_PREFIX

    assert re.fullmatch(r"dftest-\d+-[0-9a-f]{8}", prefix), prefix
    assert prefix.split("-")[1] == str(os.getpid())


def test_database_matches_environment() -> None:
    engine = settings.DATABASES["default"]["ENGINE"]

    if os.environ.get("DEFENDER_TEST_DB", "sqlite") == "postgres":
        assert engine == "django.db.backends.postgresql"
    else:
        assert engine == "django.db.backends.sqlite3"


@pytest.mark.django_db
def test_users_get_fast_hasher() -> None:
    user = get_user_model().objects.create_user(username="alice", password=uuid.uuid4().hex)

    assert user.password.startswith("md5$")


@pytest.mark.django_db
def test_admin_login_page_is_routed() -> None:
    response = APIClient().get("/admin/login/")

    assert response.status_code == 200
