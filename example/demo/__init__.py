"""The demo app: the ``/api/me/`` view, demo users and a loopback-only ``runserver``."""
