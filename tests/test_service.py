"""The lockout service's policy, on every backend."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from drf_defender import signals
from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME

ATTACKER = "203.0.113.10"
VICTIM = "198.51.100.20"


def login(service, username, ip=ATTACKER, *, correct=False, scope="login"):
    """Run one login through the service; return "ok", "bad" or "locked"."""
    try:
        attempt = service.begin(username=username, ip=ip, scope=scope)
    except LockedOut:
        return "locked"
    if correct:
        attempt.succeeded()
        return "ok"
    try:
        attempt.failed()
    except LockedOut:
        return "locked"
    return "bad"


def failures(service, **identity) -> dict[str, int]:
    status = service.status(**identity)
    return {state.subject.kind: state.failures for state in status.states}


class Receiver:
    def __init__(self, signal):
        self.calls: list[dict[str, Any]] = []
        self.signal = signal
        signal.connect(self.receive)

    def receive(self, sender, **kwargs):
        self.calls.append(kwargs)

    def disconnect(self):
        self.signal.disconnect(self.receive)


@pytest.fixture
def lockouts():
    receiver = Receiver(signals.lockout)
    yield receiver.calls
    receiver.disconnect()


def test_limit_semantics(service):
    assert [login(service, "alice") for _ in range(3)] == ["bad"] * 3
    assert login(service, "alice") == "locked"
    assert login(service, "alice", correct=True) == "locked"


def test_correct_password_on_fourth_attempt_logs_in(service):
    for _ in range(3):
        login(service, "alice")
    assert login(service, "alice", correct=True) == "ok"
    assert failures(service, username="alice")["username"] == 0


def test_lockout_carries_retry_after(service, clock):
    for _ in range(3):
        login(service, "alice")
    with pytest.raises(LockedOut) as raised:
        attempt = service.begin(username="alice", ip=ATTACKER)
        attempt.failed()
    assert raised.value.retry_after == 300
    assert raised.value.wait == 300
    assert raised.value.status_code == 429
    clock.advance(100)
    with pytest.raises(LockedOut) as raised:
        service.begin(username="alice", ip=VICTIM)
    assert raised.value.retry_after == 200
    assert raised.value.detail["code"] == "locked_out"
    assert raised.value.detail["retry_after"] == 200


def test_lockout_expires(service, clock):
    for _ in range(4):
        login(service, "alice")
    clock.advance(301)
    assert login(service, "alice", correct=True) == "ok"


def test_blocked_username_refused_from_any_ip(service):
    for _ in range(4):
        login(service, "alice")
    assert login(service, "alice", ip=VICTIM, correct=True) == "locked"


def test_success_does_not_reset_ip_budget(service):
    # A client that owns one account must not refill its guessing budget by logging in.
    login(service, "bob")
    login(service, "carol")
    assert login(service, "mallory", correct=True) == "ok"
    assert login(service, "dave") == "bad"
    assert login(service, "erin") == "locked"
    assert failures(service, ip=ATTACKER)["ip"] == 3


def test_success_elsewhere_keeps_attacker_ip_counter(service):
    login(service, "alice")
    login(service, "alice")
    assert login(service, "alice", ip=VICTIM, correct=True) == "ok"
    assert failures(service, ip=ATTACKER)["ip"] == 2
    assert failures(service, username="alice")["username"] == 0


def test_occasional_typos_reset_on_success(service):
    results = [
        login(service, "alice", ip=VICTIM),
        login(service, "alice", ip=VICTIM),
        login(service, "alice", ip=VICTIM, correct=True),
        login(service, "alice", ip=VICTIM),
        login(service, "alice", ip=VICTIM),
    ]
    assert results == ["bad", "bad", "ok", "bad", "bad"]
    assert failures(service, username="alice")["username"] == 2


def test_username_case_and_spaces_share_counter(service):
    names = ["alice", "Alice", "ALICE", " aLice\t"]
    assert [login(service, name, ip=f"198.51.100.{i}") for i, name in enumerate(names)] == [
        "bad",
        "bad",
        "bad",
        "locked",
    ]
    assert login(service, "\uff41\uff4c\uff49\uff43\uff45", ip=VICTIM, correct=True) == "locked"


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ({}, {"one_ip_many_users": True, "many_ips_one_user": True, "same": True}),
        (
            {"DEFENDER_DISABLE_USERNAME_LOCKOUT": True},
            {"one_ip_many_users": True, "many_ips_one_user": False, "same": True},
        ),
        (
            {"DEFENDER_DISABLE_IP_LOCKOUT": True},
            {"one_ip_many_users": False, "many_ips_one_user": True, "same": True},
        ),
        (
            {"DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME": True},
            {"one_ip_many_users": False, "many_ips_one_user": False, "same": True},
        ),
    ],
    ids=["ip_or_username", "ip", "username", "ip_and_username"],
)
def test_lockout_modes(service, mode, expected):
    with override_settings(**mode):
        service_now = type(service)()
        spray = [login(service_now, f"user{i}", ip="203.0.113.50") for i in range(5)]
        botnet = [login(service_now, "victim", ip=f"198.51.100.{i}") for i in range(5)]
        same = [login(service_now, "target", ip="203.0.113.77") for _ in range(5)]
    assert ("locked" in spray) is expected["one_ip_many_users"]
    assert ("locked" in botnet) is expected["many_ips_one_user"]
    assert ("locked" in same) is expected["same"]
    if expected["same"]:
        assert same == ["bad", "bad", "bad", "locked", "locked"]


def test_separate_limits_per_subject(service):
    with override_settings(
        DEFENDER_LOGIN_FAILURE_LIMIT_IP=5, DEFENDER_LOGIN_FAILURE_LIMIT_USERNAME=1
    ):
        fresh = type(service)()
        assert [login(fresh, "alice") for _ in range(3)] == ["bad", "locked", "locked"]
        results = [login(fresh, f"user{i}", ip="203.0.113.99") for i in range(7)]
    assert results == ["bad"] * 5 + ["locked"] * 2


def test_lockout_signal_names_reason(service, lockouts):
    for _ in range(4):
        login(service, "alice")
    reasons = sorted(call["reason"] for call in lockouts)
    assert reasons == ["ip", "username"]
    for call in lockouts:
        assert call["seconds"] == 300
        assert call["lockout_count"] == 1
        assert call["manual"] is False
    username_call = next(c for c in lockouts if c["reason"] == "username")
    assert username_call["username"] == "alice"
    ip_call = next(c for c in lockouts if c["reason"] == "ip")
    assert ip_call["ip_address"] == ATTACKER


def test_django_defender_signals(service):
    users = Receiver(signals.username_block)
    ips = Receiver(signals.ip_block)
    try:
        for _ in range(4):
            login(service, "alice")
        for _ in range(3):
            login(service, "alice")
    finally:
        users.disconnect()
        ips.disconnect()
    assert [c["username"] for c in users.calls] == ["alice"]
    assert [c["ip_address"] for c in ips.calls] == [ATTACKER]


def test_attempt_signals(service):
    failed = Receiver(signals.attempt_failed)
    blocked = Receiver(signals.attempt_blocked)
    succeeded = Receiver(signals.attempt_succeeded)
    try:
        login(service, "alice", correct=True)
        for _ in range(5):
            login(service, "alice")
    finally:
        for receiver in (failed, blocked, succeeded):
            receiver.disconnect()
    assert len(succeeded.calls) == 1
    assert [c["locked_out"] for c in failed.calls] == [False, False, False, True]
    assert failed.calls[0]["username"] == "alice"
    assert failed.calls[0]["ip_address"] == ATTACKER


def test_unblock_takes_effect_at_once(service):
    for _ in range(4):
        login(service, "alice", ip=VICTIM)
    assert login(service, "alice", ip=VICTIM, correct=True) == "locked"
    assert service.unblock(KIND_USERNAME, "ALICE") is True
    # The IP is still blocked: unblocking the username alone is not enough.
    assert login(service, "alice", ip=VICTIM, correct=True) == "locked"
    assert service.unblock(KIND_IP, VICTIM) is True
    assert login(service, "alice", ip=VICTIM, correct=True) == "ok"


def test_manual_block_and_status(service, clock):
    service.block(KIND_USERNAME, "Alice", duration=60)
    status = service.status(username="alice")
    assert status.blocked
    assert status.seconds_left() == 60
    assert login(service, "alice", ip=VICTIM, correct=True) == "locked"
    clock.advance(61)
    assert login(service, "alice", ip=VICTIM, correct=True) == "ok"


def test_permanent_cooloff(service, clock):
    with override_settings(DEFENDER_COOLOFF_TIME=0):
        fresh = type(service)()
        for _ in range(4):
            login(fresh, "alice")
        clock.advance(10**6)
        with pytest.raises(LockedOut) as raised:
            fresh.begin(username="alice", ip=VICTIM)
        assert raised.value.retry_after is None
        assert "Retry-After" not in str(raised.value.detail)
        fresh.unblock(KIND_USERNAME, "alice")
        fresh.unblock(KIND_IP, ATTACKER)
        assert login(fresh, "alice", correct=True) == "ok"


def test_separate_attempt_and_lockout_cooloffs(service, clock):
    settings = {
        "DEFENDER_ATTEMPT_COOLOFF_TIME": 5,
        "DEFENDER_LOCKOUT_COOLOFF_TIME": [10, 30],
        "DEFENDER_LOGIN_FAILURE_LIMIT": 2,
        "DEFENDER_DISABLE_IP_LOCKOUT": True,
    }
    with override_settings(**settings):
        fresh = type(service)()
        assert login(fresh, "alice") == "bad"
        clock.advance(6)
        assert login(fresh, "alice") == "bad"
        assert failures(fresh, username="alice")["username"] == 1
        clock.advance(1)
        assert login(fresh, "alice") == "bad"
        with pytest.raises(LockedOut) as first:
            fresh.begin(username="alice", ip=ATTACKER).failed()
        assert first.value.retry_after == 10
        clock.advance(11)
        assert login(fresh, "alice") == "bad"
        assert login(fresh, "alice") == "bad"
        with pytest.raises(LockedOut) as second:
            fresh.begin(username="alice", ip=ATTACKER).failed()
        assert second.value.retry_after == 30


def test_pair_mode_keys(service):
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        fresh = type(service)()
        for _ in range(3):
            login(fresh, "alice")
        status = fresh.status(username="alice", ip=ATTACKER)
        by_kind = {state.subject.kind: state.failures for state in status.states}
        assert by_kind == {KIND_IP: 0, KIND_USERNAME: 0, KIND_PAIR: 3}
        assert login(fresh, "alice") == "locked"
        assert fresh.unblock(KIND_PAIR, f"{ATTACKER}|alice") is True
        assert login(fresh, "alice", correct=True) == "ok"


def test_missing_username_counts_ip(service):
    assert [login(service, None) for _ in range(4)] == ["bad", "bad", "bad", "locked"]


def test_missing_ip_counts_username(service):
    assert [login(service, "alice", ip=None) for _ in range(4)] == ["bad"] * 3 + ["locked"]


def test_no_identity_is_not_counted(service):
    assert [login(service, "", ip=None) for _ in range(5)] == ["bad"] * 5


def test_settings_allowlist(service):
    with override_settings(DEFENDER_IP_ALLOWLIST=["203.0.113.0/24"]):
        fresh = type(service)()
        assert [login(fresh, "alice") for _ in range(6)] == ["bad"] * 6
        assert failures(fresh, ip=ATTACKER)["ip"] == 0


def test_settings_denylist(service):
    with override_settings(DEFENDER_USERNAME_DENYLIST=["Mallory"]):
        fresh = type(service)()
        assert login(fresh, "mallory", correct=True) == "locked"


def test_runtime_lists(service):
    assert service.add_list_entry("ip_deny", "203.0.113.0/24") is True
    assert login(service, "alice", correct=True) == "locked"
    assert login(service, "alice", ip=VICTIM, correct=True) == "ok"
    service.remove_list_entry("ip_deny", "203.0.113.0/24")
    service.add_list_entry("username_allow", "alice")
    assert [login(service, "alice") for _ in range(5)] == ["bad"] * 5


def test_runtime_list_change_seen_by_other_process(service):
    other = type(service)()
    assert login(other, "alice", correct=True) == "ok"
    service.add_list_entry("username_deny", "alice")
    # The other service learns of the change from the version read with its next
    # reservation, not from a timer.
    assert login(other, "alice", correct=True) == "locked"


def test_shared_network_exempt_from_ip_lockout(service):
    with override_settings(DEFENDER_SHARED_NETWORKS=["203.0.113.0/24"]):
        fresh = type(service)()
        results = [login(fresh, f"user{i}") for i in range(6)]
        assert results == ["bad"] * 6
        assert [login(fresh, "alice") for _ in range(4)] == ["bad"] * 3 + ["locked"]


def test_password_reset_scope_is_separate(service):
    for _ in range(4):
        login(service, "alice", scope="password_reset")
    assert login(service, "alice", ip=VICTIM, correct=True) == "ok"
    assert login(service, "alice", ip=VICTIM, correct=True, scope="password_reset") == "locked"


def test_list_blocked(service):
    for _ in range(4):
        login(service, "alice")
    total, entries = service.list_blocked(KIND_USERNAME)
    assert total == 1
    assert entries[0].subject.label == "alice"
    total, entries = service.list_blocked(KIND_IP)
    assert [entry.subject.label for entry in entries] == [ATTACKER]


def test_abandon_gives_back_reservation(service):
    attempt = service.begin(username="alice", ip=ATTACKER)
    attempt.abandon()
    assert failures(service, username="alice", ip=ATTACKER) == {
        KIND_IP: 0,
        KIND_USERNAME: 0,
        KIND_PAIR: 0,
    }


def test_attempt_resolves_once(service):
    attempt = service.begin(username="alice", ip=ATTACKER)
    attempt.failed()
    attempt.failed()
    attempt.succeeded()
    assert failures(service, username="alice")["username"] == 1


def test_admin_rejects_bad_values(service):
    with pytest.raises(ValueError, match="not a valid IP"):
        service.block(KIND_IP, "999.1.1.1")
    with pytest.raises(ValueError, match="empty"):
        service.unblock(KIND_USERNAME, "   ")
    with pytest.raises(ValueError, match="Unknown subject kind"):
        service.unblock("device", "x")
