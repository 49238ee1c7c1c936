"""drf-defender on a Redis Cluster that the harness starts (benchmarks/cluster_setup.py).

The harness passes the cluster's nodes in BENCH_CLUSTER_NODES ("host:port,...").
"""

import os

from .drf_defender_redis import *  # noqa: F403

DEFENDER_BACKEND = "drf_defender.backends.redis_cluster.RedisClusterBackend"
DEFENDER_REDIS_CLUSTER_NODES = [
    node for node in os.environ.get("BENCH_CLUSTER_NODES", "").split(",") if node
]
