"""Throughput and latency over HTTP: gunicorn and wrk on 127.0.0.1.

Each system gets a PostgreSQL database of its own. For each workload, each system in
turn gets a fresh state and a fresh gunicorn (two sync workers, persistent database
connections), a warm-up, then a timed wrk run with one thread and four connections.
Every simulated client's address travels in X-Forwarded-For, which each system is
configured to trust from 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import common

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_login.lua"
WORKERS = 2
CONNECTIONS = 4
_RESULT = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)
_TABLES = re.compile(r"^BENCH_TABLES (\[.*\])$", re.MULTILINE)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def postgres_available() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres", connect_timeout=3
        ):
            return True
    except psycopg.Error:
        return False


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(
        "host=127.0.0.1 port=5432 user=postgres dbname=postgres", autocommit=True
    ) as connection:
        connection.execute(sql)


def _reset(database: str, tables: list[str], redis_url: str) -> None:
    """Empty the attempt and block tables and the benchmark's private Redis server."""
    import psycopg
    import redis

    if tables:
        with psycopg.connect(
            f"host=127.0.0.1 port=5432 user=postgres dbname={database}", autocommit=True
        ) as connection:
            names = ", ".join(f'"{table}"' for table in tables)
            connection.execute(f"TRUNCATE {names}")
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushdb()
    finally:
        client.close()


def _post(port: int, name: str, password: str, ip: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps({"username": name, "password": password})
        headers = {"Content-Type": "application/json", "X-Forwarded-For": ip}
        connection.request("POST", common.LOGIN_PATH, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _prime(port: int, users: int, blocked_status: int) -> list[int]:
    """Get ATTACKER_IP blocked in every worker; return the statuses seen.

    Workers that keep counts in process memory each need their own failures. So after
    the usual LIMIT + 1 failures the attacker keeps guessing until eight responses in a
    row carry the system's blocked status (at most 60 more guesses).
    """
    statuses = [_post(port, *request)[0] for request in common.priming_requests(users)]
    streak = 0
    for index in range(60):
        status, _body = _post(
            port, common.username(index), common.WRONG_PASSWORD, common.ATTACKER_IP
        )
        statuses.append(status)
        streak = streak + 1 if status == blocked_status else 0
        if streak >= 8:
            break
    return statuses


def _wait_for_workers(port: int, timeout: float) -> None:
    """Wait until the workers respond, because the master listens before they have booted."""
    deadline = time.monotonic() + timeout
    answered = 0
    while answered < 2 * WORKERS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"gunicorn on port {port} did not respond within {timeout} s")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            connection.request("GET", common.LOGIN_PATH)
            connection.getresponse().read()
            answered += 1
        except OSError:
            time.sleep(0.1)
        finally:
            connection.close()


def _wrk(port: int, workload: str, first: int, users: int, seconds: float) -> dict[str, Any]:
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError("wrk is not installed")
    env = common.env_with(
        BENCH_WORKLOAD=workload,
        BENCH_FIRST=str(first),
        BENCH_USERS=str(users),
        BENCH_ATTACKER_IP=common.ATTACKER_IP,
        BENCH_PASSWORD=common.PASSWORD,
        BENCH_WRONG_PASSWORD=common.WRONG_PASSWORD,
    )
    duration = max(1, round(seconds))
    command = [
        wrk,
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
        f"http://127.0.0.1:{port}{common.LOGIN_PATH}",
    ]
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    match = _RESULT.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    result: dict[str, Any] = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


@dataclass
class Server:
    """One system's database and environment for its HTTP runs."""

    system: common.System
    database: str
    env: dict[str, str]
    tables: list[str]
    blocked_status: int


@contextlib.contextmanager
def prepared_servers(
    systems: list[common.System],
    mode: common.Mode,
    *,
    redis_url: str,
    prefix: str,
    blocked_statuses: dict[str, int],
    python: str = sys.executable,
) -> Iterator[list[Server]]:
    """Create and fill a PostgreSQL database per system; drop them all afterwards."""
    servers: list[Server] = []
    try:
        for system in systems:
            database = f"dfbench_{system.settings}"
            env = common.env_with(
                DJANGO_SETTINGS_MODULE=common.settings_module(system),
                BENCH_DATABASE=f"postgres:{database}",
                BENCH_REDIS_URL=redis_url,
                BENCH_REDIS_PRIVATE="1",
                BENCH_PREFIX=prefix,
            )
            _admin(f'DROP DATABASE IF EXISTS "{database}"')
            _admin(f'CREATE DATABASE "{database}"')
            servers.append(
                Server(system, database, env, [], blocked_statuses.get(system.name, 429))
            )
            prepared = subprocess.run(
                [python, "-m", "benchmarks.serverstate", "prepare", "--users", str(mode.users)],
                env=env,
                check=True,
                timeout=600,
                capture_output=True,
                text=True,
            )
            match = _TABLES.search(prepared.stdout)
            if match is None:
                raise RuntimeError(f"preparing {system.name} printed no table list")
            servers[-1].tables = json.loads(match.group(1))
        yield servers
    finally:
        for server in servers:
            _admin(f'DROP DATABASE IF EXISTS "{server.database}" WITH (FORCE)')


def run_workload(
    server: Server,
    workload: str,
    mode: common.Mode,
    *,
    redis_url: str,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Measure one workload of one system from a fresh state and a fresh gunicorn."""
    _reset(server.database, server.tables, redis_url)
    figures = _run_workload(python, server.env, workload, mode, mode.users, server.blocked_status)
    print(
        f"  {server.system.name:28} {workload:8} {figures['rps']:8.0f} req/s"
        f"  p50 {figures['p50_us'] / 1000:6.1f} ms  p99 {figures['p99_us'] / 1000:6.1f} ms"
        f"  non-2xx {figures['non_2xx']}",
        flush=True,
    )
    return figures


def _run_workload(
    python: str,
    env: dict[str, str],
    workload: str,
    mode: common.Mode,
    users: int,
    blocked_status: int,
) -> dict[str, Any]:
    port = common.free_port()
    command = [
        python,
        "-m",
        "gunicorn",
        "benchmarks.wsgi:application",
        "--workers",
        str(WORKERS),
        "--bind",
        f"127.0.0.1:{port}",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env)
    try:
        common.wait_for_port(port, timeout=60)
        _wait_for_workers(port, timeout=120)
        primed: list[int] = []
        if workload == "blocked":
            primed = _prime(port, users, blocked_status)
        # Index ranges: the warm-up's clients are not the timed run's clients.
        if mode.http_warmup_seconds > 0:
            _wrk(port, workload, first=0, users=users, seconds=mode.http_warmup_seconds)
        figures = _wrk(port, workload, first=users // 3, users=users, seconds=mode.http_seconds)
        figures["priming_statuses"] = primed
        figures["probe_status"] = (
            _post(port, common.username(1), common.WRONG_PASSWORD, common.ATTACKER_IP)[0]
            if workload == "blocked"
            else None
        )
        return figures
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        time.sleep(0.2)
