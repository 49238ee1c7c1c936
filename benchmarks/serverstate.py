"""Prepare or reset the database and Redis state that one system's HTTP server uses.

Run with the system's DJANGO_SETTINGS_MODULE and BENCH_DATABASE::

    python -m benchmarks.serverstate prepare --users 30000
    python -m benchmarks.serverstate reset

Both print the tables that hold the system's attempt records and blocks, as
``BENCH_TABLES ["table", ...]``, so that the harness can empty them between runs
without starting Django again.
"""

from __future__ import annotations

import argparse
import json
import sys

import django


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["prepare", "reset"])
    parser.add_argument("--users", type=int, default=0)
    args = parser.parse_args(argv)

    django.setup()
    from benchmarks import inprocess

    if args.action == "prepare":
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        inprocess.create_users(args.users)
    inprocess.reset_state()
    print("BENCH_TABLES " + json.dumps(inprocess.state_tables()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
