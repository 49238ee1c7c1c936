"""The authentication classes import cleanly from DEFAULT_AUTHENTICATION_CLASSES."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# DRF resolves DEFAULT_AUTHENTICATION_CLASSES while rest_framework.views is being
# imported, so a fresh interpreter is needed: this test process imported DRF long ago.
SCRIPT = textwrap.dedent(
    """
    import django
    from django.conf import settings

    settings.configure(
        INSTALLED_APPS=[
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "rest_framework",
            "rest_framework.authtoken",
            "drf_defender",
        ],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
        REST_FRAMEWORK={
            "DEFAULT_AUTHENTICATION_CLASSES": [
                "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
                "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
            ],
        },
    )
    django.setup()

    import rest_framework.views
    from drf_defender.integrations.rest_framework import (
        DefenderBasicAuthentication,
        DefenderObtainAuthToken,
        obtain_auth_token,
    )

    assert DefenderBasicAuthentication in rest_framework.views.APIView.authentication_classes
    assert issubclass(DefenderObtainAuthToken, rest_framework.views.APIView)
    assert obtain_auth_token.view_class is DefenderObtainAuthToken
    print("imported")
    """
)


def test_default_authentication_classes_import_without_cycle() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "imported"


def test_unknown_attribute_raises_attribute_error() -> None:
    from drf_defender.integrations import rest_framework as integration

    with pytest.raises(AttributeError, match="NoSuchView"):
        integration.NoSuchView  # noqa: B018 - the attribute access is the test


def test_openapi_class_names_match_real_modules() -> None:
    # drf_defender.openapi matches classes by "module.qualname" along the MRO, so a name
    # that only resolves through a re-export would never match.
    from django.utils.module_loading import import_string

    from drf_defender import openapi

    for dotted_path in sorted(openapi.LOCKOUT_VIEWS | openapi.LOCKOUT_SERIALIZERS):
        target = import_string(dotted_path)
        assert f"{target.__module__}.{target.__qualname__}" == dotted_path
