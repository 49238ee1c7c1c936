"""Answers that could tell existing accounts apart are identical.

A lockout of an existing account, of a username that matches no account and of an IP
address must look the same: status, header names, ``Retry-After`` and body. A wrong
password for an inactive account must get the ordinary bad-credentials answer. The
password-reset endpoints are covered in tests/test_password_reset.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.hardening.support import (
    ALICE_PASSWORD,
    ALL_ENTRIES,
    API_ENTRIES,
    CAROL_PASSWORD,
    LIMIT,
    WRONG_PASSWORD,
    Entry,
    entry_ids,
)

pytestmark = pytest.mark.django_db

#: Headers whose value is the time of the response.
TIME_HEADERS = ("Date", "Expires")
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]*"')


def client_from(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


def comparable(response: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {name: value for name, value in response.headers.items() if name not in TIME_HEADERS}
    return response.status_code, headers, response.content


def page_text(response: Any, typed_username: bytes) -> bytes:
    """Return an HTML login page without its per-request CSRF token and typed username."""
    content = CSRF_INPUT.sub(b"", response.content)
    return content.replace(typed_username, b"<typed>")


def lock_username(entry: Entry, username: str, network: int) -> None:
    """Fail ``username`` from LIMIT + 1 addresses, so that only the username is blocked."""
    outcomes = [
        entry.outcome(entry.send(client_from(f"198.51.{network}.{index}"), username, "x"))
        for index in range(LIMIT + 1)
    ]
    assert outcomes == ["bad"] * LIMIT + ["locked"]


def lock_ip(entry: Entry, address: str) -> None:
    """Fail LIMIT + 1 usernames from ``address``, so that only the IP is blocked."""
    client = client_from(address)
    outcomes = [
        entry.outcome(entry.send(client, f"sprayed-{index}", "x")) for index in range(LIMIT + 1)
    ]
    assert outcomes == ["bad"] * LIMIT + ["locked"]


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_lockouts_look_alike(entry: Entry, accounts: Any) -> None:
    lock_username(entry, "alice", 100)
    lock_username(entry, "zed-unknown", 101)
    lock_ip(entry, "203.0.113.50")

    existing = entry.send(client_from("192.0.2.11"), "alice", ALICE_PASSWORD)
    missing = entry.send(client_from("192.0.2.12"), "zed-unknown", ALICE_PASSWORD)
    by_ip = entry.send(client_from("203.0.113.50"), "bob", WRONG_PASSWORD)

    assert entry.outcome(existing) == "locked"
    assert comparable(missing) == comparable(existing)
    assert comparable(by_ip) == comparable(existing)


@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_lockout_body_shape(entry: Entry, accounts: Any) -> None:
    lock_username(entry, "zed-unknown", 102)

    response = entry.send(client_from("192.0.2.13"), "zed-unknown", WRONG_PASSWORD)

    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response["Retry-After"] == "300"
    body = response.json()
    assert set(body) == {"detail", "code", "retry_after"}
    assert body["code"] == "locked_out"
    assert body["retry_after"] == 300


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_inactive_account_gets_usual_error(entry: Entry, accounts: Any) -> None:
    active = entry.send(client_from("192.0.2.21"), "alice", WRONG_PASSWORD)
    inactive = entry.send(client_from("192.0.2.22"), "carol", WRONG_PASSWORD)
    missing = entry.send(client_from("192.0.2.23"), "zed-unknown", WRONG_PASSWORD)

    assert entry.outcome(active) == "bad"
    assert comparable(inactive)[0] == comparable(active)[0]
    if entry.html:
        # The form echoes the typed username back and holds a new CSRF token each time.
        assert page_text(inactive, b"carol") == page_text(active, b"alice")
        assert page_text(missing, b"zed-unknown") == page_text(active, b"alice")
    else:
        assert comparable(inactive) == comparable(active)
        assert comparable(missing) == comparable(active)


@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_inactive_account_locks_like_others(entry: Entry, accounts: Any) -> None:
    lock_username(entry, "carol", 103)
    lock_username(entry, "alice", 104)

    inactive = entry.send(client_from("192.0.2.31"), "carol", CAROL_PASSWORD)
    active = entry.send(client_from("192.0.2.32"), "alice", ALICE_PASSWORD)

    assert comparable(inactive) == comparable(active)


def test_username_mode_lockouts_look_alike(accounts: Any, settings: Any) -> None:
    settings.DEFENDER_DISABLE_IP_LOCKOUT = True
    entry = next(entry for entry in API_ENTRIES if entry.name == "dj_rest_auth")
    client = client_from("203.0.113.10")

    known = [entry.send(client, "alice", WRONG_PASSWORD) for _ in range(LIMIT + 1)]
    unknown = [entry.send(client, "zed-unknown", WRONG_PASSWORD) for _ in range(LIMIT + 1)]

    assert [entry.outcome(r) for r in known] == ["bad"] * LIMIT + ["locked"]
    assert [comparable(r) for r in unknown] == [comparable(r) for r in known]
