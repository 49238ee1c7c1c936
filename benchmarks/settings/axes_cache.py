"""django-axes 8 with its cache handler on Django's Redis cache, otherwise as axes_db."""

from .axes_db import *  # noqa: F403
from .base import BENCH_PREFIX, BENCH_REDIS_URL

AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "axes"
CACHES = {
    **CACHES,  # noqa: F405
    "axes": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": BENCH_REDIS_URL,
        "KEY_PREFIX": f"{BENCH_PREFIX}:axes",
    },
}
