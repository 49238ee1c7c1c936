"""DefenderLoginSerializer behind dj-rest-auth's LoginView, on every backend.

``/api/auth/login/`` uses the serializer named in REST_AUTH (ours);
``/api/auth/login/plain/`` is the same view with dj-rest-auth's own serializer.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from drf_defender.keys import KIND_IP, KIND_USERNAME
from tests.integrations.support import ALICE_PASSWORD, ATTACKER, CAROL_PASSWORD, OTHER_IP, failures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("accounts")]

URL = "/api/auth/login/"
PLAIN_URL = "/api/auth/login/plain/"

LOGIN_METHODS = {
    "username": {"username"},
    "email": {"email"},
    "username-or-email": {"username", "email"},
}


@pytest.fixture(params=list(LOGIN_METHODS))
def login_method(request):
    """Each of allauth's login methods in turn."""
    with override_settings(ACCOUNT_LOGIN_METHODS=LOGIN_METHODS[request.param]):
        yield request.param


def post(api, data, url=URL, ip=ATTACKER):
    return api.post(url, data, format="json", REMOTE_ADDR=ip)


# Requests whose responses must be the same with and without the defender serializer.
SCENARIOS: dict[str, dict[str, Any]] = {
    "username-right": {"username": "alice", "password": ALICE_PASSWORD},
    "username-wrong": {"username": "alice", "password": "wrong"},
    "username-case": {"username": "ALICE", "password": ALICE_PASSWORD},
    "username-unknown": {"username": "zed-unknown", "password": "wrong"},
    "email-right": {"email": "alice@example.com", "password": ALICE_PASSWORD},
    "email-case": {"email": "Alice@Example.COM", "password": ALICE_PASSWORD},
    "email-wrong": {"email": "alice@example.com", "password": "wrong"},
    "email-unknown": {"email": "zed@example.com", "password": "wrong"},
    "email-invalid": {"email": "not-an-email", "password": "wrong"},
    "both-right": {"username": "alice", "email": "alice@example.com", "password": ALICE_PASSWORD},
    "both-mismatched": {"username": "bob", "email": "alice@example.com", "password": "wrong"},
    "inactive-right": {"username": "carol", "password": CAROL_PASSWORD},
    "inactive-wrong": {"username": "carol", "password": "wrong"},
    "inactive-email": {"email": "carol@example.com", "password": CAROL_PASSWORD},
    "no-password": {"username": "alice"},
    "blank-identifiers": {"username": "", "email": "", "password": "wrong"},
    "nothing": {},
}


@override_settings(DEFENDER_LOGIN_FAILURE_LIMIT=1000)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_answers_match_dj_rest_auth(service, api, login_method, scenario):
    data = SCENARIOS[scenario]
    ours = post(api, data)
    plain = post(api, data, url=PLAIN_URL)
    assert ours.status_code == plain.status_code
    assert ours.json() == plain.json()


@override_settings(
    DEFENDER_LOGIN_FAILURE_LIMIT=1000,
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.AllowAllUsersModelBackend"],
)
@pytest.mark.parametrize("password", [CAROL_PASSWORD, "wrong"], ids=["right", "wrong"])
def test_inactive_answers_match_dj_rest_auth(service, api, password):
    data = {"username": "carol", "password": password}
    ours = post(api, data)
    plain = post(api, data, url=PLAIN_URL)
    assert ours.status_code == plain.status_code == 400
    assert ours.json() == plain.json()


@override_settings(
    AUTHENTICATION_BACKENDS=["django.contrib.auth.backends.AllowAllUsersModelBackend"]
)
def test_inactive_account_disclosed_only_after_correct_password(service, api):
    wrong = post(api, {"username": "carol", "password": "wrong"})
    unknown = post(api, {"username": "zed-unknown", "password": "wrong"}, ip=OTHER_IP)
    assert wrong.json() == unknown.json()
    right = post(api, {"username": "carol", "password": CAROL_PASSWORD})
    assert right.status_code == 400
    assert right.json() == {"non_field_errors": ["User account is disabled."]}
    # The disabled response counts as a failure, like a wrong password.
    assert failures(service, username="carol")[KIND_USERNAME] == 2


@pytest.mark.parametrize(
    ("method", "data", "counted_as"),
    [
        ("username", {"username": "Alice", "password": "wrong"}, "alice"),
        ("email", {"email": "Alice@Example.com", "password": "wrong"}, "alice@example.com"),
        (
            "username-or-email",
            {"username": "alice", "email": "alice@example.com", "password": "wrong"},
            "alice@example.com",
        ),
        ("username-or-email", {"username": "alice", "password": "wrong"}, "alice"),
        ("username-or-email", {"email": "zed@example.com", "password": "wrong"}, "zed@example.com"),
    ],
    ids=["username", "email", "both-fields", "username-field", "unknown-email"],
)
def test_counts_the_typed_identifier(service, api, method, data, counted_as):
    with override_settings(ACCOUNT_LOGIN_METHODS=LOGIN_METHODS[method]):
        answers = [post(api, data).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]
    assert failures(service, username=counted_as)[KIND_USERNAME] == 3


def test_missing_fields_are_not_counted(service, api):
    with override_settings(ACCOUNT_LOGIN_METHODS={"email"}):
        response = post(api, {"username": "alice", "password": "wrong"})
    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ['Must include "email" and "password".']}
    for data in ({"username": "alice"}, {"username": "", "password": "x"}, {}):
        assert post(api, data).status_code == 400
    counts = failures(service, username="alice", ip=ATTACKER)
    assert counts[KIND_USERNAME] == 0
    assert counts[KIND_IP] == 0


def test_fourth_failure_locks_out(service, api, login_method, hasher):
    data = {"username": "alice", "email": "alice@example.com", "password": "wrong"}
    answers = [post(api, data).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 429]
    hasher.reset()
    right = {**data, "password": ALICE_PASSWORD}
    locked = post(api, right, ip=OTHER_IP)
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    assert locked.json()["code"] == "locked_out"
    assert hasher.verify_calls == 0
    assert hasher.encode_calls == 0


def test_lockout_expires_after_cooloff(service, api, clock):
    for _ in range(4):
        post(api, {"username": "alice", "password": "wrong"})
    clock.advance(299)
    assert post(api, {"username": "alice", "password": ALICE_PASSWORD}).status_code == 429
    clock.advance(2)
    assert post(api, {"username": "alice", "password": ALICE_PASSWORD}).status_code == 200


def test_success_resets_username_failures(service, api):
    for _ in range(2):
        post(api, {"username": "alice", "password": "wrong"})
    assert post(api, {"username": "alice", "password": ALICE_PASSWORD}).status_code == 200
    assert failures(service, username="alice")[KIND_USERNAME] == 0


def test_unblock_takes_effect_at_once(service, api):
    for _ in range(4):
        post(api, {"username": "alice", "password": "wrong"})
    service.unblock("username", "alice")
    service.unblock("ip", ATTACKER)
    assert post(api, {"username": "alice", "password": ALICE_PASSWORD}).status_code == 200


def test_existing_and_unknown_usernames_lock_out_alike(service, api):
    answers = {}
    for name, ip in (("alice", "192.0.2.1"), ("zed-unknown", "192.0.2.2")):
        answers[name] = [
            post(api, {"username": name, "password": "wrong"}, ip=ip) for _ in range(4)
        ]
    for first, second in zip(answers["alice"], answers["zed-unknown"], strict=True):
        assert first.status_code == second.status_code
        assert first.json() == second.json()
        assert first.get("Retry-After") == second.get("Retry-After")
    inactive = post(api, {"username": "carol", "password": "wrong"}, ip="192.0.2.3")
    assert inactive.json() == answers["alice"][0].json()


def test_huge_username_gets_400(service, api):
    huge = "c" * 100_000
    answers = [
        post(api, {"username": huge, "password": "x"}, ip=f"192.0.2.{index}").status_code
        for index in range(4)
    ]
    assert answers == [400, 400, 400, 429]
    assert failures(service, username=huge)[KIND_USERNAME] == 3


WITHOUT_ALLAUTH = {
    "INSTALLED_APPS": [app for app in settings.INSTALLED_APPS if not app.startswith("allauth")],
    "MIDDLEWARE": [entry for entry in settings.MIDDLEWARE if not entry.startswith("allauth")],
    "AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.ModelBackend"],
}


@pytest.fixture
def without_allauth():
    """Settings without allauth, so dj-rest-auth resolves a typed email to a username."""
    with override_settings(**WITHOUT_ALLAUTH):
        yield


@pytest.mark.usefixtures("without_allauth")
class TestWithoutAllauth:
    """dj-rest-auth's own lookup: a typed email is resolved to the account's username."""

    def test_answers_match_dj_rest_auth(self, service, api):
        with override_settings(DEFENDER_LOGIN_FAILURE_LIMIT=1000):
            for scenario, data in SCENARIOS.items():
                ours = post(api, data)
                plain = post(api, data, url=PLAIN_URL)
                assert (ours.status_code, ours.json()) == (plain.status_code, plain.json()), (
                    scenario
                )

    def test_email_login_works(self, service, api):
        response = post(api, {"email": "alice@example.com", "password": ALICE_PASSWORD})
        assert response.status_code == 200

    def test_known_email_counts_under_email(self, service, api):
        data = {"email": "alice@example.com", "password": "wrong"}
        answers = [post(api, data).status_code for _ in range(4)]
        assert answers == [400, 400, 400, 429]
        assert failures(service, username="alice@example.com")[KIND_USERNAME] == 3

    def test_unknown_email_locks_out_like_a_known_one(self, service, api, hasher):
        known = [
            post(api, {"email": "alice@example.com", "password": "x"}, ip="192.0.2.1")
            for _ in range(4)
        ]
        unknown = [
            post(api, {"email": "zed@example.com", "password": "x"}, ip="192.0.2.2")
            for _ in range(4)
        ]
        assert [r.status_code for r in unknown] == [r.status_code for r in known]
        assert [r.json() for r in unknown] == [r.json() for r in known]
        assert failures(service, username="zed@example.com")[KIND_USERNAME] == 3

    def test_unknown_email_with_username_counts_under_username(self, service, api):
        # dj-rest-auth falls back to the username when the email matches no account, so
        # fresh fake emails must not give the username a fresh budget.
        answers = [
            post(
                api, {"email": f"fake{index}@example.com", "username": "alice", "password": "x"}
            ).status_code
            for index in range(4)
        ]
        assert answers == [400, 400, 400, 429]
        assert failures(service, username="alice")[KIND_USERNAME] == 3


def test_import_without_dj_rest_auth_names_the_extra(monkeypatch):
    for name in list(sys.modules):
        if name.startswith("dj_rest_auth") or name.endswith("integrations.dj_rest_auth"):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dj_rest_auth", None)
    with pytest.raises(Exception, match=r"drf-defender\[dj-rest-auth\]") as raised:
        importlib.import_module("drf_defender.integrations.dj_rest_auth")
    assert type(raised.value).__name__ == "ImproperlyConfigured"
