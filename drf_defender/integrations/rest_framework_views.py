"""DRF's obtain-token view with lockout.

Import it from :mod:`drf_defender.integrations.rest_framework`, which loads this module
on first access. It is a module of its own because it imports DRF's views, which that
module must not import at import time.
"""

from __future__ import annotations

from rest_framework.authtoken.views import ObtainAuthToken

from ..parsers import DEFAULT_PARSERS
from .rest_framework import DefenderAuthTokenSerializer

__all__ = ["DefenderObtainAuthToken", "obtain_auth_token"]


class DefenderObtainAuthToken(ObtainAuthToken):
    """DRF's ``ObtainAuthToken`` view using :class:`DefenderAuthTokenSerializer`."""

    serializer_class = DefenderAuthTokenSerializer
    parser_classes = DEFAULT_PARSERS


obtain_auth_token = DefenderObtainAuthToken.as_view()
