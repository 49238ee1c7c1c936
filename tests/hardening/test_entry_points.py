"""Every login entry point counts one shared set of counters and answers a lockout alike.

Whatever the content type, the entry point or the way the credentials arrive, a
failed login raises the one counter of its username and of its IP, and the request
after the limit gets the JSON lockout answer (the HTML page for Django's forms).
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from rest_framework.test import APIClient

from drf_defender.guard import begin
from tests.hardening.support import (
    ALICE_PASSWORD,
    ATTACKER,
    ENTRIES_BY_NAME,
    LIMIT,
    WRONG_PASSWORD,
    CountingHasher,
    counter_keys,
    failures,
)

pytestmark = pytest.mark.django_db

BASIC = ENTRIES_BY_NAME["basic"]
LOGIN = ENTRIES_BY_NAME["dj_rest_auth"]
TOKEN = ENTRIES_BY_NAME["obtain_token"]
JWT = ENTRIES_BY_NAME["jwt"]
ADMIN_LOGIN = ENTRIES_BY_NAME["admin_login"]

CONTENT_FORMATS = ["json", "multipart"]


def basic_raw(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode("ascii")


@pytest.mark.parametrize("content_format", CONTENT_FORMATS)
@pytest.mark.parametrize("entry", [LOGIN, TOKEN, JWT], ids=["dj_rest_auth", "obtain_token", "jwt"])
def test_every_content_type_counts(entry: Any, content_format: str, accounts: Any) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        entry.outcome(entry.send(client, "alice", WRONG_PASSWORD, content_format=content_format))
        for _ in range(LIMIT + 1)
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked"]
    assert failures(username="alice")["username"] == LIMIT


def test_urlencoded_form_counts(accounts: Any) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    responses = [
        client.post(
            TOKEN.path,
            "username=alice&password=wrong",
            content_type="application/x-www-form-urlencoded",
        )
        for _ in range(LIMIT + 1)
    ]

    assert [TOKEN.outcome(response) for response in responses] == ["bad"] * LIMIT + ["locked"]


def test_entry_points_share_counters(accounts: Any) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    outcomes = [
        LOGIN.outcome(LOGIN.send(client, "alice", WRONG_PASSWORD)),
        TOKEN.outcome(TOKEN.send(client, "alice", WRONG_PASSWORD, content_format="multipart")),
        ADMIN_LOGIN.outcome(ADMIN_LOGIN.send(client, "alice", WRONG_PASSWORD)),
        BASIC.outcome(BASIC.send(client, "alice", WRONG_PASSWORD)),
        JWT.outcome(JWT.send(client, "alice", ALICE_PASSWORD)),
    ]

    assert outcomes == ["bad"] * LIMIT + ["locked", "locked"]
    assert failures(username="alice", ip=ATTACKER) == {
        "ip": LIMIT,
        "username": LIMIT,
        "ipusername": LIMIT + 1,
    }


@pytest.mark.parametrize("entry", [LOGIN, TOKEN, JWT, BASIC], ids=lambda entry: entry.name)
def test_lockout_answer_is_json(entry: Any, accounts: Any) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER, HTTP_ACCEPT="application/json")
    for _ in range(LIMIT):
        assert entry.outcome(entry.send(client, "alice", WRONG_PASSWORD)) == "bad"

    fourth = entry.send(client, "alice", WRONG_PASSWORD)
    CountingHasher.reset()
    fifth = entry.send(client, "alice", ALICE_PASSWORD)

    for response in (fourth, fifth):
        assert response.status_code == 429
        assert response["Content-Type"] == "application/json"
        assert response["Retry-After"] == "300"
        assert response.json()["code"] == "locked_out"
        assert response.json()["retry_after"] == 300
    assert CountingHasher.calls() == 0


def test_html_lockout_page(accounts: Any) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    responses = [ADMIN_LOGIN.send(client, "alice", WRONG_PASSWORD) for _ in range(LIMIT + 1)]

    assert [response.status_code for response in responses] == [200] * LIMIT + [429]
    assert responses[-1]["Content-Type"].startswith("text/html")
    assert responses[-1]["Retry-After"] == "300"
    assert failures(username="alice")["username"] == LIMIT


def test_each_basic_request_counts_once(accounts: Any) -> None:
    # Basic and Token authentication are both configured; a Basic failure goes through
    # one of them only.
    client = APIClient(REMOTE_ADDR=ATTACKER)

    for expected in range(1, LIMIT + 1):
        assert BASIC.outcome(BASIC.send(client, "alice", WRONG_PASSWORD)) == "bad"
        assert failures(username="alice", ip=ATTACKER)["username"] == expected
        assert failures(username="alice", ip=ATTACKER)["ip"] == expected


def test_check_without_request_counts_username(accounts: Any) -> None:
    # Custom code that has no request (a backend called without one) counts the
    # username alone.
    for _ in range(LIMIT):
        begin(None, "alice").failed()

    assert failures(username="alice")["username"] == LIMIT
    assert BASIC.outcome(BASIC.send(APIClient(REMOTE_ADDR=ATTACKER), "alice", "x")) == "locked"


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic YWxpY2U", "Basic abc def", basic_raw(b"alice"), basic_raw(b":")],
    ids=["no-credentials", "bad-padding", "two-parts", "no-colon", "colon-only"],
)
def test_malformed_basic_counts_ip_only(
    header: str, accounts: Any, redis_client: Any, redis_prefix: str
) -> None:
    client = APIClient(REMOTE_ADDR=ATTACKER)

    answers = [client.get(BASIC.path, HTTP_AUTHORIZATION=header) for _ in range(LIMIT + 1)]

    assert [answer.status_code for answer in answers] == [401] * LIMIT + [429]
    assert all(a["WWW-Authenticate"].startswith("Basic") for a in answers[:LIMIT])
    assert counter_keys(redis_client, redis_prefix, "username") == []
    assert failures(ip=ATTACKER)["ip"] == LIMIT


def test_passwords_never_logged(accounts: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "Sekr3t-\u00e4\u00f6-value"
    client = APIClient(REMOTE_ADDR=ATTACKER)

    client.get(BASIC.path, HTTP_AUTHORIZATION=basic_raw(f"alice:{secret}".encode()))
    client.get(BASIC.path, HTTP_AUTHORIZATION=basic_raw(f"alice:{secret}".encode("latin-1")))
    client.get(BASIC.path, HTTP_AUTHORIZATION=basic_raw(b"alice:\xff\xfe" + secret.encode()))
    for _ in range(LIMIT + 1):
        LOGIN.send(client, "alice", secret)

    assert caplog.records, "nothing was logged, so the check below proves nothing"
    for record in caplog.records:
        text = record.getMessage()
        assert "Sekr3t" not in text, record.name
        # The UTF-8 bytes read as Latin-1, as a header decoder might show them.
        assert secret.encode("utf-8").decode("latin-1") not in text
