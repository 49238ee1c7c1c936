"""Backend selection: the class named by ``DEFENDER_BACKEND``, built once per process."""

from __future__ import annotations

import threading

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import defender_settings, on_reload
from .base import Backend

__all__ = ["Backend", "get_backend", "reset_backend"]

_backend: Backend | None = None
_lock = threading.Lock()


def get_backend() -> Backend:
    """Return this process's backend, building it on first use."""
    global _backend
    backend = _backend
    if backend is not None:
        return backend
    with _lock:
        if _backend is None:
            _backend = build_backend()
        return _backend


def build_backend() -> Backend:
    """Build a new backend from the current settings."""
    path = defender_settings.BACKEND
    try:
        backend_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"DEFENDER_BACKEND {path!r} cannot be imported: {error}. Use "
            "'drf_defender.backends.redis.RedisBackend', "
            "'drf_defender.backends.cache.CacheBackend' or your own Backend subclass."
        ) from error
    if not (isinstance(backend_class, type) and issubclass(backend_class, Backend)):
        raise ImproperlyConfigured(
            f"DEFENDER_BACKEND {path!r} is not a subclass of drf_defender.backends.Backend."
        )
    return backend_class(prefix=defender_settings.CACHE_PREFIX)


@on_reload
def reset_backend() -> None:
    """Drop the backend so that the next call builds one from the new settings."""
    global _backend
    with _lock:
        backend, _backend = _backend, None
    if backend is not None:
        backend.close()
