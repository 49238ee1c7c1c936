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
    if not isinstance(expiration, (int, float)) or isinstance(expiration, bool) or expiration <= 0:
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
