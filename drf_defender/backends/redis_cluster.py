"""Redis backend on a Redis Cluster.

The scripts and commands are those of :class:`RedisBackend`. Every script touches the keys
of one subject, which share a hash tag and so one slot. The keys of an IP-and-username
pair are tagged with the IP, so a script that updates an IP and its pair stays in the
IP's slot. A call for several subjects is one redis-py ``ClusterPipeline``, which sends
one batch to each node involved: a login that counts an IP and a username reaches each
node at most once. The blocked-subject index lives in its own slot, so it is updated
by a separate command after a script has started a block.

Differences from a single server, all handled here:

- Each primary has its own script cache, and a primary promoted by a failover starts
  with an empty one. When some scripts of a pipeline fail with NOSCRIPT, the scripts
  sent to other nodes have already run, so only the failed ones are sent again, as
  EVAL, which also caches the script on that node.
- redis-py reports some cluster failures (no reachable node, an uncovered slot) as
  ``RedisClusterException``, which is not a ``RedisError``; they are outages too.
- RedisCluster reads the topology when it is built, so the client is built on first use:
  a cluster that is down when the process starts is an outage, not a start-up error.

- A call for several subjects is not atomic across nodes: when one node fails, the
  scripts sent to the others have run. ``reserve`` gives back the reservations that
  succeeded before it reports the outage, so a node failure does not count failures
  against subjects on healthy nodes.

NOTE: if giving back fails too, or redis-py raises instead of returning the per-command
replies, those reservations stay counted until the attempt window ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from ..conf import defender_settings
from ..exceptions import BackendUnavailable
from .addresses import parse_addresses
from .base import AuditEntry, FailureOutcome, Reservation, ReserveStatus, SubjectSpec
from .redis import PartialPipelineError, RedisBackend, pool_options

logger = logging.getLogger(__name__)

#: Seconds after a failed first connection during which calls fail at once, so that a
#: cluster that is down does not make every request wait on every startup node.
RECONNECT_INTERVAL = 1.0

#: One queued pipeline call: method name, positional and keyword arguments.


def cluster_options_from_settings() -> tuple[list[ClusterNode], dict[str, Any]]:
    """Return the startup nodes and the RedisCluster keyword arguments of the settings.

    Raises ImproperlyConfigured for invalid settings.
    """
    try:
        addresses = parse_addresses(
            "DEFENDER_REDIS_CLUSTER_NODES", defender_settings.REDIS_CLUSTER_NODES
        )
    except ValueError as error:
        raise ImproperlyConfigured(f"{error}.") from error
    options: dict[str, Any] = {
        "socket_timeout": defender_settings.REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": defender_settings.REDIS_CONNECT_TIMEOUT,
        "health_check_interval": 30,
        # One immediate retry, after which the call fails and the outage policy applies;
        # redis-py's default of several retries with backoff would hold the request.
        "retry": Retry(NoBackoff(), 1),
        "connection_pool_class": redis.BlockingConnectionPool,
        **pool_options(),
    }
    for name in ("REDIS_OPTIONS", "REDIS_CLUSTER_OPTIONS"):
        value = getattr(defender_settings, name)
        if not isinstance(value, dict):
            raise ImproperlyConfigured(
                f"DEFENDER_{name} is {value!r}; it must be a dict of redis-py keyword arguments."
            )
        options.update(value)
    if options.pop("db", 0):
        raise ImproperlyConfigured(
            "A Redis Cluster has database 0 only; remove 'db' from DEFENDER_REDIS_OPTIONS "
            "and DEFENDER_REDIS_CLUSTER_OPTIONS."
        )
    return [ClusterNode(host, port) for host, port in addresses], options


class LazyClusterClient:
    """A RedisCluster client that reads the topology on first use, not when it is built.

    Attribute access is forwarded to the RedisCluster client, which is built on the first
    access. A build that fails is retried on the next access, but not within
    RECONNECT_INTERVAL seconds of the failure.
    """

    def __init__(self, factory: Callable[[], RedisCluster]) -> None:
        self._factory = factory
        self._client: RedisCluster | None = None
        self._lock = threading.Lock()
        self._retry_at = 0.0
        self._last_error = ""

    def get(self) -> RedisCluster:
        """Return the RedisCluster client, building it if needed.

        Raises the redis-py error of a failed build, or ``redis.ConnectionError`` while
        the previous build failed less than RECONNECT_INTERVAL seconds ago.
        """
        client = self._client
        if client is not None:
            return client
        with self._lock:
            if self._client is None:
                if time.monotonic() < self._retry_at:
                    raise redis.ConnectionError(
                        f"Redis Cluster was unreachable less than {RECONNECT_INTERVAL} s ago: "
                        f"{self._last_error}"
                    )
                try:
                    self._client = self._factory()
                except (redis.RedisError, RedisClusterException) as error:
                    self._retry_at = time.monotonic() + RECONNECT_INTERVAL
                    self._last_error = str(error)
                    raise
            return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def close(self) -> None:
        """Close the RedisCluster client if it was built."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()


class RedisClusterBackend(RedisBackend):
    """Counters and blocks in a Redis Cluster, following its failovers."""

    cluster = True

    def __init__(self, prefix: str, client: Any = None) -> None:
        if client is None:
            nodes, options = cluster_options_from_settings()
            client = LazyClusterClient(lambda: RedisCluster(startup_nodes=nodes, **options))
        super().__init__(prefix, client)

    @contextmanager
    def _driver_errors(self, operation: str) -> Iterator[None]:
        try:
            with super()._driver_errors(operation):
                yield
        except RedisClusterException as error:
            raise BackendUnavailable(f"Redis Cluster {operation} failed: {error}") from error

    def reserve(
        self,
        specs: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
        release: Sequence[SubjectSpec] = (),
    ) -> tuple[list[Reservation], str | None]:
        try:
            return super().reserve(specs, now, audit, release)
        except BackendUnavailable as error:
            if isinstance(error.__cause__, PartialPipelineError):
                self._give_back(specs, error.__cause__.replies[len(release) :], now)
            raise

    def _give_back(self, specs: Sequence[SubjectSpec], replies: list[Any], now: float) -> None:
        # RedisBackend.reserve queues the releases, then one reserve script per spec, in
        # order, then the lists version. The caller passes the replies after the
        # releases; a reply of (status, ...) with status RESERVED counted a slot.
        reserved = [
            spec
            for spec, reply in zip(specs, replies, strict=False)
            if not isinstance(reply, Exception) and int(reply[0]) == ReserveStatus.RESERVED
        ]
        if not reserved:
            return
        try:
            self.release(reserved, now)
        except BackendUnavailable as error:
            logger.warning(
                "drf-defender could not give back %d reservations after a cluster node "
                "failed; they stay counted until the attempt window ends: %s",
                len(reserved),
                error,
            )

    def _index_blocks(self, outcomes: Sequence[FailureOutcome], now: float) -> None:
        # The blocks are stored and enforced already. A failed index update only hides
        # them from list_blocked, so it must not turn the failure into an outage.
        try:
            super()._index_blocks(outcomes, now)
        except BackendUnavailable as error:
            logger.warning(
                "drf-defender could not add %d new blocks to the blocked-subject index, "
                "so the admin listing will not show them: %s",
                len(outcomes),
                error,
            )
