"""A bounded run of mixed traffic against two real servers on the loopback interface.

Two ``runserver`` processes share one database file and one Redis prefix, behind a
trusted proxy address (127.0.0.1), so that each client thread is counted under the
address that it appends to X-Forwarded-For. The threads send several thousand
requests of known kinds. The run must end with no 5xx answer, every answer of the
status its kind expects, and failure counters equal to the failures sent: the limit
is set so high that nothing is blocked.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.hardening.live import ACCOUNTS, LiveDatabase, LiveServer
from tests.hardening.support import run_threads

pytestmark = pytest.mark.slow

CLIENTS = 24
REQUESTS_PER_CLIENT = 125
#: Seconds the whole run may take, and one request at most.
RUN_BOUND = 120.0
REQUEST_TIMEOUT = 15.0
HIGH_LIMIT = 1_000_000


@dataclass(frozen=True)
class Kind:
    """One kind of request: what it sends, its expected status and what it counts."""

    name: str
    status: int
    #: Whether the request counts a failure for the client IP.
    counts_ip: bool
    #: The username whose counter the request raises, if any.
    counts_username: str | None = None


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")


def kind_for(client: int, number: int) -> Kind:
    """Return the kind of request ``number`` of ``client``: a fixed, mixed pattern."""
    step = number % 8
    if step == 0:
        return Kind("wrong_login_unknown", 400, True, f"load-{client}-{number % 5}")
    if step == 1:
        return Kind("wrong_token_login_bob", 400, True, "bob")
    if step == 2:
        return Kind("basic_success", 200, False)
    if step == 3:
        return Kind("wrong_jwt_alice", 401, True, "alice")
    if step == 4:
        return Kind("malformed_basic", 401, True)
    if step == 5:
        return Kind("invalid_token", 401, True)
    if step == 6:
        return Kind("broken_json", 400, False)
    return Kind("token_success", 200, False)


def send(session: requests.Session, base: str, kind: Kind, forwarded: str) -> requests.Response:
    headers = {"X-Forwarded-For": forwarded}
    password = ACCOUNTS["loaduser"]
    timeout = REQUEST_TIMEOUT
    if kind.name == "wrong_login_unknown":
        body = {"username": kind.counts_username, "password": "wrong"}
        return session.post(f"{base}/api/auth/login/", json=body, headers=headers, timeout=timeout)
    if kind.name == "wrong_token_login_bob":
        body = {"username": "bob", "password": "wrong"}
        return session.post(f"{base}/api/auth/token/", json=body, headers=headers, timeout=timeout)
    if kind.name == "basic_success":
        headers["Authorization"] = basic_header("loaduser", password)
        return session.get(f"{base}/api/me/", headers=headers, timeout=timeout)
    if kind.name == "wrong_jwt_alice":
        body = {"username": "alice", "password": "wrong"}
        return session.post(f"{base}/api/auth/jwt/", json=body, headers=headers, timeout=timeout)
    if kind.name == "malformed_basic":
        headers["Authorization"] = "Basic !!!!"
        return session.get(f"{base}/api/me/", headers=headers, timeout=timeout)
    if kind.name == "invalid_token":
        headers["Authorization"] = "Token not-a-token"
        return session.get(f"{base}/api/me/", headers=headers, timeout=timeout)
    if kind.name == "broken_json":
        headers["Content-Type"] = "application/json"
        return session.post(
            f"{base}/api/auth/login/", data=b"{broken", headers=headers, timeout=timeout
        )
    body = {"username": "loaduser", "password": password}
    return session.post(f"{base}/api/auth/token/", json=body, headers=headers, timeout=timeout)


@pytest.fixture
def servers(
    live_database: LiveDatabase, redis_url: str, redis_prefix: str, tmp_path: Path
) -> Iterator[list[LiveServer]]:
    env = live_database.environment(
        redis_url=redis_url, prefix=redis_prefix, limit=HIGH_LIMIT, trusted_proxy="127.0.0.1"
    )
    started = [LiveServer(env, tmp_path / f"server-{index}.log") for index in range(2)]
    try:
        for server in started:
            server.start()
        yield started
    finally:
        for server in started:
            server.stop()


def test_mixed_traffic_under_load(
    servers: list[LiveServer], live_database: LiveDatabase, redis_url: str, redis_prefix: str
) -> None:
    deadline = time.monotonic() + RUN_BOUND

    def client(index: int) -> list[tuple[Kind, int]]:
        address = f"198.51.100.{index + 1}"
        results = []
        with requests.Session() as session:
            for number in range(REQUESTS_PER_CLIENT):
                if time.monotonic() > deadline:
                    break
                kind = kind_for(index, number)
                base = servers[number % len(servers)].url
                # A forged left-hand entry, as a client may write; the proxy appends the
                # client's real address on the right.
                forwarded = f"10.{number % 250}.0.1, {address}"
                response = send(session, base, kind, forwarded)
                results.append((kind, response.status_code))
        return results

    started = time.monotonic()
    results = run_threads(client, CLIENTS, timeout=RUN_BOUND + 30)
    elapsed = time.monotonic() - started

    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    answers = [answer for per_client in results for answer in per_client]
    assert len(answers) == CLIENTS * REQUESTS_PER_CLIENT, f"run cut short after {elapsed:.0f} s"
    statuses = Counter(status for _kind, status in answers)
    assert not [status for status in statuses if status >= 500], statuses
    wrong = Counter((kind.name, status) for kind, status in answers if status != kind.status)
    assert wrong == Counter()
    for server in servers:
        assert "Traceback" not in server.log_tail(lines=10_000)

    expected_ip: Counter[str] = Counter()
    expected_username: Counter[str] = Counter()
    for index, per_client in enumerate(results):
        for kind, _status in per_client:
            if kind.counts_ip:
                expected_ip[f"198.51.100.{index + 1}"] += 1
            if kind.counts_username:
                expected_username[kind.counts_username] += 1
    for address, count in expected_ip.items():
        assert live_database.failures(redis_url, redis_prefix, ip=address) == count, address
    for username, count in expected_username.items():
        assert live_database.failures(redis_url, redis_prefix, username=username) == count
    assert live_database.failures(redis_url, redis_prefix, username="loaduser") == 0
    assert live_database.failures(redis_url, redis_prefix, ip="127.0.0.1") == 0
    for forged in ("10.0.0.1", "10.1.0.1"):
        assert live_database.failures(redis_url, redis_prefix, ip=forged) == 0
