"""Redis backend on the master of a Redis Sentinel set-up.

The scripts and commands are those of :class:`RedisBackend`; only the client differs. It
queries the sentinels for the master's address whenever it opens a connection, so after a
failover the next connection goes to the promoted replica. Until the sentinels have
promoted one, calls fail with :class:`~drf_defender.exceptions.BackendUnavailable` and the
service applies ``DEFENDER_BACKEND_FAILURE_POLICY``. A promoted replica starts without
the scripts; :class:`RedisBackend` loads them again when the server answers NOSCRIPT.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from redis import BlockingConnectionPool
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from ..conf import defender_settings
from .addresses import parse_addresses
from .redis import RedisBackend, pool_options


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """Pool of connections to the Sentinel master that waits when every one is busy.

    The Sentinel base class finds the master's address. The blocking base class bounds the
    number of connections and makes a request wait for a free one (see ``pool_options``).
    """


def sentinel_from_settings() -> tuple[Sentinel, Any]:
    """Build the Sentinel manager and the master's client that the settings ask for.

    Nothing connects here: the client asks the sentinels for the master when it opens
    its first connection. Raises ImproperlyConfigured for invalid settings.
    """
    try:
        sentinels = parse_addresses("DEFENDER_REDIS_SENTINELS", defender_settings.REDIS_SENTINELS)
    except ValueError as error:
        raise ImproperlyConfigured(f"{error}.") from error
    service_name = defender_settings.REDIS_SENTINEL_SERVICE_NAME
    if not isinstance(service_name, str) or not service_name:
        raise ImproperlyConfigured(
            f"DEFENDER_REDIS_SENTINEL_SERVICE_NAME is {service_name!r}; set it to the master "
            "name that the sentinels monitor (the name in 'sentinel monitor <name> ...')."
        )
    timeouts = {
        "socket_timeout": defender_settings.REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": defender_settings.REDIS_CONNECT_TIMEOUT,
    }
    sentinel_options = {**timeouts, **_options("REDIS_SENTINEL_OPTIONS")}
    master_options: dict[str, Any] = {
        **timeouts,
        "health_check_interval": 30,
        # One immediate retry: a connection to a master that was replaced fails once,
        # and the retry opens a new one to the address the sentinels give now.
        "retry": Retry(NoBackoff(), 1),
        **pool_options(),
        **_options("REDIS_OPTIONS"),
    }
    connection_class = master_options.get("connection_class", SentinelManagedConnection)
    if not (
        isinstance(connection_class, type)
        and issubclass(connection_class, SentinelManagedConnection)
    ):
        raise ImproperlyConfigured(
            "DEFENDER_REDIS_OPTIONS['connection_class'] must be a subclass of "
            "redis.sentinel.SentinelManagedConnection with RedisSentinelBackend, or the "
            "client cannot follow a failover."
        )
    manager = Sentinel(sentinels, sentinel_kwargs=sentinel_options, **master_options)
    return manager, manager.master_for(
        service_name, connection_pool_class=BlockingSentinelConnectionPool
    )


def _options(name: str) -> dict[str, Any]:
    value = getattr(defender_settings, name)
    if not isinstance(value, dict):
        raise ImproperlyConfigured(
            f"DEFENDER_{name} is {value!r}; it must be a dict of redis-py keyword arguments."
        )
    return dict(value)


class RedisSentinelBackend(RedisBackend):
    """Counters and blocks on the master that Redis Sentinel names, following failovers."""

    def __init__(self, prefix: str, client: Any = None) -> None:
        self.sentinel: Sentinel | None = None
        if client is None:
            self.sentinel, client = sentinel_from_settings()
        super().__init__(prefix, client)

    def close(self) -> None:
        super().close()
        if self.sentinel is not None:
            self.sentinel.close()
