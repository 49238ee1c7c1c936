"""django-defender 0.9, installed as its README says and wired into DRF's token view
the way its README adapts it to custom authentication (see benchmarks/views.py).

Settings are django-defender's defaults apart from the shared limit, cool-off, Redis
server and proxy handling; it stores every attempt in its database table (its default).
"""

from .base import *  # noqa: F403
from .base import BENCH_COOLOFF_SECONDS, BENCH_FAILURE_LIMIT, BENCH_PREFIX, BENCH_REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "defender"]  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE, "defender.middleware.FailedLoginMiddleware"]  # noqa: F405

BENCH_LOGIN_VIEW = "benchmarks.views.DjangoDefenderObtainAuthToken"

DEFENDER_REDIS_URL = BENCH_REDIS_URL
DEFENDER_CACHE_PREFIX = f"{BENCH_PREFIX}:django-defender"
DEFENDER_LOGIN_FAILURE_LIMIT = BENCH_FAILURE_LIMIT
DEFENDER_COOLOFF_TIME = BENCH_COOLOFF_SECONDS
# django-defender reads the left-most X-Forwarded-For entry and falls back to
# REMOTE_ADDR when the header is missing.
DEFENDER_BEHIND_REVERSE_PROXY = True
