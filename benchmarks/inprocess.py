"""In-process measurements of one system: latency, Redis and SQL counts, CPU per guess.

Run by benchmarks/run.py in a process of its own per system, with DJANGO_SETTINGS_MODULE
naming the system's settings. The harness starts it with ``--serve`` and sends it
measurement requests in turn with the other systems; by hand it runs on its own::

    python -m benchmarks.inprocess --system plain --mode full --out results/plain.json

Requests go through Django's test client to the system's /login/ view, against an
in-memory SQLite database and the benchmark's Redis server on loopback. Each workload
runs from a clean state once with counters on (exact counts per request), and in timed
rounds with nothing wrapped. ``--cpu`` measures instead the CPU time that one checked
guess and one blocked guess cost with Django's default password hasher.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import django

from benchmarks import common


def _setup() -> None:
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def create_users(count: int) -> None:
    """Create ``count`` active users with PASSWORD and a DRF token each."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    user_model = get_user_model()
    encoded = make_password(common.PASSWORD)
    batch = 2000
    for start in range(0, count, batch):
        users = [
            user_model(username=common.username(index), password=encoded, is_active=True)
            for index in range(start, min(count, start + batch))
        ]
        created = user_model.objects.bulk_create(users)
        if not all(user.pk for user in created):
            # Backends that do not return primary keys from bulk_create.
            names = [user.username for user in users]
            created = list(user_model.objects.filter(username__in=names))
        Token.objects.bulk_create(Token(key=Token.generate_key(), user=user) for user in created)


def redis_client() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.BENCH_REDIS_URL)


def redis_clients() -> list[Any]:
    """Return a client for each Redis server the system may use.

    That is the benchmark's server, and the nodes of the benchmark's cluster when the
    system runs on one (BENCH_CLUSTER_NODES).
    """
    import redis

    clients = [redis_client()]
    for node in os.environ.get("BENCH_CLUSTER_NODES", "").split(","):
        if node:
            host, _, port = node.rpartition(":")
            clients.append(redis.Redis(host=host, port=int(port)))
    return clients


def reset_state() -> None:
    """Forget every count, block and attempt row, so that each run starts alike."""
    from django.apps import apps
    from django.conf import settings
    from django.core.cache import caches
    from django.test.signals import setting_changed

    prefix = settings.BENCH_PREFIX
    for client in redis_clients():
        if os.environ.get("BENCH_REDIS_PRIVATE") == "1":
            # The harness started these servers for the benchmark alone.
            client.flushdb()
        else:
            batch = []
            for key in client.scan_iter(match=f"{prefix}:*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.delete(*batch)
                    batch = []
            if batch:
                client.delete(*batch)
        client.close()
    for alias, config in settings.CACHES.items():
        if config["BACKEND"].endswith("LocMemCache"):
            caches[alias].clear()
    for label in STATE_APPS:
        if apps.is_installed(label):
            for model in apps.get_app_config(label).get_models():
                model.objects.all().delete()
    if apps.is_installed("drf_defender"):
        # Rebuild drf-defender's service and backend, dropping what they remember.
        setting_changed.send(
            sender=type(settings), setting="DEFENDER_BACKEND", value=None, enter=False
        )


#: Requests sent before the counting pass, so that it counts the steady state.
COUNT_WARMUP = 5
#: Checked guesses sent before the CPU figures are taken.
CPU_WARMUP = 2

STATE_APPS = ("defender", "axes", "drf_defender")


def state_tables() -> list[str]:
    """Return the tables of the apps that store attempts or blocks."""
    from django.apps import apps

    return [
        model._meta.db_table
        for label in STATE_APPS
        if apps.is_installed(label)
        for model in apps.get_app_config(label).get_models()
    ]


class Driver:
    """Send login requests through Django's test client."""

    def __init__(self) -> None:
        from django.test import Client

        self.client = Client()

    @staticmethod
    def body(name: str, password: str) -> bytes:
        return json.dumps({"username": name, "password": password}).encode()

    def send(self, name: str, password: str, ip: str) -> Any:
        return self.client.post(
            common.LOGIN_PATH,
            data=self.body(name, password),
            content_type="application/json",
            REMOTE_ADDR=ip,
        )

    def prime(self, users: int) -> list[int]:
        return [self.send(*request).status_code for request in common.priming_requests(users)]


def _distribution(values: list[int]) -> dict[str, Any]:
    counts = Counter(values)
    return {
        "min": min(values),
        "max": max(values),
        "mean": statistics.fmean(values),
        "values": {str(value): counts[value] for value in sorted(counts)},
    }


def count_run(driver: Driver, workload: str, mode: common.Mode, users: int) -> dict[str, Any]:
    """Send the counting pass and return exact per-request counts."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from benchmarks.counters import (
        HashCounter,
        RedisCounter,
        command_delta,
        server_command_calls,
    )

    reset_state()
    primed = driver.prime(users) if workload == "blocked" else []
    # Connections, scripts and cached lists are set up by the first requests; the
    # counts describe the steady state after them.
    for request in common.Plan(workload, first=0, count=COUNT_WARMUP, users=users).requests():
        driver.send(*request)
    plan = common.Plan(workload, first=COUNT_WARMUP, count=mode.count_requests, users=users)
    requests = plan.requests()
    clients = redis_clients()
    before = server_command_calls(clients)
    round_trips: list[int] = []
    commands: list[int] = []
    queries: list[int] = []
    hashes: list[int] = []
    command_names: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    with RedisCounter() as counter, HashCounter() as hasher:
        for name, password, ip in requests:
            counter.reset()
            hashed_before = hasher.hashes
            with CaptureQueriesContext(connection) as captured:
                response = driver.send(name, password, ip)
            statuses[response.status_code] += 1
            round_trips.append(counter.round_trips)
            commands.append(counter.command_total)
            command_names.update(counter.commands)
            queries.append(len(captured.captured_queries))
            hashes.append(hasher.hashes - hashed_before)
    after = server_command_calls(clients)
    for client in clients:
        client.close()
    server = command_delta(before, after)
    return {
        "requests": len(requests),
        "priming_statuses": primed,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "round_trips": _distribution(round_trips),
        "commands": _distribution(commands),
        "sql_queries": _distribution(queries),
        "password_hashes": _distribution(hashes),
        "client_commands": dict(command_names),
        "server_commands_per_request": sum(server.values()) / len(requests),
        "server_commands": server,
    }


def round_size(mode: common.Mode) -> tuple[int, int]:
    """Return the warm-up requests and the timed requests of one timed round."""
    return max(10, mode.warmup // mode.rounds), mode.requests // mode.rounds


def users_needed(mode: common.Mode) -> int:
    """Return how many users the counting pass and every timed round need together."""
    warmup, timed = round_size(mode)
    return (
        COUNT_WARMUP
        + mode.count_requests
        + mode.rounds * (warmup + timed)
        + common.FAILURE_LIMIT
        + 2
    )


def timed_round(
    driver: Driver, workload: str, mode: common.Mode, users: int, round_index: int
) -> dict[str, Any]:
    """Run one timed round from a clean state; return each request's latency in µs.

    Each round starts from an empty state, warms up, then times every request with
    nothing else wrapped around it. Rounds use their own users and addresses.
    """
    reset_state()
    if workload == "blocked":
        driver.prime(users)
    warmup_count, timed_count = round_size(mode)
    first = COUNT_WARMUP + mode.count_requests + round_index * (warmup_count + timed_count)
    for request in common.Plan(workload, first=first, count=warmup_count, users=users).requests():
        driver.send(*request)

    plan = common.Plan(workload, first=first + warmup_count, count=timed_count, users=users)
    prepared = [(driver.body(name, password), ip) for name, password, ip in plan.requests()]
    post = driver.client.post
    path = common.LOGIN_PATH
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    gc.collect()
    for body, ip in prepared:
        t0 = time.perf_counter_ns()
        response = post(path, data=body, content_type="application/json", REMOTE_ADDR=ip)
        latencies.append((time.perf_counter_ns() - t0) / 1000.0)
        statuses[response.status_code] += 1
    return {
        "latencies_us": latencies,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
    }


def summarise_rounds(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool the latencies of every round into one median, p99 and mean."""
    latencies = [value for result in rounds for value in result["latencies_us"]]
    statuses: Counter[str] = Counter()
    for result in rounds:
        statuses.update(result["statuses"])
    return {
        "requests": len(latencies),
        "statuses": dict(sorted(statuses.items())),
        "median_us": statistics.median(latencies),
        "p99_us": common.percentile(latencies, 0.99),
        "mean_us": statistics.fmean(latencies),
        "round_medians_us": [statistics.median(result["latencies_us"]) for result in rounds],
    }


def cpu_run(mode: common.Mode, users: int) -> dict[str, Any]:
    """Return CPU seconds per checked guess and per blocked guess (default hasher)."""
    from django.conf import settings

    reset_state()
    driver = Driver()
    checked_cpu: list[float] = []
    checked_wall: list[float] = []
    statuses: Counter[int] = Counter()
    # The first requests of a process import and set up more than later ones do.
    for request in common.Plan("failure", first=0, count=CPU_WARMUP, users=users).requests():
        driver.send(*request)
    plan = common.Plan("failure", first=CPU_WARMUP, count=mode.cpu_checked, users=users)
    for request in plan.requests():
        cpu0, wall0 = time.process_time(), time.perf_counter()
        response = driver.send(*request)
        checked_cpu.append(time.process_time() - cpu0)
        checked_wall.append(time.perf_counter() - wall0)
        statuses[response.status_code] += 1
    primed = driver.prime(users)
    blocked_cpu: list[float] = []
    blocked_statuses: Counter[int] = Counter()
    first = CPU_WARMUP + mode.cpu_checked
    plan = common.Plan("blocked", first=first, count=mode.cpu_blocked, users=users)
    for request in plan.requests():
        cpu0 = time.process_time()
        response = driver.send(*request)
        blocked_cpu.append(time.process_time() - cpu0)
        blocked_statuses[response.status_code] += 1
    checked = statistics.fmean(checked_cpu)
    blocked = statistics.fmean(blocked_cpu)
    return {
        "hasher": settings.PASSWORD_HASHERS[0],
        "checked_requests": len(checked_cpu),
        "checked_cpu_ms": checked * 1000,
        "checked_wall_ms": statistics.fmean(checked_wall) * 1000,
        "checked_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "priming_statuses": primed,
        "blocked_requests": len(blocked_cpu),
        "blocked_cpu_ms": blocked * 1000,
        "blocked_statuses": {str(k): v for k, v in sorted(blocked_statuses.items())},
        "ratio": checked / blocked if blocked > 0 else None,
    }


def serve(system: common.System, mode: common.Mode) -> None:
    """Answer measurement requests, one JSON object per line, until told to exit.

    The harness keeps one such process per system and sends them the same requests in
    turn, so that every system is measured under the same conditions even when other
    work on the machine comes and goes. Requests: ``{"op": "count", "workload": W}``,
    ``{"op": "time", "workload": W, "round": R}`` and ``{"op": "exit"}``.
    """
    users = users_needed(mode)
    create_users(users)
    driver = Driver()
    protocol = sys.stdout
    # Anything else that prints goes to the error stream, away from the replies.
    sys.stdout = sys.stderr
    protocol.write("READY\n")
    protocol.flush()
    for line in sys.stdin:
        message = json.loads(line)
        if message["op"] == "exit":
            break
        if message["op"] == "count":
            reply = count_run(driver, message["workload"], mode, users)
        elif message["op"] == "time":
            reply = timed_round(driver, message["workload"], mode, users, message["round"])
        else:
            raise ValueError(f"unknown request {message!r} for {system.name}")
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=sorted(common.SYSTEMS_BY_NAME))
    parser.add_argument("--mode", default="full", choices=sorted(common.MODES))
    parser.add_argument("--workloads", default=",".join(common.WORKLOADS))
    parser.add_argument("--cpu", action="store_true", help="measure CPU per guess instead")
    parser.add_argument(
        "--serve", action="store_true", help="take measurement requests on standard input"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    mode = common.MODES[args.mode]
    system = common.SYSTEMS_BY_NAME[args.system]
    expected = common.settings_module(system)
    if os.environ.get("DJANGO_SETTINGS_MODULE") != expected:
        parser.error(f"run with DJANGO_SETTINGS_MODULE={expected}")
    if not args.serve and args.out is None:
        parser.error("--out is required unless --serve is given")
    _setup()

    if args.serve:
        serve(system, mode)
        return 0
    result: dict[str, Any] = {"system": system.name}
    if args.cpu:
        users = CPU_WARMUP + mode.cpu_checked + mode.cpu_blocked + common.FAILURE_LIMIT + 2
        create_users(users)
        result["cpu"] = cpu_run(mode, users)
    else:
        users = users_needed(mode)
        create_users(users)
        driver = Driver()
        workloads: dict[str, Any] = {}
        for workload in args.workloads.split(","):
            rounds = [
                timed_round(driver, workload, mode, users, index) for index in range(mode.rounds)
            ]
            workloads[workload] = {
                "counts": count_run(driver, workload, mode, users),
                "timing": summarise_rounds(rounds),
            }
        result["workloads"] = workloads
    common.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
