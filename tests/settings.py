"""Django settings for the drf-defender test suite.

Environment variables:
- DEFENDER_TEST_DB: "sqlite" (default, in memory) or "postgres" (127.0.0.1:5432,
  user postgres, trust authentication).
- DEFENDER_TEST_REDIS_DB: Redis database number that the Redis fixtures use (default 9).
- REDIS_URL: a Redis server for the Redis fixtures instead of 127.0.0.1:6379.
"""

from __future__ import annotations

import os
import secrets

SECRET_KEY = "drf-defender-tests-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"
USE_I18N = True
SITE_ID = 1
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.sites",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "allauth",
    "allauth.account",
    # dj-rest-auth's registration views import its models; drf-spectacular's dj-rest-auth
    # extensions import those views and warn when this app is missing.
    "allauth.socialaccount",
    "dj_rest_auth",
    "drf_defender",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

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

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

TEST_DATABASE = os.environ.get("DEFENDER_TEST_DB", "sqlite").strip().lower()
if TEST_DATABASE == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": "5432",
            "USER": "postgres",
            "NAME": "test",
            # A per-process test database name keeps concurrent runs on one server apart.
            "TEST": {"NAME": f"test_drf_defender_{os.getpid()}"},
        }
    }
elif TEST_DATABASE == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": ":memory:",
        }
    }
else:
    raise ValueError(
        f"Invalid DEFENDER_TEST_DB value {TEST_DATABASE!r}: use 'sqlite' or 'postgres'."
    )

# MD5 is unsafe for real passwords but makes creating test users fast.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "drf-defender-tests",
    }
}

EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # As the installation guide recommends: DRF's JSONParser answers 500 to JSON nested
    # deeper than the recursion limit.
    "DEFAULT_PARSER_CLASSES": [
        "drf_defender.parsers.NestingSafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}

# The access log writes a row per attempt, which needs the test database; the tests of the
# log turn it on, and every other test runs without database access.
DEFENDER_STORE_ACCESS_ATTEMPTS = False

# Unique per test run, so that runs sharing one Redis server never read each other's keys.
DEFENDER_CACHE_PREFIX = f"dftest-{os.getpid()}-{secrets.token_hex(4)}"

# Tests that use the Redis backend override this with the `redis_url` fixture. The value
# here keeps an accidental connection away from database 0 of the machine's server.
_redis_db = os.environ.get("DEFENDER_TEST_REDIS_DB", "9")
DEFENDER_REDIS_URL = os.environ.get("REDIS_URL", f"redis://127.0.0.1:6379/{_redis_db}")

# The dj-rest-auth and SimpleJWT recipes of docs/integrations.md. Both packages read these
# settings when their view modules are imported, so override_settings cannot set them;
# tests/integrations/test_docs_recipes.py checks that they match the docs.
REST_AUTH = {
    "LOGIN_SERIALIZER": "drf_defender.integrations.dj_rest_auth.DefenderLoginSerializer",
}
SIMPLE_JWT = {
    "TOKEN_OBTAIN_SERIALIZER": (
        "drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer"
    ),
    # SECRET_KEY is shorter than the 32 bytes PyJWT recommends for HS256.
    "SIGNING_KEY": SECRET_KEY * 2,
}
