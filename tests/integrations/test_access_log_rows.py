"""Access-log rows written through each integration's real endpoint, on every backend."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings

from drf_defender import access_log
from drf_defender.models import AccessAttempt
from tests.integrations.support import ALICE_PASSWORD, ATTACKER, BOB_PASSWORD, OTHER_IP, basic

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("accounts")]

AGENT = "endpoint-tests/1.0"


@pytest.fixture(autouse=True)
def log_on():
    access_log.errors.reset()
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True):
        yield


def rows():
    return list(AccessAttempt.objects.order_by("pk"))


def assert_lockout_rows(found, *, username, integration, path, statuses, locked_status):
    """Check four failures, the last answered as locked out, and their rows."""
    assert statuses[:3] == [statuses[0]] * 3
    assert statuses[0] in (400, 401, 200)
    assert statuses[3] == locked_status
    assert len(found) == 4
    assert [row.locked_out for row in found] == [False, False, False, True]
    assert not any(row.login_valid for row in found)
    for row in found:
        assert row.username == username
        assert row.integration == integration
        assert row.path_info == path
        assert row.ip_address == ATTACKER
        assert row.user_agent == AGENT


def test_dj_rest_auth_login(service, api):
    statuses = [
        api.post(
            "/api/auth/login/",
            {"username": "alice", "password": "wrong"},
            format="json",
            HTTP_USER_AGENT=AGENT,
        ).status_code
        for _ in range(4)
    ]
    assert_lockout_rows(
        rows(),
        username="alice",
        integration="dj_rest_auth",
        path="/api/auth/login/",
        statuses=statuses,
        locked_status=429,
    )
    response = api.post(
        "/api/auth/login/",
        {"username": "bob", "password": BOB_PASSWORD},
        format="json",
        REMOTE_ADDR=OTHER_IP,
    )
    assert response.status_code == 200
    success = rows()[-1]
    assert (success.username, success.login_valid, success.ip_address) == ("bob", True, OTHER_IP)


@pytest.mark.usefixtures("drf_auth_settings")
def test_basic_authentication(service, api):
    statuses = [
        api.get(
            "/api/me/", HTTP_AUTHORIZATION=basic("alice", "wrong"), HTTP_USER_AGENT=AGENT
        ).status_code
        for _ in range(4)
    ]
    assert_lockout_rows(
        rows(),
        username="alice",
        integration="basic",
        path="/api/me/",
        statuses=statuses,
        locked_status=429,
    )
    response = api.get(
        "/api/me/", HTTP_AUTHORIZATION=basic("bob", BOB_PASSWORD), REMOTE_ADDR=OTHER_IP
    )
    assert response.status_code == 200
    assert rows()[-1].login_valid is True


def test_obtain_token(service, api):
    statuses = [
        api.post(
            "/api/auth/token/",
            {"username": "alice", "password": "wrong"},
            format="json",
            HTTP_USER_AGENT=AGENT,
        ).status_code
        for _ in range(4)
    ]
    assert_lockout_rows(
        rows(),
        username="alice",
        integration="obtain_token",
        path="/api/auth/token/",
        statuses=statuses,
        locked_status=429,
    )


def test_simplejwt(service, api):
    statuses = [
        api.post(
            "/api/auth/jwt/",
            {"username": "alice", "password": "wrong"},
            format="json",
            HTTP_USER_AGENT=AGENT,
        ).status_code
        for _ in range(4)
    ]
    assert_lockout_rows(
        rows(),
        username="alice",
        integration="simplejwt",
        path="/api/auth/jwt/",
        statuses=statuses,
        locked_status=429,
    )
    response = api.post(
        "/api/auth/jwt/",
        {"username": "bob", "password": BOB_PASSWORD},
        format="json",
        REMOTE_ADDR=OTHER_IP,
    )
    assert response.status_code == 200
    assert rows()[-1].login_valid is True


def test_django_login_view(service):
    client = Client(REMOTE_ADDR=ATTACKER, HTTP_USER_AGENT=AGENT)
    statuses = [
        client.post(
            "/accounts/mixin-login/", {"username": "alice", "password": "wrong"}
        ).status_code
        for _ in range(4)
    ]
    assert_lockout_rows(
        rows(),
        username="alice",
        integration="django_login",
        path="/accounts/mixin-login/",
        statuses=statuses,
        locked_status=429,
    )
    response = Client(REMOTE_ADDR=OTHER_IP).post(
        "/accounts/mixin-login/", {"username": "bob", "password": BOB_PASSWORD}
    )
    assert response.status_code == 302
    assert rows()[-1].login_valid is True


def test_password_reset_request(service, api):
    response = api.post(
        "/api/reset/", {"email": "alice@example.com"}, format="json", HTTP_USER_AGENT=AGENT
    )
    assert response.status_code == 200
    (row,) = rows()
    assert row.scope == "password_reset"
    assert row.username == "alice@example.com"
    assert row.integration == "dj_rest_auth_password_reset"
    assert row.login_valid is False


@pytest.mark.parametrize("length", [300, 100_000])
def test_long_username_through_login(service, api, length):
    name = "u" * length
    statuses = [
        api.post(
            "/api/auth/login/", {"username": name, "password": "wrong"}, format="json"
        ).status_code
        for _ in range(4)
    ]
    assert statuses == [400, 400, 400, 429]
    found = rows()
    assert len(found) == 4
    assert {row.username for row in found} == {name[:255]}
    assert len({row.username_normalized for row in found}) == 1


@pytest.mark.usefixtures("drf_auth_settings")
@pytest.mark.parametrize("length", [300, 100_000])
def test_long_username_through_basic(service, api, length):
    name = "u" * length
    statuses = [
        api.get("/api/me/", HTTP_AUTHORIZATION=basic(name, "wrong")).status_code for _ in range(4)
    ]
    assert statuses == [401, 401, 401, 429]
    assert {row.username for row in rows()} == {name[:255]}


def test_correct_password_row_after_typos(service, api):
    for _ in range(2):
        api.post("/api/auth/login/", {"username": "alice", "password": "x"}, format="json")
    api.post("/api/auth/login/", {"username": "alice", "password": ALICE_PASSWORD}, format="json")
    assert [row.login_valid for row in rows()] == [False, False, True]


@pytest.mark.django_db(transaction=True)
def test_atomic_requests_drop_failure_rows(service, api, monkeypatch):
    # The documented limit of inline mode: DRF rolls back the request's transaction on
    # an error response, and the failure's row with it.
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    wrong = api.post("/api/auth/login/", {"username": "alice", "password": "x"}, format="json")
    assert wrong.status_code == 400
    assert rows() == []
    right = api.post(
        "/api/auth/login/", {"username": "bob", "password": BOB_PASSWORD}, format="json"
    )
    assert right.status_code == 200
    assert [(row.username, row.login_valid) for row in rows()] == [("bob", True)]
