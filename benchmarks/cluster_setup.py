"""Bring up a throwaway local Redis Cluster to measure the Redis Cluster backend.

The cluster is built by the test suite's helpers (tests/redis_servers.py): redis-server
processes on free ports of 127.0.0.1, keeping nothing on disk, joined in Python, and
stopped by PID when the cluster is closed. Redis 7.0 or later is needed, for
``--cluster-port``. Import this module from the repository root.

In Python::

    from benchmarks.cluster_setup import cluster_settings, local_cluster

    with local_cluster(primaries=3) as cluster:
        values = cluster_settings(cluster)  # DEFENDER_* settings for the cluster
        ...

From a shell, to run a cluster next to a benchmark process::

    python -m benchmarks.cluster_setup --primaries 3 --seconds 600

prints the settings as JSON and ``DEFENDER_REDIS_CLUSTER_NODES`` as a ``host:port,...``
line, then keeps the cluster up until the time is over or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.redis_servers import LocalRedisCluster

CLUSTER_BACKEND = "drf_defender.backends.redis_cluster.RedisClusterBackend"
#: Maximum time the command-line entry point keeps a cluster up, in seconds.
MAX_SECONDS = 24 * 3600


def start_cluster(primaries: int = 3, replicas_per_primary: int = 0) -> LocalRedisCluster:
    """Start a cluster and wait until it reports state ok; the caller must ``close()`` it.

    Raises tests.redis_servers.RedisUnavailableError, after stopping what it started,
    when redis-server is missing, a server does not start, or the cluster does not
    settle within 30 seconds.
    """
    return LocalRedisCluster(primaries, replicas_per_primary).start()


@contextmanager
def local_cluster(primaries: int = 3, replicas_per_primary: int = 0) -> Iterator[LocalRedisCluster]:
    """Run a cluster for the duration of a ``with`` block, then stop its servers."""
    cluster = start_cluster(primaries, replicas_per_primary)
    try:
        yield cluster
    finally:
        cluster.close()


def cluster_settings(cluster: LocalRedisCluster, prefix: str = "defender") -> dict[str, Any]:
    """Return the DEFENDER_* settings that point drf-defender at ``cluster``."""
    return {
        "DEFENDER_BACKEND": CLUSTER_BACKEND,
        "DEFENDER_REDIS_CLUSTER_NODES": [f"{host}:{port}" for host, port in cluster.startup_nodes],
        "DEFENDER_CACHE_PREFIX": prefix,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--primaries", type=int, default=3, help="number of primaries")
    parser.add_argument("--replicas", type=int, default=0, help="replicas per primary")
    parser.add_argument(
        "--seconds",
        type=float,
        default=600,
        help=f"seconds to keep the cluster up (at most {MAX_SECONDS})",
    )
    options = parser.parse_args(argv)
    with local_cluster(options.primaries, options.replicas) as cluster:
        values = cluster_settings(cluster)
        print(json.dumps(values, indent=2))
        print("DEFENDER_REDIS_CLUSTER_NODES=" + ",".join(values["DEFENDER_REDIS_CLUSTER_NODES"]))
        sys.stdout.flush()
        try:
            time.sleep(min(max(options.seconds, 0.0), MAX_SECONDS))
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
