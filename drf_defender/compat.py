"""Shims for the Django versions that drf-defender supports (4.2 and later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

ViewFunc = TypeVar("ViewFunc", bound=Callable[..., Any])

try:
    from django.contrib.auth.decorators import login_not_required
except ImportError:  # Django < 5.1 has no LoginRequiredMiddleware, so nothing needs marking.

    def login_not_required(view_func: ViewFunc) -> ViewFunc:
        """Return ``view_func`` unchanged."""
        return view_func


__all__ = ["login_not_required"]
