"""drf-defender on its Redis backend, with the access log buffered in a Redis stream."""

from .base import *  # noqa: F403
from .base import BENCH_COOLOFF_SECONDS, BENCH_FAILURE_LIMIT, BENCH_PREFIX, BENCH_REDIS_URL

INSTALLED_APPS = [*INSTALLED_APPS, "drf_defender"]  # noqa: F405

BENCH_LOGIN_VIEW = "drf_defender.integrations.rest_framework.DefenderObtainAuthToken"

DEFENDER_BACKEND = "drf_defender.backends.redis.RedisBackend"
DEFENDER_REDIS_URL = BENCH_REDIS_URL
DEFENDER_CACHE_PREFIX = f"{BENCH_PREFIX}:drf-defender"
DEFENDER_LOGIN_FAILURE_LIMIT = BENCH_FAILURE_LIMIT
DEFENDER_COOLOFF_TIME = BENCH_COOLOFF_SECONDS
DEFENDER_STORE_ACCESS_ATTEMPTS = True
DEFENDER_ACCESS_LOG_MODE = "buffered"
# The load generator talks to gunicorn directly and plays the one trusted proxy: it
# sends each simulated client's address in X-Forwarded-For. In-process requests carry
# no such header and are counted under REMOTE_ADDR.
DEFENDER_BEHIND_REVERSE_PROXY = True
DEFENDER_REVERSE_PROXY_COUNT = 1
DEFENDER_TRUSTED_PROXIES = ["127.0.0.1"]
