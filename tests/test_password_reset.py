"""Password-reset requests and confirmations through the real URL conf.

Limits come from the settings snippet in docs/integrations.md (3 per email and per IP,
one hour). Accounts: alice@example.com and bob@example.com exist, nobody@example.com
does not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client, override_settings
from rest_framework.test import APIClient

from drf_defender.keys import KIND_IP, KIND_USERNAME, SCOPE_LOGIN, SCOPE_PASSWORD_RESET
from drf_defender.service import get_service
from tests.docs_snippets import docs_settings

pytestmark = pytest.mark.django_db

RESET_URL = "/api/reset/"
CONFIRM_URL = "/api/reset/confirm/"
DJANGO_RESET_URL = "/accounts/password_reset/"
ADMIN_LOGIN_URL = "/admin/login/"

ATTACKER_IP = "203.0.113.10"
USER_IP = "198.51.100.20"
ALICE_EMAIL = "alice@example.com"
UNKNOWN_EMAIL = "nobody@example.com"
NEW_PASSWORD = "Fresh-Lantern-42"
LIMIT = 3

# The reset link in both dj-rest-auth's and Django's email ends in /accounts/reset/<uid>/<token>/.
RESET_LINK = re.compile(r"/accounts/reset/(?P<uid>[^/\s]+)/(?P<token>[^/\s]+)/")


def _ip(index: int) -> str:
    return f"198.51.100.{100 + index}"


@pytest.fixture
def reset_settings(service: Any) -> Iterator[dict[str, Any]]:
    """The documented password-reset settings, on each backend, with the test clock."""
    values = docs_settings("integrations.md", "Password reset", "Settings")
    assert values["DEFENDER_PASSWORD_RESET_LIMIT"] == LIMIT
    with override_settings(**values):
        yield values


@pytest.fixture
def users(reset_settings: dict[str, Any]) -> dict[str, Any]:
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", ALICE_EMAIL, "Correct-Horse-1"),
        "bob": model.objects.create_user("bob", "bob@example.com", "Battery-Staple-2"),
    }


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def request_reset(api: APIClient, email: Any, ip: str = ATTACKER_IP) -> Any:
    return api.post(RESET_URL, {"email": email}, format="json", REMOTE_ADDR=ip)


def comparable_headers(response: Any) -> dict[str, str]:
    # Date and Expires hold the time of the response.
    return {
        name: value for name, value in response.headers.items() if name not in ("Date", "Expires")
    }


def reset_link(message: Any) -> tuple[str, str]:
    match = RESET_LINK.search(message.body)
    assert match is not None, message.body
    return match["uid"], match["token"]


def reset_state(
    username: str, kind: str, ip: str | None = None, scope: str = SCOPE_PASSWORD_RESET
) -> Any:
    states = get_service().status(username=username, ip=ip, scope=scope).states
    return next(state for state in states if state.subject.kind == kind)


# --- reset requests -----------------------------------------------------------------------


def test_known_and_unknown_email_same_response(api: APIClient, users: dict[str, Any]) -> None:
    known = request_reset(api, ALICE_EMAIL, ip=_ip(1))
    unknown = request_reset(api, UNKNOWN_EMAIL, ip=_ip(2))

    assert known.status_code == 200
    assert unknown.status_code == known.status_code
    assert unknown.content == known.content
    assert comparable_headers(unknown) == comparable_headers(known)
    assert [message.to for message in mail.outbox] == [[ALICE_EMAIL]]


def test_mail_only_up_to_limit_per_email(api: APIClient, users: dict[str, Any]) -> None:
    # A different IP each time, so that only the address counter can block.
    responses = [request_reset(api, ALICE_EMAIL, ip=_ip(index)) for index in range(10)]

    assert [r.status_code for r in responses] == [200] * LIMIT + [429] * (10 - LIMIT)
    assert len(mail.outbox) == LIMIT
    locked = responses[LIMIT]
    assert locked.json()["code"] == "locked_out"
    assert locked.json()["retry_after"] == 3600
    assert locked["Retry-After"] == "3600"
    assert "password reset" in locked.json()["detail"]


def test_one_client_asking_ten_times(api: APIClient, users: dict[str, Any]) -> None:
    responses = [request_reset(api, ALICE_EMAIL) for _ in range(10)]

    assert [r.status_code for r in responses] == [200] * LIMIT + [429] * (10 - LIMIT)
    assert len(mail.outbox) == LIMIT


def test_lockout_same_for_known_and_unknown(api: APIClient, users: dict[str, Any]) -> None:
    for index in range(LIMIT):
        assert request_reset(api, ALICE_EMAIL, ip=_ip(index)).status_code == 200
        assert request_reset(api, UNKNOWN_EMAIL, ip=_ip(10 + index)).status_code == 200

    known = request_reset(api, ALICE_EMAIL, ip=_ip(20))
    unknown = request_reset(api, UNKNOWN_EMAIL, ip=_ip(21))

    assert known.status_code == 429
    assert unknown.status_code == known.status_code
    assert unknown.content == known.content
    assert comparable_headers(unknown) == comparable_headers(known)
    assert len(mail.outbox) == LIMIT


def test_ip_limit_across_many_addresses(api: APIClient, users: dict[str, Any]) -> None:
    addresses = [ALICE_EMAIL, UNKNOWN_EMAIL, "carol@example.com", "bob@example.com"]
    addresses += [f"user{index}@example.com" for index in range(6)]

    responses = [request_reset(api, address) for address in addresses]

    assert [r.status_code for r in responses] == [200] * LIMIT + [429] * (10 - LIMIT)
    # bob@example.com exists but comes after the IP limit.
    assert [message.to for message in mail.outbox] == [[ALICE_EMAIL]]
    ip_state = reset_state(ALICE_EMAIL, KIND_IP, ip=ATTACKER_IP)
    assert ip_state.blocked


def test_malformed_email_not_counted(api: APIClient, users: dict[str, Any]) -> None:
    for value in ["not-an-email", "", None, ["alice@example.com"], {"a": 1}]:
        response = request_reset(api, value)
        assert response.status_code == 400, value

    assert request_reset(api, ALICE_EMAIL).status_code == 200
    assert len(mail.outbox) == 1
    assert reset_state(ALICE_EMAIL, KIND_IP, ip=ATTACKER_IP).failures == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"email": "alice@example.com"', "application/json"),
        (b'["alice@example.com"]', "application/json"),
        (b"\xff\xfe", "application/json"),
    ],
)
def test_broken_body_gets_400(users: dict[str, Any], body: bytes, content_type: str) -> None:
    response = Client().generic(
        "POST", RESET_URL, body, content_type=content_type, REMOTE_ADDR=ATTACKER_IP
    )

    assert response.status_code == 400
    assert mail.outbox == []


def test_email_case_counts_as_one_address(api: APIClient, users: dict[str, Any]) -> None:
    variants = ["alice@example.com", "ALICE@example.com", " Alice@Example.com "]
    for index, variant in enumerate(variants):
        assert request_reset(api, variant, ip=_ip(index)).status_code == 200

    assert request_reset(api, "aLiCe@example.com", ip=_ip(9)).status_code == 429


def test_reset_block_expires(api: APIClient, users: dict[str, Any], clock: Any) -> None:
    for _ in range(LIMIT + 1):
        request_reset(api, ALICE_EMAIL)
    assert request_reset(api, ALICE_EMAIL).status_code == 429

    clock.advance(3600 + 1)

    assert request_reset(api, ALICE_EMAIL).status_code == 200
    assert len(mail.outbox) == LIMIT + 1


def test_reset_traffic_does_not_touch_login(api: APIClient, users: dict[str, Any]) -> None:
    for _ in range(10):
        request_reset(api, ALICE_EMAIL)
    request_reset(api, "alice")

    login = get_service().status(username="alice", ip=ATTACKER_IP, scope=SCOPE_LOGIN)
    assert login.states == [] or all(s.failures == 0 and not s.blocked for s in login.states)
    with override_settings(MIDDLEWARE=_middleware_with_login()):
        response = Client().post(
            ADMIN_LOGIN_URL,
            {"username": "alice", "password": "wrong"},
            REMOTE_ADDR=ATTACKER_IP,
        )
    assert response.status_code == 200
    assert b"Please enter the correct" in response.content


def test_login_lockout_does_not_touch_reset(api: APIClient, users: dict[str, Any]) -> None:
    users["alice"].is_staff = True
    users["alice"].save()
    with override_settings(MIDDLEWARE=_middleware_with_login()):
        client = Client()
        for _ in range(LIMIT + 1):
            client.post(
                ADMIN_LOGIN_URL, {"username": "alice", "password": "wrong"}, REMOTE_ADDR=ATTACKER_IP
            )
        locked = client.post(
            ADMIN_LOGIN_URL,
            {"username": "alice", "password": "Correct-Horse-1"},
            REMOTE_ADDR=ATTACKER_IP,
        )
    assert locked.status_code == 429
    assert get_service().status(username="alice", ip=ATTACKER_IP).blocked

    response = request_reset(api, ALICE_EMAIL)

    assert response.status_code == 200
    assert [message.to for message in mail.outbox] == [[ALICE_EMAIL]]


def _middleware_with_login() -> list[str]:
    values = docs_settings("integrations.md", "Django login and the admin login")
    middleware: list[str] = values["MIDDLEWARE"]
    return middleware


# --- dj-rest-auth confirm -------------------------------------------------------------------


def confirm(api: APIClient, uid: Any, token: Any, ip: str = ATTACKER_IP) -> Any:
    body = {
        "uid": uid,
        "token": token,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
    }
    return api.post(CONFIRM_URL, body, format="json", REMOTE_ADDR=ip)


def mailed_link(api: APIClient, email: str = ALICE_EMAIL, ip: str = USER_IP) -> tuple[str, str]:
    before = len(mail.outbox)
    assert request_reset(api, email, ip=ip).status_code == 200
    assert len(mail.outbox) == before + 1
    return reset_link(mail.outbox[-1])


def test_confirm_wrong_tokens_lock(api: APIClient, users: dict[str, Any]) -> None:
    uid, token = mailed_link(api)

    for _ in range(LIMIT):
        response = confirm(api, uid, "wrong-token")
        assert response.status_code == 400
        assert response.json() == {"token": ["Invalid value"]}
    locked = confirm(api, uid, "wrong-token")
    with_right_token = confirm(api, uid, token)

    assert locked.status_code == 429
    assert locked.json()["code"] == "locked_out"
    assert with_right_token.status_code == 429
    users["alice"].refresh_from_db()
    assert users["alice"].check_password("Correct-Horse-1")


def test_confirm_target_counted_across_ips(api: APIClient, users: dict[str, Any]) -> None:
    uid, _token = mailed_link(api)

    statuses = [confirm(api, uid, "wrong-token", ip=_ip(index)).status_code for index in range(5)]

    assert statuses == [400] * LIMIT + [429, 429]
    target = reset_state(f"reset-confirm:{ALICE_EMAIL}", KIND_USERNAME)
    assert target.blocked


def test_confirm_unknown_uid_counted(api: APIClient, users: dict[str, Any]) -> None:
    statuses = [confirm(api, "zzzz", "wrong-token").status_code for _ in range(LIMIT + 1)]

    assert statuses == [400] * LIMIT + [429]


def test_confirm_numeric_uid_counted(api: APIClient, users: dict[str, Any]) -> None:
    # DRF's CharField accepts a JSON number as the uid, so it reaches the token check.
    statuses = [
        confirm(api, users["alice"].pk, "wrong-token").status_code for _ in range(LIMIT + 1)
    ]

    assert statuses == [400] * LIMIT + [429]


def test_confirm_without_token_not_counted(api: APIClient, users: dict[str, Any]) -> None:
    uid, _token = mailed_link(api)
    for _ in range(LIMIT + 2):
        response = api.post(CONFIRM_URL, {"uid": uid}, format="json", REMOTE_ADDR=ATTACKER_IP)
        assert response.status_code == 400
        assert "token" in response.json()

    assert confirm(api, uid, "wrong-token").status_code == 400


def test_confirm_success_clears_counters(api: APIClient, users: dict[str, Any]) -> None:
    request_reset(api, ALICE_EMAIL, ip=_ip(1))
    request_reset(api, ALICE_EMAIL, ip=_ip(2))
    uid, token = mailed_link(api, ip=_ip(3))
    assert reset_state(ALICE_EMAIL, KIND_USERNAME).failures == LIMIT
    confirm(api, uid, "wrong-token", ip=USER_IP)

    response = confirm(api, uid, token, ip=USER_IP)

    assert response.status_code == 200
    users["alice"].refresh_from_db()
    assert users["alice"].check_password(NEW_PASSWORD)
    assert reset_state(ALICE_EMAIL, KIND_USERNAME).failures == 0
    assert reset_state(f"reset-confirm:{ALICE_EMAIL}", KIND_USERNAME).failures == 0
    # The address can ask again at once.
    assert request_reset(api, ALICE_EMAIL, ip=_ip(4)).status_code == 200


def test_confirm_success_keeps_reset_block(api: APIClient, users: dict[str, Any]) -> None:
    uid, token = mailed_link(api, ip=_ip(0))
    for index in range(1, LIMIT + 1):
        request_reset(api, ALICE_EMAIL, ip=_ip(index))
    assert reset_state(ALICE_EMAIL, KIND_USERNAME).blocked

    # Blocked reset requests for the address never stop its owner from confirming.
    assert confirm(api, uid, token, ip=USER_IP).status_code == 200
    assert reset_state(ALICE_EMAIL, KIND_USERNAME).blocked


def test_confirm_success_lifts_login_block(api: APIClient, users: dict[str, Any]) -> None:
    get_service().block(KIND_USERNAME, "alice", scope=SCOPE_LOGIN)
    get_service().block(KIND_USERNAME, ALICE_EMAIL, scope=SCOPE_LOGIN)
    get_service().block(KIND_IP, ATTACKER_IP, scope=SCOPE_LOGIN)
    uid, token = mailed_link(api)

    assert confirm(api, uid, token, ip=USER_IP).status_code == 200

    assert not get_service().status(username="alice").blocked
    assert not get_service().status(username=ALICE_EMAIL).blocked
    assert get_service().status(ip=ATTACKER_IP).blocked


def test_confirm_keeps_login_block_when_off(api: APIClient, users: dict[str, Any]) -> None:
    get_service().block(KIND_USERNAME, "alice", scope=SCOPE_LOGIN)
    uid, token = mailed_link(api)

    with override_settings(DEFENDER_PASSWORD_RESET_UNBLOCKS_LOGIN=False):
        assert confirm(api, uid, token, ip=USER_IP).status_code == 200
        assert get_service().status(username="alice").blocked


def test_confirm_lock_expires(api: APIClient, users: dict[str, Any], clock: Any) -> None:
    uid, token = mailed_link(api)
    for _ in range(LIMIT + 1):
        confirm(api, uid, "wrong-token")
    assert confirm(api, uid, token).status_code == 429

    clock.advance(3600 + 1)

    assert confirm(api, uid, token).status_code == 200


def test_unblock_takes_effect_at_once(api: APIClient, users: dict[str, Any]) -> None:
    for _ in range(LIMIT + 1):
        request_reset(api, ALICE_EMAIL)
    assert request_reset(api, ALICE_EMAIL).status_code == 429

    get_service().unblock(KIND_IP, ATTACKER_IP, scope=SCOPE_PASSWORD_RESET)
    get_service().unblock(KIND_USERNAME, ALICE_EMAIL, scope=SCOPE_PASSWORD_RESET)

    assert request_reset(api, ALICE_EMAIL).status_code == 200


# --- Django's HTML views ----------------------------------------------------------------------


def django_reset(client: Client, email: str, ip: str = ATTACKER_IP) -> Any:
    return client.post(DJANGO_RESET_URL, {"email": email}, REMOTE_ADDR=ip)


def test_django_reset_same_for_known_and_unknown(users: dict[str, Any]) -> None:
    client = Client()
    known = [django_reset(client, ALICE_EMAIL, ip=_ip(index)) for index in range(LIMIT + 1)]
    unknown = [
        django_reset(client, UNKNOWN_EMAIL, ip=_ip(10 + index)) for index in range(LIMIT + 1)
    ]

    for known_response, unknown_response in zip(known, unknown, strict=True):
        assert known_response.status_code == unknown_response.status_code
        assert known_response.content == unknown_response.content
        assert comparable_headers(known_response) == comparable_headers(unknown_response)
    assert [r.status_code for r in known[:LIMIT]] == [302] * LIMIT
    assert known[0]["Location"] == "/accounts/password_reset/done/"
    assert known[LIMIT].status_code == 429
    assert known[LIMIT]["Retry-After"] == "3600"
    assert [t.name for t in known[LIMIT].templates] == ["drf_defender/lockout.html"]
    assert b"password reset" in known[LIMIT].content
    assert len(mail.outbox) == LIMIT


def test_django_confirm_wrong_tokens_lock(users: dict[str, Any]) -> None:
    client = Client()
    assert django_reset(client, ALICE_EMAIL, ip=USER_IP).status_code == 302
    uid, token = reset_link(mail.outbox[-1])
    url = f"/accounts/reset/{uid}/wrong-token/"

    responses = [client.get(url, REMOTE_ADDR=ATTACKER_IP) for _ in range(LIMIT + 1)]
    with_right_token = client.get(f"/accounts/reset/{uid}/{token}/", REMOTE_ADDR=ATTACKER_IP)

    assert [r.status_code for r in responses] == [200] * LIMIT + [429]
    assert responses[0].context["validlink"] is False
    assert [t.name for t in responses[LIMIT].templates] == ["drf_defender/lockout.html"]
    assert with_right_token.status_code == 429


def test_django_confirm_completes_reset(users: dict[str, Any]) -> None:
    client = Client()
    for index in range(LIMIT - 1):
        django_reset(client, ALICE_EMAIL, ip=_ip(index))
    assert django_reset(client, ALICE_EMAIL, ip=USER_IP).status_code == 302
    uid, token = reset_link(mail.outbox[-1])
    get_service().block(KIND_USERNAME, "alice", scope=SCOPE_LOGIN)
    assert client.get(f"/accounts/reset/{uid}/bad/", REMOTE_ADDR=USER_IP).status_code == 200

    link = client.get(f"/accounts/reset/{uid}/{token}/", REMOTE_ADDR=USER_IP)
    assert link.status_code == 302
    form_url = link["Location"]
    assert form_url.endswith("/set-password/")
    assert client.get(form_url, REMOTE_ADDR=USER_IP).context["validlink"] is True
    done = client.post(
        form_url,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
        REMOTE_ADDR=USER_IP,
    )

    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"
    users["alice"].refresh_from_db()
    assert users["alice"].check_password(NEW_PASSWORD)
    assert reset_state(ALICE_EMAIL, KIND_USERNAME).failures == 0
    assert reset_state(f"reset-confirm:{ALICE_EMAIL}", KIND_USERNAME).failures == 0
    assert not get_service().status(username="alice").blocked


def test_django_reset_lockout_url(users: dict[str, Any]) -> None:
    client = Client()
    lockout_page = docs_settings(
        "integrations.md", "Django login and the admin login", "The lockout page"
    )
    with override_settings(DEFENDER_LOCKOUT_URL=lockout_page["DEFENDER_LOCKOUT_URL"]):
        responses = [django_reset(client, ALICE_EMAIL) for _ in range(LIMIT + 1)]

    assert responses[LIMIT].status_code == 302
    assert responses[LIMIT]["Location"] == "/locked/"
    assert len(mail.outbox) == LIMIT


@pytest.fixture
def stopped_backend(redis_server: Any, redis_prefix: str) -> Iterator[None]:
    """The documented settings on a Redis server that this test started and stopped."""
    server = redis_server()
    values = {
        **docs_settings("integrations.md", "Password reset", "Settings"),
        "DEFENDER_BACKEND": "drf_defender.backends.redis.RedisBackend",
        "DEFENDER_REDIS_URL": server.url,
        "DEFENDER_CACHE_PREFIX": redis_prefix,
        "DEFENDER_REDIS_SOCKET_TIMEOUT": 0.3,
        "DEFENDER_REDIS_CONNECT_TIMEOUT": 0.3,
    }
    with override_settings(**values):
        get_user_model().objects.create_user("alice", ALICE_EMAIL, "Correct-Horse-1")
        server.stop()
        yield


def test_backend_down_fail_closed(api: APIClient, stopped_backend: None) -> None:
    with override_settings(DEFENDER_BACKEND_FAILURE_POLICY="closed"):
        api_response = request_reset(api, ALICE_EMAIL)
        page = django_reset(Client(), ALICE_EMAIL)

    assert api_response.status_code == 503
    assert api_response.json()["code"] == "lockout_backend_unavailable"
    assert page.status_code == 503
    assert mail.outbox == []


def test_backend_down_fail_open(api: APIClient, stopped_backend: None) -> None:
    assert request_reset(api, ALICE_EMAIL).status_code == 200
    assert django_reset(Client(), ALICE_EMAIL).status_code == 302

    assert len(mail.outbox) == 2
