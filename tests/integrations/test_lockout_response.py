"""The lockout response is the same for every integration, subject and account."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.authtoken.models import Token

from drf_defender import signals
from tests.integrations.recipes import DOCS_PAGE
from tests.integrations.support import ALICE_PASSWORD, basic

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("drf_auth_settings", "accounts")]

ME = "/api/me/"


def lock_username(api, username, ip):
    """Lock ``username`` out with failures from four different IPs; return the 4th response."""
    answers = [
        api.get(ME, HTTP_AUTHORIZATION=basic(username, "wrong"), REMOTE_ADDR=f"{ip}{index}")
        for index in range(4)
    ]
    return answers[-1]


def lock_ip(api, ip):
    """Lock ``ip`` out with failures for four different usernames; return the 4th response."""
    answers = [
        api.get(ME, HTTP_AUTHORIZATION=basic(f"user{index}", "wrong"), REMOTE_ADDR=ip)
        for index in range(4)
    ]
    return answers[-1]


def shape(response) -> dict[str, Any]:
    return {
        "status": response.status_code,
        "content_type": response["Content-Type"],
        "retry_after": response.get("Retry-After"),
        "www_authenticate": response.get("WWW-Authenticate"),
        "body": response.json(),
    }


def test_username_and_ip_lockouts_look_alike(service, api):
    by_username = lock_username(api, "alice", "192.0.2.1")
    by_ip = lock_ip(api, "198.51.100.9")
    assert shape(by_username) == shape(by_ip)
    assert shape(by_username)["status"] == 429
    assert shape(by_username)["retry_after"] == "300"
    assert set(by_username.json()) == {"detail", "code", "retry_after"}


def test_existing_and_unknown_usernames_look_alike(service, api):
    existing = lock_username(api, "alice", "192.0.2.1")
    unknown = lock_username(api, "zed-unknown", "192.0.2.2")
    assert shape(existing) == shape(unknown)
    # Requests after the lockout too, with the correct password for the existing one.
    again_existing = api.get(ME, HTTP_AUTHORIZATION=basic("alice", ALICE_PASSWORD))
    again_unknown = api.get(ME, HTTP_AUTHORIZATION=basic("zed-unknown", ALICE_PASSWORD))
    assert shape(again_existing) == shape(again_unknown)


def test_every_integration_answers_alike(service, api, accounts):
    token_key = Token.objects.create(user=accounts["bob"]).key
    lock_ip(api, "203.0.113.50")
    requests = {
        "basic": lambda: api.get(ME, HTTP_AUTHORIZATION=basic("bob", "x")),
        "token": lambda: api.get(ME, HTTP_AUTHORIZATION=f"Token {token_key}"),
        "obtain_token": lambda: api.post("/api/auth/token/", {"username": "bob", "password": "x"}),
        "simplejwt": lambda: api.post("/api/auth/jwt/", {"username": "bob", "password": "x"}),
        "dj_rest_auth": lambda: api.post("/api/auth/login/", {"username": "bob", "password": "x"}),
        "custom": lambda: api.post("/api/custom/login/", {"username": "bob", "password": "x"}),
    }
    shapes = {}
    for name, send in requests.items():
        api.defaults["REMOTE_ADDR"] = "203.0.113.50"
        shapes[name] = shape(send())
        shapes[name].pop("www_authenticate")
    assert len({json.dumps(value, sort_keys=True) for value in shapes.values()}) == 1
    assert shapes["basic"]["status"] == 429


@override_settings(DEFENDER_LOCKOUT_STATUS_CODE=403)
def test_status_code_is_configurable(service, api):
    response = lock_ip(api, "198.51.100.9")
    assert response.status_code == 403
    assert response.json()["code"] == "locked_out"
    assert response["Retry-After"] == "300"


def test_block_without_end_has_no_retry_after(service, api):
    service.block("username", "alice", duration=0)
    response = api.get(ME, HTTP_AUTHORIZATION=basic("alice", ALICE_PASSWORD))
    assert response.status_code == 429
    assert "Retry-After" not in response
    assert response.json()["retry_after"] is None


def test_docs_example_matches_a_real_lockout(service, api):
    text = DOCS_PAGE.read_text(encoding="utf-8")
    example = re.search(r"```http\n(?P<head>.*?)\n\n(?P<body>.*?)\n```", text, re.DOTALL)
    assert example is not None
    documented_body = json.loads(example["body"])
    head = example["head"].splitlines()
    response = lock_ip(api, "198.51.100.9")
    assert head[0] == "HTTP/1.1 429 Too Many Requests"
    assert f"Content-Type: {response['Content-Type']}" in head
    assert f"Retry-After: {response['Retry-After']}" in head
    assert response.json() == documented_body


@pytest.fixture
def attempt_names():
    names: list[str] = []

    def receive(sender: Any, integration: str, **kwargs: Any) -> None:
        names.append(integration)

    signals.attempt_failed.connect(receive)
    signals.attempt_succeeded.connect(receive)
    yield names
    signals.attempt_failed.disconnect(receive)
    signals.attempt_succeeded.disconnect(receive)


def test_each_integration_names_itself(service, api, attempt_names):
    wrong = {"username": "bob", "password": "x"}
    sends = [
        lambda ip: api.get(ME, HTTP_AUTHORIZATION=basic("bob", "x"), REMOTE_ADDR=ip),
        lambda ip: api.get(ME, HTTP_AUTHORIZATION="Token unknown", REMOTE_ADDR=ip),
        lambda ip: api.post("/api/auth/token/", wrong, REMOTE_ADDR=ip),
        lambda ip: api.post("/api/auth/jwt/", wrong, REMOTE_ADDR=ip),
        lambda ip: api.post("/api/auth/jwt/settings/", wrong, REMOTE_ADDR=ip),
        lambda ip: api.post("/api/auth/login/", wrong, REMOTE_ADDR=ip),
        lambda ip: api.post("/api/custom/login/", wrong, REMOTE_ADDR=ip),
    ]
    service.add_list_entry("username_allow", "bob")  # keep bob's counter from locking
    for index, send in enumerate(sends):
        send(f"192.0.2.{index + 1}")
    assert attempt_names == [
        "basic",
        "token",
        "obtain_token",
        "simplejwt",
        "simplejwt",
        "dj_rest_auth",
        "custom",
    ]


@override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_ACCESS_LOG_MODE="inline")
def test_each_integration_writes_access_log_rows(service, api, accounts):
    from drf_defender.models import AccessAttempt

    token_key = Token.objects.create(user=accounts["bob"]).key
    wrong = {"username": "bob", "password": "x"}
    right = {"username": "bob", "password": "Battery-Staple-2"}
    api.get(ME, HTTP_AUTHORIZATION=basic("bob", "x"), REMOTE_ADDR="192.0.2.1")
    api.get(ME, HTTP_AUTHORIZATION="Token unknown", REMOTE_ADDR="192.0.2.2")
    api.post("/api/auth/token/", wrong, REMOTE_ADDR="192.0.2.3")
    api.post("/api/auth/jwt/", right, REMOTE_ADDR="192.0.2.4")
    api.post("/api/auth/login/", right, REMOTE_ADDR="192.0.2.5")
    api.post("/api/custom/login/", wrong, REMOTE_ADDR="192.0.2.6")
    # A valid token is not a credential check and writes no row.
    api.get(ME, HTTP_AUTHORIZATION=f"Token {token_key}", REMOTE_ADDR="192.0.2.7")

    rows = list(
        AccessAttempt.objects.order_by("id").values_list("integration", "login_valid", "path_info")
    )
    assert rows == [
        ("basic", False, ME),
        ("token", False, ME),
        ("obtain_token", False, "/api/auth/token/"),
        ("simplejwt", True, "/api/auth/jwt/"),
        ("dj_rest_auth", True, "/api/auth/login/"),
        ("custom", False, "/api/custom/login/"),
    ]
