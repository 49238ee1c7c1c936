"""Connecting the Redis backend: URLs, passwords, ACL users, sockets and cache aliases."""

from __future__ import annotations

import redis
from django.test import override_settings

from drf_defender.backends.base import ReserveStatus, SubjectSpec
from drf_defender.backends.redis import RedisBackend, quote_password
from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_USERNAME, Subject
from drf_defender.service import get_service

NOW = 1_800_000_000.0
ALICE = Subject(KIND_USERNAME, "alice", display="alice")
SPEC = SubjectSpec(ALICE, 3, 300, (300,), 86400)
PASSWORD = "p#ss@w/rd!"


def redis_backend_settings(url: str, prefix: str, **extra):
    return override_settings(
        DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
        DEFENDER_REDIS_URL=url,
        DEFENDER_CACHE_PREFIX=prefix,
        **extra,
    )


def lock_alice() -> list[str]:
    results = []
    for _ in range(4):
        try:
            get_service().begin(username="alice", ip="203.0.113.10").failed()
            results.append("bad")
        except LockedOut:
            results.append("locked")
    return results


def test_quote_password_handles_special_characters():
    assert quote_password(f"redis://:{PASSWORD}@127.0.0.1:6379/0") == (
        "redis://:p%23ss%40w%2Frd%21@127.0.0.1:6379/0"
    )
    assert quote_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert quote_password("redis://app:s3cret@127.0.0.1/1") == "redis://app:s3cret@127.0.0.1/1"


def test_url_without_credentials_sends_no_auth(redis_server, redis_prefix):
    server = redis_server()
    with redis_backend_settings(server.url, redis_prefix):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]


def test_percent_encoded_password(redis_server, redis_prefix):
    server = redis_server()
    redis.Redis.from_url(server.url).config_set("requirepass", PASSWORD)
    url = f"redis://:p%23ss%40w%2Frd%21@127.0.0.1:{server.port}/0"
    with redis_backend_settings(url, redis_prefix):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]


def test_plain_password_with_quote_setting(redis_server, redis_prefix):
    server = redis_server()
    redis.Redis.from_url(server.url).config_set("requirepass", PASSWORD)
    url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
    with redis_backend_settings(url, redis_prefix, DEFENDER_REDIS_PASSWORD_QUOTE=True):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]


def test_acl_user(redis_server, redis_prefix):
    server = redis_server()
    admin = redis.Redis.from_url(server.url)
    admin.acl_setuser("app", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
    url = f"redis://app:s3cret@127.0.0.1:{server.port}/0"
    with redis_backend_settings(url, redis_prefix):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]


def test_unix_socket_url_selects_database(redis_server, redis_prefix, tmp_path):
    socket_path = tmp_path / "redis.sock"
    server = redis_server(extra_args=["--unixsocket", str(socket_path), "--unixsocketperm", "700"])
    with redis_backend_settings(f"unix://{socket_path}?db=2", redis_prefix):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]
    in_db_2 = redis.Redis.from_url(f"{server.url.rsplit('/', 1)[0]}/2")
    assert any(key.startswith(redis_prefix.encode()) for key in in_db_2.scan_iter(count=100))
    in_db_0 = redis.Redis.from_url(f"{server.url.rsplit('/', 1)[0]}/0")
    assert list(in_db_0.scan_iter(count=100)) == []


def test_reuses_django_redis_cache_connection(redis_url, redis_prefix):
    caches = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url},
    }
    with override_settings(
        CACHES=caches,
        DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
        DEFENDER_REDIS_NAME="shared",
        DEFENDER_REDIS_URL="redis://127.0.0.1:1/0",
        DEFENDER_CACHE_PREFIX=redis_prefix,
    ):
        assert lock_alice() == ["bad", "bad", "bad", "locked"]
        kwargs = get_service().backend.client.connection_pool.connection_kwargs
        assert kwargs["port"] != 1


def test_every_counting_key_expires(redis_settings, redis_client, redis_prefix):
    lock_alice()
    keys = list(redis_client.scan_iter(match=f"{redis_prefix}:*", count=500))
    assert keys
    for key in keys:
        if b":lists:" in key:
            continue
        assert redis_client.pttl(key) > 0, key


def test_permanent_lockout_keys_do_not_expire(redis_settings, redis_client, redis_prefix):
    with override_settings(DEFENDER_LOCKOUT_COOLOFF_TIME=0):
        lock_alice()
    blocked = list(redis_client.scan_iter(match=f"{redis_prefix}:blocked:*", count=500))
    assert blocked
    for key in blocked:
        assert redis_client.pttl(key) == -1


def test_cluster_index_path_on_one_server(redis_client, redis_prefix):
    backend = RedisBackend(redis_prefix, redis_client)
    backend.cluster = True
    for _ in range(4):
        reservation = backend.reserve([SPEC], NOW)[0][0]
        assert reservation.status == ReserveStatus.RESERVED
        backend.record_failure([reservation], NOW)
    backend.block(
        SubjectSpec(Subject(KIND_USERNAME, "bob", display="bob"), 3, 300, (300,), 86400), 60, NOW
    )
    total, entries = backend.list_blocked("login", KIND_USERNAME, NOW)
    assert total == 2
    assert [entry.subject.identity for entry in entries] == ["bob", "alice"]
    index = f"{redis_prefix}:index:blocked:{KIND_USERNAME}"
    assert redis_client.pttl(index) > 0


def test_scripts_reload_after_script_flush(redis_server, redis_prefix):
    # The script cache is flushed on a server of the test's own.
    client = redis.Redis.from_url(redis_server().url)
    backend = RedisBackend(redis_prefix, client)
    backend.reserve([SPEC], NOW)
    client.script_flush()
    reservations, _ = backend.reserve([SPEC], NOW)
    assert reservations[0].count == 2


def test_script_reload_does_not_repeat_other_commands(redis_server, redis_prefix):
    client = redis.Redis.from_url(redis_server().url)
    backend = RedisBackend(redis_prefix, client)
    for _ in range(3):
        reservation = backend.reserve([SPEC], NOW)[0][0]
        backend.record_failure([reservation], NOW)
    reservation = backend.reserve([SPEC], NOW)[0][0]
    assert reservation.count == 4
    # The blocking script fails with NOSCRIPT in the same pipeline as the log entry.
    client.script_flush()
    (outcome,) = backend.record_failure([reservation], NOW, audit=[{"username": "alice"}])
    assert outcome.blocked_now is True
    assert client.xlen(backend.attempt_stream_key()) == 1
    client.script_flush()
    backend.record_success([], [SPEC], NOW, audit=[{"username": "alice"}])
    assert client.xlen(backend.attempt_stream_key()) == 2
    assert backend.get_states([SPEC], NOW)[0].failures == 2
