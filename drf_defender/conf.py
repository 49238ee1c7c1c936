"""Settings for drf-defender, read from Django settings at call time.

Every setting is a flat ``DEFENDER_*`` name. Names that django-defender defines keep
its meaning and default, so a project can switch packages without editing settings.
Values are read lazily and cached until Django sends ``setting_changed``, so
``override_settings`` works in tests.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed
from django.dispatch import receiver

PREFIX = "DEFENDER_"

# Sentinel for defaults that derive from another setting at read time.
_FROM_LOGIN_FAILURE_LIMIT = object()
_FROM_COOLOFF_TIME = object()

DEFAULTS: dict[str, Any] = {
    # --- settings shared with django-defender -------------------------------------
    # Failed attempts allowed before a lockout; the next failure locks.
    "LOGIN_FAILURE_LIMIT": 3,
    # Per-subject limits; both default to LOGIN_FAILURE_LIMIT.
    "LOGIN_FAILURE_LIMIT_USERNAME": _FROM_LOGIN_FAILURE_LIMIT,
    "LOGIN_FAILURE_LIMIT_IP": _FROM_LOGIN_FAILURE_LIMIT,
    # Read the client IP from REVERSE_PROXY_HEADER instead of REMOTE_ADDR.
    "BEHIND_REVERSE_PROXY": False,
    # request.META key of the forwarding header.
    "REVERSE_PROXY_HEADER": "HTTP_X_FORWARDED_FOR",
    # Count and block only the pair of IP and username.
    "LOCK_OUT_BY_IP_AND_USERNAME": False,
    "DISABLE_IP_LOCKOUT": False,
    "DISABLE_USERNAME_LOCKOUT": False,
    # Seconds; default for the two cool-offs below. 0 means that nothing expires.
    "COOLOFF_TIME": 300,
    # Seconds a failure is remembered after the last failure of the same subject.
    "ATTEMPT_COOLOFF_TIME": _FROM_COOLOFF_TIME,
    # Seconds a lockout lasts: an int, or a list that escalates with repeat lockouts.
    "LOCKOUT_COOLOFF_TIME": _FROM_COOLOFF_TIME,
    # Template rendered for locked-out HTML logins (Django login form, admin).
    "LOCKOUT_TEMPLATE": None,
    # Form or JSON field that carries the username.
    "USERNAME_FORM_FIELD": "username",
    # Prefix of every backend key.
    "CACHE_PREFIX": "defender",
    # URL that locked-out HTML logins are redirected to.
    "LOCKOUT_URL": None,
    # Redis server of the Redis backend.
    "REDIS_URL": "redis://localhost:6379/0",
    # Percent-decode the password in REDIS_URL (redis-py already decodes it).
    "REDIS_PASSWORD_QUOTE": False,
    # A CACHES alias whose Redis connection the Redis backend reuses.
    "REDIS_NAME": None,
    # Write one AccessAttempt row per attempt.
    "STORE_ACCESS_ATTEMPTS": True,
    # Write attempt rows from a Celery task.
    "USE_CELERY": False,
    # Hours that attempt rows, and lockout history for escalation, are kept.
    "ACCESS_ATTEMPT_EXPIRATION": 24,
    # Dotted path of a callable(request) -> str | None that extracts the username.
    "GET_USERNAME_FROM_REQUEST_PATH": "drf_defender.identity.username_from_request",
    # --- settings added by drf-defender -------------------------------------------
    # Dotted path of the storage backend class.
    "BACKEND": "drf_defender.backends.cache.CacheBackend",
    # CACHES alias used by the Django cache backend.
    "CACHE_ALIAS": "default",
    # Seconds redis-py waits to connect and for each reply.
    "REDIS_SOCKET_TIMEOUT": 0.5,
    "REDIS_CONNECT_TIMEOUT": 0.5,
    # Connections that one process opens to Redis at most (to each node of a Cluster).
    "REDIS_MAX_CONNECTIONS": 100,
    # Seconds a request waits for a free connection when all of them are busy.
    "REDIS_POOL_TIMEOUT": 1.0,
    # Extra keyword arguments for redis-py's client (TLS options, for example).
    "REDIS_OPTIONS": {},
    # RedisSentinelBackend: sentinel addresses, as (host, port) pairs or "host:port" strings.
    "REDIS_SENTINELS": [],
    # RedisSentinelBackend: the master name that the sentinels monitor.
    "REDIS_SENTINEL_SERVICE_NAME": None,
    # RedisSentinelBackend: redis-py keyword arguments for connections to the sentinels.
    "REDIS_SENTINEL_OPTIONS": {},
    # RedisClusterBackend: startup nodes, as (host, port) pairs or "host:port" strings.
    "REDIS_CLUSTER_NODES": [],
    # RedisClusterBackend: extra keyword arguments for redis-py's RedisCluster client.
    "REDIS_CLUSTER_OPTIONS": {},
    # "open": let logins proceed while the backend is down; "closed": answer 503.
    "BACKEND_FAILURE_POLICY": "open",
    # Seconds between two error logs about the same backend outage.
    "BACKEND_ERROR_LOG_INTERVAL": 60,
    # Number of proxies in front of Django that append to REVERSE_PROXY_HEADER.
    "REVERSE_PROXY_COUNT": 1,
    # Peers (addresses or networks) allowed to set REVERSE_PROXY_HEADER; empty: any peer.
    "TRUSTED_PROXIES": [],
    # Prefix length that groups IPv6 clients into one counter; 128 counts each address.
    "IPV6_PREFIX_LENGTH": 64,
    # Dotted path of a callable(str) -> str that normalises usernames before counting.
    "USERNAME_NORMALIZER": "drf_defender.identity.normalize_username",
    # Usernames and IPs (addresses or networks) that are never counted or blocked.
    "USERNAME_ALLOWLIST": [],
    "IP_ALLOWLIST": [],
    # Usernames and IPs (addresses or networks) that are always blocked.
    "USERNAME_DENYLIST": [],
    "IP_DENYLIST": [],
    # Networks shared by many people: exempt from IP lockout, username lockout applies.
    "SHARED_NETWORKS": [],
    # Seconds a process keeps its copy of the run-time allow and deny lists.
    "LISTS_CACHE_SECONDS": 5,
    # HTTP status of the lockout response in DRF views.
    "LOCKOUT_STATUS_CODE": 429,
    # Status of the response when the backend is down and the policy is "closed".
    "BACKEND_UNAVAILABLE_STATUS_CODE": 503,
    # Email the owner of a username when it is locked out.
    "NOTIFY_USER_ON_LOCKOUT": False,
    "NOTIFY_EMAIL_SUBJECT_TEMPLATE": "drf_defender/lockout_email_subject.txt",
    "NOTIFY_EMAIL_BODY_TEMPLATE": "drf_defender/lockout_email_body.txt",
    # Send that email from a background thread, so that the time a mail server takes
    # never shows in the lockout response (it would tell existing accounts apart).
    "NOTIFY_EMAIL_BACKGROUND": True,
    # Limits of the password-reset scope, counted apart from logins.
    "PASSWORD_RESET_LIMIT": 3,
    "PASSWORD_RESET_COOLOFF_TIME": 3600,
    # Lift a login block of a user's username and email when that user completes a
    # password reset through a drf-defender reset view.
    "PASSWORD_RESET_UNBLOCKS_LOGIN": True,
    # Show usernames and IPs in full in log messages instead of masked.
    "LOG_FULL_IDENTITIES": False,
    # How attempt rows are written when STORE_ACCESS_ATTEMPTS is on: "inline" (one INSERT
    # in the request), "celery" (a task; USE_CELERY = True selects it too) or "buffered"
    # (a capped Redis stream that a command drains; Redis backend only).
    "ACCESS_LOG_MODE": "inline",
    # Approximate maximum length of the buffered-mode Redis stream (XADD MAXLEN ~).
    "ACCESS_LOG_STREAM_MAXLEN": 100_000,
    # Seconds that releases of successful logins and buffered access-log entries may
    # wait in the process before a timer sends them, when no login sends them sooner.
    "PENDING_WRITES_FLUSH_INTERVAL": 1.0,
    # Permission classes of the admin API, as dotted paths.
    "ADMIN_API_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # Authentication classes of the admin API, as dotted paths; None uses DRF's defaults.
    "ADMIN_API_AUTHENTICATION_CLASSES": None,
    # True when the project serves the admin API: a system check then requires its URLconf.
    "ADMIN_API_ENABLED": False,
}


class DefenderSettings:
    """Read ``DEFENDER_*`` settings with their defaults, cached until settings change."""

    def __init__(self, defaults: dict[str, Any]) -> None:
        self._defaults = defaults
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._defaults:
            raise AttributeError(f"Invalid drf-defender setting: {name!r}")
        try:
            return self._cache[name]
        except KeyError:
            value = self._read(name)
            self._cache[name] = value
            return value

    def _read(self, name: str) -> Any:
        value = getattr(django_settings, PREFIX + name, self._defaults[name])
        if value is _FROM_LOGIN_FAILURE_LIMIT:
            return self.LOGIN_FAILURE_LIMIT
        if value is _FROM_COOLOFF_TIME:
            return self.COOLOFF_TIME
        return value

    def is_set(self, name: str) -> bool:
        """Return whether the project sets ``DEFENDER_<name>`` itself."""
        return hasattr(django_settings, PREFIX + name)

    def reload(self) -> None:
        self._cache.clear()


defender_settings = DefenderSettings(DEFAULTS)

# Callbacks that drop state derived from settings (backends, parsed lists).
_reload_hooks: list[Any] = []


def on_reload(callback: Any) -> Any:
    """Register ``callback()`` to run whenever a ``DEFENDER_*`` setting changes."""
    _reload_hooks.append(callback)
    return callback


@receiver(setting_changed)
def _reload_settings(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX) or setting == "CACHES":
        defender_settings.reload()
        for callback in _reload_hooks:
            callback()
