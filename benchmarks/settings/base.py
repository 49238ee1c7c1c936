"""Settings shared by every benchmarked system.

Each system's module imports everything from here and adds its own apps, middleware,
authentication backends and login view. The harness passes the machine-specific parts
through environment variables, so that every system gets the same values:

- ``BENCH_DATABASE``: ``sqlite-memory`` (default), ``sqlite:/path/to/file`` or
  ``postgres:DBNAME`` (127.0.0.1:5432, user postgres).
- ``BENCH_REDIS_URL``: the benchmark's own Redis server.
- ``BENCH_PREFIX``: key prefix of every Redis key the systems write.
- ``BENCH_HASHER``: ``md5`` (default, so that the plugins' cost shows), ``default``
  (Django's PBKDF2 hasher) or ``fast-pbkdf2`` (PBKDF2 with few iterations).
"""

from __future__ import annotations

import os

SECRET_KEY = "drf-defender-benchmark-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
USE_I18N = True
ROOT_URLCONF = "benchmarks.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
WSGI_APPLICATION = "benchmarks.wsgi.application"

BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
BENCH_PREFIX = os.environ.get("BENCH_PREFIX", "dfbench")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "rest_framework.authtoken",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]


def _database(spec: str) -> dict[str, object]:
    if spec == "sqlite-memory":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
    kind, _, name = spec.partition(":")
    if kind == "sqlite" and name:
        # Persistent connections, as a production server keeps them.
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": name, "CONN_MAX_AGE": None}
    if kind == "postgres" and name:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
            "NAME": name,
            "CONN_MAX_AGE": None,
        }
    raise ValueError(
        f"Invalid BENCH_DATABASE {spec!r}: use sqlite-memory, sqlite:PATH or postgres:NAME"
    )


DATABASES = {"default": _database(os.environ.get("BENCH_DATABASE", "sqlite-memory"))}

_HASHERS = {
    "md5": ["django.contrib.auth.hashers.MD5PasswordHasher"],
    # Django's own default list, PBKDF2 first.
    "default": None,
    # PBKDF2 with few iterations, for the short run that only checks the harness.
    "fast-pbkdf2": ["benchmarks.hashers.FastPBKDF2PasswordHasher"],
}
_hasher = os.environ.get("BENCH_HASHER", "md5")
if _hasher not in _HASHERS:
    raise ValueError(f"Invalid BENCH_HASHER {_hasher!r}: use one of {', '.join(_HASHERS)}")
if _HASHERS[_hasher] is not None:
    PASSWORD_HASHERS = _HASHERS[_hasher]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "drf-defender-benchmark",
    }
}

# DRF's token login view, with the parsers a JSON API client uses.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

# The dotted path of the login view class that benchmarks/urls.py routes to /login/.
BENCH_LOGIN_VIEW = "rest_framework.authtoken.views.ObtainAuthToken"

# Failures allowed before a lockout, and the cool-off in seconds, for every system.
BENCH_FAILURE_LIMIT = 3
BENCH_COOLOFF_SECONDS = 300

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    # Lockout warnings on every blocked request would measure the log handler.
    "root": {"handlers": ["null"], "level": "ERROR"},
}
