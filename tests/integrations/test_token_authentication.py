"""DefenderTokenAuthentication through the real URL conf, on every backend."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from drf_defender.keys import KIND_IP
from tests.integrations.support import ATTACKER, OTHER_IP, failures

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("drf_auth_settings")]

ME = "/api/me/"
UNKNOWN = "Token 0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def token(accounts) -> str:
    return Token.objects.create(user=accounts["alice"]).key


def get_me(api, authorization, ip=ATTACKER):
    return api.get(ME, HTTP_AUTHORIZATION=authorization, REMOTE_ADDR=ip)


def test_valid_token_authenticates(service, api, token):
    response = get_me(api, f"Token {token}")
    assert response.status_code == 200
    assert response.json() == {
        "username": "alice",
        "authenticator": "DefenderTokenAuthentication",
    }


def test_valid_tokens_count_nothing(service, api, token):
    answers = {get_me(api, f"Token {token}").status_code for _ in range(10)}
    assert answers == {200}
    assert failures(service, ip=ATTACKER) == {KIND_IP: 0}


def test_valid_token_passes_while_checks_are_in_flight(service, api, token):
    # Four credential checks of this IP are under way elsewhere: a password login
    # would be refused, a valid token is not.
    pending = [service.begin(ip=ATTACKER) for _ in range(4)]
    try:
        assert get_me(api, f"Token {token}").status_code == 200
    finally:
        for attempt in pending:
            attempt.abandon()


def test_invalid_tokens_lock_out_the_ip(service, api, token):
    answers = [get_me(api, UNKNOWN).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert failures(service, ip=ATTACKER) == {KIND_IP: 3}
    locked = get_me(api, f"Token {token}")
    assert locked.status_code == 429
    assert locked["Retry-After"] == "300"
    assert locked.json()["code"] == "locked_out"
    # Another client is unaffected.
    assert get_me(api, f"Token {token}", ip=OTHER_IP).status_code == 200


def test_invalid_token_keeps_drf_answer(service, api):
    response = get_me(api, UNKNOWN)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'
    assert response.json() == {"detail": "Invalid token."}


def test_no_username_is_counted(service, api, accounts):
    get_me(api, UNKNOWN)
    total, _ = service.list_blocked("username")
    assert total == 0
    assert failures(service, username="alice", ip=ATTACKER)["username"] == 0


def test_blocked_ip_costs_no_query(service, api, token):
    for _ in range(4):
        get_me(api, UNKNOWN)
    with CaptureQueriesContext(connection) as queries:
        response = get_me(api, f"Token {token}")
    assert response.status_code == 429
    assert [query["sql"] for query in queries.captured_queries] == []


def test_valid_token_queries_the_token_table_once(service, api, token):
    with CaptureQueriesContext(connection) as queries:
        assert get_me(api, f"Token {token}").status_code == 200
    assert len(queries.captured_queries) == 1
    assert "authtoken_token" in queries.captured_queries[0]["sql"]


def test_lockout_expires_after_cooloff(service, api, token, clock):
    for _ in range(4):
        get_me(api, UNKNOWN)
    clock.advance(299)
    assert get_me(api, f"Token {token}").status_code == 429
    clock.advance(2)
    assert get_me(api, f"Token {token}").status_code == 200
    assert get_me(api, UNKNOWN).status_code == 401


def test_valid_token_does_not_reset_ip_failures(service, api, token):
    # One valid token must not refill a client's budget for guessing other tokens.
    answers = [get_me(api, header).status_code for header in (UNKNOWN, UNKNOWN, f"Token {token}")]
    assert answers == [401, 401, 200]
    assert get_me(api, UNKNOWN).status_code == 401
    assert get_me(api, UNKNOWN).status_code == 429


def test_unblock_takes_effect_at_once(service, api, token):
    for _ in range(4):
        get_me(api, UNKNOWN)
    assert get_me(api, f"Token {token}").status_code == 429
    assert service.unblock("ip", ATTACKER) is True
    assert get_me(api, f"Token {token}").status_code == 200


def test_inactive_users_token_counts_as_failure(service, api, accounts):
    key = Token.objects.create(user=accounts["carol"]).key
    response = get_me(api, f"Token {key}")
    assert response.status_code == 401
    assert failures(service, ip=ATTACKER) == {KIND_IP: 1}


@pytest.mark.parametrize(
    "header",
    [
        "Token",
        "Token a b",
        "Token 0123456789abcdef\xb8",
        "Token abc\x00def",
    ],
    ids=["no-token", "spaces", "not-utf8", "nul"],
)
def test_malformed_token_headers_count_for_ip(service, api, header):
    answers = [get_me(api, header).status_code for _ in range(4)]
    assert answers == [401, 401, 401, 429]
    assert failures(service, ip=ATTACKER) == {KIND_IP: 3}


def test_raw_bytes_header_is_read(service, api, token):
    assert get_me(api, f"Token {token}".encode("ascii")).status_code == 200
    assert get_me(api, b"Token \xff\xfe").status_code == 401
    assert failures(service, ip=ATTACKER) == {KIND_IP: 1}
