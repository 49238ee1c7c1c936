"""Racing requests through the login endpoints never get more checks than the limit allows.

The service-level races are in tests/test_concurrency.py. Here every request goes
through a real entry point of the test URL conf, from threads released together, and
from several processes sharing one Redis database. The threads need committed
accounts, so these tests use transactional database access.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from drf_defender.keys import KIND_USERNAME
from drf_defender.service import get_service
from tests.hardening import live
from tests.hardening.support import (
    ALICE_PASSWORD,
    API_ENTRIES,
    ATTACKER,
    ENTRIES_BY_NAME,
    LIMIT,
    WRONG_PASSWORD,
    CountingHasher,
    Entry,
    entry_ids,
    failures,
    prefix_keys,
    run_threads,
)

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 40
DJ_REST_AUTH = ENTRIES_BY_NAME["dj_rest_auth"]
OBTAIN_TOKEN = ENTRIES_BY_NAME["obtain_token"]


def checks_per_failure(entry: Entry, username: str) -> int:
    """Return how many hasher runs one failed login of ``username`` costs on ``entry``."""
    CountingHasher.reset()
    entry.send(APIClient(REMOTE_ADDR="192.0.2.250"), username, WRONG_PASSWORD)
    cost = CountingHasher.calls()
    get_service().unblock("ip", "192.0.2.250")
    get_service().unblock("username", username)
    CountingHasher.reset()
    assert cost >= 1
    return cost


def outcomes_of(entry: Entry, results: list[Any]) -> Counter[str]:
    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    return Counter(entry.outcome(result) for result in results)


def create_token(user: Any) -> None:
    """Create the user's API token, so that racing logins only read it.

    The in-memory SQLite test database rejects concurrent writers with "database table
    is locked", which a token created by the first of many racing logins would cause.
    """
    Token.objects.create(user=user)


def raw_counts(redis_client: Any, redis_prefix: str) -> list[int]:
    """Return every failure count stored under the prefix, as Redis stores it."""
    counts = []
    for key in prefix_keys(redis_client, redis_prefix):
        if ":failed:" in key:
            value = redis_client.hget(key, "c")
            if value is not None:
                counts.append(int(value))
    return counts


@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_racing_guesses_one_username(entry: Entry, accounts: Any) -> None:
    cost = checks_per_failure(entry, "alice")

    results = run_threads(
        lambda index: entry.send(
            APIClient(REMOTE_ADDR=f"198.51.100.{index}"), "alice", WRONG_PASSWORD
        ),
        THREADS,
    )

    assert outcomes_of(entry, results) == Counter({"bad": LIMIT, "locked": THREADS - LIMIT})
    assert CountingHasher.calls() <= (LIMIT + 1) * cost
    assert failures(username="alice")["username"] == LIMIT
    assert get_service().status(username="alice").blocked


@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_racing_guesses_one_ip(entry: Entry, accounts: Any) -> None:
    cost = checks_per_failure(entry, "nobody-0")

    results = run_threads(
        lambda index: entry.send(APIClient(REMOTE_ADDR=ATTACKER), f"nobody-{index}", "x"),
        THREADS,
    )

    assert outcomes_of(entry, results) == Counter({"bad": LIMIT, "locked": THREADS - LIMIT})
    assert CountingHasher.calls() <= (LIMIT + 1) * cost
    assert failures(ip=ATTACKER)["ip"] == LIMIT


def test_racing_guesses_one_pair(accounts: Any, settings: Any) -> None:
    settings.DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True
    cost = checks_per_failure(DJ_REST_AUTH, "alice")

    results = run_threads(
        lambda index: DJ_REST_AUTH.send(APIClient(REMOTE_ADDR=ATTACKER), "alice", "x"),
        THREADS,
    )

    assert outcomes_of(DJ_REST_AUTH, results) == Counter({"bad": LIMIT, "locked": THREADS - LIMIT})
    assert CountingHasher.calls() <= (LIMIT + 1) * cost
    assert failures(username="alice", ip=ATTACKER)["ipusername"] == LIMIT


def test_no_failure_lost_under_contention(
    accounts: Any, settings: Any, redis_client: Any, redis_prefix: str
) -> None:
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 10_000
    sent = 500

    results = run_threads(
        lambda index: OBTAIN_TOKEN.send(
            APIClient(REMOTE_ADDR=ATTACKER), f"nobody-{index % 10}", WRONG_PASSWORD
        ),
        sent,
        timeout=120,
    )

    assert outcomes_of(OBTAIN_TOKEN, results) == Counter({"bad": sent})
    assert failures(ip=ATTACKER)["ip"] == sent
    for index in range(10):
        assert failures(username=f"nobody-{index}")["username"] == sent // 10


def test_racing_logins_never_erase_other_failures(
    accounts: Any, settings: Any, redis_client: Any, redis_prefix: str
) -> None:
    # A client that owns one account must not wipe its failures for other accounts by
    # logging in to its own many times at once: each success forgives only itself.
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 10_000
    create_token(accounts["alice"])
    client = APIClient(REMOTE_ADDR=ATTACKER)
    for index in range(10):
        assert OBTAIN_TOKEN.outcome(OBTAIN_TOKEN.send(client, f"other-{index}", "x")) == "bad"

    results = run_threads(
        lambda index: OBTAIN_TOKEN.send(APIClient(REMOTE_ADDR=ATTACKER), "alice", ALICE_PASSWORD),
        THREADS,
    )

    assert outcomes_of(OBTAIN_TOKEN, results) == Counter({"ok": THREADS})
    assert failures(ip=ATTACKER)["ip"] == 10
    assert min(raw_counts(redis_client, redis_prefix)) >= 0


def test_mixed_race_keeps_counts_consistent(
    accounts: Any, settings: Any, redis_client: Any, redis_prefix: str
) -> None:
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 10_000
    create_token(accounts["alice"])

    def mixed(index: int) -> Any:
        client = APIClient(REMOTE_ADDR=ATTACKER)
        if index % 3 == 0:
            return OBTAIN_TOKEN.send(client, "alice", ALICE_PASSWORD)
        if index % 3 == 1:
            return OBTAIN_TOKEN.send(client, f"other-{index}", WRONG_PASSWORD)
        # Missing password: rejected before any check, so nothing is counted.
        return client.post(OBTAIN_TOKEN.path, {"username": "bob"}, format="json")

    results = run_threads(mixed, 60)

    assert [result for result in results if isinstance(result, BaseException)] == []
    assert failures(ip=ATTACKER)["ip"] == 20
    assert failures(username="alice")["username"] == 0
    assert min(raw_counts(redis_client, redis_prefix)) >= 0


def test_unblock_racing_with_failures(
    accounts: Any, admin_api: APIClient, redis_client: Any, redis_prefix: str
) -> None:
    for index in range(LIMIT + 1):
        DJ_REST_AUTH.send(APIClient(REMOTE_ADDR=f"198.51.100.{index}"), "alice", "x")
    assert get_service().status(username="alice").blocked

    def race(index: int) -> Any:
        if index % 5 == 0:
            return admin_api.post(
                "/api/defender/blocks/unblock/",
                {"kind": "username", "username": "alice"},
                format="json",
            )
        return DJ_REST_AUTH.send(APIClient(REMOTE_ADDR=f"198.51.101.{index}"), "alice", "x")

    results = run_threads(race, THREADS)

    assert all(result.status_code in (200, 400, 429) for result in results)
    state = get_service().status(username="alice").states[0]
    assert 0 <= state.failures <= LIMIT + 1
    total, listed = get_service().list_blocked(KIND_USERNAME)
    assert (total == 1) is state.blocked
    assert [s.subject.identity for s in listed] == (["alice"] if state.blocked else [])
    if state.blocked:
        assert state.blocked_since is not None
        assert state.lockout_count >= 1
    assert min(raw_counts(redis_client, redis_prefix)) >= 0


# --------------------------------------------------------------------------------------
# Several processes


@pytest.mark.slow
def test_processes_share_one_limit(live_database: Any, redis_url: str, redis_prefix: str) -> None:
    processes = 4
    per_process = 25
    limit = 5
    env = live_database.environment(redis_url=redis_url, prefix=redis_prefix, limit=limit)
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    queue = context.Queue()
    workers = [
        context.Process(target=live.login_worker, args=(env, start, per_process, 5, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        outcomes = [outcome for _ in workers for outcome in queue.get(timeout=180)]
    finally:
        for worker in workers:
            worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * processes

    assert Counter(outcomes) == Counter({"bad": limit, "locked": processes * per_process - limit})
    assert live_database.failures(redis_url, redis_prefix, username="alice") == limit
