"""Fixtures of the hardening suite: every integration on real Redis, accounts, clients.

``hardened`` applies one configuration to the whole test: the Redis backend under a
per-test key prefix, the test clock, the documented DRF authentication classes, the
Django login middleware, a limit of 3 and a counting password hasher.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from drf_defender import identity
from tests.hardening.live import LiveDatabase
from tests.hardening.support import (
    ALICE_PASSWORD,
    ATTACKER,
    BOB_PASSWORD,
    CAROL_PASSWORD,
    COOLOFF,
    HASHER_PATH,
    LIMIT,
    LOGIN_MIDDLEWARE,
    STAFF_PASSWORD,
    CountingHasher,
)

DEFENDER_AUTHENTICATION = [
    "drf_defender.integrations.rest_framework.DefenderBasicAuthentication",
    "drf_defender.integrations.rest_framework.DefenderTokenAuthentication",
]


def hardened_settings() -> dict[str, Any]:
    """Return the settings that every hardening test starts from."""
    return {
        "REST_FRAMEWORK": {
            **settings.REST_FRAMEWORK,
            "DEFAULT_AUTHENTICATION_CLASSES": DEFENDER_AUTHENTICATION,
        },
        "MIDDLEWARE": [*settings.MIDDLEWARE, LOGIN_MIDDLEWARE],
        "PASSWORD_HASHERS": [HASHER_PATH],
        "DEFENDER_LOGIN_FAILURE_LIMIT": LIMIT,
        "DEFENDER_COOLOFF_TIME": COOLOFF,
        "DEFENDER_ADMIN_API_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.SessionAuthentication",
            *DEFENDER_AUTHENTICATION,
        ],
    }


@pytest.fixture
def hardened(redis_settings: dict[str, Any], clock: Any) -> Iterator[dict[str, Any]]:
    """Apply the hardening configuration on real Redis with the test clock."""
    values = hardened_settings()
    with override_settings(**values):
        CountingHasher.reset()
        identity.warning_limiter.reset()
        yield {**redis_settings, **values}


@pytest.fixture
def accounts(hardened: dict[str, Any], django_user_model: Any) -> dict[str, Any]:
    """alice and bob (active), carol (inactive) and staff (admin API user)."""
    users = {
        "alice": django_user_model.objects.create_user(
            "alice", email="alice@example.com", password=ALICE_PASSWORD
        ),
        "bob": django_user_model.objects.create_user(
            "bob", email="bob@example.com", password=BOB_PASSWORD
        ),
        "carol": django_user_model.objects.create_user(
            "carol", email="carol@example.com", password=CAROL_PASSWORD, is_active=False
        ),
        "staff": django_user_model.objects.create_user(
            "staff",
            email="staff@example.com",
            password=STAFF_PASSWORD,
            is_staff=True,
            is_superuser=True,
        ),
    }
    # Creating the accounts hashed their passwords; tests count from zero.
    CountingHasher.reset()
    return users


@pytest.fixture
def api() -> APIClient:
    """An API client whose requests come from the attacker's address."""
    return APIClient(REMOTE_ADDR=ATTACKER)


@pytest.fixture
def admin_api(accounts: dict[str, Any]) -> APIClient:
    """An API client logged in as the staff user, from another address than the attacker."""
    client = APIClient(REMOTE_ADDR="192.0.2.200")
    client.force_login(accounts["staff"])
    return client


@pytest.fixture(scope="session")
def live_database(tmp_path_factory: pytest.TempPathFactory) -> LiveDatabase:
    """An SQLite file with the test accounts, which other processes can open."""
    database = LiveDatabase(tmp_path_factory.mktemp("live"))
    database.prepare()
    return database
