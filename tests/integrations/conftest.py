"""Fixtures for the integration tests: accounts, an API client, a counting hasher."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from tests.integrations.recipes import recipe_settings
from tests.integrations.support import (
    ALICE_PASSWORD,
    ATTACKER,
    BOB_PASSWORD,
    CAROL_PASSWORD,
    CountingMD5PasswordHasher,
)


@pytest.fixture
def hasher() -> Iterator[type[CountingMD5PasswordHasher]]:
    """Make every password check go through CountingMD5PasswordHasher."""
    path = f"{CountingMD5PasswordHasher.__module__}.{CountingMD5PasswordHasher.__qualname__}"
    with override_settings(PASSWORD_HASHERS=[path]):
        CountingMD5PasswordHasher.reset()
        yield CountingMD5PasswordHasher


@pytest.fixture
def accounts(django_user_model: Any) -> dict[str, Any]:
    """alice and bob (active) and carol (inactive), each with an email address."""
    alice = django_user_model.objects.create_user(
        "alice", email="alice@example.com", password=ALICE_PASSWORD
    )
    bob = django_user_model.objects.create_user(
        "bob", email="bob@example.com", password=BOB_PASSWORD
    )
    carol = django_user_model.objects.create_user(
        "carol", email="carol@example.com", password=CAROL_PASSWORD, is_active=False
    )
    return {"alice": alice, "bob": bob, "carol": carol}


@pytest.fixture
def api() -> APIClient:
    return APIClient(REMOTE_ADDR=ATTACKER)


@pytest.fixture
def drf_auth_settings() -> Iterator[dict[str, Any]]:
    """Apply the documented DEFAULT_AUTHENTICATION_CLASSES on top of the test settings."""
    documented = recipe_settings("drf-authentication")["REST_FRAMEWORK"]
    merged = {**settings.REST_FRAMEWORK, **documented}
    with override_settings(REST_FRAMEWORK=merged):
        yield merged
