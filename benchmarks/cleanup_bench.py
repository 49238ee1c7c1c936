"""Measure cleanup_django_defender on a large access-attempt table.

The script fills a fresh database with ``--rows`` access attempts, half of them older
than DEFENDER_ACCESS_ATTEMPT_EXPIRATION (24 hours), then runs the command in a child
process and reports, for that process:

- the time of the dry run (COUNT) and of the deletion,
- the longest single DELETE statement (each batch commits on its own, so this bounds
  how long a batch holds its row locks),
- the peak of Python allocations during the command (tracemalloc, which also slows
  Python code a little; the statements run in the database),
- the peak resident set size of the process (ru_maxrss) before and after the command.

It then checks that exactly the expired rows were deleted and that a row exactly at
the expiry time was kept. Usage, from the repository root::

    .venv/bin/python benchmarks/cleanup_bench.py --database sqlite --rows 1000000
    .venv/bin/python benchmarks/cleanup_bench.py --database postgres --rows 1000000

SQLite uses a file in a temporary folder. PostgreSQL uses the server on
127.0.0.1:5432 (user postgres, trust authentication) and a database named
``drf_defender_cleanup_bench`` that the script creates and drops.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_DATABASE = "drf_defender_cleanup_bench"
EXPIRATION_HOURS = 24
#: Rows sent to the database per INSERT or COPY chunk while filling the table.
FILL_CHUNK = 50_000


def configure(database: str, name: str) -> None:
    """Set up Django with the access-log app alone and the chosen database."""
    import django
    from django.conf import settings

    if database == "sqlite":
        databases = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": name}}
    else:
        databases = {
            "default": {
                "ENGINE": "django.db.backends.postgresql",
                "HOST": "127.0.0.1",
                "PORT": "5432",
                "USER": "postgres",
                "NAME": name,
            }
        }
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        TIME_ZONE="UTC",
        SECRET_KEY="drf-defender-cleanup-benchmark-not-secret",
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "drf_defender",
        ],
        DATABASES=databases,
        DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        DEFENDER_ACCESS_ATTEMPT_EXPIRATION=EXPIRATION_HOURS,
    )
    django.setup()


# --- filling the table ------------------------------------------------------------------


def row_values(number: int, rows: int, now: datetime) -> tuple[Any, ...]:
    """Return the column values of row ``number``: the first half expired, in time order."""
    half = rows // 2
    if number < half:
        # Spread over the day before the expiry time: 48 to 24 hours ago.
        moment = now - timedelta(hours=48) + timedelta(hours=24) * number / half
    else:
        moment = now - timedelta(hours=23) + timedelta(hours=23) * (number - half) / (rows - half)
    username = f"user{number % 50_000}"
    ip = f"198.18.{(number >> 8) & 255}.{number & 255}"
    return (
        moment,
        ip,
        username,
        username,
        "bench-agent/1.0",
        "application/json",
        "/api/auth/login/",
        number % 10 == 0,
        "dj_rest_auth",
        "login",
        False,
    )


COLUMNS = (
    "attempt_time, ip_address, username, username_normalized, user_agent, http_accept, "
    "path_info, login_valid, integration, scope, locked_out"
)


def fill(database: str, rows: int, now: datetime) -> float:
    """Insert ``rows`` rows plus one at the expiry time; return the seconds it took."""
    from django.db import connection, transaction

    from drf_defender.models import AccessAttempt

    table = AccessAttempt._meta.db_table
    started = time.monotonic()
    for start in range(0, rows, FILL_CHUNK):
        chunk = [row_values(n, rows, now) for n in range(start, min(rows, start + FILL_CHUNK))]
        with transaction.atomic(), connection.cursor() as cursor:
            if database == "postgres":
                _copy(cursor, table, chunk)
            else:
                placeholders = ", ".join(["%s"] * 11)
                cursor.executemany(
                    f"INSERT INTO {table} ({COLUMNS}) VALUES ({placeholders})",  # noqa: S608
                    chunk,
                )
    AccessAttempt.objects.create(
        attempt_time=now - timedelta(hours=EXPIRATION_HOURS), username="at-expiry"
    )
    if database == "postgres":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")
    return time.monotonic() - started


def _copy(cursor: Any, table: str, chunk: list[tuple[Any, ...]]) -> None:
    raw = cursor.cursor  # the psycopg cursor under Django's wrapper
    with raw.copy(f"COPY {table} ({COLUMNS}) FROM STDIN") as copy:
        for values in chunk:
            copy.write_row(values)


# --- the measured child process -----------------------------------------------------------


def measure(batch_size: int, now: float) -> dict[str, Any]:
    """Run the dry run and the cleanup in this process; return the figures."""
    from django.core.management import call_command
    from django.db import connection

    from drf_defender.service import set_clock

    set_clock(lambda: now)
    statement_times: list[float] = []

    def time_deletes(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not sql.startswith("DELETE"):
            return execute(sql, params, many, context)
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            statement_times.append(time.monotonic() - started)

    rss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    out = io.StringIO()
    started = time.monotonic()
    call_command("cleanup_django_defender", "--dry-run", stdout=out)
    dry_run_seconds = time.monotonic() - started
    dry_run_output = out.getvalue().strip()

    out = io.StringIO()
    tracemalloc.start()
    started = time.monotonic()
    with connection.execute_wrapper(time_deletes):
        call_command("cleanup_django_defender", "--batch-size", str(batch_size), stdout=out)
    seconds = time.monotonic() - started
    _, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    return {
        "dry_run_seconds": dry_run_seconds,
        "dry_run_output": dry_run_output,
        "cleanup_seconds": seconds,
        "cleanup_output": out.getvalue().strip(),
        "delete_statements": len(statement_times),
        "longest_delete_seconds": max(statement_times, default=0.0),
        "tracemalloc_peak_kib": peak_bytes / 1024,
        "max_rss_before_kib": rss_before_kib,
        "max_rss_after_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# --- orchestration ---------------------------------------------------------------------------


def create_postgres_database() -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}"')
        conn.execute(f'CREATE DATABASE "{POSTGRES_DATABASE}"')


def drop_postgres_database() -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{POSTGRES_DATABASE}"')


def run(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command

    now = datetime.now(timezone.utc).replace(microsecond=0)
    configure(args.database, args.name)
    call_command("migrate", "drf_defender", verbosity=0)
    fill_seconds = fill(args.database, args.rows, now)

    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--database",
            args.database,
            "--name",
            args.name,
            "--batch-size",
            str(args.batch_size),
            "--now",
            str(now.timestamp()),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"The measured process failed:\n{child.stderr}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])

    from drf_defender.models import AccessAttempt

    cutoff = now - timedelta(hours=EXPIRATION_HOURS)
    remaining = AccessAttempt.objects.count()
    expected = args.rows - args.rows // 2 + 1
    if remaining != expected:
        raise SystemExit(f"{remaining} rows remain; expected {expected}.")
    if AccessAttempt.objects.filter(attempt_time__lt=cutoff).exists():
        raise SystemExit("Expired rows remain after the cleanup.")
    if not AccessAttempt.objects.filter(username="at-expiry").exists():
        raise SystemExit("The row exactly at the expiry time was deleted.")
    return {
        "database": args.database,
        "rows": args.rows,
        "expired_rows": args.rows // 2,
        "batch_size": args.batch_size,
        "fill_seconds": fill_seconds,
        **figures,
    }


def print_report(result: dict[str, Any]) -> None:
    print(f"database:                {result['database']}")
    print(f"rows / expired rows:     {result['rows']} / {result['expired_rows']}")
    print(f"batch size:              {result['batch_size']}")
    print(f"fill:                    {result['fill_seconds']:.1f} s")
    print(f"dry run:                 {result['dry_run_seconds']:.2f} s")
    print(f"cleanup:                 {result['cleanup_seconds']:.2f} s")
    print(f"DELETE statements:       {result['delete_statements']}")
    print(f"longest DELETE:          {result['longest_delete_seconds'] * 1000:.0f} ms")
    print(f"tracemalloc peak:        {result['tracemalloc_peak_kib']:.0f} KiB")
    print(
        f"max RSS before / after:  {result['max_rss_before_kib'] / 1024:.1f} / "
        f"{result['max_rss_after_kib'] / 1024:.1f} MiB"
    )
    print(f"command output:          {result['cleanup_output']}")
    print("JSON: " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows to insert.")
    parser.add_argument("--batch-size", type=int, default=5000, help="--batch-size of the cleanup.")
    parser.add_argument("--name", help=argparse.SUPPRESS)
    parser.add_argument("--now", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rows < 2 or args.batch_size < 1:
        parser.error("--rows must be at least 2 and --batch-size at least 1.")

    if args.child:
        configure(args.database, args.name)
        print(json.dumps(measure(args.batch_size, args.now)))
        return

    if args.database == "postgres":
        args.name = POSTGRES_DATABASE
        create_postgres_database()
        try:
            result = run(args)
        finally:
            from django.db import connections

            connections.close_all()
            drop_postgres_database()
    else:
        with tempfile.TemporaryDirectory(prefix="drf-defender-cleanup-") as folder:
            args.name = str(Path(folder) / "cleanup.sqlite3")
            result = run(args)
            from django.db import connections

            connections.close_all()
    print_report(result)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
