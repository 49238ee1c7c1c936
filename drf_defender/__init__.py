"""drf-defender: lockout of brute-force and credential-stuffing attacks on DRF logins.

The public names below are imported on first access, so that ``import drf_defender``
works before Django settings are configured and loads neither Django nor DRF.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> module that defines it.
_EXPORTS = {
    "Attempt": "drf_defender.guard",
    "FAILURE_EXCEPTIONS": "drf_defender.guard",
    "UnresolvedAttemptWarning": "drf_defender.guard",
    "begin": "drf_defender.guard",
    "protect": "drf_defender.guard",
    "protected": "drf_defender.guard",
    "LockedOut": "drf_defender.exceptions",
    "get_service": "drf_defender.service",
}

__all__ = [
    "FAILURE_EXCEPTIONS",
    "Attempt",
    "LockedOut",
    "UnresolvedAttemptWarning",
    "__version__",
    "begin",
    "get_service",
    "protect",
    "protected",
]

if TYPE_CHECKING:
    from drf_defender.exceptions import LockedOut
    from drf_defender.guard import (
        FAILURE_EXCEPTIONS,
        Attempt,
        UnresolvedAttemptWarning,
        begin,
        protect,
        protected,
    )
    from drf_defender.service import get_service


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'drf_defender' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
