"""Settings of the processes that the hardening suite starts: servers and workers.

They extend the test settings with a database file that every process opens, the
Redis backend and drf-defender's DRF authentication classes. The values that differ
per run come from environment variables that ``tests.hardening.live`` sets.
"""

from __future__ import annotations

import os

import django

from tests.settings import *  # noqa: F403
from tests.settings import MIDDLEWARE, REST_FRAMEWORK

DEBUG = False

# Several processes and threads share the file, so writers wait for its lock. From
# Django 5.1 on, IMMEDIATE transactions take the lock up front instead of failing when
# a read transaction upgrades to a write.
_SQLITE_OPTIONS: dict[str, object] = {"timeout": 30}
if django.VERSION >= (5, 1):
    _SQLITE_OPTIONS["transaction_mode"] = "IMMEDIATE"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEFENDER_LIVE_DATABASE"],
        "OPTIONS": _SQLITE_OPTIONS,
    }
}

MIDDLEWARE = [*MIDDLEWARE, "drf_defender.integrations.django_login.DefenderLoginMiddleware"]

REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
        "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
    ],
}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

DEFENDER_BACKEND = "drf_defender.backends.redis.RedisBackend"
DEFENDER_REDIS_URL = os.environ.get("DEFENDER_LIVE_REDIS_URL", "redis://127.0.0.1:6379/9")
DEFENDER_CACHE_PREFIX = os.environ.get("DEFENDER_LIVE_PREFIX", "defender-live")
DEFENDER_LOGIN_FAILURE_LIMIT = int(os.environ.get("DEFENDER_LIVE_LIMIT", "3"))
DEFENDER_STORE_ACCESS_ATTEMPTS = False

if os.environ.get("DEFENDER_LIVE_TRUSTED_PROXY"):
    DEFENDER_BEHIND_REVERSE_PROXY = True
    DEFENDER_TRUSTED_PROXIES = [os.environ["DEFENDER_LIVE_TRUSTED_PROXY"]]
    DEFENDER_REVERSE_PROXY_COUNT = 1

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        "django.request": {"handlers": ["console"], "level": "ERROR"},
        "drf_defender": {"handlers": ["console"], "level": "ERROR"},
    },
}
