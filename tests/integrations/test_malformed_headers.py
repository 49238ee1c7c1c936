"""Malformed Authorization headers get a 401, never a 500, and count for the IP only."""

from __future__ import annotations

import base64

import pytest

from drf_defender.keys import KIND_IP, KIND_USERNAME

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("drf_auth_settings", "accounts"),
]

ME = "/api/me/"


def b64(payload: bytes) -> str:
    return base64.b64encode(payload).decode("ascii")


# Headers that name the Basic or Token scheme but cannot be parsed. Values are given as
# Django receives them: str holding the raw header bytes as Latin-1, or bytes.
MALFORMED: dict[str, str | bytes] = {
    "basic-alone": "Basic",
    "basic-alone-lower": "basic",
    "basic-trailing-space": "Basic ",
    "basic-padding-missing": "Basic YWxpY2U",
    "basic-padding-wrong": "Basic YWxpY2U6cHc",
    "basic-not-base64": "Basic !!!!",
    "basic-base64-with-junk": "Basic YWxp*2U6cHc=",
    "basic-two-parts": "Basic abc def",
    "basic-three-parts": "Basic YWxpY2U6cHc= extra more",
    "basic-no-colon": "Basic " + b64(b"alice"),
    "basic-empty-user-id": "Basic " + b64(b":secret"),
    "basic-colon-alone": "Basic " + b64(b":"),
    "basic-space-user-id": "Basic " + b64(b"   :secret"),
    "basic-empty-payload": "Basic " + b64(b"") + "=",
    "basic-latin1-junk": "Basic \xff\xfe\xfd",
    "basic-raw-non-utf8-bytes": b"Basic \xb8\xff",
    "basic-nul-in-base64": "Basic YWxp\x00Y2U6cHc=",
    "basic-non-latin1-text": "Basic \u20ac\u20ac\u20ac\u20ac",
    "basic-huge-garbage": "Basic " + "%" * 20_000,
    "token-alone": "Token",
    "token-alone-lower": "token",
    "token-two-parts": "Token a b",
    "token-non-utf8-byte": "Token 0123456789abcdef\xb8",
    "token-raw-non-utf8-bytes": b"Token \xc3\x28",
    "token-nul": "Token abc\x00def",
    "token-control-character": "Token abc\x7fdef",
    "token-escape-character": "Token \x1b[31m",
    "token-non-latin1-text": "Token \u2603\u2603",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_header_gets_401(service, api, name):
    ip = f"192.0.2.{list(MALFORMED).index(name) + 1}"
    response = api.get(ME, HTTP_AUTHORIZATION=MALFORMED[name], REMOTE_ADDR=ip)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert "WWW-Authenticate" in response
    states = {state.subject.kind: state for state in service.status(ip=ip).states}
    assert states[KIND_IP].failures == 1
    total, _ = service.list_blocked(KIND_USERNAME)
    assert total == 0


def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 25
    assert sum(1 for name in MALFORMED if name.startswith("token")) >= 8
    assert any(isinstance(value, bytes) for value in MALFORMED.values())


def test_malformed_headers_lock_the_ip_out(service, api):
    ip = "192.0.2.200"
    names = list(MALFORMED)[:4]
    answers = [
        api.get(ME, HTTP_AUTHORIZATION=MALFORMED[name], REMOTE_ADDR=ip).status_code
        for name in names
    ]
    assert answers == [401, 401, 401, 429]
