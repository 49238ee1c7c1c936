"""The settings object: defaults, derived defaults, reload, and the settings page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import override_settings

from drf_defender.conf import DEFAULTS, defender_settings

SETTINGS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_django_defender_defaults():
    assert defender_settings.LOGIN_FAILURE_LIMIT == 3
    assert defender_settings.COOLOFF_TIME == 300
    assert defender_settings.CACHE_PREFIX != ""
    assert defender_settings.REVERSE_PROXY_HEADER == "HTTP_X_FORWARDED_FOR"
    assert defender_settings.ACCESS_ATTEMPT_EXPIRATION == 24
    assert DEFAULTS["STORE_ACCESS_ATTEMPTS"] is True


def test_derived_defaults_follow_their_source():
    with override_settings(DEFENDER_LOGIN_FAILURE_LIMIT=7, DEFENDER_COOLOFF_TIME=60):
        assert defender_settings.LOGIN_FAILURE_LIMIT_IP == 7
        assert defender_settings.LOGIN_FAILURE_LIMIT_USERNAME == 7
        assert defender_settings.ATTEMPT_COOLOFF_TIME == 60
        assert defender_settings.LOCKOUT_COOLOFF_TIME == 60
    assert defender_settings.LOGIN_FAILURE_LIMIT_IP == 3


def test_override_settings_is_seen_at_once():
    assert defender_settings.LOCKOUT_STATUS_CODE == 429
    with override_settings(DEFENDER_LOCKOUT_STATUS_CODE=403):
        assert defender_settings.LOCKOUT_STATUS_CODE == 403
    assert defender_settings.LOCKOUT_STATUS_CODE == 429


def test_unknown_setting_raises():
    with pytest.raises(AttributeError, match="NOT_A_SETTING"):
        defender_settings.NOT_A_SETTING  # noqa: B018


def test_every_setting_is_documented():
    page = SETTINGS_PAGE.read_text(encoding="utf-8")
    documented = set(re.findall(r"`DEFENDER_([A-Z0-9_]+)`", page))
    missing = sorted(set(DEFAULTS) - documented)
    assert missing == []
    unknown = sorted(documented - set(DEFAULTS))
    assert unknown == []
