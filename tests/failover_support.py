"""Helpers for the Sentinel and Cluster tests: logins through the service, bounded polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from drf_defender.exceptions import LockedOut
from drf_defender.service import get_service

#: Seconds a failover gets before a test gives up waiting for the service to count again.
FAILOVER_DEADLINE = 30.0
#: Seconds one login may take while a server is gone: the socket timeouts of one retry,
#: with a wide margin for a loaded machine.
MAX_LOGIN_SECONDS = 5.0


def login(username: str, ip: str, *, correct: bool = False) -> str:
    """Run one login through the service; return "ok", "bad" or "locked"."""
    try:
        attempt = get_service().begin(username=username, ip=ip)
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


@dataclass
class Probes:
    """Correct-password logins sent until the backend counts them again."""

    untracked: int = 0
    tracked: int = 0
    slowest: float = 0.0
    durations: list[float] = field(default_factory=list)


def probe_until_counted(username: str, ip: str, deadline: float = FAILOVER_DEADLINE) -> Probes:
    """Log ``username`` in with a correct password every 0.1 s until the backend counts it.

    An attempt that the service lets through without the backend (the fail-open outage
    policy) is untracked. Returns the tally once an attempt is tracked again; fails the
    test after ``deadline`` seconds. Any exception other than an assertion propagates,
    so a test fails if one escapes the service.
    """
    probes = Probes()
    ends = time.monotonic() + deadline
    while True:
        started = time.monotonic()
        attempt = get_service().begin(username=username, ip=ip)
        tracked = not attempt.degraded
        attempt.succeeded()
        elapsed = time.monotonic() - started
        probes.durations.append(elapsed)
        probes.slowest = max(probes.slowest, elapsed)
        if tracked:
            probes.tracked += 1
            return probes
        probes.untracked += 1
        assert time.monotonic() < ends, (
            f"the service did not count logins again within {deadline} s "
            f"({probes.untracked} logins went through untracked)"
        )
        time.sleep(0.1)


def wait_for(condition: Callable[[], bool], description: str, deadline: float = 10.0) -> None:
    """Poll ``condition`` every 50 ms; fail the test if it is not true within ``deadline``."""
    ends = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < ends, f"timed out after {deadline} s waiting for {description}"
        time.sleep(0.05)
