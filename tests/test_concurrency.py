"""Racing requests against real Redis: at most LIMIT + 1 password checks per subject."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from typing import Any

import pytest
import redis

from drf_defender.backends.redis import RedisBackend
from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME
from drf_defender.service import LockoutService, get_service

THREADS = 50


def guess(service: LockoutService, username: str | None, ip: str, checks: list[int], lock) -> str:
    """Run one wrong guess; return "bad" or "locked" and count password checks."""
    try:
        attempt = service.begin(username=username, ip=ip)
    except LockedOut:
        return "locked"
    with lock:
        checks.append(1)
    try:
        attempt.failed()
    except LockedOut:
        return "locked"
    return "bad"


def race(service: LockoutService, requests: list[tuple[str | None, str]]) -> tuple[Counter, int]:
    """Fire all ``requests`` at once from threads; return the answers and the check count."""
    barrier = threading.Barrier(len(requests))
    lock = threading.Lock()
    checks: list[int] = []
    answers: list[str] = []

    def run(username: str | None, ip: str) -> None:
        barrier.wait(timeout=30)
        answer = guess(service, username, ip, checks, lock)
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=run, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return Counter(answers), len(checks)


@pytest.mark.usefixtures("redis_settings")
def test_fifty_threads_one_username():
    answers, checks = race(get_service(), [("alice", f"198.51.100.{i}") for i in range(THREADS)])
    assert answers["bad"] == 3
    assert answers["locked"] == THREADS - 3
    assert checks <= 4
    status = get_service().status(username="alice")
    assert status.blocked


@pytest.mark.usefixtures("redis_settings")
def test_fifty_threads_one_ip():
    answers, checks = race(get_service(), [(f"user{i}", "203.0.113.10") for i in range(THREADS)])
    assert answers == Counter({"bad": 3, "locked": THREADS - 3})
    assert checks <= 4


@pytest.mark.usefixtures("redis_settings")
def test_fifty_threads_one_pair(settings):
    settings.DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True
    answers, checks = race(get_service(), [("alice", "203.0.113.10")] * THREADS)
    assert answers == Counter({"bad": 3, "locked": THREADS - 3})
    assert checks <= 4
    status = get_service().status(username="alice", ip="203.0.113.10")
    assert {s.subject.kind: s.blocked for s in status.states} == {
        KIND_IP: False,
        KIND_USERNAME: False,
        KIND_PAIR: True,
    }


@pytest.mark.usefixtures("redis_settings")
def test_no_increment_lost_under_contention(settings):
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 1000
    answers, checks = race(get_service(), [(f"user{i}", "203.0.113.10") for i in range(200)])
    assert answers == Counter({"bad": 200})
    assert checks == 200
    ip_state = next(s for s in get_service().status(ip="203.0.113.10").states)
    assert ip_state.failures == 200


@pytest.mark.usefixtures("redis_settings")
def test_unblock_racing_with_failures_stays_consistent():
    service = get_service()
    for _ in range(4):
        guess(service, "alice", "203.0.113.10", [], threading.Lock())
    stop = threading.Event()

    def unblock_repeatedly() -> None:
        for _ in range(50):
            if stop.is_set():
                return
            service.unblock(KIND_USERNAME, "alice")

    unblocker = threading.Thread(target=unblock_repeatedly)
    unblocker.start()
    answers, _checks = race(service, [("alice", f"198.51.100.{i}") for i in range(THREADS)])
    stop.set()
    unblocker.join(timeout=30)
    state = next(s for s in service.status(username="alice").states)
    # Whatever interleaving happened, the counter is never negative and a block, if
    # present, is a whole record.
    assert state.failures >= 0
    assert set(answers) <= {"bad", "locked"}
    if state.blocked:
        assert state.blocked_since is not None
        assert state.lockout_count >= 1


def _process_guesses(url: str, prefix: str, count: int, queue: Any) -> None:
    import django

    django.setup()
    client = redis.Redis.from_url(url)
    service = LockoutService(backend=RedisBackend(prefix, client))
    results = []
    for _ in range(count):
        results.append(guess(service, "alice", "203.0.113.10", [], threading.Lock()))
    queue.put(results)


def test_processes_share_one_counter(redis_url, redis_prefix):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_process_guesses, args=(redis_url, redis_prefix, 5, queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [answer for _ in workers for answer in queue.get(timeout=30)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert Counter(results) == Counter({"bad": 3, "locked": 17})
