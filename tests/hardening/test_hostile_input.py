"""Hostile requests get a 4xx answer, never a 5xx, on every protected endpoint.

Each test is one hostile case sent to every endpoint of a table, so that a failure
lists each endpoint that answered badly. The client of ``django.test`` re-raises any
exception that a view lets escape, so an unhandled exception fails the test as well
as a 5xx status does. The limit is raised so that earlier endpoints of a case do not
lock the client out of later ones; ``test_hostile_input_while_locked_out`` sends the
cases to a client that is locked out.

Malformed ``Authorization`` headers go to the endpoints that authenticate with
drf-defender's classes: ``/api/me/`` and the admin API. The login views of the test
URL conf were imported before any test setting applied, so they keep DRF's own
authentication classes, which are not under test here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.hardening.support import ATTACKER, LIMIT, WRONG_PASSWORD

pytestmark = pytest.mark.django_db

HIGH_LIMIT = 10_000
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Django's default DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB.
HUGE = 3 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    """A URL that takes credentials (or admin input) and the fields of its body."""

    name: str
    path: str
    fields: tuple[str, ...]
    method: str = "post"
    #: Statuses below 400 that are a normal answer to bad input (an HTML form shown
    #: again with errors, or a redirect).
    tolerated: frozenset[int] = frozenset()

    def send(self, client: APIClient, body: bytes, content_type: str, **extra: Any) -> Any:
        if self.method == "get":
            return client.get(self.path, **extra)
        return client.generic(
            self.method.upper(), self.path, data=body, content_type=content_type, **extra
        )


LOGIN_FIELDS = ("username", "password")
HTML_OK = frozenset({200, 302})

LOGIN_ENDPOINTS = (
    Endpoint("obtain_token", "/api/auth/token/", LOGIN_FIELDS),
    Endpoint("jwt", "/api/auth/jwt/", LOGIN_FIELDS),
    Endpoint("jwt_settings", "/api/auth/jwt/settings/", LOGIN_FIELDS),
    Endpoint("dj_rest_auth", "/api/auth/login/", LOGIN_FIELDS),
    Endpoint("custom_serializer", "/api/custom/login/", LOGIN_FIELDS),
    Endpoint("guard_decorator", "/api/custom/decorated/", LOGIN_FIELDS),
    Endpoint("reset", "/api/reset/", ("email",)),
    Endpoint(
        "reset_confirm",
        "/api/reset/confirm/",
        ("uid", "token", "new_password1", "new_password2"),
    ),
    Endpoint("django_login", "/accounts/login/", LOGIN_FIELDS, tolerated=HTML_OK),
    Endpoint("admin_login", "/admin/login/", LOGIN_FIELDS, tolerated=HTML_OK),
    Endpoint("mixin_login", "/accounts/mixin-login/", LOGIN_FIELDS, tolerated=HTML_OK),
    Endpoint("django_reset", "/accounts/password_reset/", ("email",), tolerated=HTML_OK),
)
#: The view behind the guard decorator reads ``request.data`` without any validation, as
#: a minimal example does. Its own crashes on wrong types are not the guard's, so it
#: only gets well-formed bodies.
BODY_ENDPOINTS = tuple(
    endpoint for endpoint in LOGIN_ENDPOINTS if endpoint.name != "guard_decorator"
)
ME = Endpoint("me", "/api/me/", (), method="get")
HEADER_ENDPOINTS = (ME, *LOGIN_ENDPOINTS)
ADMIN_ENDPOINTS = (
    Endpoint("admin_blocks_create", "/api/defender/blocks/", ("kind", "username", "ip")),
    Endpoint("admin_unblock", "/api/defender/blocks/unblock/", ("kind", "username", "ip")),
    Endpoint("admin_unblock_all", "/api/defender/blocks/unblock-all/", ("kind", "scope")),
    Endpoint("admin_list_add", "/api/defender/lists/ip_deny/entries/", ("value",)),
    Endpoint(
        "admin_list_remove", "/api/defender/lists/username_deny/entries/", ("value",), "delete"
    ),
)


# --------------------------------------------------------------------------------------
# Body cases: each builds (body, content type) from the endpoint's field names


def json_body(value: Any) -> tuple[bytes, str]:
    return json.dumps(value).encode("utf-8"), JSON


def each_field(value: Any) -> Callable[[tuple[str, ...]], tuple[bytes, str]]:
    return lambda fields: json_body({name: value for name in fields})


def raw(body: bytes, content_type: str = JSON) -> Callable[[tuple[str, ...]], tuple[bytes, str]]:
    return lambda fields: (body, content_type)


def form(
    build: Callable[[tuple[str, ...]], str],
) -> Callable[[tuple[str, ...]], tuple[bytes, str]]:
    return lambda fields: (build(fields).encode("latin-1"), FORM)


BODY_CASES: dict[str, Callable[[tuple[str, ...]], tuple[bytes, str]]] = {
    "not_json": raw(b"{not json"),
    "truncated_json": raw(b'{"username": "al'),
    "empty_json": raw(b""),
    "json_list": raw(b'["alice", "secret"]'),
    "json_number": raw(b"42"),
    "json_string": raw(b'"alice"'),
    "json_null": raw(b"null"),
    "json_nan": raw(b'{"username": NaN, "password": Infinity}'),
    "list_values": each_field(["alice", "alice"]),
    "object_values": each_field({"$ne": "", "$gt": {"nested": [1, 2]}}),
    "number_values": each_field(12345678901234567890),
    "float_values": each_field(1e308),
    "bool_values": each_field(True),
    "null_values": each_field(None),
    "empty_strings": each_field(""),
    "white_space_values": each_field(" \t\u00a0 "),
    "nul_bytes": each_field("ali\x00ce"),
    "control_characters": each_field("\x01\x1b[31m\r\nSet-Cookie: x=y"),
    "lone_surrogates": raw(b'{"username": "\\ud800", "password": "\\udfff", "email": "\\ud800"}'),
    "invalid_utf8_json": raw(b'{"username": "\xff\xfe", "password": "\xc3\x28"}'),
    "utf16_json": raw('{"username": "alice"}'.encode("utf-16"), "application/json; charset=utf-16"),
    "unknown_charset": raw(b'{"username": "alice"}', "application/json; charset=no-such-charset"),
    "huge_json_value": each_field("a" * HUGE),
    "huge_form": form(lambda fields: "&".join(f"{name}={'a' * HUGE}" for name in fields)),
    "too_many_form_fields": form(lambda fields: "&".join(f"f{n}=x" for n in range(2_000))),
    "invalid_utf8_form": form(lambda fields: "&".join(f"{name}=%ff%fe%00" for name in fields)),
    "repeated_form_fields": form(lambda fields: "&".join(f"{name}=a&{name}=b" for name in fields)),
    "text_plain": raw(b"username=alice&password=x", "text/plain"),
    "xml": raw(b"<login><username>alice</username></login>", "application/xml"),
    "broken_multipart": raw(b"--xyz\r\ngarbage", "multipart/form-data; boundary=xyz"),
    "multipart_without_boundary": raw(b"--xyz\r\n", "multipart/form-data"),
    "garbage_content_type": raw(b"{}", "\x00\xff/\x01"),
}

#: Bodies that no endpoint can accept: they are not a JSON object at all.
MALFORMED_BODIES = frozenset(
    {
        "not_json",
        "truncated_json",
        "json_list",
        "json_number",
        "json_string",
        "json_null",
        "json_nan",
        "deeply_nested_json",
        "invalid_utf8_json",
        "huge_form",
        "too_many_form_fields",
        "text_plain",
        "xml",
        "broken_multipart",
        "multipart_without_boundary",
        "garbage_content_type",
    }
)


# --------------------------------------------------------------------------------------
# Header cases


def basic_raw(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode("ascii")


AUTHORIZATION_CASES: dict[str, str] = {
    "basic_alone": "Basic",
    "basic_space": "Basic ",
    "basic_bad_padding": "Basic YWxpY2U",
    "basic_two_parts": "Basic abc def",
    "basic_not_base64": "Basic !!!!",
    "basic_no_colon": basic_raw(b"alice"),
    "basic_colon_only": basic_raw(b":"),
    "basic_empty_user": basic_raw(b":secret"),
    "basic_invalid_utf8": basic_raw(b"alice:\xff\xfe"),
    "basic_nul_user": basic_raw(b"ali\x00ce:secret"),
    "basic_huge": basic_raw(b"a" * 200_000 + b":x"),
    "basic_tab_separator": "Basic\t" + base64.b64encode(b"alice:x").decode(),
    "basic_lower_case": "basic " + base64.b64encode(b"alice:x").decode(),
    "basic_trailing_nul": "Basic YWxpY2U6eA==\x00",
    "token_alone": "Token",
    "token_two_parts": "Token a b",
    "token_invalid_byte": "Token 0123456789abcdef\xb8",
    "token_nul": "Token abc\x00def",
    "token_huge": "Token " + "a" * 100_000,
    "bearer_alone": "Bearer",
    "bearer_garbage": "Bearer x.y.z",
    "digest": 'Digest username="alice", realm="x", nonce="y"',
    "latin1_only": "\xff\xfe\xfd",
    "empty": "",
    "spaces": "   ",
}

OTHER_HEADER_CASES: dict[str, dict[str, str]] = {
    "user_agent_latin1": {"HTTP_USER_AGENT": "Mozilla\xff\xfe\x00"},
    "accept_garbage": {"HTTP_ACCEPT": "\xff/\x00; q=abc"},
    "accept_language_garbage": {"HTTP_ACCEPT_LANGUAGE": "\xff-\x00, zz;q=NaN"},
    "cookie_garbage": {"HTTP_COOKIE": "sessionid=\xff\x00; csrftoken=;;; =\xfe"},
    "forwarded_for_latin1": {"HTTP_X_FORWARDED_FOR": "\xff\xfe, 203.0.113.\xff"},
    "remote_addr_missing": {"REMOTE_ADDR": ""},
    "remote_addr_garbage": {"REMOTE_ADDR": "not-an-address\xff"},
    "huge_user_agent": {"HTTP_USER_AGENT": "x" * 100_000},
}


@pytest.fixture
def high_limit(hardened: dict[str, Any], settings: Any) -> None:
    settings.DEFENDER_LOGIN_FAILURE_LIMIT = HIGH_LIMIT
    settings.DEFENDER_PASSWORD_RESET_LIMIT = HIGH_LIMIT


def wrong_login(fields: tuple[str, ...]) -> tuple[bytes, str]:
    values = {"username": "alice", "password": WRONG_PASSWORD, "email": "alice@example.com"}
    return json_body({name: values.get(name, "x") for name in fields})


def bad_answers(
    endpoints: tuple[Endpoint, ...],
    build: Callable[[tuple[str, ...]], tuple[bytes, str]],
    client: APIClient,
    *,
    only_4xx: bool = True,
    **extra: Any,
) -> list[str]:
    """Send the case to each endpoint and return a line for each unexpected response.

    With ``only_4xx``, every response must be a 4xx or a status the endpoint tolerates.
    Otherwise any status below 500 is expected, for input that may be valid.
    """
    problems = []
    for endpoint in endpoints:
        body, content_type = build(endpoint.fields)
        response = endpoint.send(client, body, content_type, **extra)
        status = response.status_code
        expected = 400 <= status < 500 or status in endpoint.tolerated
        if not only_4xx:
            expected = status < 500
        if not expected:
            problems.append(f"{endpoint.name}: {status} {response.content[:200]!r}")
    return problems


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", BODY_CASES)
def test_hostile_body_gets_4xx(case: str, accounts: Any, api: APIClient) -> None:
    problems = bad_answers(BODY_ENDPOINTS, BODY_CASES[case], api)

    assert problems == []


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", AUTHORIZATION_CASES)
def test_malformed_authorization_gets_4xx(case: str, accounts: Any, api: APIClient) -> None:
    header = AUTHORIZATION_CASES[case]

    response = ME.send(api, b"", JSON, HTTP_AUTHORIZATION=header)

    assert 400 <= response.status_code < 500, response.content[:300]


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", OTHER_HEADER_CASES)
def test_hostile_headers_get_4xx(case: str, accounts: Any, api: APIClient) -> None:
    headers = OTHER_HEADER_CASES[case]

    # The reset endpoint accepts the well-formed email of the body with a 200.
    problems = bad_answers(HEADER_ENDPOINTS, wrong_login, api, only_4xx=False, **headers)

    assert problems == []


@pytest.mark.parametrize("case", ["not_json", "null_values", "huge_json_value", "nul_bytes"])
def test_hostile_input_while_locked_out(case: str, accounts: Any, api: APIClient) -> None:
    for _ in range(LIMIT + 1):
        api.post("/api/auth/login/", {"username": "alice", "password": "x"}, format="json")

    problems = bad_answers(BODY_ENDPOINTS, BODY_CASES[case], api)
    problems += bad_answers(
        (ME,), wrong_login, api, HTTP_AUTHORIZATION=AUTHORIZATION_CASES["basic_huge"]
    )

    assert problems == []


@pytest.mark.usefixtures("high_limit")
def test_deeply_nested_json_on_login_views(accounts: Any, api: APIClient) -> None:
    problems = bad_answers(BODY_ENDPOINTS, DEEPLY_NESTED_JSON, api)

    assert problems == []


# --------------------------------------------------------------------------------------
# The admin API


ADMIN_QUERY_CASES: dict[str, str] = {
    "blocks_bad_kind": "/api/defender/blocks/?kind=%00%ff",
    "blocks_bad_page": "/api/defender/blocks/?limit=-1&offset=1e99",
    "blocks_huge_offset": "/api/defender/blocks/?offset=99999999999999999999999",
    "blocks_bad_scope": "/api/defender/blocks/?scope=" + "x" * 10_000,
    "status_nul_username": "/api/defender/status/?username=ali%00ce",
    "status_bad_ip": "/api/defender/status/?ip=999.1.1.1%00",
    "status_huge_username": "/api/defender/status/?username=" + "u" * 50_000,
    "status_invalid_utf8": "/api/defender/status/?username=%ff%fe&ip=%c3%28",
    "status_repeated": "/api/defender/status/?username=a&username=b&ip=1.2.3.4&ip=::1",
    "attempts_bad_filters": "/api/defender/attempts/?since=yesterday&success=maybe&ip=x",
    "attempts_bad_ordering": "/api/defender/attempts/?ordering=password&limit=abc",
    "attempts_nul_username": "/api/defender/attempts/?username=%00",
    "attempt_bad_id": "/api/defender/attempts/%ff%fe%00/",
    "attempt_huge_id": "/api/defender/attempts/" + "9" * 400 + "/",
    "list_unknown": "/api/defender/lists/%00../",
    "list_entries_get": "/api/defender/lists/ip_deny/entries/",
    "summary_query": "/api/defender/summary/?window=%ff",
}

#: JSON nested deeper than the interpreter's recursion limit.
DEEPLY_NESTED_JSON = raw(b"[" * 50_000 + b"]" * 50_000)

ADMIN_BODY_CASES = {
    **BODY_CASES,
    "deeply_nested_json": DEEPLY_NESTED_JSON,
    "kind_wrong_type": raw(b'{"kind": ["ip"], "ip": {"a": 1}, "username": 5}'),
    "duration_huge": raw(b'{"kind": "ip", "ip": "203.0.113.1", "duration": 1e400}'),
    "duration_negative": raw(b'{"kind": "ip", "ip": "203.0.113.1", "duration": -5}'),
    "pair_without_separator": raw(b'{"kind": "ipusername", "username": "a", "ip": "x|y|z"}'),
    "ip_network_garbage": raw(b'{"kind": "ip", "ip": "10.0.0.0/99", "value": "::/999"}'),
    "value_nul": raw(b'{"value": "10.0.0.\\u0000", "kind": "username", "username": "\\u0000"}'),
}


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", ADMIN_BODY_CASES)
def test_admin_api_hostile_body_gets_4xx(case: str, admin_api: APIClient) -> None:
    # Some cases are well-formed for some endpoints (a kind with a valid value), which
    # then answer 200; the malformed bodies must get a 4xx everywhere.
    problems = bad_answers(
        ADMIN_ENDPOINTS, ADMIN_BODY_CASES[case], admin_api, only_4xx=case in MALFORMED_BODIES
    )

    assert problems == []


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", ADMIN_QUERY_CASES)
def test_admin_api_hostile_query_never_5xx(case: str, admin_api: APIClient) -> None:
    response = admin_api.get(ADMIN_QUERY_CASES[case])

    # A query that happens to be valid may get 200; anything else must be a 4xx.
    assert response.status_code < 500, response.content[:300]


@pytest.mark.usefixtures("high_limit")
@pytest.mark.parametrize("case", AUTHORIZATION_CASES)
def test_admin_api_malformed_authorization_gets_4xx(case: str, accounts: Any) -> None:
    anonymous = APIClient(REMOTE_ADDR=ATTACKER)
    header = AUTHORIZATION_CASES[case]
    endpoints = (Endpoint("admin_blocks_list", "/api/defender/blocks/", (), "get"),)

    problems = bad_answers(
        endpoints + ADMIN_ENDPOINTS, wrong_login, anonymous, HTTP_AUTHORIZATION=header
    )
    problems += bad_answers((ME,), wrong_login, anonymous, HTTP_AUTHORIZATION=header)

    assert problems == []
