"""System checks reject settings that would leave logins unprotected."""

from __future__ import annotations

import pytest
from django.conf import settings as django_settings
from django.core.checks import run_checks
from django.test import override_settings

#: The test project's DRF settings with drf-defender's authentication classes, so that
#: tests about other settings do not see the warning about DRF's own classes.
PROTECTED_REST_FRAMEWORK = {
    **django_settings.REST_FRAMEWORK,
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
        "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
    ],
}


def _baseline(settings: dict) -> dict:
    # DEBUG keeps the per-process cache warning out of tests about other settings.
    settings.setdefault("DEBUG", True)
    settings.setdefault("REST_FRAMEWORK", PROTECTED_REST_FRAMEWORK)
    settings.setdefault("ROOT_URLCONF", "tests.urls_empty")
    return settings


def check_ids(**settings) -> list[str]:
    with override_settings(**_baseline(settings)):
        return sorted(m.id for m in run_checks(tags=["drf_defender"]))


def check_messages(**settings) -> list[str]:
    with override_settings(**_baseline(settings)):
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
    plain = {
        **PROTECTED_REST_FRAMEWORK,
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    }
    assert check_ids(REST_FRAMEWORK=plain) == ["drf_defender.W003"]
    safe = {
        **PROTECTED_REST_FRAMEWORK,
        "DEFAULT_PARSER_CLASSES": ["drf_defender.parsers.NestingSafeJSONParser"],
    }
    assert check_ids(REST_FRAMEWORK=safe) == []


def test_drf_authentication_classes_warn():
    plain = {
        **PROTECTED_REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.SessionAuthentication",
            "rest_framework.authentication.BasicAuthentication",
        ],
    }
    assert check_ids(REST_FRAMEWORK=plain) == ["drf_defender.W004"]
    (message,) = check_messages(REST_FRAMEWORK=plain)
    assert "BasicAuthentication" in message
    defender = {
        **PROTECTED_REST_FRAMEWORK,
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
        ],
    }
    assert check_ids(REST_FRAMEWORK=defender) == []


def test_unprotected_login_view_warns():
    from drf_defender.checks import _dotted, _view_classes
    from tests import urls_unprotected

    routes = {route: _dotted(view) for route, view in _view_classes(urls_unprotected.urlpatterns)}
    assert routes["plain-token/"] == "rest_framework.authtoken.views.ObtainAuthToken"
    # SimpleJWT's own view counts as protected when SIMPLE_JWT names drf-defender's
    # serializer, as the test settings do.
    assert check_ids(ROOT_URLCONF="tests.urls_unprotected") == ["drf_defender.W005"]
    from drf_defender.checks import _serializer_path

    class PlainJWT:
        _serializer_class = "rest_framework_simplejwt.serializers.TokenObtainPairSerializer"

    class DefenderJWT:
        _serializer_class = "drf_defender.integrations.simplejwt.DefenderTokenObtainPairSerializer"

    assert _serializer_path(PlainJWT) == PlainJWT._serializer_class
    assert _serializer_path(DefenderJWT).startswith("drf_defender.")


def test_serializer_setting_protects_simplejwt_view():
    # The test project serves SimpleJWT's own view with drf-defender's serializer set in
    # SIMPLE_JWT, and DRF's plain obtain-token view on purpose, for comparisons.
    with override_settings(**_baseline({"ROOT_URLCONF": "tests.urls"})):
        messages = [m.msg for m in run_checks(tags=["drf_defender"]) if m.id.endswith("W005")]
    assert len(messages) == 1
    assert "'api/auth/token/plain/'" in messages[0]
