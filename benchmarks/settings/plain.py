"""Plain DRF: the token login view with no brute-force protection (the baseline)."""

from .base import *  # noqa: F403
