"""Profile the login path of one system, workload by workload, in CPU time.

Not part of ``make bench``; run it by hand in the benchmark's virtualenv, with a Redis
server that you started for it and the system's settings::

    DJANGO_SETTINGS_MODULE=benchmarks.settings.drf_defender_redis \\
    BENCH_REDIS_URL=redis://127.0.0.1:PORT/0 BENCH_REDIS_PRIVATE=1 \\
        .venv-bench/bin/python -m benchmarks.profile --system drf-defender-redis

cProfile runs with ``time.process_time`` as its clock, so the figures are CPU time of
this process. A busy machine does not inflate them, and time spent waiting for Redis
replies does not appear; the benchmark itself counts the round trips. One
report per workload goes to benchmarks/results/profile/, listing the functions by
cumulative CPU time; the summary line gives the CPU time per request and the share
spent under drf_defender/.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

from benchmarks import common, inprocess


def _package_share(stats: pstats.Stats, package: str) -> float:
    """Return the CPU time spent in functions of ``package`` (own time, not callees)."""
    total = 0.0
    for (filename, _line, _name), row in stats.stats.items():  # type: ignore[attr-defined]
        if f"/{package}/" in filename:
            total += row[2]
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", required=True, choices=sorted(common.SYSTEMS_BY_NAME))
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=common.RESULTS_DIR / "profile")
    args = parser.parse_args(argv)
    expected = common.settings_module(common.SYSTEMS_BY_NAME[args.system])
    if os.environ.get("DJANGO_SETTINGS_MODULE") != expected:
        parser.error(f"run with DJANGO_SETTINGS_MODULE={expected}")

    inprocess._setup()
    users = args.requests + 60
    inprocess.create_users(users)
    driver = inprocess.Driver()
    args.out.mkdir(parents=True, exist_ok=True)
    for workload in common.WORKLOADS:
        inprocess.reset_state()
        if workload == "blocked":
            driver.prime(users)
        for request in common.Plan(workload, first=0, count=50, users=users).requests():
            driver.send(*request)
        requests = common.Plan(workload, first=50, count=args.requests, users=users).requests()
        profiler = cProfile.Profile(time.process_time)
        cpu_started = time.process_time()
        profiler.enable()
        for request in requests:
            driver.send(*request)
        profiler.disable()
        cpu = time.process_time() - cpu_started
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        own = {
            package: _package_share(stats, package)
            for package in ("drf_defender", "redis", "django", "rest_framework")
        }
        stats.sort_stats("cumulative").print_stats(60)
        path = args.out / f"{args.system}-{workload}.txt"
        path.write_text(buffer.getvalue())
        profiler.dump_stats(path.with_suffix(".prof"))
        shares = ", ".join(
            f"{package} {seconds / len(requests) * 1e6:.0f} µs" for package, seconds in own.items()
        )
        print(
            f"{args.system} {workload}: {cpu / len(requests) * 1e6:.0f} µs CPU per request"
            f" (profiled); own time per request: {shares}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
