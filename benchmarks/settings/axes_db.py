"""django-axes 8 in its standard set-up: database handler, backend and middleware.

With DRF 3.7 and later the axes documentation says no DRF-specific code is needed: DRF's
token serializer calls ``authenticate(request=...)``, which reaches AxesBackend.
"""

from datetime import timedelta

from .base import *  # noqa: F403
from .base import BENCH_COOLOFF_SECONDS, BENCH_FAILURE_LIMIT

INSTALLED_APPS = [*INSTALLED_APPS, "axes"]  # noqa: F405
MIDDLEWARE = [*MIDDLEWARE, "axes.middleware.AxesMiddleware"]  # noqa: F405
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesBackend",
    "django.contrib.auth.backends.ModelBackend",
]

AXES_FAILURE_LIMIT = BENCH_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=BENCH_COOLOFF_SECONDS)
# The same one-trusted-proxy rule as the other systems; see benchmarks/views.py.
AXES_CLIENT_IP_CALLABLE = "benchmarks.views.client_ip_behind_one_proxy"
