"""The Redis server goes away mid-run: every login entry point keeps its outage policy.

Each test runs drf-defender on a throwaway redis-server that it owns, with socket and
connect timeouts of TIMEOUT seconds, and takes that server away in one of three ways:
stopped (connections refused), paused with SIGSTOP (connections accepted, no answer)
or slow (``CLIENT PAUSE``: the server holds every command for a while). With the
"open" policy, logins go on without counting; with "closed", they get a 503. Each
request must answer within a bound derived from the timeout, and counting must come
back by itself once the server does. The client of ``django.test`` re-raises any
exception that a view lets escape, so an unhandled exception fails the test.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from drf_defender.exceptions import BackendUnavailable
from drf_defender.service import get_service
from tests.hardening.support import (
    ALICE_PASSWORD,
    ALL_ENTRIES,
    ATTACKER,
    ENTRIES_BY_NAME,
    LIMIT,
    STAFF_PASSWORD,
    USER_IP,
    WRONG_PASSWORD,
    Entry,
)

pytestmark = pytest.mark.django_db

#: Socket and connect timeout of drf-defender's Redis client, in seconds.
TIMEOUT = 0.3
#: A request makes at most two backend calls during an outage (a token check and the
#: failure it records), each bounded by TIMEOUT; the margin absorbs a loaded machine.
REQUEST_BOUND = 2 * TIMEOUT + 1.0
#: Milliseconds for which ``CLIENT PAUSE`` delays the commands of the slow server.
SLOW_PAUSE_MS = 6_000
#: Seconds that a test waits at most for the service to count again.
RECOVERY_BOUND = 15.0

SLOW_ENTRIES = tuple(ENTRIES_BY_NAME[name] for name in ("basic", "dj_rest_auth", "django_login"))


class Outage:
    """One way of taking the server away, and of bringing it back."""

    def __init__(self, name: str, server: Any) -> None:
        self.name = name
        self.server = server
        self.admin = redis.Redis.from_url(server.url, socket_timeout=5)

    def begin(self) -> None:
        if self.name == "stopped":
            self.server.stop()
        elif self.name == "paused":
            self.server.pause()
        else:
            self.admin.execute_command("CLIENT", "PAUSE", SLOW_PAUSE_MS)

    def end(self) -> None:
        if self.name == "stopped":
            self.server.start()
        elif self.name == "paused":
            self.server.resume()
        # A slow server replies again when its pause ends.

    def entries(self) -> tuple[Entry, ...]:
        # The slow server is slow for SLOW_PAUSE_MS only: fewer requests fit in.
        return SLOW_ENTRIES if self.name == "slow" else ALL_ENTRIES

    def close(self) -> None:
        self.admin.close()


@pytest.fixture
def own_redis(hardened: dict[str, Any], redis_server: Callable[..., Any], settings: Any) -> Any:
    """A throwaway redis-server that drf-defender uses, with short timeouts."""
    server = redis_server()
    settings.DEFENDER_REDIS_URL = server.url
    settings.DEFENDER_REDIS_SOCKET_TIMEOUT = TIMEOUT
    settings.DEFENDER_REDIS_CONNECT_TIMEOUT = TIMEOUT
    settings.DEFENDER_REDIS_OPTIONS = {}
    return server


@pytest.fixture(params=["stopped", "paused", "slow"])
def outage(request: pytest.FixtureRequest, own_redis: Any) -> Iterator[Outage]:
    taken = Outage(request.param, own_redis)
    try:
        yield taken
    finally:
        # The server factory stops the server, paused or not, after the test.
        taken.close()


def timed(send: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, float]:
    """Call ``send(*args, **kwargs)``; return its result and the seconds it took."""
    started = time.monotonic()
    response = send(*args, **kwargs)
    return response, time.monotonic() - started


def correct_user(entry: Entry) -> tuple[str, str]:
    # The admin login accepts staff members only.
    return ("staff", STAFF_PASSWORD) if entry.name == "admin_login" else ("alice", ALICE_PASSWORD)


def backend_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "drf_defender.service" and record.levelno >= logging.ERROR
    ]


def wait_until_counting(api: APIClient) -> None:
    """Send wrong logins until one is counted again; fail after RECOVERY_BOUND seconds."""
    entry = ENTRIES_BY_NAME["dj_rest_auth"]
    deadline = time.monotonic() + RECOVERY_BOUND
    probe = 0
    while True:
        probe += 1
        username = f"recovery-probe-{probe}"
        entry.send(api, username, WRONG_PASSWORD)
        try:
            (state,) = get_service().status(username=username).states
        except BackendUnavailable:
            state = None
        if state is not None and state.failures == 1:
            return
        assert time.monotonic() < deadline, "the service did not count again after the outage"
        time.sleep(0.2)


def test_fail_open_keeps_logins_working(
    outage: Outage, accounts: Any, api: APIClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="drf_defender")
    outage.begin()
    problems = []
    for entry in outage.entries():
        username, password = correct_user(entry)
        for sent, expected in ((password, "ok"), (WRONG_PASSWORD, "bad")):
            response, elapsed = timed(entry.send, api, username, sent)
            if entry.outcome(response) != expected or elapsed > REQUEST_BOUND:
                problems.append((entry.name, expected, response.status_code, round(elapsed, 2)))
    outage.end()

    assert problems == []
    assert len(backend_errors(caplog)) == 1


def test_fail_closed_answers_503(
    outage: Outage, accounts: Any, api: APIClient, settings: Any
) -> None:
    settings.DEFENDER_BACKEND_FAILURE_POLICY = "closed"
    outage.begin()
    problems = []
    for entry in outage.entries():
        username, password = correct_user(entry)
        response, elapsed = timed(entry.send, api, username, password)
        if response.status_code != 503 or elapsed > REQUEST_BOUND:
            problems.append((entry.name, response.status_code, round(elapsed, 2)))
        elif not entry.html:
            assert response.json()["code"] == "lockout_backend_unavailable"
    outage.end()

    assert problems == []


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_valid_token_during_outage(
    outage: Outage, policy: str, accounts: Any, api: APIClient, settings: Any
) -> None:
    settings.DEFENDER_BACKEND_FAILURE_POLICY = policy
    key = Token.objects.create(user=accounts["alice"]).key
    outage.begin()

    valid, valid_elapsed = timed(api.get, "/api/me/", HTTP_AUTHORIZATION=f"Token {key}")
    invalid, invalid_elapsed = timed(api.get, "/api/me/", HTTP_AUTHORIZATION="Token nope")
    outage.end()

    expected = (200, 401) if policy == "open" else (503, 503)
    assert (valid.status_code, invalid.status_code) == expected
    assert valid_elapsed <= REQUEST_BOUND
    assert invalid_elapsed <= REQUEST_BOUND


def test_admin_api_answers_503(outage: Outage, admin_api: APIClient) -> None:
    outage.begin()

    listing, elapsed = timed(admin_api.get, "/api/defender/blocks/")
    unblock = admin_api.post(
        "/api/defender/blocks/unblock/", {"kind": "ip", "ip": ATTACKER}, format="json"
    )
    outage.end()

    assert listing.status_code == 503
    assert unblock.status_code == 503
    assert elapsed <= 3 * REQUEST_BOUND


def test_counting_recovers_by_itself(outage: Outage, accounts: Any, api: APIClient) -> None:
    entry = ENTRIES_BY_NAME["dj_rest_auth"]
    assert entry.outcome(entry.send(api, "bob", WRONG_PASSWORD)) == "bad"
    outage.begin()
    during = [entry.outcome(entry.send(api, "bob", WRONG_PASSWORD)) for _ in range(LIMIT + 2)]
    outage.end()

    wait_until_counting(api)
    other = APIClient(REMOTE_ADDR=USER_IP)
    after = [entry.outcome(entry.send(other, "carol", WRONG_PASSWORD)) for _ in range(LIMIT + 1)]

    # Nothing was counted during the outage, so no lockout came from it.
    assert during == ["bad"] * (LIMIT + 2)
    assert after == ["bad"] * LIMIT + ["locked"]
