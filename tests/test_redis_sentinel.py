"""The Redis backend on the master of a real Redis Sentinel set-up of throwaway servers.

The backend contract suite runs on Sentinel too (tests/test_backend_contract.py); this
module covers the settings, credentials, outages and a failover.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from drf_defender.backends.redis_sentinel import RedisSentinelBackend
from drf_defender.exceptions import BackendUnavailable, BackendUnavailableResponse
from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME, Subject, subject_key
from drf_defender.service import get_service
from tests.defender_fixtures import SENTINEL_BACKEND, topology_prefix
from tests.failover_support import MAX_LOGIN_SECONDS, login, probe_until_counted, wait_for
from tests.redis_servers import (
    LOOPBACK,
    LocalSentinelGroup,
    RedisUnavailableError,
    admin_client,
    find_free_port,
)
from tests.test_concurrency import THREADS, race

ATTACKER = "203.0.113.10"
DATA_PASSWORD = "p#ss@w/rd!"  # characters that break hand-written URL parsing
SENTINEL_USER = "defender"
SENTINEL_PASSWORD = "s3nt:nel@#1"


def sentinel_values(group: LocalSentinelGroup, **extra: Any) -> dict[str, Any]:
    return {
        "DEFENDER_BACKEND": SENTINEL_BACKEND,
        "DEFENDER_REDIS_SENTINELS": group.sentinel_addresses,
        "DEFENDER_REDIS_SENTINEL_SERVICE_NAME": group.service_name,
        "DEFENDER_CACHE_PREFIX": topology_prefix(),
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
        **extra,
    }


def failed_key(kind: str, identity: str) -> str:
    return subject_key(settings.DEFENDER_CACHE_PREFIX, "failed", Subject(kind, identity))


def started_group(**options: Any) -> LocalSentinelGroup:
    group = LocalSentinelGroup(**options)
    try:
        group.start()
    except RedisUnavailableError as exc:
        pytest.fail(f"Could not start the throwaway Sentinel set-up: {exc}", pytrace=False)
    return group


# --- topology and settings -------------------------------------------------------------


@pytest.mark.usefixtures("sentinel_settings")
def test_counts_land_on_the_master(redis_sentinel):
    backend = get_service().backend
    assert isinstance(backend, RedisSentinelBackend)
    assert login("alice", ATTACKER) == "bad"
    master = redis_sentinel.master()
    assert master.port is not None
    assert admin_client(master.port).hget(failed_key(KIND_USERNAME, "alice"), "c") == "1"


def test_host_port_strings_are_sentinels(redis_sentinel):
    addresses = [f"{host}:{port}" for host, port in redis_sentinel.sentinel_addresses]
    with override_settings(**sentinel_values(redis_sentinel, DEFENDER_REDIS_SENTINELS=addresses)):
        assert login("alice", ATTACKER) == "bad"
        assert get_service().status(username="alice").states[0].failures == 1


def test_options_reach_sentinel_and_master_connections(redis_sentinel):
    values = sentinel_values(
        redis_sentinel,
        DEFENDER_REDIS_SENTINEL_OPTIONS={"socket_timeout": 0.2, "client_name": "to-sentinel"},
        DEFENDER_REDIS_OPTIONS={"client_name": "to-master"},
    )
    with override_settings(**values):
        backend = get_service().backend
        assert isinstance(backend, RedisSentinelBackend)
        assert backend.sentinel is not None
        sentinel_kwargs = backend.sentinel.sentinels[0].connection_pool.connection_kwargs
        assert sentinel_kwargs["socket_timeout"] == 0.2
        assert sentinel_kwargs["client_name"] == "to-sentinel"
        backend.ping()
        assert backend.client.client_getname() == "to-master"
        assert backend.client.connection_pool.connection_kwargs["socket_timeout"] == 0.3


def test_missing_service_name_is_rejected(redis_sentinel):
    values = sentinel_values(redis_sentinel, DEFENDER_REDIS_SENTINEL_SERVICE_NAME=None)
    with override_settings(**values):
        with pytest.raises(ImproperlyConfigured, match="DEFENDER_REDIS_SENTINEL_SERVICE_NAME"):
            RedisSentinelBackend(prefix="defender")


def test_plain_connection_class_is_rejected(redis_sentinel):
    values = sentinel_values(
        redis_sentinel, DEFENDER_REDIS_OPTIONS={"connection_class": redis.Connection}
    )
    with override_settings(**values):
        with pytest.raises(ImproperlyConfigured, match="SentinelManagedConnection"):
            RedisSentinelBackend(prefix="defender")


def test_unknown_service_name_is_an_outage(redis_sentinel):
    values = sentinel_values(redis_sentinel, DEFENDER_REDIS_SENTINEL_SERVICE_NAME="no-such-master")
    with override_settings(**values):
        assert login("alice", ATTACKER, correct=True) == "ok"
        with pytest.raises(BackendUnavailable, match="No master found"):
            get_service().backend.ping()


# --- system checks ---------------------------------------------------------------------


def topology_check_ids(**values: Any) -> list[str]:
    values.setdefault("DEBUG", True)
    with override_settings(**values):
        return sorted(
            message.id
            for message in run_checks(tags=["drf_defender"])
            if message.id in ("drf_defender.E016", "drf_defender.E017", "drf_defender.E018")
        )


VALID = {
    "DEFENDER_BACKEND": SENTINEL_BACKEND,
    "DEFENDER_REDIS_SENTINELS": [("sentinel-1", 26379), "sentinel-2:26379"],
    "DEFENDER_REDIS_SENTINEL_SERVICE_NAME": "mymaster",
}


def test_check_accepts_sentinel_settings():
    assert topology_check_ids(**VALID) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"DEFENDER_REDIS_SENTINELS": []}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_SENTINELS": [("sentinel-1", "26379")]}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_SENTINEL_SERVICE_NAME": None}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_SENTINEL_SERVICE_NAME": ""}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_SENTINEL_OPTIONS": "password=x"}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_OPTIONS": {"connection_class": redis.Connection}}, ["drf_defender.E017"]),
        ({"DEFENDER_REDIS_NAME": "default"}, ["drf_defender.E016"]),
    ],
)
def test_check_rejects_invalid_sentinel_settings(changes, expected):
    assert topology_check_ids(**{**VALID, **changes}) == expected


def test_check_rejects_sentinels_with_single_server_backend():
    values = {**VALID, "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend"}
    assert topology_check_ids(**values) == ["drf_defender.E016"]


def test_check_message_explains_ignored_sentinels():
    values = {
        **VALID,
        "DEBUG": True,
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
    }
    with override_settings(**values):
        (message,) = [m for m in run_checks(tags=["drf_defender"]) if m.id == "drf_defender.E016"]
    assert "DEFENDER_REDIS_SENTINELS is set" in message.msg
    assert SENTINEL_BACKEND in (message.hint or "")


# --- racing requests -------------------------------------------------------------------


@pytest.mark.usefixtures("sentinel_settings")
def test_fifty_threads_one_username_on_sentinel():
    answers, checks = race(get_service(), [("alice", f"198.51.100.{i}") for i in range(THREADS)])
    assert answers == Counter({"bad": 3, "locked": THREADS - 3})
    assert checks <= 4
    assert get_service().status(username="alice").blocked


@pytest.mark.usefixtures("sentinel_settings")
def test_fifty_threads_one_pair_on_sentinel():
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        answers, checks = race(get_service(), [("alice", ATTACKER)] * THREADS)
        assert answers == Counter({"bad": 3, "locked": THREADS - 3})
        assert checks <= 4
        status = get_service().status(username="alice", ip=ATTACKER)
        assert {s.subject.kind: s.blocked for s in status.states} == {
            KIND_IP: False,
            KIND_USERNAME: False,
            KIND_PAIR: True,
        }


# --- credentials -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def protected_group() -> Iterator[LocalSentinelGroup]:
    """A Sentinel set-up whose servers need a password and whose sentinels need an ACL user."""
    group = started_group()
    try:
        group.require_passwords(DATA_PASSWORD, SENTINEL_USER, SENTINEL_PASSWORD)
        yield group
    finally:
        group.close()


def credentials(
    group: LocalSentinelGroup, *, sentinel: bool = True, master: bool = True
) -> dict[str, Any]:
    sentinel_options = {"username": SENTINEL_USER, "password": SENTINEL_PASSWORD}
    return sentinel_values(
        group,
        DEFENDER_REDIS_SENTINEL_OPTIONS=sentinel_options if sentinel else {},
        DEFENDER_REDIS_OPTIONS={"password": DATA_PASSWORD} if master else {},
    )


def test_passwords_reach_sentinels_and_master(protected_group):
    with override_settings(**credentials(protected_group)):
        assert [login("alice", ATTACKER) for _ in range(4)] == ["bad", "bad", "bad", "locked"]
        assert get_service().status(username="alice").blocked


def test_missing_sentinel_credentials_are_an_outage(protected_group):
    with override_settings(**credentials(protected_group, sentinel=False)):
        assert login("alice", ATTACKER, correct=True) == "ok"
        with pytest.raises(BackendUnavailable):
            get_service().backend.ping()


def test_missing_master_password_is_an_outage(protected_group):
    with override_settings(**credentials(protected_group, master=False)):
        assert login("alice", ATTACKER, correct=True) == "ok"
        with pytest.raises(BackendUnavailable):
            get_service().backend.ping()


# --- outages ---------------------------------------------------------------------------


def unreachable_sentinel_values(**extra: Any) -> dict[str, Any]:
    """Settings whose sentinels are loopback ports where nothing listens."""
    return {
        "DEFENDER_BACKEND": SENTINEL_BACKEND,
        "DEFENDER_REDIS_SENTINELS": [(LOOPBACK, find_free_port()) for _ in range(3)],
        "DEFENDER_REDIS_SENTINEL_SERVICE_NAME": "defender",
        "DEFENDER_CACHE_PREFIX": topology_prefix(),
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
        **extra,
    }


def test_sentinels_down_fail_open():
    with override_settings(**unreachable_sentinel_values()):
        started = time.monotonic()
        assert login("alice", ATTACKER, correct=True) == "ok"
        assert login("alice", ATTACKER) == "bad"
        assert time.monotonic() - started < MAX_LOGIN_SECONDS


def test_sentinels_down_fail_closed():
    with override_settings(**unreachable_sentinel_values(DEFENDER_BACKEND_FAILURE_POLICY="closed")):
        with pytest.raises(BackendUnavailableResponse) as raised:
            get_service().begin(username="alice", ip=ATTACKER)
        assert raised.value.status_code == 503


def test_admin_calls_raise_backend_unavailable_when_sentinels_down():
    with override_settings(**unreachable_sentinel_values()):
        with pytest.raises(BackendUnavailable):
            get_service().status(username="alice")
        with pytest.raises(BackendUnavailable):
            get_service().block(KIND_USERNAME, "alice", duration=60, actor="test")


# --- failover --------------------------------------------------------------------------


@pytest.fixture
def failover_group() -> Iterator[LocalSentinelGroup]:
    """A Sentinel set-up of its own, for a test that stops the master."""
    group = started_group()
    try:
        yield group
    finally:
        group.close()


@pytest.mark.slow
def test_master_failover_keeps_counting(failover_group, clock, caplog):
    caplog.set_level("INFO", logger="drf_defender")
    with override_settings(
        **sentinel_values(failover_group, DEFENDER_BACKEND_FAILURE_POLICY="open")
    ):
        old_master = failover_group.master()
        (replica,) = [s for s in failover_group.servers if s is not old_master]
        assert replica.port is not None
        assert [login("alice", ATTACKER) for _ in range(2)] == ["bad", "bad"]
        key = failed_key(KIND_USERNAME, "alice")
        wait_for(
            lambda: admin_client(replica.port or 0).hget(key, "c") == "2",
            "the replica to copy the failures",
        )

        assert old_master.pid is not None
        os.kill(old_master.pid, signal.SIGKILL)
        probes = probe_until_counted("probe", "198.51.100.200")

        assert probes.untracked >= 1, "no login saw the outage"
        assert probes.slowest < MAX_LOGIN_SECONDS
        assert failover_group.master_port() == replica.port
        # The promoted replica kept both failures: the third is still "bad", the fourth locks.
        assert login("alice", ATTACKER) == "bad"
        assert login("alice", ATTACKER) == "locked"
        assert get_service().status(username="alice").blocked
        messages = [record.getMessage() for record in caplog.records]
        assert any("backend unavailable" in message for message in messages)
        assert any("recovered" in message for message in messages)
