"""Administration methods of the lockout service that the admin API relies on."""

from __future__ import annotations

from typing import Any

from drf_defender import signals
from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_PAIR, KIND_USERNAME

IP = "203.0.113.10"
LONG_NAME = "Ölaf-" + "x" * 80


def fail(service: Any, username: str, ip: str = IP) -> str:
    try:
        attempt = service.begin(username=username, ip=ip)
    except LockedOut:
        return "locked"
    try:
        attempt.failed()
    except LockedOut:
        return "locked"
    return "bad"


def test_hashed_username_unblocked_by_listed_label(service):
    # A new IP for each failure, so that only the username gets blocked.
    for number in range(4):
        fail(service, LONG_NAME, ip=f"198.51.100.{number}")
    total, states = service.list_blocked(KIND_USERNAME)
    assert total == 1
    label = states[0].subject.label
    assert label.startswith("h:")

    status = service.status(username=label)
    assert status.blocked

    assert service.unblock(KIND_USERNAME, label) is True
    assert service.list_blocked(KIND_USERNAME) == (0, [])
    assert fail(service, LONG_NAME) == "bad"


def test_hashed_username_in_pair_unblocked(service):
    states = service.status(username=LONG_NAME, ip=IP).states
    pair = next(state for state in states if state.subject.kind == KIND_PAIR)
    ip, _, hashed = pair.subject.label.partition(" ")
    service.block(KIND_PAIR, f"{ip}|{hashed}", duration=60)
    assert service.status(username=LONG_NAME, ip=IP).blocked

    assert service.unblock(KIND_PAIR, f"{ip}|{hashed}") is True
    assert not service.status(username=LONG_NAME, ip=IP).blocked


def test_typed_username_still_hashed(service):
    service.block(KIND_USERNAME, LONG_NAME, duration=60)
    assert service.status(username=LONG_NAME).blocked
    assert service.unblock(KIND_USERNAME, LONG_NAME) is True


def test_list_changes_send_signals_with_actor(service):
    calls: list[tuple[str, dict[str, Any]]] = []

    def added(sender: Any, signal: Any, **kwargs: Any) -> None:
        calls.append(("added", kwargs))

    def removed(sender: Any, signal: Any, **kwargs: Any) -> None:
        calls.append(("removed", kwargs))

    signals.list_entry_added.connect(added)
    signals.list_entry_removed.connect(removed)
    try:
        assert service.add_list_entry("ip_deny", "198.51.100.0/24", actor="root") is True
        assert service.add_list_entry("ip_deny", "198.51.100.0/24", actor="root") is False
        assert service.remove_list_entry("ip_deny", "198.51.100.0/24", actor="ops") is True
        assert service.remove_list_entry("ip_deny", "198.51.100.0/24", actor="ops") is False
    finally:
        signals.list_entry_added.disconnect(added)
        signals.list_entry_removed.disconnect(removed)

    expected_added = {"list_name": "ip_deny", "value": "198.51.100.0/24", "actor": "root"}
    expected_removed = {"list_name": "ip_deny", "value": "198.51.100.0/24", "actor": "ops"}
    assert calls == [("added", expected_added), ("removed", expected_removed)]
