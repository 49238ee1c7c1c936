"""Settings of the Celery worker that the real-broker tests start in a subprocess.

The worker writes into a SQLite file that the test creates and reads, because the test
database of pytest-django lives in the memory of the test process.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["DEFENDER_WORKER_DB"],
    }
}
CELERY_BROKER_URL = os.environ["DEFENDER_WORKER_BROKER"]
CELERY_TASK_DEFAULT_QUEUE = os.environ["DEFENDER_WORKER_QUEUE"]
CELERY_WORKER_ENABLE_REMOTE_CONTROL = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
