"""drf-defender on Redis with the access log off: the lockout alone."""

from .drf_defender_redis import *  # noqa: F403

DEFENDER_STORE_ACCESS_ATTEMPTS = False
