"""The Redis backend on a real Redis Cluster of throwaway servers.

The backend contract suite runs on the cluster too (tests/test_backend_contract.py). This
module covers what only a cluster has: keys of one subject in one slot, one batch per
node, per-node script caches, listing across nodes, and failover.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import redis
from django.conf import settings
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.retry import Retry

from drf_defender.access_log_drain import drain, stream_status
from drf_defender.backends.addresses import parse_address, parse_addresses
from drf_defender.backends.base import ReserveStatus, SubjectSpec
from drf_defender.backends.redis_cluster import LazyClusterClient, RedisClusterBackend
from drf_defender.exceptions import BackendUnavailable, BackendUnavailableResponse
from drf_defender.keys import (
    KIND_IP,
    KIND_PAIR,
    KIND_USERNAME,
    PAIR_SEPARATOR,
    Subject,
    index_key,
    lists_version_key,
    subject_key,
)
from drf_defender.models import AccessAttempt
from drf_defender.service import get_service
from tests.defender_fixtures import CLUSTER_BACKEND, topology_prefix
from tests.failover_support import MAX_LOGIN_SECONDS, login, probe_until_counted, wait_for
from tests.redis_servers import (
    LOOPBACK,
    LocalRedisCluster,
    RedisUnavailableError,
    admin_client,
    find_free_port,
)
from tests.test_concurrency import THREADS, race

NOW = 1_800_000_000.0
ATTACKER = "203.0.113.10"


def spec(subject: Subject, companion: Subject | None = None) -> SubjectSpec:
    return SubjectSpec(
        subject=subject,
        limit=3,
        attempt_window=300,
        lockout_durations=(300,),
        lockout_memory=86400,
        companion=companion,
    )


def slot_owner(cluster: LocalRedisCluster) -> Callable[[str], int]:
    """Return a function that gives the port of the primary holding a key, as of now."""
    running = next(s for s in cluster.servers if s.is_running())
    assert running.port is not None
    ranges = admin_client(running.port).execute_command("CLUSTER", "SLOTS")
    owners = [(int(low), int(high), int(primary[1])) for low, high, primary, *_ in ranges]

    def owner(key: str) -> int:
        slot = key_slot(key.encode())
        return next(port for low, high, port in owners if low <= slot <= high)

    return owner


def username_key(name: str) -> str:
    return subject_key(settings.DEFENDER_CACHE_PREFIX, "failed", Subject(KIND_USERNAME, name))


def ip_key(ip: str) -> str:
    return subject_key(settings.DEFENDER_CACHE_PREFIX, "failed", Subject(KIND_IP, ip))


def usernames_on(
    owner: Callable[[str], int], port: int, count: int = 1, *, exclude: bool = False
) -> list[str]:
    """Return the first ``count`` "userN" whose keys live on ``port`` (or, with exclude, not)."""
    names = []
    for number in range(1000):
        name = f"user{number}"
        if (owner(username_key(name)) == port) != exclude:
            names.append(name)
            if len(names) == count:
                return names
    raise AssertionError("too few usernames among user0..user999 fit")


def username_on(owner: Callable[[str], int], port: int, *, exclude: bool = False) -> str:
    return usernames_on(owner, port, exclude=exclude)[0]


def ip_on(owner: Callable[[str], int], port: int, *, skip: int = 0) -> str:
    """Return an address of 198.51.100.0/24 whose keys live on ``port``, after ``skip`` others."""
    for number in range(1, 255):
        ip = f"198.51.100.{number}"
        if owner(ip_key(ip)) == port:
            if not skip:
                return ip
            skip -= 1
    raise AssertionError("too few addresses in 198.51.100.0/24 fit")


# --- topology and settings -------------------------------------------------------------


@pytest.mark.usefixtures("cluster_settings")
def test_cluster_settings_build_cluster_backend(redis_cluster):
    backend = get_service().backend
    assert isinstance(backend, RedisClusterBackend)
    assert backend.cluster is True
    backend.ping()
    assert len(redis_cluster.startup_nodes) == 3


def test_keys_of_one_subject_share_a_slot():
    prefix = "defender"
    for subject in (
        Subject(KIND_USERNAME, "alice"),
        Subject(KIND_IP, ATTACKER),
        Subject(KIND_IP, "2001:db8::/64"),
    ):
        slots = {key_slot(subject_key(prefix, role, subject).encode()) for role in ROLES}
        assert len(slots) == 1, subject
    pair = Subject(KIND_PAIR, f"{ATTACKER}{PAIR_SEPARATOR}alice")
    ip_slot = key_slot(subject_key(prefix, "failed", Subject(KIND_IP, ATTACKER)).encode())
    assert {key_slot(subject_key(prefix, role, pair).encode()) for role in ROLES} == {ip_slot}


ROLES = ("failed", "blocked", "lockouts")


def test_host_port_strings_are_startup_nodes(redis_cluster):
    nodes = [f"{host}:{port}" for host, port in redis_cluster.startup_nodes]
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=nodes[:1],
        DEFENDER_CACHE_PREFIX=topology_prefix(),
    ):
        assert login("alice", ATTACKER) == "bad"
        state = get_service().status(username="alice").states[0]
        assert state.failures == 1


def test_cluster_options_reach_the_client(redis_cluster):
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=redis_cluster.startup_nodes,
        DEFENDER_REDIS_CLUSTER_OPTIONS={"retry": Retry(NoBackoff(), 0)},
        DEFENDER_REDIS_SOCKET_TIMEOUT=0.25,
    ):
        client = get_service().backend.client.get()
        assert client.retry.get_retries() == 0
        node = client.get_default_node()
        kwargs = node.redis_connection.connection_pool.connection_kwargs
        assert kwargs["socket_timeout"] == 0.25


def test_database_number_is_rejected(redis_cluster):
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=redis_cluster.startup_nodes,
        DEFENDER_REDIS_OPTIONS={"db": 2},
    ):
        with pytest.raises(ImproperlyConfigured, match="database 0 only"):
            RedisClusterBackend(prefix="defender")


def test_missing_nodes_are_rejected():
    with override_settings(DEFENDER_BACKEND=CLUSTER_BACKEND, DEFENDER_REDIS_CLUSTER_NODES=[]):
        with pytest.raises(ImproperlyConfigured, match="DEFENDER_REDIS_CLUSTER_NODES is empty"):
            RedisClusterBackend(prefix="defender")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (("redis-1", 6379), ("redis-1", 6379)),
        (["redis-1", 6379], ("redis-1", 6379)),
        ("redis-1:7000", ("redis-1", 7000)),
        ("[2001:db8::7]:26379", ("2001:db8::7", 26379)),
    ],
)
def test_address_forms(value, expected):
    assert parse_address(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("redis-1", "has no port"),
        ("redis-1:http", "invalid port"),
        (("redis-1", 0), "invalid port"),
        (("redis-1", "6379"), "invalid port"),
        (("", 6379), "empty or invalid host"),
        (("redis-1", 6379, 0), "neither"),
    ],
)
def test_invalid_addresses(value, message):
    with pytest.raises(ValueError, match=message):
        parse_address(value)


def test_address_list_must_be_a_list():
    with pytest.raises(ValueError, match="must be a list"):
        parse_addresses("DEFENDER_REDIS_CLUSTER_NODES", "redis-1:6379,redis-2:6379")


# --- system checks ---------------------------------------------------------------------


def topology_check_ids(**values: Any) -> list[str]:
    values.setdefault("DEBUG", True)
    with override_settings(**values):
        return sorted(
            message.id
            for message in run_checks(tags=["drf_defender"])
            if message.id in ("drf_defender.E016", "drf_defender.E017", "drf_defender.E018")
        )


def test_check_accepts_cluster_settings():
    assert (
        topology_check_ids(
            DEFENDER_BACKEND=CLUSTER_BACKEND,
            DEFENDER_REDIS_CLUSTER_NODES=[("redis-1", 6379), "redis-2:6379"],
        )
        == []
    )


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"DEFENDER_REDIS_CLUSTER_NODES": []}, ["drf_defender.E018"]),
        ({"DEFENDER_REDIS_CLUSTER_NODES": "redis-1:6379"}, ["drf_defender.E018"]),
        ({"DEFENDER_REDIS_CLUSTER_NODES": [("redis-1", 70000)]}, ["drf_defender.E018"]),
        (
            {"DEFENDER_REDIS_CLUSTER_NODES": [("redis-1", 6379)], "DEFENDER_REDIS_OPTIONS": []},
            ["drf_defender.E018"],
        ),
        (
            {
                "DEFENDER_REDIS_CLUSTER_NODES": [("redis-1", 6379)],
                "DEFENDER_REDIS_CLUSTER_OPTIONS": {"db": 1},
            },
            ["drf_defender.E018"],
        ),
        (
            {"DEFENDER_REDIS_CLUSTER_NODES": [("redis-1", 6379)], "DEFENDER_REDIS_NAME": "x"},
            ["drf_defender.E016"],
        ),
        (
            {
                "DEFENDER_REDIS_CLUSTER_NODES": [("redis-1", 6379)],
                "DEFENDER_REDIS_SENTINELS": [("sentinel-1", 26379)],
            },
            ["drf_defender.E016", "drf_defender.E016"],
        ),
    ],
)
def test_check_rejects_invalid_cluster_settings(values, expected):
    assert topology_check_ids(DEFENDER_BACKEND=CLUSTER_BACKEND, **values) == expected


def test_check_rejects_cluster_nodes_with_single_server_backend():
    ids = topology_check_ids(
        DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
        DEFENDER_REDIS_CLUSTER_NODES=[("redis-1", 6379)],
    )
    assert ids == ["drf_defender.E016"]


def test_check_message_names_the_backend_to_use():
    with override_settings(
        DEBUG=True,
        DEFENDER_BACKEND="drf_defender.backends.cache.CacheBackend",
        DEFENDER_REDIS_CLUSTER_NODES=[("redis-1", 6379)],
    ):
        (message,) = [m for m in run_checks(tags=["drf_defender"]) if m.id == "drf_defender.E016"]
    assert "DEFENDER_REDIS_CLUSTER_NODES is set" in message.msg
    assert CLUSTER_BACKEND in (message.hint or "")


# --- one batch per node ----------------------------------------------------------------


class NodeCountingConnection(redis.Connection):
    """A connection that counts the batches it sends, by server port."""

    sends: ClassVar[Counter[int]] = Counter()

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        NodeCountingConnection.sends[int(self.port)] += 1
        super().send_packed_command(command, check_health)


@pytest.fixture
def node_sends(cluster_settings) -> Iterator[Counter[int]]:
    """Batches sent to each cluster node, counted from when the test clears them."""
    with override_settings(
        DEFENDER_REDIS_OPTIONS={"connection_class": NodeCountingConnection},
        DEFENDER_LISTS_CACHE_SECONDS=3600,
    ):
        NodeCountingConnection.sends.clear()
        yield NodeCountingConnection.sends


def test_login_reaches_each_node_at_most_once(redis_cluster, node_sends, clock):
    owner = slot_owner(redis_cluster)
    ip = ATTACKER
    ip_node = owner(ip_key(ip))
    username = username_on(owner, ip_node, exclude=True)
    username_node = owner(username_key(username))
    pair = Subject(KIND_PAIR, f"{ip}{PAIR_SEPARATOR}{username}")
    assert owner(subject_key(settings.DEFENDER_CACHE_PREFIX, "failed", pair)) == ip_node
    service = get_service()
    service.backend._load_scripts()
    assert login("warm-up", ip, correct=True) == "ok"
    # The warm-up success gives its reservations back now, not with the next begin().
    service.flush_pending_writes()

    node_sends.clear()
    attempt = service.begin(username=username, ip=ip)
    assert set(node_sends) >= {ip_node, username_node}
    assert max(node_sends.values()) == 1
    version_node = owner(lists_version_key(settings.DEFENDER_CACHE_PREFIX))
    assert set(node_sends) == {ip_node, username_node, version_node}

    node_sends.clear()
    attempt.failed()
    assert node_sends == Counter(), "a failure within the limit was counted when reserved"

    node_sends.clear()
    attempt = service.begin(username=username, ip=ip)
    attempt.succeeded()
    assert max(node_sends.values()) <= 2  # one batch for begin(), one for succeeded()
    assert node_sends[ip_node] == 2
    assert node_sends[username_node] == 2


def test_blocking_failure_adds_one_index_batch(redis_cluster, node_sends, clock):
    owner = slot_owner(redis_cluster)
    ip = ATTACKER
    username = username_on(owner, owner(ip_key(ip)), exclude=True)
    service = get_service()
    service.backend._load_scripts()
    for _ in range(3):
        assert login(username, ip) == "bad"
    attempt = service.begin(username=username, ip=ip)

    node_sends.clear()
    with pytest.raises(Exception) as raised:
        attempt.failed()
    assert raised.typename == "LockedOut"
    script_nodes = {owner(ip_key(ip)), owner(username_key(username))}
    prefix = settings.DEFENDER_CACHE_PREFIX
    index_nodes = {
        owner(index_key(prefix, "login", KIND_IP)),
        owner(index_key(prefix, "login", KIND_USERNAME)),
    }
    expected = Counter(script_nodes) + Counter(index_nodes)
    assert node_sends == expected


def test_partial_noscript_runs_scripts_once(redis_cluster, cluster_settings):
    owner = slot_owner(redis_cluster)
    ip_node = owner(ip_key(ATTACKER))
    username = username_on(owner, ip_node, exclude=True)
    user_spec = spec(Subject(KIND_USERNAME, username))
    ip_spec = spec(Subject(KIND_IP, ATTACKER))
    backend = get_service().backend
    first, _ = backend.reserve([user_spec, ip_spec], NOW)
    assert [r.count for r in first] == [1, 1]

    admin_client(owner(username_key(username))).script_flush()
    second, _ = backend.reserve([user_spec, ip_spec], NOW)

    assert [r.status for r in second] == [ReserveStatus.RESERVED] * 2
    assert [r.count for r in second] == [2, 2]
    assert [s.failures for s in backend.get_states([user_spec, ip_spec], NOW)] == [2, 2]


def test_script_cache_lost_everywhere_is_reloaded(redis_cluster, cluster_settings):
    backend = get_service().backend
    subjects = [Subject(KIND_USERNAME, f"user{number}") for number in range(6)]
    backend.reserve([spec(s) for s in subjects], NOW)
    for server in redis_cluster.servers:
        assert server.port is not None
        admin_client(server.port).script_flush()
    reservations, _ = backend.reserve([spec(s) for s in subjects], NOW)
    assert [r.count for r in reservations] == [2] * 6
    reservations, _ = backend.reserve([spec(s) for s in subjects], NOW)
    assert [r.count for r in reservations] == [3] * 6


# --- listing and the service on a cluster ----------------------------------------------


def test_list_blocked_spans_nodes_without_keys_or_scan(redis_cluster, cluster_settings):
    owner = slot_owner(redis_cluster)
    ports = sorted({server.port for server in redis_cluster.servers if server.port})
    names = [name for port in ports for name in usernames_on(owner, port, 3)]
    assert {owner(username_key(name)) for name in names} == set(ports)
    for port in ports:
        admin_client(port).config_resetstat()

    backend = get_service().backend
    for offset, name in enumerate(names):
        backend.block(spec(Subject(KIND_USERNAME, name, display=name)), 100 + offset, NOW)
    total, page = backend.list_blocked("login", KIND_USERNAME, NOW, offset=0, limit=100)

    assert total == len(names)
    assert [state.subject.identity for state in page] == names
    assert all(state.blocked and state.manual for state in page)
    for port in ports:
        commands = admin_client(port).info("commandstats")
        assert "cmdstat_keys" not in commands
        assert "cmdstat_scan" not in commands


@pytest.mark.usefixtures("cluster_settings")
def test_success_forgives_own_failures_on_the_ip_counter(clock):
    assert login("alice", ATTACKER) == "bad"
    assert login("alice", ATTACKER) == "bad"
    assert login("bob", ATTACKER) == "bad"
    assert login("alice", ATTACKER, correct=True) == "ok"
    ip_state = get_service().status(ip=ATTACKER).states[0]
    assert ip_state.failures == 1
    alice_state = get_service().status(username="alice").states[0]
    assert alice_state.failures == 0


@pytest.mark.usefixtures("cluster_settings")
def test_pair_lockout_on_cluster(clock):
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        answers = [login("alice", ATTACKER) for _ in range(4)]
        assert answers == ["bad", "bad", "bad", "locked"]
        assert login("alice", "198.51.100.7") == "bad"
        total, page = get_service().list_blocked(KIND_PAIR)
        assert total == 1
        assert page[0].subject.identity == f"{ATTACKER}{PAIR_SEPARATOR}alice"


@pytest.mark.usefixtures("cluster_settings")
def test_run_time_lists_on_cluster(clock):
    service = get_service()
    assert service.add_list_entry("username_deny", "mallory") is True
    service.invalidate_lists()
    assert login("mallory", ATTACKER, correct=True) == "locked"
    assert service.get_lists()["username_deny"] == {"mallory"}


@pytest.mark.django_db
@pytest.mark.usefixtures("cluster_settings")
def test_buffered_access_log_drains_from_cluster(clock):
    with override_settings(
        DEFENDER_ACCESS_LOG_MODE="buffered", DEFENDER_STORE_ACCESS_ATTEMPTS=True
    ):
        assert login("alice", ATTACKER) == "bad"
        assert login("alice", ATTACKER, correct=True) == "ok"
        backend = get_service().backend
        assert stream_status(backend)["length"] == 2
        report = drain(backend)
        assert report.stored == 2
        assert sorted(AccessAttempt.objects.values_list("login_valid", flat=True)) == [False, True]
        assert stream_status(backend)["length"] == 0


# --- racing requests -------------------------------------------------------------------


@pytest.mark.usefixtures("cluster_settings")
def test_fifty_threads_one_username_on_cluster():
    answers, checks = race(get_service(), [("alice", f"198.51.100.{i}") for i in range(THREADS)])
    assert answers == Counter({"bad": 3, "locked": THREADS - 3})
    assert checks <= 4
    assert get_service().status(username="alice").blocked


@pytest.mark.usefixtures("cluster_settings")
def test_fifty_threads_one_ip_on_cluster():
    answers, checks = race(get_service(), [(f"user{i}", ATTACKER) for i in range(THREADS)])
    assert answers == Counter({"bad": 3, "locked": THREADS - 3})
    assert checks <= 4


# --- outages ---------------------------------------------------------------------------


def unreachable_cluster_settings(**extra: Any) -> Any:
    """Settings whose only startup node is a loopback port where nothing listens."""
    return override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=[(LOOPBACK, find_free_port())],
        DEFENDER_CACHE_PREFIX=topology_prefix(),
        DEFENDER_REDIS_SOCKET_TIMEOUT=0.3,
        DEFENDER_REDIS_CONNECT_TIMEOUT=0.3,
        **extra,
    )


def test_cluster_down_at_start_fails_open():
    with unreachable_cluster_settings():
        started = time.monotonic()
        assert login("alice", ATTACKER, correct=True) == "ok"
        assert login("alice", ATTACKER) == "bad"
        assert time.monotonic() - started < MAX_LOGIN_SECONDS


def test_cluster_down_at_start_fails_closed():
    with unreachable_cluster_settings(DEFENDER_BACKEND_FAILURE_POLICY="closed"):
        with pytest.raises(BackendUnavailableResponse) as raised:
            get_service().begin(username="alice", ip=ATTACKER)
        assert raised.value.status_code == 503


def test_admin_calls_raise_backend_unavailable_when_cluster_down():
    with unreachable_cluster_settings():
        with pytest.raises(BackendUnavailable):
            get_service().status(username="alice")
        with pytest.raises(BackendUnavailable):
            get_service().list_blocked(KIND_USERNAME)


def test_cluster_that_comes_up_later_is_used(redis_cluster):
    nodes = [(LOOPBACK, find_free_port())]

    def connect() -> RedisCluster:
        startup = [ClusterNode(host, port) for host, port in nodes]
        return RedisCluster(startup_nodes=startup, socket_connect_timeout=0.3)

    backend = RedisClusterBackend(prefix=topology_prefix(), client=LazyClusterClient(connect))
    with pytest.raises(BackendUnavailable):
        backend.ping()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="unreachable less than"):
        backend.ping()
    assert time.monotonic() - started < 0.1, "a second connection attempt was made at once"

    nodes[:] = redis_cluster.startup_nodes

    def answers() -> bool:
        try:
            backend.ping()
        except BackendUnavailable:
            return False
        return True

    wait_for(answers, "the backend to reach the cluster", deadline=5)
    backend.close()


def started_cluster(**options: Any) -> LocalRedisCluster:
    cluster = LocalRedisCluster(**options)
    try:
        cluster.start()
    except RedisUnavailableError as exc:
        pytest.fail(f"Could not start the throwaway Redis Cluster: {exc}", pytrace=False)
    return cluster


@pytest.fixture(scope="module")
def pausable_cluster() -> Iterator[LocalRedisCluster]:
    """Three primaries whose node timeout outlasts a short pause, so none is failed over."""
    cluster = started_cluster(primaries=3, node_timeout_ms=10_000)
    try:
        yield cluster
    finally:
        cluster.close()


def test_node_failure_gives_back_reservations_on_healthy_nodes(pausable_cluster):
    # A paused node accepts the batch and never replies, so the scripts sent to the
    # other nodes run.
    cluster = pausable_cluster
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=cluster.startup_nodes,
        DEFENDER_CACHE_PREFIX=topology_prefix(),
        DEFENDER_REDIS_SOCKET_TIMEOUT=0.3,
        DEFENDER_REDIS_CONNECT_TIMEOUT=0.3,
    ):
        owner = slot_owner(cluster)
        ip_node = owner(ip_key(ATTACKER))
        username = username_on(owner, ip_node, exclude=True)
        specs = [spec(Subject(KIND_USERNAME, username)), spec(Subject(KIND_IP, ATTACKER))]
        backend = get_service().backend
        first, _ = backend.reserve(specs, NOW)
        assert [r.count for r in first] == [1, 1]

        paused = cluster.server_at(owner(username_key(username)))
        paused.pause()
        try:
            with pytest.raises(BackendUnavailable):
                backend.reserve(specs, NOW)
            stored = admin_client(ip_node).hget(ip_key(ATTACKER), "c")
        finally:
            paused.resume()
        assert stored == "1", "the reservation on the healthy node was not given back"


# --- failover --------------------------------------------------------------------------


@pytest.fixture
def replicated_cluster() -> Iterator[LocalRedisCluster]:
    """Three primaries with one replica each, for a test that stops a primary."""
    cluster = started_cluster(primaries=3, replicas_per_primary=1)
    try:
        yield cluster
    finally:
        cluster.close()


def replica_count(port: int, key: str) -> int:
    """Return the failure count stored under ``key`` as the replica on ``port`` has it."""
    client = admin_client(port)
    client.execute_command("READONLY")
    return int(client.hget(key, "c") or 0)


@pytest.mark.slow
def test_primary_failover_keeps_counting(replicated_cluster, clock, caplog):
    caplog.set_level("INFO", logger="drf_defender")
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=replicated_cluster.startup_nodes,
        DEFENDER_CACHE_PREFIX=topology_prefix(),
        DEFENDER_BACKEND_FAILURE_POLICY="open",
        DEFENDER_REDIS_SOCKET_TIMEOUT=0.3,
        DEFENDER_REDIS_CONNECT_TIMEOUT=0.3,
    ):
        owner = slot_owner(replicated_cluster)
        victim_port = owner(username_key("user0"))
        username, probe_user = usernames_on(owner, victim_port, 2)
        ip = ip_on(owner, victim_port)
        probe_ip = ip_on(owner, victim_port, skip=1)
        victim = replicated_cluster.server_at(victim_port)
        (replica,) = replicated_cluster.replicas_of(victim)
        assert replica.port is not None

        assert [login(username, ip) for _ in range(2)] == ["bad", "bad"]
        wait_for(
            lambda: replica_count(replica.port or 0, username_key(username)) == 2,
            "the replica to copy the failures",
        )

        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        probes = probe_until_counted(probe_user, probe_ip)

        assert probes.untracked >= 1, "no login saw the outage"
        assert probes.slowest < MAX_LOGIN_SECONDS
        assert slot_owner(replicated_cluster)(username_key(username)) == replica.port
        # The promoted replica kept both failures: the third is still "bad", the fourth locks.
        assert login(username, ip) == "bad"
        assert login(username, ip) == "locked"
        assert get_service().status(username=username).blocked
        messages = [record.getMessage() for record in caplog.records]
        assert any("backend unavailable" in message for message in messages)
        assert any("recovered" in message for message in messages)


@pytest.mark.slow
def test_paused_primary_answers_within_timeout(pausable_cluster, clock):
    cluster = pausable_cluster
    with override_settings(
        DEFENDER_BACKEND=CLUSTER_BACKEND,
        DEFENDER_REDIS_CLUSTER_NODES=cluster.startup_nodes,
        DEFENDER_CACHE_PREFIX=topology_prefix(),
        DEFENDER_REDIS_SOCKET_TIMEOUT=0.3,
        DEFENDER_REDIS_CONNECT_TIMEOUT=0.3,
    ):
        owner = slot_owner(cluster)
        server = cluster.server_at(owner(username_key("alice")))
        assert login("alice", ATTACKER) == "bad"
        server.pause()
        try:
            started = time.monotonic()
            assert login("alice", ATTACKER, correct=True) == "ok"
            elapsed = time.monotonic() - started
        finally:
            server.resume()
        assert elapsed < MAX_LOGIN_SECONDS
        wait_for(lambda: login("carol", ATTACKER) == "bad", "the node to answer again")
