"""How the Redis backend packs and sends a login's commands, with and without hiredis."""

from __future__ import annotations

import pytest
from django.test import override_settings

from drf_defender.backends import redis as redis_backend
from drf_defender.backends.base import SubjectSpec
from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_USERNAME, Subject
from drf_defender.service import get_service

pytestmark = pytest.mark.usefixtures("redis_settings")

NOW = 1_800_000_000.0

#: Text, numbers and bytes as the login path sends them, with non-ASCII usernames.
SAMPLE = [
    ("EVALSHA", "0" * 40, 2, "p:{203.0.113.10}", "p:{élodie}", 1_800_000_000_000, 3, 300_000),
    ("GET", "p:lists:version"),
    ("XADD", "p:attempts", "MAXLEN", "~", 100_000, "*", "username", "张伟", "raw", b"\x00\xff"),
]


def lock_out(username: str, ip: str) -> list[str]:
    results = []
    for _ in range(4):
        try:
            get_service().begin(username=username, ip=ip).failed()
            results.append("bad")
        except LockedOut:
            results.append("locked")
    return results


def direct_pool():
    pool = get_service().backend._direct_pool()
    assert pool is not None
    return pool


def test_hiredis_packing_matches_redis_py():
    pytest.importorskip("hiredis")
    pool = direct_pool()
    pack = redis_backend._packer(pool)
    assert pack is not redis_backend._pack_with_connection
    connection = pool.get_connection()
    try:
        assert b"".join(pack(connection, SAMPLE)) == b"".join(connection.pack_commands(SAMPLE))
    finally:
        pool.release(connection)


def test_login_path_without_hiredis(monkeypatch):
    monkeypatch.setattr(redis_backend, "_hiredis_pack", None)
    # A settings change builds a new backend, which chooses its packer again.
    with override_settings(DEFENDER_REDIS_OPTIONS={}):
        assert redis_backend._packer(direct_pool()) is redis_backend._pack_with_connection
        assert get_service().backend._pack is redis_backend._pack_with_connection
        assert lock_out("élodie", "203.0.113.10") == ["bad", "bad", "bad", "locked"]
        get_service().begin(username="zoé", ip="198.51.100.7").succeeded()
        assert get_service().status(username="zoé").states[0].failures == 0


def test_other_encoding_uses_redis_py_packing():
    with override_settings(DEFENDER_REDIS_OPTIONS={"encoding": "latin-1"}):
        assert redis_backend._packer(direct_pool()) is redis_backend._pack_with_connection
        assert lock_out("jürgen", "203.0.113.11") == ["bad", "bad", "bad", "locked"]


def test_error_reply_keeps_later_replies():
    backend = get_service().backend
    key = f"{backend.prefix}:wire-test"
    commands = [("SET", key, "1"), ("HGET", key, "field"), ("GET", key), ("DEL", key)]
    replies = redis_backend._exchange(direct_pool(), backend._pack, commands)
    assert replies[0] in (True, b"OK", "OK")
    assert isinstance(replies[1], redis_backend.redis.ResponseError)
    assert replies[2] == b"1"
    assert replies[3] == 1


def test_single_connection_client_keeps_the_pipeline(redis_url):
    prefix = get_service().backend.prefix
    client = redis_backend.redis.Redis.from_url(redis_url, single_connection_client=True)
    try:
        backend = redis_backend.RedisBackend(prefix, client)
        assert backend._direct_pool() is None
        subject = Subject(KIND_USERNAME, "amira", display="amira")
        spec = SubjectSpec(subject, 3, 300, (300,), 86400)
        counts = [backend.reserve([spec], NOW)[0][0].count for _ in range(2)]
        assert counts == [1, 2]
        backend.release([spec], NOW)
        assert backend.get_states([spec], NOW)[0].failures == 1
    finally:
        client.close()
