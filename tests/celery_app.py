"""The Celery app of the test suite; the worker that the Celery tests start loads it.

The broker and the queue come from environment variables that those tests set, so
nothing here connects anywhere at import time.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("drf_defender_tests", include=["drf_defender.tasks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
