"""System checks reject settings that would leave logins unprotected."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.test import override_settings


def check_ids(**settings) -> list[str]:
    # DEBUG keeps the per-process cache warning out of tests about other settings.
    settings.setdefault("DEBUG", True)
    with override_settings(**settings):
        return sorted(m.id for m in run_checks(tags=["drf_defender"]))


def check_messages(**settings) -> list[str]:
    settings.setdefault("DEBUG", True)
    with override_settings(**settings):
        return [m.msg for m in run_checks(tags=["drf_defender"])]


def test_defaults_pass():
    assert check_ids() == []


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"DEFENDER_LOGIN_FAILURE_LIMIT": 0}, "drf_defender.E001"),
        ({"DEFENDER_LOGIN_FAILURE_LIMIT": -3}, "drf_defender.E001"),
        ({"DEFENDER_LOGIN_FAILURE_LIMIT_IP": "3"}, "drf_defender.E001"),
        ({"DEFENDER_COOLOFF_TIME": -1}, "drf_defender.E002"),
        ({"DEFENDER_ATTEMPT_COOLOFF_TIME": 1.5}, "drf_defender.E002"),
        ({"DEFENDER_LOCKOUT_COOLOFF_TIME": []}, "drf_defender.E003"),
        ({"DEFENDER_LOCKOUT_COOLOFF_TIME": [60, -5]}, "drf_defender.E003"),
        ({"DEFENDER_LOCKOUT_COOLOFF_TIME": "300"}, "drf_defender.E003"),
        ({"DEFENDER_BACKEND": "drf_defender.backends.nope.Backend"}, "drf_defender.E004"),
        (
            {
                "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
                "DEFENDER_REDIS_URL": "http://localhost:6379/0",
            },
            "drf_defender.E005",
        ),
        (
            {
                "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
                "DEFENDER_REDIS_NAME": "missing",
            },
            "drf_defender.E006",
        ),
        ({"DEFENDER_CACHE_ALIAS": "missing"}, "drf_defender.E007"),
        (
            {"DEFENDER_DISABLE_IP_LOCKOUT": True, "DEFENDER_DISABLE_USERNAME_LOCKOUT": True},
            "drf_defender.E008",
        ),
        ({"DEFENDER_BACKEND_FAILURE_POLICY": "sometimes"}, "drf_defender.E009"),
        ({"DEFENDER_IP_ALLOWLIST": ["10.0.0.0/33"]}, "drf_defender.E010"),
        ({"DEFENDER_TRUSTED_PROXIES": "192.0.2.1"}, "drf_defender.E010"),
        ({"DEFENDER_REVERSE_PROXY_COUNT": 0}, "drf_defender.E011"),
        ({"DEFENDER_ACCESS_ATTEMPT_EXPIRATION": 0}, "drf_defender.E012"),
        ({"DEFENDER_USERNAME_NORMALIZER": "no.such.function"}, "drf_defender.E013"),
        ({"DEFENDER_LOCKOUT_STATUS_CODE": 200}, "drf_defender.E014"),
        ({"DEFENDER_IPV6_PREFIX_LENGTH": 129}, "drf_defender.E015"),
    ],
)
def test_bad_setting_is_rejected(settings, expected):
    assert expected in check_ids(**settings)


def test_message_names_setting_and_value():
    (message,) = check_messages(DEFENDER_LOCKOUT_COOLOFF_TIME=[60, -5])
    assert "DEFENDER_LOCKOUT_COOLOFF_TIME" in message
    assert "[60, -5]" in message


def test_pair_mode_allows_both_disable_flags():
    assert (
        check_ids(
            DEFENDER_DISABLE_IP_LOCKOUT=True,
            DEFENDER_DISABLE_USERNAME_LOCKOUT=True,
            DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True,
        )
        == []
    )


def test_escalating_list_with_permanent_last_entry_passes():
    assert check_ids(DEFENDER_LOCKOUT_COOLOFF_TIME=[300, 3600, 0]) == []


def test_locmem_warning_only_without_debug():
    locmem = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    }
    assert check_ids(CACHES=locmem, DEBUG=False) == ["drf_defender.W001"]
    assert check_ids(CACHES=locmem, DEBUG=True) == []


def test_database_cache_warns_not_atomic():
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "cache_table",
        }
    }
    assert check_ids(CACHES=caches) == ["drf_defender.W002"]


def test_redis_url_with_quoted_password_passes():
    assert (
        check_ids(
            DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
            DEFENDER_REDIS_URL="redis://:p#ss@w/rd!@127.0.0.1:6379/0",
            DEFENDER_REDIS_PASSWORD_QUOTE=True,
        )
        == []
    )


def test_plain_json_parser_warns_with_dj_rest_auth():
    plain = {"DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"]}
    assert check_ids(REST_FRAMEWORK=plain) == ["drf_defender.W003"]
    safe = {"DEFAULT_PARSER_CLASSES": ["drf_defender.parsers.NestingSafeJSONParser"]}
    assert check_ids(REST_FRAMEWORK=safe) == []
