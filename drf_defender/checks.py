"""Django system checks that reject settings which would leave logins unprotected."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string

from .conf import defender_settings

BACKEND_REDIS = "drf_defender.backends.redis.RedisBackend"
BACKEND_CACHE = "drf_defender.backends.cache.CacheBackend"
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache",)
NON_ATOMIC_CACHES = (
    "django.core.cache.backends.db.DatabaseCache",
    "django.core.cache.backends.filebased.FileBasedCache",
    "django.core.cache.backends.dummy.DummyCache",
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_positive_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _setting(name: str) -> str:
    return f"DEFENDER_{name}"


@register("drf_defender")
def check_limits(**kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    for name in (
        "LOGIN_FAILURE_LIMIT",
        "LOGIN_FAILURE_LIMIT_USERNAME",
        "LOGIN_FAILURE_LIMIT_IP",
        "PASSWORD_RESET_LIMIT",
    ):
        value = getattr(defender_settings, name)
        if not _is_int(value) or value < 1:
            errors.append(
                Error(
                    f"{_setting(name)} is {value!r}; it must be a whole number of at least 1.",
                    hint=f"Set {_setting(name)} to the number of failures allowed, for example 3.",
                    id="drf_defender.E001",
                )
            )
    for name in ("COOLOFF_TIME", "ATTEMPT_COOLOFF_TIME", "PASSWORD_RESET_COOLOFF_TIME"):
        value = getattr(defender_settings, name)
        if not _is_int(value) or value < 0:
            errors.append(
                Error(
                    f"{_setting(name)} is {value!r}; it must be a whole number of seconds, "
                    "0 or more.",
                    hint="Use 0 for no expiry, or a number of seconds such as 300.",
                    id="drf_defender.E002",
                )
            )
    errors.extend(_check_lockout_cooloff(defender_settings.LOCKOUT_COOLOFF_TIME))
    expiration = defender_settings.ACCESS_ATTEMPT_EXPIRATION
    if not _is_positive_number(expiration):
        errors.append(
            Error(
                f"DEFENDER_ACCESS_ATTEMPT_EXPIRATION is {expiration!r}; it must be a positive "
                "number of hours.",
                hint="Set it to 24 to keep attempts and lockout history for one day.",
                id="drf_defender.E012",
            )
        )
    if (
        not defender_settings.LOCK_OUT_BY_IP_AND_USERNAME
        and defender_settings.DISABLE_IP_LOCKOUT
        and defender_settings.DISABLE_USERNAME_LOCKOUT
    ):
        errors.append(
            Error(
                "DEFENDER_DISABLE_IP_LOCKOUT and DEFENDER_DISABLE_USERNAME_LOCKOUT are both True, "
                "so no login failure is ever counted.",
                hint="Enable one of them, or set DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME = True.",
                id="drf_defender.E008",
            )
        )
    status = defender_settings.LOCKOUT_STATUS_CODE
    if not _is_int(status) or not 400 <= status <= 499:
        errors.append(
            Error(
                f"DEFENDER_LOCKOUT_STATUS_CODE is {status!r}; it must be a 4xx status.",
                hint="Use 429 (the default) or 403.",
                id="drf_defender.E014",
            )
        )
    return errors


def _check_lockout_cooloff(value: Any) -> list[CheckMessage]:
    hint = (
        "Use a number of seconds (0: until an administrator unblocks), or a non-empty list "
        "of such numbers that escalates, for example [300, 3600, 0]."
    )
    if _is_int(value):
        values: Iterable[Any] = [value]
    elif isinstance(value, (list, tuple)) and value:
        values = value
    else:
        return [
            Error(
                f"DEFENDER_LOCKOUT_COOLOFF_TIME is {value!r}; it must be an int or a "
                "non-empty list.",
                hint=hint,
                id="drf_defender.E003",
            )
        ]
    if all(_is_int(item) and item >= 0 for item in values):
        return []
    return [
        Error(
            f"DEFENDER_LOCKOUT_COOLOFF_TIME is {value!r}; every entry must be a whole number of "
            "seconds, 0 or more.",
            hint=hint,
            id="drf_defender.E003",
        )
    ]


@register("drf_defender")
def check_backend(**kwargs: Any) -> list[CheckMessage]:
    path = defender_settings.BACKEND
    try:
        import_string(path)
    except ImportError as error:
        return [
            Error(
                f"DEFENDER_BACKEND {path!r} cannot be imported: {error}.",
                hint=f"Use {BACKEND_REDIS!r}, {BACKEND_CACHE!r} or the path of your own backend.",
                id="drf_defender.E004",
            )
        ]
    messages: list[CheckMessage] = []
    policy = defender_settings.BACKEND_FAILURE_POLICY
    if policy not in ("open", "closed"):
        messages.append(
            Error(
                f"DEFENDER_BACKEND_FAILURE_POLICY is {policy!r}; it must be 'open' or 'closed'.",
                hint="'open' lets logins proceed while the backend is down; 'closed' answers 503.",
                id="drf_defender.E009",
            )
        )
    interval = defender_settings.PENDING_WRITES_FLUSH_INTERVAL
    if not _is_positive_number(interval):
        messages.append(
            Error(
                f"DEFENDER_PENDING_WRITES_FLUSH_INTERVAL is {interval!r}; it must be a "
                "positive number of seconds.",
                hint="Use 1.0 to send waiting releases and access-log entries at least once "
                "a second.",
                id="drf_defender.E020",
            )
        )
    if path == BACKEND_REDIS:
        messages.extend(_check_redis())
    elif path == BACKEND_CACHE:
        messages.extend(_check_cache())
    return messages


def _check_redis() -> list[CheckMessage]:
    alias = defender_settings.REDIS_NAME
    if alias:
        if alias not in settings.CACHES:
            return [
                Error(
                    f"DEFENDER_REDIS_NAME is {alias!r}, but CACHES has no such alias.",
                    hint=f"Use one of: {', '.join(sorted(settings.CACHES)) or 'none'}.",
                    id="drf_defender.E006",
                )
            ]
        return []
    from redis.connection import parse_url

    from .backends.redis import quote_password

    url = defender_settings.REDIS_URL
    try:
        if defender_settings.REDIS_PASSWORD_QUOTE:
            url = quote_password(url)
        parse_url(url)
    except (ValueError, TypeError, AttributeError) as error:
        return [
            Error(
                f"DEFENDER_REDIS_URL {defender_settings.REDIS_URL!r} cannot be parsed: {error}.",
                hint="Use a URL such as 'redis://localhost:6379/0', 'rediss://…' or "
                "'unix:///path/to/redis.sock?db=0'.",
                id="drf_defender.E005",
            )
        ]
    return []


def _check_cache() -> list[CheckMessage]:
    alias = defender_settings.CACHE_ALIAS
    if alias not in settings.CACHES:
        return [
            Error(
                f"DEFENDER_CACHE_ALIAS is {alias!r}, but CACHES has no such alias.",
                hint=f"Use one of: {', '.join(sorted(settings.CACHES)) or 'none'}.",
                id="drf_defender.E007",
            )
        ]
    backend = settings.CACHES[alias].get("BACKEND", "")
    if backend in PER_PROCESS_CACHES and not settings.DEBUG:
        return [
            Warning(
                f"drf-defender counts failures in CACHES[{alias!r}], a per-process cache: each "
                "worker process keeps its own counters, so an attacker gets more guesses when "
                "several processes serve logins.",
                hint=f"Set DEFENDER_BACKEND = {BACKEND_REDIS!r}, or point DEFENDER_CACHE_ALIAS "
                "at a shared cache.",
                id="drf_defender.W001",
            )
        ]
    if backend in NON_ATOMIC_CACHES:
        return [
            Warning(
                f"drf-defender counts failures in CACHES[{alias!r}] ({backend}), which cannot "
                "count atomically; concurrent failures may be lost.",
                hint=f"Set DEFENDER_BACKEND = {BACKEND_REDIS!r}.",
                id="drf_defender.W002",
            )
        ]
    return []


@register("drf_defender")
def check_identity(**kwargs: Any) -> list[CheckMessage]:
    from . import identity

    messages: list[CheckMessage] = []
    for name in ("USERNAME_NORMALIZER", "GET_USERNAME_FROM_REQUEST_PATH"):
        path = getattr(defender_settings, name)
        try:
            target = import_string(path)
        except ImportError as error:
            messages.append(
                Error(
                    f"{_setting(name)} {path!r} cannot be imported: {error}.",
                    hint="Give the dotted path of a callable.",
                    id="drf_defender.E013",
                )
            )
            continue
        if not callable(target):
            messages.append(
                Error(
                    f"{_setting(name)} {path!r} is not callable.",
                    hint="Give the dotted path of a callable.",
                    id="drf_defender.E013",
                )
            )
    for name in ("TRUSTED_PROXIES", "IP_ALLOWLIST", "IP_DENYLIST", "SHARED_NETWORKS"):
        values = getattr(defender_settings, name)
        if isinstance(values, str):
            messages.append(
                Error(
                    f"{_setting(name)} is a string; it must be a list of addresses or networks.",
                    hint=f"Write {_setting(name)} = [{values!r}].",
                    id="drf_defender.E010",
                )
            )
            continue
        for value in values:
            try:
                identity.parse_networks([value])
            except (ValueError, TypeError) as error:
                messages.append(
                    Error(
                        f"{_setting(name)} contains {value!r}, which is not an IP address or "
                        f"network: {error}.",
                        hint="Use addresses such as '203.0.113.7' or networks such as "
                        "'203.0.113.0/24' and '2001:db8::/32'.",
                        id="drf_defender.E010",
                    )
                )
    count = defender_settings.REVERSE_PROXY_COUNT
    if not _is_int(count) or count < 1:
        messages.append(
            Error(
                f"DEFENDER_REVERSE_PROXY_COUNT is {count!r}; it must be a whole number of "
                "at least 1.",
                hint="Set it to the number of proxies that append to the forwarding header.",
                id="drf_defender.E011",
            )
        )
    prefix = defender_settings.IPV6_PREFIX_LENGTH
    if not _is_int(prefix) or not 1 <= prefix <= 128:
        messages.append(
            Error(
                f"DEFENDER_IPV6_PREFIX_LENGTH is {prefix!r}; it must be between 1 and 128.",
                hint="Use 64 to count an IPv6 /64 network as one client, or 128 for each address.",
                id="drf_defender.E015",
            )
        )
    return messages


BACKEND_SENTINEL = "drf_defender.backends.redis_sentinel.RedisSentinelBackend"
BACKEND_CLUSTER = "drf_defender.backends.redis_cluster.RedisClusterBackend"


@register("drf_defender")
def check_redis_topology(**kwargs: Any) -> list[CheckMessage]:
    """Reject Sentinel and Cluster settings that the chosen backend would ignore or misread."""
    from .backends.redis import RedisBackend
    from .backends.redis_cluster import RedisClusterBackend
    from .backends.redis_sentinel import RedisSentinelBackend

    path = defender_settings.BACKEND
    try:
        backend_class = import_string(path)
    except ImportError:
        return []  # check_backend reports the import error.
    is_class = isinstance(backend_class, type)
    uses_sentinel = is_class and issubclass(backend_class, RedisSentinelBackend)
    uses_cluster = is_class and issubclass(backend_class, RedisClusterBackend)
    messages: list[CheckMessage] = []
    sentinels = defender_settings.REDIS_SENTINELS
    nodes = defender_settings.REDIS_CLUSTER_NODES
    if sentinels and nodes:
        messages.append(
            Error(
                "DEFENDER_REDIS_SENTINELS and DEFENDER_REDIS_CLUSTER_NODES are both set; a "
                "backend uses either Redis Sentinel or Redis Cluster.",
                hint="Keep the setting of the topology that you run and remove the other.",
                id="drf_defender.E016",
            )
        )
    if sentinels and not uses_sentinel:
        messages.append(_ignored_setting("REDIS_SENTINELS", path, BACKEND_SENTINEL))
    if nodes and not uses_cluster:
        messages.append(_ignored_setting("REDIS_CLUSTER_NODES", path, BACKEND_CLUSTER))
    if (uses_sentinel or uses_cluster) and defender_settings.REDIS_NAME:
        messages.append(
            Error(
                f"DEFENDER_REDIS_NAME is {defender_settings.REDIS_NAME!r}, but {path} builds "
                "its own client and ignores it.",
                hint="Remove DEFENDER_REDIS_NAME, or use "
                f"{BACKEND_REDIS!r} to reuse the client of a CACHES alias.",
                id="drf_defender.E016",
            )
        )
    if uses_sentinel:
        messages.extend(_check_sentinel())
    if uses_cluster:
        messages.extend(_check_cluster())
    if is_class and issubclass(backend_class, RedisBackend):
        messages.extend(_check_pool())
    return messages


def _check_pool() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    size = defender_settings.REDIS_MAX_CONNECTIONS
    if not _is_int(size) or size < 1:
        messages.append(
            Error(
                f"DEFENDER_REDIS_MAX_CONNECTIONS is {size!r}; it must be a whole number of "
                "at least 1.",
                hint="Allow at least as many connections as a process serves requests at "
                "once, for example 100.",
                id="drf_defender.E019",
            )
        )
    wait = defender_settings.REDIS_POOL_TIMEOUT
    if not _is_positive_number(wait):
        messages.append(
            Error(
                f"DEFENDER_REDIS_POOL_TIMEOUT is {wait!r}; it must be a positive number of "
                "seconds.",
                hint="Set it to 1.0 to let a request wait up to one second for a connection.",
                id="drf_defender.E019",
            )
        )
    return messages


def _ignored_setting(name: str, path: str, backend: str) -> CheckMessage:
    return Error(
        f"DEFENDER_{name} is set, but DEFENDER_BACKEND is {path!r}, which ignores it, so "
        "drf-defender would use DEFENDER_REDIS_URL or the cache instead.",
        hint=f"Set DEFENDER_BACKEND = {backend!r}, or remove DEFENDER_{name}.",
        id="drf_defender.E016",
    )


def _options_errors(name: str, check_id: str) -> list[CheckMessage]:
    value = getattr(defender_settings, name)
    if isinstance(value, dict):
        return []
    return [
        Error(
            f"DEFENDER_{name} is {value!r}; it must be a dict of redis-py keyword arguments.",
            hint=f"Write DEFENDER_{name} = {{}} or, for example, {{'password': '...'}}.",
            id=check_id,
        )
    ]


def _check_sentinel() -> list[CheckMessage]:
    from redis.sentinel import SentinelManagedConnection

    from .backends.addresses import parse_addresses

    messages: list[CheckMessage] = []
    try:
        parse_addresses("DEFENDER_REDIS_SENTINELS", defender_settings.REDIS_SENTINELS)
    except ValueError as error:
        messages.append(
            Error(
                f"{error}.",
                hint="List the sentinels, for example "
                "DEFENDER_REDIS_SENTINELS = [('sentinel-1', 26379), ('sentinel-2', 26379)].",
                id="drf_defender.E017",
            )
        )
    service_name = defender_settings.REDIS_SENTINEL_SERVICE_NAME
    if not isinstance(service_name, str) or not service_name:
        messages.append(
            Error(
                f"DEFENDER_REDIS_SENTINEL_SERVICE_NAME is {service_name!r}; RedisSentinelBackend "
                "needs the name of the master that the sentinels monitor.",
                hint="Use the name from 'sentinel monitor <name> <host> <port> <quorum>', "
                "for example 'mymaster'.",
                id="drf_defender.E017",
            )
        )
    messages.extend(_options_errors("REDIS_SENTINEL_OPTIONS", "drf_defender.E017"))
    messages.extend(_options_errors("REDIS_OPTIONS", "drf_defender.E017"))
    options = defender_settings.REDIS_OPTIONS
    connection_class = options.get("connection_class") if isinstance(options, dict) else None
    if connection_class is not None and not (
        isinstance(connection_class, type)
        and issubclass(connection_class, SentinelManagedConnection)
    ):
        messages.append(
            Error(
                "DEFENDER_REDIS_OPTIONS['connection_class'] is not a subclass of "
                "redis.sentinel.SentinelManagedConnection, so the client would not follow a "
                "failover.",
                hint="Remove 'connection_class', or subclass SentinelManagedConnection.",
                id="drf_defender.E017",
            )
        )
    return messages


def _check_cluster() -> list[CheckMessage]:
    from .backends.addresses import parse_addresses

    messages: list[CheckMessage] = []
    try:
        parse_addresses("DEFENDER_REDIS_CLUSTER_NODES", defender_settings.REDIS_CLUSTER_NODES)
    except ValueError as error:
        messages.append(
            Error(
                f"{error}.",
                hint="List one or more nodes of the cluster, for example "
                "DEFENDER_REDIS_CLUSTER_NODES = [('redis-1', 6379), ('redis-2', 6379)].",
                id="drf_defender.E018",
            )
        )
    for name in ("REDIS_OPTIONS", "REDIS_CLUSTER_OPTIONS"):
        errors = _options_errors(name, "drf_defender.E018")
        messages.extend(errors)
        if not errors and getattr(defender_settings, name).get("db", 0):
            messages.append(
                Error(
                    f"DEFENDER_{name} sets 'db', but a Redis Cluster has database 0 only.",
                    hint=f"Remove 'db' from DEFENDER_{name}; the key prefix keeps "
                    "drf-defender's keys apart.",
                    id="drf_defender.E018",
                )
            )
    return messages


PLAIN_JSON_PARSER = "rest_framework.parsers.JSONParser"


@register("drf_defender")
def check_parsers(**kwargs: Any) -> list[CheckMessage]:
    """Warn when dj-rest-auth's login view would parse JSON with DRF's plain parser.

    drf-defender's own views set their parsers; dj-rest-auth's login view, which takes
    drf-defender's serializer, uses the project's default parsers.
    """
    from django.apps import apps
    from rest_framework.settings import api_settings

    if not apps.is_installed("dj_rest_auth"):
        return []
    parsers: list[Any] = list(api_settings.DEFAULT_PARSER_CLASSES)
    paths = [f"{parser.__module__}.{parser.__qualname__}" for parser in parsers]
    if PLAIN_JSON_PARSER not in paths:
        return []
    return [
        Warning(
            "REST_FRAMEWORK['DEFAULT_PARSER_CLASSES'] contains DRF's JSONParser, which answers "
            "500 instead of 400 to JSON nested deeper than Python's recursion limit, on the "
            "dj-rest-auth login view too.",
            hint="Replace it with 'drf_defender.parsers.NestingSafeJSONParser'.",
            id="drf_defender.W003",
        )
    ]


#: Credential checks that drf-defender does not count, with the class that replaces each.
UNPROTECTED_AUTHENTICATION = {
    "rest_framework.authentication.BasicAuthentication": (
        "drf_defender.integrations.rest_framework.DefenderBasicAuthentication"
    ),
    "rest_framework.authentication.TokenAuthentication": (
        "drf_defender.integrations.rest_framework.DefenderTokenAuthentication"
    ),
}
UNPROTECTED_VIEWS = {
    "rest_framework.authtoken.views.ObtainAuthToken": (
        "drf_defender.integrations.rest_framework.DefenderObtainAuthToken"
    ),
    "rest_framework_simplejwt.views.TokenObtainPairView": (
        "drf_defender.integrations.simplejwt.DefenderTokenObtainPairView"
    ),
}


def _dotted(target: Any) -> str:
    return f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', '')}"


def _view_classes(patterns: Iterable[Any], depth: int = 0) -> Iterable[tuple[str, Any]]:
    """Yield ``(route, view class)`` for every class-based view in a URL conf."""
    if depth > 20:
        return
    for pattern in patterns:
        nested = getattr(pattern, "url_patterns", None)
        if nested is not None:
            yield from _view_classes(nested, depth + 1)
            continue
        callback = getattr(pattern, "callback", None)
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        if view_class is not None:
            yield str(pattern.pattern), view_class


def _serializer_path(view_class: Any) -> str:
    """Return the dotted path of a login view's serializer, or "" when unknown.

    SimpleJWT's views read theirs from ``SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"]``, kept in
    ``_serializer_class`` as a dotted path.
    """
    serializer = getattr(view_class, "serializer_class", None) or getattr(
        view_class, "_serializer_class", None
    )
    if isinstance(serializer, str):
        return serializer
    return _dotted(serializer) if serializer is not None else ""


@register("drf_defender")
def check_unprotected_credentials(**kwargs: Any) -> list[CheckMessage]:
    """Warn about credential checks in the project that drf-defender does not count."""
    from django.urls import get_resolver
    from rest_framework.settings import api_settings

    messages: list[CheckMessage] = []
    authentication: list[Any] = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    for path in (_dotted(cls) for cls in authentication):
        if path in UNPROTECTED_AUTHENTICATION:
            messages.append(
                Warning(
                    f"REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES'] contains {path}, which "
                    "checks credentials on every DRF view without drf-defender counting the "
                    "failures.",
                    hint=f"Replace it with {UNPROTECTED_AUTHENTICATION[path]!r}.",
                    id="drf_defender.W004",
                )
            )
    try:
        routes = list(_view_classes(get_resolver().url_patterns))
    except Exception:  # a broken URL conf is reported by Django's own checks
        routes = []
    for route, view_class in routes:
        path = _dotted(view_class)
        if path in UNPROTECTED_VIEWS and not _serializer_path(view_class).startswith(
            "drf_defender."
        ):
            messages.append(
                Warning(
                    f"The URL {route!r} serves {path}, a login view that drf-defender does "
                    "not protect.",
                    hint=f"Serve {UNPROTECTED_VIEWS[path]!r} instead.",
                    id="drf_defender.W005",
                )
            )
    return messages
