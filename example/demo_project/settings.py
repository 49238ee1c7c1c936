"""Settings of the drf-defender demo project.

The DEFENDER_* settings keep drf-defender's defaults wherever the demo does not need
another value, so the demo behaves as a new project does: a limit of 3 failures, a
5-minute lockout, counting per username and per IP. The demo-only values are marked.

Environment variables:

- ``REDIS_URL``: use the Redis backend with this server. Without it, drf-defender
  counts in Django's default cache (the cache backend), which is per process and fine
  for ``runserver``.
- ``ACCESS_LOG_MODE``: ``DEFENDER_ACCESS_LOG_MODE``, for example ``buffered`` (which
  needs ``REDIS_URL``).
- ``DEMO_BIND_HOST``: the host ``runserver`` binds to, set by ``make demo``
  (default ``127.0.0.1``). ``demo_users`` creates its users only when it is a loopback
  address, because their passwords are published in the README.
- ``DEMO_ADMIN_USERNAME``, ``DEMO_ADMIN_PASSWORD``, ``DEMO_ADMIN_EMAIL``,
  ``DEMO_ALICE_USERNAME``, ``DEMO_ALICE_PASSWORD``, ``DEMO_ALICE_EMAIL``: the demo users.
- ``DEMO_DATABASE``: path of the SQLite file (default ``example/db.sqlite3``).
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Demo only: a published key and DEBUG on. The demo refuses to serve beyond loopback
# (see demo/management/commands/runserver.py), so neither reaches another machine.
SECRET_KEY = "drf-defender-demo-only-not-secret-do-not-deploy-this-key"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    # First, so that its loopback-only runserver replaces staticfiles' runserver.
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "dj_rest_auth",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_defender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # After CsrfViewMiddleware, so that a request with a bad CSRF token is rejected
    # before it is counted. Protects the admin login.
    "drf_defender.integrations.django_login.DefenderLoginMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
WSGI_APPLICATION = "demo_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE") or BASE_DIR / "db.sqlite3",
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Password-reset emails are printed by the runserver process instead of being sent.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "demo@localhost"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
        "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # DRF's JSONParser returns a 500 for JSON nested too deeply; this parser returns a 400.
    "DEFAULT_PARSER_CLASSES": [
        "drf_defender.parsers.NestingSafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Documents the lockout response on every protected endpoint of the schema.
    "DEFAULT_SCHEMA_CLASS": "drf_defender.openapi.DefenderAutoSchema",
}

REST_AUTH = {
    "LOGIN_SERIALIZER": "drf_defender.integrations.dj_rest_auth.DefenderLoginSerializer",
}

SIMPLE_JWT = {
    # SimpleJWT signs with SECRET_KEY by default; it is long enough for HS256.
    "TOKEN_OBTAIN_SERIALIZER": (
        "drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer"
    ),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "drf-defender demo API",
    "DESCRIPTION": "Login endpoints protected by drf-defender, and its admin API.",
    "VERSION": "0.1.0",
    # Swagger UI from the drf-spectacular-sidecar package, so /api/docs/ works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Demo only. `make demo` installs the test dependencies too, among them django-allauth,
    # which the demo does not use. drf-spectacular's extensions for dj-rest-auth's
    # registration views then fail to import those views and print three warnings on
    # every schema request. Set this to False to see the schema's warnings.
    "DISABLE_ERRORS_AND_WARNINGS": True,
}

# --- drf-defender ----------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "").strip()
if REDIS_URL:
    DEFENDER_BACKEND = "drf_defender.backends.redis.RedisBackend"
    DEFENDER_REDIS_URL = REDIS_URL
# Without REDIS_URL the default applies: drf_defender.backends.cache.CacheBackend on
# the "default" cache, which is Django's per-process memory cache here.

# "buffered" keeps attempt records in a Redis stream until drain_access_attempts runs,
# so it needs REDIS_URL too. Unset, the default (one INSERT per attempt) applies.
if os.environ.get("ACCESS_LOG_MODE", "").strip():
    DEFENDER_ACCESS_LOG_MODE = os.environ["ACCESS_LOG_MODE"].strip()

# The system check drf_defender.E201 then makes sure that urls.py mounts the admin API.
DEFENDER_ADMIN_API_ENABLED = True

# Demo only. Every request of the demo comes from 127.0.0.1, and the failed logins of the
# README's walkthrough block that IP. With drf-defender's authentication classes, which
# the admin API uses by default, the blocked IP would lock the administrator out of the
# API too, so the walkthrough could not show the unblock. DRF's plain classes leave
# the admin API's own logins uncounted. A production project keeps the default, or
# exempts the API knowingly; see docs/admin-api.md, "Lockout of the administrator".
DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES = [
    "rest_framework.authentication.BasicAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]

# --- demo users ------------------------------------------------------------------
# The host runserver binds to; `make demo` sets it. demo_users checks it.
DEMO_BIND_HOST = os.environ.get("DEMO_BIND_HOST", "127.0.0.1")

DEMO_USERS = [
    {
        "username": os.environ.get("DEMO_ADMIN_USERNAME", "admin"),
        "password": os.environ.get("DEMO_ADMIN_PASSWORD", "demo-admin-password"),
        "email": os.environ.get("DEMO_ADMIN_EMAIL", "admin@example.com"),
        "is_staff": True,
        "is_superuser": True,
    },
    {
        "username": os.environ.get("DEMO_ALICE_USERNAME", "alice"),
        "password": os.environ.get("DEMO_ALICE_PASSWORD", "demo-alice-password"),
        "email": os.environ.get("DEMO_ALICE_EMAIL", "alice@example.com"),
        "is_staff": False,
        "is_superuser": False,
    },
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # drf-defender logs lockouts, unblocks and backend outages; show them in the console.
    "loggers": {"drf_defender": {"handlers": ["console"], "level": "INFO"}},
}
