"""drf-defender on the Django cache backend (a per-process local-memory cache).

No Redis server is involved. The access log is off: the cache backend has no buffer for
it, and the inline mode's INSERT is measured apart in the drf-defender Redis variant
with the inline log.
"""

from .base import *  # noqa: F403
from .base import BENCH_COOLOFF_SECONDS, BENCH_FAILURE_LIMIT, BENCH_PREFIX

INSTALLED_APPS = [*INSTALLED_APPS, "drf_defender"]  # noqa: F405

BENCH_LOGIN_VIEW = "drf_defender.integrations.rest_framework.DefenderObtainAuthToken"

DEFENDER_BACKEND = "drf_defender.backends.cache.CacheBackend"
DEFENDER_CACHE_ALIAS = "default"
DEFENDER_CACHE_PREFIX = f"{BENCH_PREFIX}:drf-defender"
DEFENDER_LOGIN_FAILURE_LIMIT = BENCH_FAILURE_LIMIT
DEFENDER_COOLOFF_TIME = BENCH_COOLOFF_SECONDS
DEFENDER_STORE_ACCESS_ATTEMPTS = False
DEFENDER_BEHIND_REVERSE_PROXY = True
DEFENDER_REVERSE_PROXY_COUNT = 1
DEFENDER_TRUSTED_PROXIES = ["127.0.0.1"]
