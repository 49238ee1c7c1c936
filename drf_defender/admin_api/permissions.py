"""Authentication and permission classes of the admin API, read from settings per request."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from rest_framework.settings import api_settings

from ..conf import defender_settings


def _load_classes(setting: str, values: Any) -> list[type]:
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ImproperlyConfigured(
            f"DEFENDER_{setting} must be a list of classes or dotted paths, got {values!r}."
        )
    classes: list[type] = []
    for value in values:
        if isinstance(value, str):
            try:
                value = import_string(value)
            except ImportError as error:
                raise ImproperlyConfigured(
                    f"DEFENDER_{setting} contains {value!r}, which cannot be imported: {error}."
                ) from error
        if not isinstance(value, type):
            raise ImproperlyConfigured(
                f"DEFENDER_{setting} contains {value!r}, which is not a class."
            )
        classes.append(value)
    return classes


def permission_classes() -> list[type]:
    """Return the permission classes of DEFENDER_ADMIN_API_PERMISSION_CLASSES."""
    return _load_classes(
        "ADMIN_API_PERMISSION_CLASSES", defender_settings.ADMIN_API_PERMISSION_CLASSES
    )


def authentication_classes() -> list[type]:
    """Return DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES, or DRF's defaults when it is None."""
    configured = defender_settings.ADMIN_API_AUTHENTICATION_CLASSES
    if configured is None:
        return list(cast(Sequence[type], api_settings.DEFAULT_AUTHENTICATION_CLASSES))
    return _load_classes("ADMIN_API_AUTHENTICATION_CLASSES", configured)
