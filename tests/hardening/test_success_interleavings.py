"""Interleavings of one pair's requests that must not erase other failures of the IP.

A success takes the failures of its own username off the IP counter, using the pair's
companion counter, which also contains the reservations of that pair's requests still in
flight. These tests replay, step by step, the orders that racing requests can take, on
every backend, and check that the IP counter keeps the failures of other usernames.
"""

from __future__ import annotations

from typing import Any

import pytest

from drf_defender.exceptions import LockedOut

ATTACKER = "203.0.113.10"
OTHER_FAILURES = 2


@pytest.fixture
def counted(service: Any, settings: Any) -> Any:
    """The service with a high limit and OTHER_FAILURES failures of other usernames."""
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 1_000
    fresh = type(service)()
    for index in range(OTHER_FAILURES):
        fresh.begin(username=f"other-{index}", ip=ATTACKER).failed()
    return fresh


def ip_failures(service: Any) -> int:
    (state,) = service.status(ip=ATTACKER).states
    return int(state.failures)


def test_two_overlapping_successes(counted: Any) -> None:
    first = counted.begin(username="alice", ip=ATTACKER)
    second = counted.begin(username="alice", ip=ATTACKER)

    first.succeeded()
    second.succeeded()

    assert ip_failures(counted) == OTHER_FAILURES


def test_many_overlapping_successes(counted: Any) -> None:
    attempts = [counted.begin(username="alice", ip=ATTACKER) for _ in range(10)]

    for attempt in attempts:
        attempt.succeeded()

    assert ip_failures(counted) == OTHER_FAILURES


def test_success_then_overlapping_abandon(counted: Any) -> None:
    success = counted.begin(username="alice", ip=ATTACKER)
    abandoned = counted.begin(username="alice", ip=ATTACKER)

    success.succeeded()
    abandoned.abandon()

    assert ip_failures(counted) == OTHER_FAILURES


def test_abandon_then_success(counted: Any) -> None:
    abandoned = counted.begin(username="alice", ip=ATTACKER)
    success = counted.begin(username="alice", ip=ATTACKER)

    abandoned.abandon()
    success.succeeded()

    assert ip_failures(counted) == OTHER_FAILURES


def test_success_forgives_own_earlier_failures(counted: Any) -> None:
    counted.begin(username="alice", ip=ATTACKER).failed()
    counted.begin(username="alice", ip=ATTACKER).failed()

    counted.begin(username="alice", ip=ATTACKER).succeeded()

    assert ip_failures(counted) == OTHER_FAILURES


def test_abandon_alone_gives_back_reservation(counted: Any) -> None:
    counted.begin(username="alice", ip=ATTACKER).abandon()

    assert ip_failures(counted) == OTHER_FAILURES


def test_overlapping_successes_keep_limit(service: Any, settings: Any) -> None:
    # With the default limit of 3, two failures of other usernames and any number of
    # the client's own overlapping logins leave one more failure before the lockout.
    fresh = type(service)()
    for index in range(OTHER_FAILURES):
        fresh.begin(username=f"other-{index}", ip=ATTACKER).failed()
    attempts = [fresh.begin(username="mallory", ip=ATTACKER) for _ in range(2)]
    for attempt in attempts:
        attempt.succeeded()

    fresh.begin(username="other-x", ip=ATTACKER).failed()

    with pytest.raises(LockedOut):
        fresh.begin(username="other-y", ip=ATTACKER).failed()
