"""drf-defender on Redis with its default access-log mode: one INSERT per attempt."""

from .drf_defender_redis import *  # noqa: F403

DEFENDER_ACCESS_LOG_MODE = "inline"
