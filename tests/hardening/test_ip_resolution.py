"""The client cannot choose the address that its failures are counted under.

Proxies append the address of their peer to the right of X-Forwarded-For, and the
client writes whatever it likes on the left. With one trusted proxy, the right-most
entry is the client's real address whatever the client wrote. Without a proxy
configured, no forwarding header is read at all. Every test goes through the login
entry points of the test URL conf and reads the counters back from Redis.
"""

from __future__ import annotations

import logging
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
    PROXY,
    USER_IP,
    WRONG_PASSWORD,
    Entry,
    counter_keys,
    entry_ids,
    failures,
)

pytestmark = pytest.mark.django_db

DJ_REST_AUTH = ENTRIES_BY_NAME["dj_rest_auth"]

#: Values that a client writes into X-Forwarded-For before the proxy appends its peer.
FORGED_FORWARDED_FOR = {
    "random": "198.51.100.{index}",
    "repeated": ", ".join(["198.51.100.7"] * 50),
    "very_long": ", ".join(f"198.51.{n // 250}.{n % 250}" for n in range(4000)),
    "huge_entry": "9" * 100_000,
    "ipv6": "2001:db8::{index}",
    "ipv6_bracket_port": "[2001:db8::{index}]:443",
    "port": "198.51.100.{index}:8080",
    "spaces": "   ,  ,\t, ",
    "empty_entries": ",,,,,",
    "garbage": "not-an-ip, unknown, _hidden, ;drop",
    "forwarded_syntax": 'for="198.51.100.{index}";proto=https',
    "nul_byte": "198.51.100.\x00{index}",
    "latin1_bytes": "198.51.100.\xff{index}",
    "loopback": "127.0.0.1",
    "proxy_itself": PROXY,
}

#: Headers that some libraries read for the client address; none may be used here.
SPOOFABLE_HEADERS = {
    "HTTP_X_FORWARDED_FOR": "198.51.100.{index}",
    "HTTP_X_REAL_IP": "198.51.100.{index}",
    "HTTP_CLIENT_IP": "198.51.100.{index}",
    "HTTP_FORWARDED": "for=198.51.100.{index}",
    "HTTP_X_CLUSTER_CLIENT_IP": "198.51.100.{index}",
    "HTTP_TRUE_CLIENT_IP": "198.51.100.{index}",
}


@pytest.fixture
def one_trusted_proxy(hardened: dict[str, Any], settings: Any) -> None:
    """Count by IP only, behind one proxy at PROXY that appends to X-Forwarded-For."""
    settings.DEFENDER_BEHIND_REVERSE_PROXY = True
    settings.DEFENDER_TRUSTED_PROXIES = [PROXY]
    settings.DEFENDER_REVERSE_PROXY_COUNT = 1
    settings.DEFENDER_DISABLE_USERNAME_LOCKOUT = True


@pytest.fixture
def ip_mode(hardened: dict[str, Any], settings: Any) -> None:
    """Count by IP only, without any proxy configured (the default)."""
    settings.DEFENDER_DISABLE_USERNAME_LOCKOUT = True


def only_ip_counter(redis_client: Any, redis_prefix: str, address: str) -> None:
    keys = counter_keys(redis_client, redis_prefix, "ip")
    assert keys == [f"{redis_prefix}:failed:ip:{{{address}}}"]


# --- one trusted proxy --------------------------------------------------------------------


@pytest.mark.usefixtures("one_trusted_proxy")
@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_forged_left_entries_ignored(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    proxy = APIClient(REMOTE_ADDR=PROXY)
    outcomes = []
    for index in range(1, 11):
        forged = f"198.51.100.{100 + index}, {ATTACKER}"
        response = entry.send(proxy, "alice", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=forged)
        outcomes.append(entry.outcome(response))

    assert outcomes == ["bad"] * LIMIT + ["locked"] * 7
    assert failures(ip=ATTACKER)["ip"] == LIMIT
    only_ip_counter(redis_client, redis_prefix, ATTACKER)


@pytest.mark.usefixtures("one_trusted_proxy")
@pytest.mark.parametrize("forged", FORGED_FORWARDED_FOR.values(), ids=FORGED_FORWARDED_FOR.keys())
def test_client_written_values_never_steer(
    forged: str, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    proxy = APIClient(REMOTE_ADDR=PROXY)
    outcomes = []
    for index in range(1, LIMIT + 3):
        header = f"{forged.format(index=index)}, {ATTACKER}"
        response = DJ_REST_AUTH.send(proxy, "alice", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=header)
        outcomes.append(DJ_REST_AUTH.outcome(response))

    assert outcomes == ["bad"] * LIMIT + ["locked"] * 2
    only_ip_counter(redis_client, redis_prefix, ATTACKER)


@pytest.mark.usefixtures("one_trusted_proxy")
@pytest.mark.parametrize("entry", API_ENTRIES, ids=entry_ids(API_ENTRIES))
def test_client_bypassing_proxy_counted_as_itself(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    direct = APIClient(REMOTE_ADDR=ATTACKER)
    outcomes = [
        entry.outcome(
            entry.send(direct, "alice", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=f"198.51.100.{index}")
        )
        for index in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    only_ip_counter(redis_client, redis_prefix, ATTACKER)


@pytest.mark.usefixtures("one_trusted_proxy")
def test_real_ipv6_client_behind_proxy(accounts: Any, redis_client: Any, redis_prefix: str) -> None:
    proxy = APIClient(REMOTE_ADDR=PROXY)
    real = "2001:db8:85a3:0000:0000:8a2e:0370:7334"
    outcomes = [
        DJ_REST_AUTH.outcome(
            DJ_REST_AUTH.send(
                proxy, "alice", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=f"198.51.100.{i}, {real}"
            )
        )
        for i in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    only_ip_counter(redis_client, redis_prefix, "2001:db8:85a3::/64")


# --- no proxy configured --------------------------------------------------------------------


@pytest.mark.usefixtures("ip_mode")
@pytest.mark.parametrize("entry", ALL_ENTRIES, ids=entry_ids(ALL_ENTRIES))
def test_forwarding_headers_ignored_without_proxy(
    entry: Entry, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    outcomes = []
    for index in range(6):
        headers = {name: value.format(index=index) for name, value in SPOOFABLE_HEADERS.items()}
        outcomes.append(entry.outcome(entry.send(client, "alice", WRONG_PASSWORD, **headers)))

    assert outcomes == ["bad"] * LIMIT + ["locked"] * 3
    assert failures(ip=ATTACKER)["ip"] == LIMIT
    only_ip_counter(redis_client, redis_prefix, ATTACKER)


@pytest.mark.usefixtures("ip_mode")
@pytest.mark.parametrize("header", SPOOFABLE_HEADERS)
def test_each_spoofable_header_ignored(
    header: str, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)
    template = SPOOFABLE_HEADERS[header]
    outcomes = [
        DJ_REST_AUTH.outcome(
            DJ_REST_AUTH.send(
                client, f"user{index}", WRONG_PASSWORD, **{header: template.format(index=index)}
            )
        )
        for index in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    only_ip_counter(redis_client, redis_prefix, ATTACKER)


def test_shared_proxy_address_without_settings_warns(
    accounts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Django behind a proxy that nobody configured: every client is the proxy's address.
    caplog.set_level(logging.WARNING, logger="drf_defender.identity")
    behind = APIClient(REMOTE_ADDR="127.0.0.1")
    attacker = [
        DJ_REST_AUTH.send(behind, "bob", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER)
        for _ in range(LIMIT + 1)
    ]
    user = DJ_REST_AUTH.send(behind, "alice", ALICE_PASSWORD, HTTP_X_FORWARDED_FOR=USER_IP)

    assert [DJ_REST_AUTH.outcome(r) for r in attacker] == ["bad"] * LIMIT + ["locked"]
    # The header is not trusted, so the user shares the proxy's blocked address.
    assert DJ_REST_AUTH.outcome(user) == "locked"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("DEFENDER_BEHIND_REVERSE_PROXY is False" in message for message in warnings)


def test_configured_loopback_proxy_separates_clients(accounts: Any, settings: Any) -> None:
    settings.DEFENDER_BEHIND_REVERSE_PROXY = True
    settings.DEFENDER_TRUSTED_PROXIES = ["127.0.0.1"]
    settings.DEFENDER_REVERSE_PROXY_COUNT = 1
    behind = APIClient(REMOTE_ADDR="127.0.0.1")

    attacker = [
        DJ_REST_AUTH.send(behind, "bob", WRONG_PASSWORD, HTTP_X_FORWARDED_FOR=ATTACKER)
        for _ in range(LIMIT + 1)
    ]
    user = DJ_REST_AUTH.send(behind, "alice", ALICE_PASSWORD, HTTP_X_FORWARDED_FOR=USER_IP)

    assert [DJ_REST_AUTH.outcome(r) for r in attacker] == ["bad"] * LIMIT + ["locked"]
    assert DJ_REST_AUTH.outcome(user) == "ok"
    assert failures(ip=USER_IP)["ip"] == 0
    assert failures(ip=ATTACKER)["ip"] == LIMIT


# --- IPv6 and mapped addresses ------------------------------------------------------------


@pytest.mark.usefixtures("ip_mode")
@pytest.mark.parametrize(
    ("prefix_length", "identity"),
    [(64, "2001:db8:85a3::/64"), (128, "2001:db8:85a3::8a2e:370:7334")],
)
def test_ipv6_client_counted_canonically(
    prefix_length: int,
    identity: str,
    accounts: Any,
    settings: Any,
    redis_client: Any,
    redis_prefix: str,
    admin_api: APIClient,
) -> None:
    settings.DEFENDER_IPV6_PREFIX_LENGTH = prefix_length
    client = APIClient(REMOTE_ADDR="2001:db8:85a3:0000:0000:8a2e:0370:7334")

    outcomes = [
        DJ_REST_AUTH.outcome(DJ_REST_AUTH.send(client, "alice", WRONG_PASSWORD))
        for _ in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    only_ip_counter(redis_client, redis_prefix, identity)
    listing = admin_api.get("/api/defender/blocks/", {"kind": "ip"})
    assert listing.status_code == 200
    (block,) = listing.json()["results"]
    assert block["identity"] == identity
    assert block["ip"] == "2001:db8:85a3::8a2e:370:7334"


@pytest.mark.usefixtures("ip_mode")
def test_ipv4_mapped_address_counts_as_ipv4(
    accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    mapped = APIClient(REMOTE_ADDR=f"::ffff:{ATTACKER}")
    plain = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        DJ_REST_AUTH.outcome(DJ_REST_AUTH.send(client, "alice", WRONG_PASSWORD))
        for client in (mapped, plain, mapped, plain)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    only_ip_counter(redis_client, redis_prefix, ATTACKER)
