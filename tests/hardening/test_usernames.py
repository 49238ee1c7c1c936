"""Spelling one account's username differently never opens a fresh counter.

Case, surrounding white space (including no-break space and tabs), Unicode
compatibility forms and padding to a huge length all map to the counter of the one
account. Usernames that cannot be stored as they are get a hashed identity of bounded
length, so no request can make a key grow with its input.
"""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.hardening.support import (
    ALICE_PASSWORD,
    ALL_ENTRIES,
    API_ENTRIES,
    ATTACKER,
    ENTRIES_BY_NAME,
    LIMIT,
    WRONG_PASSWORD,
    Entry,
    counter_keys,
    entry_ids,
    failures,
    prefix_keys,
)

pytestmark = pytest.mark.django_db

DJ_REST_AUTH = ENTRIES_BY_NAME["dj_rest_auth"]

#: Longest key that any request may create, beyond the per-test prefix: the longest
#: role and kind ("password_reset:lockouts:ipusername:") plus a bracketed IPv6 network
#: and a hashed username of 42 characters, with room to spare.
MAX_KEY_SUFFIX = 160

CASE_VARIANTS = ["alice", "Alice", "ALICE", "aLice"]
SPACE_VARIANTS = ["alice ", "alice  ", " alice", "alice\t", "alice\u00a0", "\u2003alice\u3000"]
COMPATIBILITY_VARIANTS = [
    "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth letters
    "\uff21\uff2c\uff29\uff23\uff25",  # fullwidth capitals
    "\u1d43lice",  # modifier letter small a
    "alice" + " " * 10_000,
    "\t" * 5_000 + "ALICE",
]

#: Entries whose serializer limits the username to 150 characters and rejects a longer
#: one before any check, so that nothing is counted or hashed for it. Django's login
#: form sets max_length after its validators are built, so it checks long names.
LENGTH_CHECKED = {"custom_serializer"}


@pytest.fixture
def username_mode(hardened: dict[str, Any], settings: Any) -> None:
    settings.DEFENDER_DISABLE_IP_LOCKOUT = True


@pytest.fixture
def pair_mode(hardened: dict[str, Any], settings: Any) -> None:
    settings.DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True


def assert_keys_bounded(redis_client: Any, redis_prefix: str) -> None:
    keys = prefix_keys(redis_client, redis_prefix)
    assert keys, "the test stored nothing"
    longest = max(len(key) - len(redis_prefix) for key in keys)
    assert longest <= MAX_KEY_SUFFIX, max(keys, key=len)


@pytest.mark.usefixtures("username_mode")
@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_case_variants_share_counter(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [entry.outcome(entry.send(client, name, WRONG_PASSWORD)) for name in CASE_VARIANTS]
    correct = entry.send(client, "alice", ALICE_PASSWORD)

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert entry.outcome(correct) == "locked"
    assert failures(username="alice")["username"] == LIMIT
    keys = counter_keys(redis_client, redis_prefix, "username")
    assert keys == [f"{redis_prefix}:failed:username:{{alice}}"]


@pytest.mark.usefixtures("username_mode")
def test_unblock_by_other_case_lifts_block(accounts: Any, admin_api: APIClient) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    for name in CASE_VARIANTS:
        DJ_REST_AUTH.send(client, name, WRONG_PASSWORD)

    response = admin_api.post(
        "/api/defender/blocks/unblock/", {"kind": "username", "username": "ALICE"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["cleared"][0]["was_blocked"] is True
    assert DJ_REST_AUTH.outcome(DJ_REST_AUTH.send(client, "alice", ALICE_PASSWORD)) == "ok"


@pytest.mark.usefixtures("pair_mode")
@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_white_space_does_not_escape_block(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    first = [entry.outcome(entry.send(client, "alice", WRONG_PASSWORD)) for _ in range(LIMIT + 1)]

    follow_ups = [
        entry.outcome(entry.send(client, name, WRONG_PASSWORD)) for name in SPACE_VARIANTS
    ]
    correct = entry.send(client, "alice ", ALICE_PASSWORD)

    assert first == ["bad"] * LIMIT + ["locked"]
    assert follow_ups == ["locked"] * len(SPACE_VARIANTS)
    assert entry.outcome(correct) == "locked"
    assert failures(username="alice", ip=ATTACKER)["ipusername"] == LIMIT
    for key in prefix_keys(redis_client, redis_prefix):
        assert key == key.strip()
        assert not any(char.isspace() for char in key), key


#: The compatibility variants include padded names over 150 characters.
UNBOUNDED_ENTRIES = tuple(entry for entry in API_ENTRIES if entry.name not in LENGTH_CHECKED)


@pytest.mark.usefixtures("username_mode")
@pytest.mark.parametrize("entry", UNBOUNDED_ENTRIES, ids=entry_ids(UNBOUNDED_ENTRIES))
def test_compatibility_forms_share_counter(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        entry.outcome(entry.send(client, name, WRONG_PASSWORD)) for name in COMPATIBILITY_VARIANTS
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"] * (len(COMPATIBILITY_VARIANTS) - LIMIT)
    assert counter_keys(redis_client, redis_prefix, "username") == [
        f"{redis_prefix}:failed:username:{{alice}}"
    ]
    assert_keys_bounded(redis_client, redis_prefix)


@pytest.mark.parametrize("length", [300, 100_000])
@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_long_username_counts_under_bounded_key(
    entry: Entry, length: int, accounts: Any, settings: Any, redis_client: Any, redis_prefix: str
) -> None:
    # The access log stores each attempt's username in a bounded column as well.
    settings.DEFENDER_STORE_ACCESS_ATTEMPTS = True
    client = APIClient(REMOTE_ADDR=ATTACKER)
    name = ("mallory-" * (length // 8 + 1))[:length]

    responses = [entry.send(client, name, WRONG_PASSWORD) for _ in range(LIMIT + 1)]

    assert all(response.status_code < 500 for response in responses)
    if entry.name in LENGTH_CHECKED:
        # Rejected before any check: nothing is counted.
        assert {response.status_code for response in responses} == {400}
        assert failures(username=name, ip=ATTACKER) == {"ip": 0, "username": 0, "ipusername": 0}
        return
    assert [entry.outcome(r) for r in responses] == ["bad"] * LIMIT + ["locked"]
    (key,) = counter_keys(redis_client, redis_prefix, "username")
    assert "{h:" in key
    assert_keys_bounded(redis_client, redis_prefix)


@pytest.mark.usefixtures("username_mode")
def test_distinct_long_usernames_keep_distinct_counters(
    accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    base = "x" * 5_000
    for suffix in ("a", "b"):
        for _ in range(LIMIT):
            DJ_REST_AUTH.send(client, base + suffix, WRONG_PASSWORD)

    assert len(counter_keys(redis_client, redis_prefix, "username")) == 2


# --- the username field -----------------------------------------------------------------


@pytest.mark.usefixtures("username_mode")
def test_email_login_counts_under_email(accounts: Any, settings: Any) -> None:
    settings.ACCOUNT_LOGIN_METHODS = {"email"}
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        DJ_REST_AUTH.outcome(
            DJ_REST_AUTH.send(client, "alice@example.com", WRONG_PASSWORD, username_field="email")
        )
        for _ in range(LIMIT + 1)
    ]
    correct = DJ_REST_AUTH.send(client, "ALICE@example.com", ALICE_PASSWORD, username_field="email")

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert DJ_REST_AUTH.outcome(correct) == "locked"
    assert failures(username="alice@example.com")["username"] == LIMIT


def test_guard_reads_email_field_when_username_missing(accounts: Any) -> None:
    entry = ENTRIES_BY_NAME["guard_decorator"]
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        entry.outcome(
            entry.send(client, "alice@example.com", WRONG_PASSWORD, username_field="email")
        )
        for _ in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert failures(username="alice@example.com")["username"] == LIMIT


def test_unknown_field_still_counts_ip(accounts: Any) -> None:
    # The guard finds no username in a body with an unexpected field, yet the check runs
    # and fails: the attempt is counted under the client IP.
    entry = ENTRIES_BY_NAME["guard_decorator"]
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        entry.outcome(entry.send(client, "alice", WRONG_PASSWORD, username_field="login"))
        for _ in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert failures(ip=ATTACKER)["ip"] == LIMIT
