"""A blocked request is answered before any password hasher runs, on every entry point.

Lockouts are meant to cut the cost of an attack: once a subject is blocked, a guess
must cost neither a password check nor the dummy hashing that Django runs for an
unknown username. ``CountingHasher`` is the only hasher configured, so every
``verify()`` and ``encode()`` call of the request is counted.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.hardening.support import (
    ALICE_PASSWORD,
    ALL_ENTRIES,
    CAROL_PASSWORD,
    LIMIT,
    USER_IP,
    WRONG_PASSWORD,
    CountingHasher,
    Entry,
    entry_ids,
)

pytestmark = pytest.mark.django_db


def lock_out(entry: Entry, api: Any, username: str) -> None:
    outcomes = [entry.outcome(entry.send(api, username, WRONG_PASSWORD)) for _ in range(LIMIT + 1)]
    assert outcomes == ["bad"] * LIMIT + ["locked"]


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_blocked_username_runs_no_hasher(entry: Entry, accounts: Any, api: Any) -> None:
    lock_out(entry, api, "alice")
    CountingHasher.reset()
    other_client = type(api)(REMOTE_ADDR=USER_IP)

    answers = [
        entry.send(other_client, "alice", ALICE_PASSWORD),
        entry.send(other_client, "alice", WRONG_PASSWORD),
        entry.send(other_client, "ALICE", ALICE_PASSWORD),
    ]

    assert [entry.outcome(answer) for answer in answers] == ["locked"] * 3
    assert CountingHasher.verify_calls == 0
    assert CountingHasher.encode_calls == 0


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_blocked_ip_runs_no_hasher(entry: Entry, accounts: Any, api: Any) -> None:
    lock_out(entry, api, "alice")
    CountingHasher.reset()

    answers = [
        entry.send(api, "bob", WRONG_PASSWORD),
        entry.send(api, "nobody-at-all", WRONG_PASSWORD),
        entry.send(api, "carol", CAROL_PASSWORD),
    ]

    assert [entry.outcome(answer) for answer in answers] == ["locked"] * 3
    assert CountingHasher.verify_calls == 0
    # Django hashes a dummy password for unknown usernames; a blocked request skips it.
    assert CountingHasher.encode_calls == 0


@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_unblocked_requests_do_hash(entry: Entry, accounts: Any, api: Any) -> None:
    # The counter above is only meaningful if an ordinary failure does reach the hasher.
    entry.send(api, "alice", WRONG_PASSWORD)
    assert CountingHasher.verify_calls >= 1
    CountingHasher.reset()
    entry.send(api, "nobody-at-all", WRONG_PASSWORD)
    assert CountingHasher.calls() >= 1


def test_blocked_pair_runs_no_hasher(accounts: Any, api: Any, settings: Any) -> None:
    settings.DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True
    entry = next(entry for entry in ALL_ENTRIES if entry.name == "dj_rest_auth")
    lock_out(entry, api, "alice")
    CountingHasher.reset()

    assert entry.outcome(entry.send(api, "alice", ALICE_PASSWORD)) == "locked"
    assert CountingHasher.calls() == 0
    # Pair mode blocks only the pair: the same IP with another username is checked.
    assert entry.outcome(entry.send(api, "bob", WRONG_PASSWORD)) == "bad"
    assert CountingHasher.verify_calls >= 1
