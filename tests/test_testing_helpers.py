"""The helpers that drf-defender ships for users' test suites."""

from __future__ import annotations

from django.test import override_settings

from drf_defender.exceptions import LockedOut
from drf_defender.service import get_service
from drf_defender.testing import frozen_clock, reset_lockouts


def fail(username: str = "alice") -> str:
    try:
        get_service().begin(username=username, ip="203.0.113.10").failed()
    except LockedOut:
        return "locked"
    return "bad"


def test_null_backend_never_blocks():
    with override_settings(DEFENDER_BACKEND="drf_defender.testing.NullBackend"):
        assert [fail() for _ in range(10)] == ["bad"] * 10
        assert get_service().list_blocked("username") == (0, [])


def test_reset_lockouts_on_each_backend(backend_name, redis_client, redis_prefix):
    assert [fail() for _ in range(4)][-1] == "locked"
    get_service().add_list_entry("ip_deny", "198.51.100.0/24")
    deleted = reset_lockouts()
    if backend_name == "redis":
        assert deleted > 0
        assert list(redis_client.scan_iter(match=f"{redis_prefix}:*")) == []
    assert fail() == "bad"
    assert get_service().get_lists()["ip_deny"] == set()


def test_frozen_clock_moves_lockouts(cache_settings):
    with frozen_clock() as clock:
        assert [fail("bob") for _ in range(4)][-1] == "locked"
        clock.advance(301)
        assert fail("bob") == "bad"
