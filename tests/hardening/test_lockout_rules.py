"""Lockout rules as clients see them through the login endpoints and the admin API.

Each test replays a way in which login lockouts have failed in practice: a block that
lets guesses through during its cool-off, a permanent block that expires, a success
that forgives an attacker, an unblock that leaves keys behind, signals without the
values that caused them, modes that lock the wrong subject, and settings
combinations that crash. The convention pinned everywhere: failures 1 to LIMIT get
the bad-credentials answer, the failure after them gets the lockout answer and starts
the block, and a correct password on that attempt still logs in.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from drf_defender import signals
from drf_defender.models import AccessAttempt
from drf_defender.service import get_service
from tests.hardening.support import (
    ALICE_PASSWORD,
    ATTACKER,
    ENTRIES_BY_NAME,
    LIMIT,
    USER_IP,
    WRONG_PASSWORD,
    blocked,
    failures,
    prefix_keys,
)

pytestmark = pytest.mark.django_db

LOGIN = ENTRIES_BY_NAME["dj_rest_auth"]
GUARD = ENTRIES_BY_NAME["guard_decorator"]

#: Settings of each lockout mode: which subjects are counted and blocked.
MODES = {
    "ip": {"DEFENDER_DISABLE_USERNAME_LOCKOUT": True},
    "username": {"DEFENDER_DISABLE_IP_LOCKOUT": True},
    "ip_or_username": {},
    "ip_and_username": {"DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME": True},
}


def login(client: APIClient, username: str, password: str = WRONG_PASSWORD, **extra: Any) -> str:
    return LOGIN.outcome(LOGIN.send(client, username, password, **extra))


def from_ip(address: str) -> APIClient:
    return APIClient(REMOTE_ADDR=address)


class Recorder:
    """Collect the keyword arguments of every send of one signal."""

    def __init__(self, signal: Any) -> None:
        self.signal = signal
        self.calls: list[dict[str, Any]] = []
        signal.connect(self.receive)

    def receive(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append(kwargs)

    def disconnect(self) -> None:
        self.signal.disconnect(self.receive)


@pytest.fixture
def lockouts() -> Any:
    recorder = Recorder(signals.lockout)
    yield recorder.calls
    recorder.disconnect()


# --- the block holds --------------------------------------------------------------------


def test_block_holds_through_cooloff(
    accounts: Any, settings: Any, admin_api: APIClient, redis_client: Any, redis_prefix: str
) -> None:
    settings.DEFENDER_DISABLE_IP_LOCKOUT = True
    settings.DEFENDER_COOLOFF_TIME = 900
    client = from_ip(ATTACKER)
    first = [login(client, "alice") for _ in range(LIMIT + 1)]

    follow_ups = []
    for number in range(20):
        follow_ups.append(login(from_ip(f"198.51.100.{number}"), "alice"))
        if number % 5 == 0:
            listing = admin_api.get("/api/defender/blocks/", {"kind": "username"})
            assert [item["username"] for item in listing.json()["results"]] == ["alice"]
    correct = login(client, "alice", ALICE_PASSWORD)

    assert first == ["bad"] * LIMIT + ["locked"]
    assert follow_ups == ["locked"] * 20
    assert correct == "locked"
    ttl = redis_client.pttl(f"{redis_prefix}:blocked:username:{{alice}}")
    assert 0 < ttl <= 900_000


def test_permanent_block_until_unblocked(
    accounts: Any,
    settings: Any,
    clock: Any,
    admin_api: APIClient,
    redis_client: Any,
    redis_prefix: str,
) -> None:
    settings.DEFENDER_COOLOFF_TIME = 0
    settings.DEFENDER_DISABLE_IP_LOCKOUT = True
    client = from_ip(ATTACKER)

    outcomes = [login(client, "alice") for _ in range(LIMIT + 1)]
    clock.advance(10**7)
    later = LOGIN.send(client, "alice", ALICE_PASSWORD)
    unblock = admin_api.post(
        "/api/defender/blocks/unblock/", {"kind": "username", "username": "alice"}, format="json"
    )
    after = login(client, "alice", ALICE_PASSWORD)

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert LOGIN.outcome(later) == "locked"
    assert later.json()["retry_after"] is None
    assert "Retry-After" not in later
    assert redis_client.pttl(f"{redis_prefix}:blocked:username:{{alice}}") in (-1, -2)
    assert unblock.status_code == 200
    assert after == "ok"


def test_attempt_window_and_escalation(accounts: Any, settings: Any, clock: Any) -> None:
    settings.DEFENDER_DISABLE_IP_LOCKOUT = True
    settings.DEFENDER_ATTEMPT_COOLOFF_TIME = 5
    settings.DEFENDER_LOCKOUT_COOLOFF_TIME = [10, 30]
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = 2
    settings.DEFENDER_STORE_ACCESS_ATTEMPTS = True
    client = from_ip(ATTACKER)

    assert login(client, "alice") == "bad"
    clock.advance(6)
    assert login(client, "alice") == "bad"
    assert failures(username="alice")["username"] == 1
    clock.advance(1)
    assert login(client, "alice") == "bad"
    first = LOGIN.send(client, "alice", WRONG_PASSWORD)
    clock.advance(11)
    again = [login(client, "alice") for _ in range(2)]
    second = LOGIN.send(client, "alice", WRONG_PASSWORD)

    assert first["Retry-After"] == "10"
    assert again == ["bad", "bad"]
    assert second["Retry-After"] == "30"
    # The cool-offs expire counters and blocks, never the access log.
    assert AccessAttempt.objects.filter(username="alice").count() == 7


# --- success and reset ------------------------------------------------------------------


def test_typos_forgiven_by_success(accounts: Any) -> None:
    client = from_ip(USER_IP)

    outcomes = [
        login(client, "alice"),
        login(client, "alice"),
        login(client, "alice", ALICE_PASSWORD),
        login(client, "alice"),
        login(client, "alice"),
    ]

    assert outcomes == ["bad", "bad", "ok", "bad", "bad"]
    assert failures(username="alice")["username"] == 2


def test_success_elsewhere_keeps_attacker_counted(accounts: Any) -> None:
    attacker = from_ip(ATTACKER)
    first = [login(attacker, "alice") for _ in range(2)]
    owner = login(from_ip(USER_IP), "alice", ALICE_PASSWORD)
    second = [login(attacker, "alice") for _ in range(2)]

    assert first == ["bad", "bad"]
    assert owner == "ok"
    assert second == ["bad", "locked"]
    assert blocked(ip=ATTACKER)["ip"] is True
    assert blocked(username="alice")["username"] is False


def test_lockout_answer_matches_stored_block(accounts: Any) -> None:
    client = from_ip(ATTACKER)
    sequence = [WRONG_PASSWORD] * LIMIT + [ALICE_PASSWORD] + [WRONG_PASSWORD] * (LIMIT + 2)

    observed = []
    for password in sequence:
        outcome = login(client, "alice", password)
        observed.append(outcome)
        assert (outcome == "locked") is get_service().status(username="alice").blocked

    assert observed == ["bad"] * LIMIT + ["ok"] + ["bad"] * LIMIT + ["locked", "locked"]


# --- unblocking ---------------------------------------------------------------------------


def test_unblock_ip_then_username_leaves_no_keys(
    accounts: Any, admin_api: APIClient, redis_client: Any, redis_prefix: str
) -> None:
    client = from_ip(ATTACKER)
    assert [login(client, "alice") for _ in range(LIMIT + 1)][-1] == "locked"

    # The request names both values of the locked login, so that the response lists
    # which of its subjects stay blocked.
    by_ip = admin_api.post(
        "/api/defender/blocks/unblock/",
        {"kind": "ip", "ip": ATTACKER, "username": "alice"},
        format="json",
    )
    still = login(client, "alice", ALICE_PASSWORD)
    by_username = admin_api.post(
        "/api/defender/blocks/unblock/", {"kind": "username", "username": "alice"}, format="json"
    )
    after = login(client, "alice", ALICE_PASSWORD)
    listing = admin_api.get("/api/defender/blocks/")

    body = by_ip.json()
    assert body["cleared"][0]["was_blocked"] is True
    assert sorted(key.split(":")[-3] for key in body["cleared"][0]["keys"]) == [
        "blocked",
        "failed",
        "lockouts",
    ]
    assert [item["kind"] for item in body["still_blocked"]] == ["username"]
    assert still == "locked"
    assert by_username.json()["blocked"] is False
    assert after == "ok"
    assert listing.json()["count"] == 0
    # The last success gives its reservation back with the process's next backend call.
    get_service().flush_pending_writes()
    for key in prefix_keys(redis_client, redis_prefix):
        assert ":blocked:" not in key, key
        assert ":lockouts:" not in key, key
        assert ":index:" not in key, key
        if ":failed:" in key:
            assert int(redis_client.hget(key, "c") or 0) == 0, key


def test_unblock_command_lifts_block(accounts: Any) -> None:
    client = from_ip(USER_IP)
    for index in range(LIMIT + 1):
        login(from_ip(f"198.51.100.{index + 100}"), "alice")
    assert login(client, "alice", ALICE_PASSWORD) == "locked"

    call_command("defender_unblock", "--username", "ALICE")

    assert login(client, "alice", ALICE_PASSWORD) == "ok"
    with pytest.raises(CommandError):
        call_command("defender_unblock", "--username", "alice")


# --- signals ------------------------------------------------------------------------------


def test_lockout_signal_names_both_values(accounts: Any, lockouts: list[dict[str, Any]]) -> None:
    by_username = from_ip(ATTACKER)
    for _ in range(LIMIT + 1):
        login(by_username, "alice")
    by_ip = from_ip("203.0.113.77")
    for index in range(LIMIT + 1):
        login(by_ip, f"sprayed-{index}")

    summary = sorted((call["reason"], call["username"], call["ip_address"]) for call in lockouts)
    assert summary == [
        ("ip", "alice", ATTACKER),
        ("ip", f"sprayed-{LIMIT}", "203.0.113.77"),
        ("username", "alice", ATTACKER),
    ]


def test_pair_lockout_signal(accounts: Any, settings: Any, lockouts: list[dict[str, Any]]) -> None:
    settings.DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True
    client = from_ip(ATTACKER)
    for _ in range(LIMIT + 3):
        login(client, "alice")

    assert [(c["reason"], c["username"], c["ip_address"]) for c in lockouts] == [
        ("ip_and_username", "alice", ATTACKER)
    ]


# --- modes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("ip", {"spray": True, "botnet": False, "single": True}),
        ("username", {"spray": False, "botnet": True, "single": True}),
        ("ip_or_username", {"spray": True, "botnet": True, "single": True}),
        ("ip_and_username", {"spray": False, "botnet": False, "single": True}),
    ],
)
def test_mode_locks_expected_subject(
    mode: str, expected: dict[str, bool], accounts: Any, settings: Any, admin_api: APIClient
) -> None:
    for name, value in MODES[mode].items():
        setattr(settings, name, value)
    sprayer = from_ip("203.0.113.50")

    spray = [login(sprayer, f"user-{index}") for index in range(10)]
    botnet = [login(from_ip(f"198.51.100.{index}"), "victim") for index in range(10)]
    single = [login(from_ip("203.0.113.77"), "target") for _ in range(LIMIT + 1)]

    for name, outcomes in (("spray", spray), ("botnet", botnet), ("single", single)):
        if expected[name]:
            assert outcomes[: LIMIT + 1] == ["bad"] * LIMIT + ["locked"], name
        else:
            assert "locked" not in outcomes, name
    reasons = {item["reason"] for item in admin_api.get("/api/defender/blocks/").json()["results"]}
    expected_reasons = {
        "ip_or_username": {"ip", "username"},
        "ip_and_username": {"ip_and_username"},
    }
    assert reasons == expected_reasons.get(mode, {mode})


def test_rotating_user_agent_changes_nothing(accounts: Any) -> None:
    client = from_ip(ATTACKER)

    outcomes = [
        login(client, "alice", HTTP_USER_AGENT=f"agent/{index}", HTTP_COOKIE=f"id={index}")
        for index in range(10)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"] * (10 - LIMIT)


# --- settings combinations ----------------------------------------------------------------


def username_from_login_field(request: Any) -> str | None:
    """A custom username extractor: the ``login`` field of the body."""
    data = getattr(request, "data", None) or request.POST
    value = data.get("login") if hasattr(data, "get") else None
    return value if isinstance(value, str) else None


@pytest.mark.parametrize("store_attempts", [False, True], ids=["no-log", "log"])
@pytest.mark.parametrize("extractor", ["default", "custom"])
@pytest.mark.parametrize("mode", MODES)
def test_settings_matrix_never_fails(
    mode: str, extractor: str, store_attempts: bool, accounts: Any, settings: Any
) -> None:
    for name, value in MODES[mode].items():
        setattr(settings, name, value)
    settings.DEFENDER_STORE_ACCESS_ATTEMPTS = store_attempts
    field = "username"
    if extractor == "custom":
        settings.DEFENDER_GET_USERNAME_FROM_REQUEST_PATH = f"{__name__}.username_from_login_field"
        field = "login"
    client = from_ip(ATTACKER)

    def send(entry: Any, password: str) -> Any:
        body = {field: "alice", "username": "alice", "password": password}
        return client.post(entry.path, body, format="json")

    for entry in (LOGIN, GUARD):
        answers = [send(entry, WRONG_PASSWORD) for _ in range(LIMIT + 1)]
        answers.append(send(entry, ALICE_PASSWORD))
        assert all(answer.status_code < 500 for answer in answers)
        outcomes = [entry.outcome(answer) for answer in answers]
        assert outcomes == ["bad"] * LIMIT + ["locked", "locked"], (entry.name, outcomes)
        get_service().unblock("ip", ATTACKER)
        get_service().unblock("username", "alice")
        get_service().unblock("ipusername", f"{ATTACKER}|alice")
    if store_attempts:
        assert AccessAttempt.objects.filter(ip_address=ATTACKER).count() == 2 * (LIMIT + 1)
