"""Definitions that every part of the benchmark shares: systems, workloads, users.

This module imports neither Django settings nor any benchmarked package, so the
orchestrator (benchmarks/run.py) can use it before any system's process starts.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"

#: Password of every benchmark user, and the wrong one that failing requests send.
PASSWORD = "bench-correct-horse"
WRONG_PASSWORD = "bench-wrong-guess"

LOGIN_PATH = "/login/"

#: Simulated clients come from 198.18.0.0/15, the range reserved for benchmarks
#: (RFC 2544). Nothing is sent to these addresses: they only appear in REMOTE_ADDR or
#: X-Forwarded-For of requests to servers on 127.0.0.1.
CLIENT_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
#: The address that the blocked workload's attacker uses, outside the clients' range.
ATTACKER_IP = "198.19.255.254"


@dataclass(frozen=True)
class System:
    """One benchmarked set-up: a settings module under benchmarks/settings/."""

    name: str
    label: str
    settings: str
    #: Whether this system talks to the benchmark's Redis server.
    uses_redis: bool
    #: Whether the system is also measured over HTTP.
    http: bool = True
    #: What the added latency of this system is compared with, for the targets.
    peer: bool = False
    ours: bool = False
    #: Whether the system needs the Redis Cluster that the harness starts; measured
    #: in-process only, and only in runs that start a cluster.
    cluster: bool = False


SYSTEMS: tuple[System, ...] = (
    System("plain", "plain DRF (no protection)", "plain", uses_redis=False),
    System(
        "drf-defender-redis",
        "drf-defender, Redis, buffered access log",
        "drf_defender_redis",
        uses_redis=True,
        ours=True,
    ),
    System(
        "drf-defender-redis-inline",
        "drf-defender, Redis, inline access log (the default)",
        "drf_defender_redis_inline",
        uses_redis=True,
        http=False,
        ours=True,
    ),
    System(
        "drf-defender-redis-nolog",
        "drf-defender, Redis, no access log",
        "drf_defender_redis_nolog",
        uses_redis=True,
        http=False,
        ours=True,
    ),
    System(
        "drf-defender-cluster",
        "drf-defender, Redis Cluster of 3 primaries, buffered access log",
        "drf_defender_cluster",
        uses_redis=True,
        http=False,
        ours=True,
        cluster=True,
    ),
    System(
        "drf-defender-cache",
        "drf-defender, Django cache (local memory), no access log",
        "drf_defender_cache",
        uses_redis=False,
        ours=True,
    ),
    System(
        "django-defender",
        "django-defender 0.9.8, storing attempts",
        "django_defender",
        uses_redis=True,
        peer=True,
    ),
    System(
        "axes-db", "django-axes 8.3.1, database handler", "axes_db", uses_redis=False, peer=True
    ),
    System(
        "axes-cache",
        "django-axes 8.3.1, Redis cache handler",
        "axes_cache",
        uses_redis=True,
        peer=True,
    ),
)

SYSTEMS_BY_NAME = {system.name: system for system in SYSTEMS}

WORKLOADS = ("success", "mixed", "failure", "blocked")
WORKLOAD_LABELS = {
    "success": "all success",
    "mixed": "mixed (70 % success)",
    "failure": "all failures below the limit",
    "blocked": "blocked client",
}

FAILURE_LIMIT = 3


def settings_module(system: System) -> str:
    return f"benchmarks.settings.{system.settings}"


def username(index: int) -> str:
    return f"user{index:06d}"


def client_ip(index: int) -> str:
    """Return the address of simulated client ``index`` (distinct for each index)."""
    if not 0 <= index < CLIENT_NETWORK.num_addresses - 2:
        raise ValueError(f"client index {index} is outside the simulated client range")
    return str(CLIENT_NETWORK.network_address + index)


def is_success(workload: str, index: int) -> bool:
    """Return whether request ``index`` of ``workload`` sends the right password."""
    if workload == "success":
        return True
    if workload == "mixed":
        return index % 10 < 7
    return False


@dataclass(frozen=True)
class Plan:
    """The requests of one measured run: ``count`` requests starting at ``first``.

    Request ``i`` logs in as user ``i % users`` from client IP ``i``, except in the
    blocked workload, where every request comes from ATTACKER_IP.
    """

    workload: str
    first: int
    count: int
    users: int

    def requests(self) -> list[tuple[str, str, str]]:
        """Return (username, password, ip) for every request of the plan."""
        result = []
        for index in range(self.first, self.first + self.count):
            name = username(index % self.users)
            password = PASSWORD if is_success(self.workload, index) else WRONG_PASSWORD
            ip = ATTACKER_IP if self.workload == "blocked" else client_ip(index)
            result.append((name, password, ip))
        return result


def priming_requests(users: int) -> list[tuple[str, str, str]]:
    """Return the failures that get ATTACKER_IP blocked before the blocked workload.

    Each guess names another user, so only the IP goes over its limit.
    """
    return [
        (username(users - 1 - n), WRONG_PASSWORD, ATTACKER_IP) for n in range(FAILURE_LIMIT + 1)
    ]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def percentile(values: list[float], fraction: float) -> float:
    """Return the ``fraction`` quantile of ``values`` (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Mode:
    """Request counts of a run: ``full`` for the published page, ``short`` for CI.

    The ``*_systems`` and ``http_workloads`` fields limit a stage to some systems or
    workloads; None means all of them.
    """

    name: str
    requests: int
    count_requests: int
    warmup: int
    users: int
    cpu_checked: int
    cpu_blocked: int
    cpu_hasher: str
    http_seconds: float
    http_warmup_seconds: float
    scale_levels: tuple[int, ...]
    scale_sample: int
    blocked_many: int
    cpu_systems: tuple[str, ...] | None = None
    http_systems: tuple[str, ...] | None = None
    http_workloads: tuple[str, ...] = WORKLOADS
    #: Timed rounds per workload: the harness times every system once per round, in
    #: turn, so that changes in the machine's load hit all systems alike.
    rounds: int = 1
    #: Whether the run starts a Redis Cluster and measures drf-defender on it.
    cluster: bool = True


MODES = {
    "full": Mode(
        "full",
        requests=2000,
        count_requests=200,
        warmup=200,
        users=30_000,
        cpu_checked=4,
        cpu_blocked=300,
        cpu_hasher="default",
        http_seconds=8.0,
        http_warmup_seconds=2.0,
        scale_levels=(1_000, 10_000, 100_000, 1_000_000),
        scale_sample=7_500,
        blocked_many=100_000,
        rounds=20,
    ),
    # Exercises every part of the harness in about a minute; its figures mean nothing.
    "short": Mode(
        "short",
        requests=20,
        count_requests=5,
        warmup=3,
        users=300,
        cpu_checked=1,
        cpu_blocked=5,
        cpu_hasher="fast-pbkdf2",
        http_seconds=1.0,
        http_warmup_seconds=0.0,
        scale_levels=(100, 500),
        scale_sample=50,
        blocked_many=300,
        cpu_systems=("plain", "drf-defender-redis"),
        http_systems=("drf-defender-redis",),
        http_workloads=("success", "blocked"),
        cluster=False,
    ),
}


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=_json_default))


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def _json_default(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    return env
