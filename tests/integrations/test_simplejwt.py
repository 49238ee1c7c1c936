"""The SimpleJWT integration through the real URL conf, on every backend.

``/api/auth/jwt/`` routes to DefenderTokenObtainPairView, ``/api/auth/jwt/settings/`` to
SimpleJWT's own view with SIMPLE_JWT["TOKEN_OBTAIN_SERIALIZER"] naming our serializer.
"""

from __future__ import annotations

import importlib
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from drf_defender.keys import KIND_USERNAME
from tests.integrations.support import ALICE_PASSWORD, ATTACKER, OTHER_IP, failures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("accounts")]

WRONG = {"username": "alice", "password": "wrong"}
RIGHT = {"username": "alice", "password": ALICE_PASSWORD}


@pytest.fixture(params=["/api/auth/jwt/", "/api/auth/jwt/settings/"], ids=["view", "setting"])
def url(request):
    return request.param


def post(api, url, data, ip=ATTACKER):
    return api.post(url, data, format="json", REMOTE_ADDR=ip)


def test_correct_password_returns_token_pair(service, api, url):
    response = post(api, url, RIGHT)
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}


def test_wrong_password_keeps_simplejwt_answer(service, api, url):
    response = post(api, url, WRONG)
    assert response.status_code == 401
    assert response.json() == {"detail": "No active account found with the given credentials"}
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert failures(service, username="alice")[KIND_USERNAME] == 1


def test_inactive_account_is_a_failure(service, api, url):
    response = post(api, url, {"username": "carol", "password": "Inactive-Carol-3"})
    assert response.status_code == 401
    assert failures(service, username="carol")[KIND_USERNAME] == 1


def test_missing_password_is_not_counted(service, api, url):
    response = post(api, url, {"username": "alice"})
    assert response.status_code == 400
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_fourth_failure_locks_out(service, api, url, hasher):
    answers = [post(api, url, WRONG).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    hasher.reset()
    locked = post(api, url, RIGHT, ip=OTHER_IP)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    assert locked.json()["code"] == "locked_out"
    assert hasher.verify_calls == 0
    assert hasher.encode_calls == 0


def test_lockout_expires_after_cooloff(service, api, url, clock):
    for _ in range(4):
        post(api, url, WRONG)
    clock.advance(299)
    assert post(api, url, RIGHT).status_code == 429
    clock.advance(2)
    assert post(api, url, RIGHT).status_code == 200


def test_success_resets_username_failures(service, api, url):
    for _ in range(2):
        post(api, url, WRONG)
    assert post(api, url, RIGHT).status_code == 200
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_unblock_takes_effect_at_once(service, api, url):
    for _ in range(4):
        post(api, url, WRONG)
    service.unblock("username", "alice")
    service.unblock("ip", ATTACKER)
    assert post(api, url, RIGHT).status_code == 200


def test_huge_username_gets_401(service, api, url):
    huge = "b" * 100_000
    answers = [
        post(api, url, {"username": huge, "password": "x"}, ip=f"192.0.2.{index}").status_code
        for index in range(4)
    ]
    assert answers == [401, 401, 401, 429]
    assert failures(service, username=huge)[KIND_USERNAME] == 3


def test_import_without_simplejwt_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name.startswith("rest_framework_simplejwt") or name.endswith("integrations.simplejwt"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "rest_framework_simplejwt", None)
    with pytest.raises(ImproperlyConfigured, match=r"drf-defender\[simplejwt\]"):
        importlib.import_module("drf_defender.integrations.simplejwt")
