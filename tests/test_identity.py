"""Tests of drf_defender.identity: client IP resolution and username identities."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.test import RequestFactory, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from drf_defender import identity
from drf_defender.identity import (
    WarningLimiter,
    canonical_ip,
    client_ip,
    get_username_from_request,
    ip_in_networks,
    ip_subject,
    mask_ip,
    mask_username,
    normalize_username,
    parse_networks,
    username_from_request,
    username_identity,
)

LOGGER = "drf_defender.identity"
PROXY = "10.0.0.1"
CLIENT = "203.0.113.7"
# A global unicast address: the documentation ranges count as private in Python.
PUBLIC_PEER = "8.8.8.8"

behind_one_proxy = override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True)

hypothesis_settings = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(autouse=True)
def fresh_warning_limiter() -> Iterator[None]:
    identity.warning_limiter.reset()
    yield
    identity.warning_limiter.reset()


def make_request(remote_addr: str | None = PROXY, **headers: Any) -> HttpRequest:
    request = RequestFactory().get("/login/", **headers)
    if remote_addr is None:
        del request.META["REMOTE_ADDR"]
    else:
        request.META["REMOTE_ADDR"] = remote_addr
    return request


def warnings_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER and record.levelno == logging.WARNING
    ]


def drf_request(django_request: HttpRequest) -> Request:
    return Request(django_request, parsers=[JSONParser(), FormParser(), MultiPartParser()])


# --- client_ip: forwarding headers and spoofing -------------------------------------


def test_client_ip_uses_remote_addr_by_default() -> None:
    assert client_ip(make_request(CLIENT)) == CLIENT


@pytest.mark.parametrize(
    "header",
    ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP", "HTTP_CLIENT_IP", "HTTP_FORWARDED"],
)
def test_forwarding_headers_ignored_without_proxy(header: str) -> None:
    value = "for=198.51.100.66" if header == "HTTP_FORWARDED" else "198.51.100.66"
    request = make_request(PUBLIC_PEER, **{header: value})

    assert client_ip(request) == PUBLIC_PEER


@override_settings(DEFENDER_REVERSE_PROXY_HEADER="HTTP_X_REAL_IP")
def test_configured_header_ignored_without_proxy() -> None:
    request = make_request(PUBLIC_PEER, HTTP_X_REAL_IP="198.51.100.66")

    assert client_ip(request) == PUBLIC_PEER


@behind_one_proxy
def test_client_written_left_entries_ignored() -> None:
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=f"198.51.100.66, 1.2.3.4, {CLIENT}")

    assert client_ip(request) == CLIENT


@behind_one_proxy
def test_long_client_written_prefix_ignored(caplog: pytest.LogCaptureFixture) -> None:
    padding = "garbage\x00é, " * 5000
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=f"{padding}{CLIENT}")

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert client_ip(request) == CLIENT
    assert warnings_logged(caplog) == []


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_COUNT=2)
def test_proxy_count_two_takes_second_from_right() -> None:
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=f"198.51.100.66, {CLIENT}, 10.0.0.2")

    assert client_ip(request) == CLIENT


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_COUNT=2)
def test_proxy_count_exactly_matching_entries() -> None:
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=f"{CLIENT}, 10.0.0.2")

    assert client_ip(request) == CLIENT


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_COUNT=2)
def test_too_few_entries_fall_back(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=CLIENT)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert client_ip(request) == PROXY
    messages = warnings_logged(caplog)
    assert len(messages) == 1
    assert "DEFENDER_REVERSE_PROXY_COUNT is 2" in messages[0]


@override_settings(
    DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_TRUSTED_PROXIES=["10.0.0.0/8", "192.0.2.1"]
)
def test_untrusted_peer_header_ignored() -> None:
    spoofed = make_request(PUBLIC_PEER, HTTP_X_FORWARDED_FOR=CLIENT)
    via_network = make_request("10.20.30.40", HTTP_X_FORWARDED_FOR=CLIENT)
    via_address = make_request("192.0.2.1", HTTP_X_FORWARDED_FOR=CLIENT)

    assert client_ip(spoofed) == PUBLIC_PEER
    assert client_ip(via_network) == CLIENT
    assert client_ip(via_address) == CLIENT


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_untrusted_peer_warning_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request(PUBLIC_PEER, HTTP_X_FORWARDED_FOR=CLIENT)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        client_ip(request)
        client_ip(request)
    messages = warnings_logged(caplog)
    assert len(messages) == 1
    assert "DEFENDER_TRUSTED_PROXIES" in messages[0]


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_TRUSTED_PROXIES=["10.0.0.0/8"])
def test_trusted_proxies_missing_remote_addr() -> None:
    assert client_ip(make_request(None, HTTP_X_FORWARDED_FOR=CLIENT)) is None


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_TRUSTED_PROXIES=["not-an-ip"])
def test_invalid_trusted_proxies_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="not-an-ip"):
        client_ip(make_request(PROXY, HTTP_X_FORWARDED_FOR=CLIENT))


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_COUNT=0)
def test_invalid_proxy_count_rejected() -> None:
    with pytest.raises(ImproperlyConfigured, match="DEFENDER_REVERSE_PROXY_COUNT"):
        client_ip(make_request(PROXY, HTTP_X_FORWARDED_FOR=CLIENT))


@override_settings(DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_HEADER="X-Real-IP")
def test_header_name_in_http_form() -> None:
    request = make_request(PROXY, HTTP_X_REAL_IP=CLIENT, HTTP_X_FORWARDED_FOR="198.51.100.66")

    assert client_ip(request) == CLIENT


@override_settings(
    DEFENDER_BEHIND_REVERSE_PROXY=True, DEFENDER_REVERSE_PROXY_HEADER="HTTP_FORWARDED"
)
def test_forwarded_header_for_parameter() -> None:
    spoofed_then_ipv6 = 'for=198.51.100.66, for="[2001:DB8:CAFE::17]:4711";proto=https'
    request = make_request(PROXY, HTTP_FORWARDED=spoofed_then_ipv6)
    with_other_parameters = make_request(PROXY, HTTP_FORWARDED=f"proto=http;For={CLIENT};by=x")
    obfuscated = make_request(PROXY, HTTP_FORWARDED="for=_hidden")

    assert client_ip(request) == "2001:db8:cafe::17"
    assert client_ip(with_other_parameters) == CLIENT
    assert client_ip(obfuscated) == PROXY


# --- client_ip: formats ---------------------------------------------------------------


@behind_one_proxy
@pytest.mark.parametrize(
    ("header_value", "expected"),
    [
        ("203.0.113.7:51000", CLIENT),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("[2001:db8::7]", "2001:db8::7"),
        ("  203.0.113.7  ", CLIENT),
        ("198.51.100.1,203.0.113.7", CLIENT),
        ("198.51.100.1 ,\t 203.0.113.7:8080 ", CLIENT),
        ("2001:0DB8:0000:0000:0000:0000:0000:0007", "2001:db8::7"),
        ("::ffff:203.0.113.7", CLIENT),
        ("[::ffff:cb00:7107]:80", CLIENT),
        ("fe80::1%eth0", "fe80::1"),
    ],
)
def test_forwarded_entry_formats(header_value: str, expected: str) -> None:
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=header_value)

    assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("remote_addr", "expected"),
    [
        ("2001:DB8:0:0:1::1", "2001:db8::1:0:0:1"),
        ("::ffff:203.0.113.10", "203.0.113.10"),
        (" 203.0.113.7 ", CLIENT),
        ("::1", "::1"),
    ],
)
def test_remote_addr_canonical(remote_addr: str, expected: str) -> None:
    assert client_ip(make_request(remote_addr)) == expected


@pytest.mark.parametrize("remote_addr", [None, "", "unknown", "127.0.0.1\x00", "300.1.1.1"])
def test_invalid_remote_addr_gives_none(remote_addr: str | None) -> None:
    assert client_ip(make_request(remote_addr)) is None


@behind_one_proxy
def test_missing_remote_addr_uses_header() -> None:
    # Behind a proxy on a Unix socket REMOTE_ADDR is empty, so only the header names the client.
    assert client_ip(make_request("", HTTP_X_FORWARDED_FOR=CLIENT)) == CLIENT


@behind_one_proxy
def test_missing_remote_addr_bad_header_gives_none() -> None:
    assert client_ip(make_request(None, HTTP_X_FORWARDED_FOR="garbage")) is None


# --- client_ip: fallback warnings ---------------------------------------------------------


@behind_one_proxy
@pytest.mark.parametrize(
    ("header_value", "expected_words"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (None, "is missing"),
        ("not an address", "is invalid"),
        ("203.0.113.7, 10.0.0.2:99999", "is invalid"),
        ("203.0.113.7,", "is invalid"),
        ("1" * 5000, "is too long"),
        ("[2001:db8::7]x", "is invalid"),
        ("203.0.113.7\x00", "is invalid"),
        ("\uff12\uff10\uff13.0.113.7", "is invalid"),
    ],
)
def test_bad_header_falls_back_with_warning(
    caplog: pytest.LogCaptureFixture, header_value: str | None, expected_words: str
) -> None:
    headers = {} if header_value is None else {"HTTP_X_FORWARDED_FOR": header_value}
    request = make_request(PROXY, **headers)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        first = client_ip(request)
        second = client_ip(request)

    assert first == PROXY
    assert second == PROXY
    messages = warnings_logged(caplog)
    assert len(messages) == 1, "the second fallback within a minute must not log"
    assert expected_words in messages[0]
    assert "10.0.0.x" in messages[0]


@behind_one_proxy
def test_fallback_reasons_limited_separately(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        client_ip(make_request(PROXY, HTTP_X_FORWARDED_FOR=""))
        client_ip(make_request(PROXY, HTTP_X_FORWARDED_FOR="garbage"))
        client_ip(make_request(PROXY, HTTP_X_FORWARDED_FOR="more garbage"))

    assert len(warnings_logged(caplog)) == 2


def test_warning_limiter_allows_again_after_interval() -> None:
    now = [1000.0]
    limiter = WarningLimiter(interval=60.0, clock=lambda: now[0])

    assert limiter.allow("reason") is True
    assert limiter.allow("reason") is False
    assert limiter.allow("other") is True
    now[0] += 59.9
    assert limiter.allow("reason") is False
    now[0] += 0.1
    assert limiter.allow("reason") is True


def test_loopback_peer_with_header_warns(caplog: pytest.LogCaptureFixture) -> None:
    request = make_request("127.0.0.1", HTTP_X_FORWARDED_FOR=CLIENT)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert client_ip(request) == "127.0.0.1"
        assert client_ip(request) == "127.0.0.1"

    messages = warnings_logged(caplog)
    assert len(messages) == 1
    assert "HTTP_X_FORWARDED_FOR" in messages[0]
    assert "DEFENDER_BEHIND_REVERSE_PROXY" in messages[0]
    assert "DEFENDER_TRUSTED_PROXIES" in messages[0]


@pytest.mark.parametrize("peer", ["10.1.2.3", "192.168.0.5", "fd00::1", "::1"])
def test_private_peer_with_real_ip_warns(caplog: pytest.LogCaptureFixture, peer: str) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        client_ip(make_request(peer, HTTP_X_REAL_IP=CLIENT))

    messages = warnings_logged(caplog)
    assert len(messages) == 1
    assert "HTTP_X_REAL_IP" in messages[0]


def test_no_warning_for_public_peer_or_no_header(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        client_ip(make_request(PUBLIC_PEER, HTTP_X_FORWARDED_FOR=CLIENT))
        client_ip(make_request("127.0.0.1"))

    assert warnings_logged(caplog) == []


@override_settings(DEFENDER_LOG_FULL_IDENTITIES=True)
def test_warning_full_identity_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        client_ip(make_request("10.9.8.7", HTTP_X_FORWARDED_FOR=CLIENT))

    assert "10.9.8.7" in warnings_logged(caplog)[0]


# --- client_ip: properties ------------------------------------------------------------

any_text = st.text(alphabet=st.characters(exclude_categories=()), max_size=300)
huge_text = st.builds(lambda text, times: text * times, any_text, st.integers(1, 500))
header_text = st.one_of(any_text, huge_text, st.just(""), st.sampled_from(["", " ", ",", "[", ":"]))


def assert_canonical_or_none(result: str | None) -> None:
    if result is None:
        return
    address = ipaddress.ip_address(result)
    assert str(address) == result
    if isinstance(address, ipaddress.IPv6Address):
        assert address.ipv4_mapped is None
        assert address.scope_id is None


@pytest.mark.parametrize(
    "proxy_settings",
    [
        {},
        {"DEFENDER_BEHIND_REVERSE_PROXY": True},
        {"DEFENDER_BEHIND_REVERSE_PROXY": True, "DEFENDER_REVERSE_PROXY_COUNT": 3},
        {
            "DEFENDER_BEHIND_REVERSE_PROXY": True,
            "DEFENDER_REVERSE_PROXY_HEADER": "HTTP_FORWARDED",
        },
        {"DEFENDER_BEHIND_REVERSE_PROXY": True, "DEFENDER_TRUSTED_PROXIES": ["0.0.0.0/0", "::/0"]},
    ],
)
@hypothesis_settings
@given(remote_addr=header_text, header=header_text)
def test_client_ip_never_raises(
    proxy_settings: dict[str, Any], remote_addr: str, header: str
) -> None:
    request = make_request(
        remote_addr, HTTP_X_FORWARDED_FOR=header, HTTP_FORWARDED=header, HTTP_X_REAL_IP=header
    )

    with override_settings(**proxy_settings):
        result = client_ip(request)

    assert_canonical_or_none(result)


@st.composite
def written_addresses(draw: st.DrawFn) -> tuple[str, str]:
    """Return an address written the way a proxy might, and its expected canonical form."""
    address = draw(st.ip_addresses())
    expected = str(address.ipv4_mapped or address) if address.version == 6 else str(address)
    text = draw(st.sampled_from([str(address), address.exploded]))
    if draw(st.booleans()):
        text = text.upper()
    port = draw(st.integers(1, 65535))
    if address.version == 6:
        text = draw(st.sampled_from([text, f"[{text}]", f"[{text}]:{port}"]))
    else:
        text = draw(st.sampled_from([text, f"{text}:{port}"]))
    padding = draw(st.sampled_from(["", " ", "\t", "  "]))
    return padding + text + padding, expected


@behind_one_proxy
@hypothesis_settings
@given(written=written_addresses(), left=any_text)
def test_client_ip_canonicalises_written_address(written: tuple[str, str], left: str) -> None:
    text, expected = written
    request = make_request(PROXY, HTTP_X_FORWARDED_FOR=f"{left},{text}")

    assert client_ip(request) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7", CLIENT),
        (" 2001:DB8::0:7 ", "2001:db8::7"),
        ("[2001:db8::7]:443", "2001:db8::7"),
        ("::ffff:203.0.113.7", CLIENT),
        ("", None),
        ("203.0.113.0/24", None),
        ("example.com", None),
        (None, None),
        (3405803783, None),
    ],
)
def test_canonical_ip(value: object, expected: str | None) -> None:
    assert canonical_ip(value) == expected


# --- ip_subject -------------------------------------------------------------------------


def test_ip_subject_ipv4_is_address() -> None:
    assert ip_subject(CLIENT) == CLIENT


def test_ip_subject_groups_ipv6_by_64() -> None:
    first = ip_subject("2001:db8:1:2:aaaa::1")
    second = ip_subject("2001:db8:1:2:bbbb:cccc:dddd:eeee")
    other_prefix = ip_subject("2001:db8:1:3::1")

    assert first == "2001:db8:1:2::/64"
    assert second == first
    assert other_prefix == "2001:db8:1:3::/64"


@override_settings(DEFENDER_IPV6_PREFIX_LENGTH=128)
def test_ip_subject_128_keeps_each_address() -> None:
    assert ip_subject("2001:db8:1:2:aaaa::1") == "2001:db8:1:2:aaaa::1"
    assert ip_subject("2001:db8:1:2:bbbb::1") == "2001:db8:1:2:bbbb::1"


@override_settings(DEFENDER_IPV6_PREFIX_LENGTH=48)
def test_ip_subject_custom_prefix() -> None:
    assert ip_subject("2001:db8:1:2::1") == "2001:db8:1::/48"


def test_ip_subject_ipv4_mapped_is_ipv4() -> None:
    assert ip_subject("::ffff:203.0.113.7") == CLIENT


@pytest.mark.parametrize("length", [-1, 129, "64", 64.0, True])
def test_ip_subject_invalid_prefix_length(length: object) -> None:
    with override_settings(DEFENDER_IPV6_PREFIX_LENGTH=length):
        with pytest.raises(ImproperlyConfigured, match="DEFENDER_IPV6_PREFIX_LENGTH"):
            ip_subject("2001:db8::1")


def test_ip_subject_rejects_invalid_address() -> None:
    with pytest.raises(ValueError, match="not-an-ip"):
        ip_subject("not-an-ip")


# --- networks -------------------------------------------------------------------------


def test_parse_networks_addresses_and_cidr() -> None:
    networks = parse_networks(["10.1.2.3/8", "192.0.2.1", "2001:db8::1", " 2001:db8::/32 "])

    assert [str(network) for network in networks] == [
        "10.0.0.0/8",
        "192.0.2.1/32",
        "2001:db8::1/128",
        "2001:db8::/32",
    ]


def test_parse_networks_single_string() -> None:
    assert [str(network) for network in parse_networks("10.0.0.0/8")] == ["10.0.0.0/8"]


@pytest.mark.parametrize("bad_value", ["10.0.0.0/33", "proxy.example", "", None])
def test_parse_networks_names_bad_value(bad_value: Any) -> None:
    with pytest.raises(ValueError, match=repr(bad_value).replace(".", r"\.")):
        parse_networks(["10.0.0.0/8", bad_value])


def test_ip_in_networks() -> None:
    networks = parse_networks(["10.0.0.0/8", "2001:db8::/32"])

    assert ip_in_networks("10.20.30.40", networks) is True
    assert ip_in_networks("::ffff:10.20.30.40", networks) is True
    assert ip_in_networks("2001:db8:ffff::1", networks) is True
    assert ip_in_networks("11.0.0.1", networks) is False
    assert ip_in_networks("2001:db9::1", networks) is False
    assert ip_in_networks(None, networks) is False
    assert ip_in_networks("garbage", networks) is False
    assert ip_in_networks("10.0.0.1", []) is False


# --- usernames ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant",
    [
        "Alice",
        "alice ",
        "alice\u00a0",
        "\talice",
        "\uff21\uff2c\uff29\uff23\uff25",
        "ALICE",
        "\u3000alice\n",
    ],
)
def test_username_variants_share_identity(variant: str) -> None:
    assert username_identity(variant) == "alice"


def test_normalize_username_folds_case_beyond_ascii() -> None:
    assert normalize_username("STRASSE") == normalize_username("straße")
    assert normalize_username("ﬁle") == "file"


@pytest.mark.parametrize("name", ["alice", "alice@example.com", "a.b-c_d+tag@sub.example.org"])
def test_ordinary_usernames_stay_readable(name: str) -> None:
    assert username_identity(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "a" * 65,
        "alice smith",
        "{alice}",
        "al}ce",
        "jürgen",
        "alice\x00",
        "ali\nce",
        "al\ud800ice",
        "h:0000000000000000000000000000000000000000",
        "x" * 100_000,
    ],
)
def test_unusual_usernames_hashed(name: str) -> None:
    result = username_identity(name)

    assert result is not None
    assert result.startswith("h:")
    assert len(result) == 42
    assert all(char in "0123456789abcdef" for char in result[2:])


def test_username_of_64_chars_stays_readable() -> None:
    assert username_identity("a" * 64) == "a" * 64


def test_hashed_username_is_stable_and_distinct() -> None:
    first = username_identity("Jürgen")

    assert username_identity("jürgen ") == first
    assert username_identity("JÜRGEN") == first
    assert username_identity("jurgen") != first
    assert username_identity("a" * 65) != username_identity("a" * 66)
    # The token depends only on the normalised text, so counters survive restarts.
    assert first == "h:" + hashlib.sha256("jürgen".encode()).hexdigest()[:40]


def test_hashed_username_with_lone_surrogate() -> None:
    expected = hashlib.sha256("al\ud800ice".encode("utf-8", "surrogatepass")).hexdigest()

    assert username_identity("AL\ud800ICE") == "h:" + expected[:40]


@pytest.mark.parametrize("value", [None, "", "   ", "\u3000", 42, ["alice"], {"a": 1}, b"alice"])
def test_username_identity_none_for_empty_or_non_string(value: object) -> None:
    assert username_identity(value) is None


def shout_normalizer(value: str) -> str:
    return value.strip().upper()


def failing_normalizer(value: str) -> str:
    raise ValueError("cannot normalise")


def empty_normalizer(value: str) -> str:
    return ""


def test_custom_normalizer_from_dotted_path() -> None:
    assert username_identity("Alice") == "alice"

    with override_settings(DEFENDER_USERNAME_NORMALIZER="tests.test_identity.shout_normalizer"):
        assert username_identity("Alice") == "ALICE"

    assert username_identity("Alice") == "alice"


@override_settings(DEFENDER_USERNAME_NORMALIZER="tests.test_identity.failing_normalizer")
def test_failing_normalizer_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert username_identity("Alice") == "alice"

    messages = warnings_logged(caplog)
    assert len(messages) == 1
    assert "ValueError" in messages[0]
    assert "Alice" not in messages[0]


@override_settings(DEFENDER_USERNAME_NORMALIZER="tests.test_identity.empty_normalizer")
def test_normalizer_returning_empty_gives_none() -> None:
    assert username_identity("alice") is None


@override_settings(DEFENDER_USERNAME_NORMALIZER="tests.test_identity.missing_normalizer")
def test_unimportable_normalizer_named() -> None:
    with pytest.raises(ImproperlyConfigured, match="missing_normalizer"):
        username_identity("alice")


any_username = st.text(alphabet=st.characters(exclude_categories=()), max_size=200)
long_username = st.builds(lambda text, times: text * times, any_username, st.integers(1, 2000))


@hypothesis_settings
@given(value=st.one_of(any_username, long_username))
def test_username_identity_bounded(value: str) -> None:
    result = username_identity(value)

    if result is None:
        assert normalize_username(value) == ""
        return
    assert 0 < len(result) <= 64
    assert not any(char.isspace() for char in result)
    assert "{" not in result
    assert "}" not in result
    assert result.isascii()
    assert result.isprintable()
    assert username_identity(value) == result


@hypothesis_settings
@given(value=any_username)
def test_normalize_username_idempotent(value: str) -> None:
    once = normalize_username(value)

    assert normalize_username(once) == once
    assert username_identity(once) == username_identity(value)


# --- username_from_request ------------------------------------------------------------

api_factory = APIRequestFactory()


def test_username_from_json_body() -> None:
    request = drf_request(api_factory.post("/login/", {"username": "Alice"}, format="json"))

    assert username_from_request(request) == "Alice"


def test_username_from_form_body() -> None:
    request = drf_request(api_factory.post("/login/", {"username": "alice"}))

    assert username_from_request(request) == "alice"


def test_username_from_multipart_body() -> None:
    request = drf_request(
        api_factory.post("/login/", {"username": "alice", "password": "x"}, format="multipart")
    )

    assert username_from_request(request) == "alice"


def test_username_from_urlencoded_body() -> None:
    django_request = api_factory.post(
        "/login/", "username=al%C3%AFce", content_type="application/x-www-form-urlencoded"
    )

    assert username_from_request(drf_request(django_request)) == "alïce"


@pytest.mark.parametrize("body", ['{"username": "alice"', "{", "\x00\xff", '{"username": "\\ud8'])
def test_broken_json_gives_none(body: str) -> None:
    request = drf_request(api_factory.post("/login/", body, content_type="application/json"))

    assert username_from_request(request) is None


def test_unsupported_media_type_gives_none() -> None:
    django_request = api_factory.post("/login/", "<username/>", content_type="application/xml")

    assert username_from_request(drf_request(django_request)) is None


def test_json_list_body_gives_none() -> None:
    request = drf_request(api_factory.post("/login/", ["alice"], format="json"))

    assert username_from_request(request) is None


@pytest.mark.parametrize("value", [["alice"], {"name": "alice"}, 42, True, 1.5])
def test_non_string_username_gives_none(value: object) -> None:
    body = {"username": value, "email": "alice@example.com"}
    request = drf_request(api_factory.post("/login/", body, format="json"))

    assert username_from_request(request) is None


@pytest.mark.parametrize("username", [None, "", "  "])
def test_blank_username_falls_back_to_email(username: str | None) -> None:
    body = {"username": username, "email": "alice@example.com"}
    request = drf_request(api_factory.post("/login/", body, format="json"))

    assert username_from_request(request) == "alice@example.com"


def test_missing_username_field_gives_none() -> None:
    request = drf_request(api_factory.post("/login/", {"password": "x"}, format="json"))

    assert username_from_request(request) is None


@override_settings(DEFENDER_USERNAME_FORM_FIELD="login")
def test_configured_form_field() -> None:
    body = {"login": "carol", "username": "alice"}
    request = drf_request(api_factory.post("/login/", body, format="json"))
    user_model_fallback = drf_request(
        api_factory.post("/login/", {"username": "alice"}, format="json")
    )

    assert username_from_request(request) == "carol"
    assert username_from_request(user_model_fallback) == "alice"


def test_plain_django_request_form() -> None:
    request = RequestFactory().post("/login/", {"username": "alice", "password": "x"})

    assert username_from_request(request) == "alice"


def test_plain_django_request_json_gives_none() -> None:
    request = RequestFactory().post(
        "/login/", {"username": "alice"}, content_type="application/json"
    )

    assert username_from_request(request) is None


def test_plain_django_request_broken_multipart() -> None:
    request = RequestFactory().post(
        "/login/", "garbage", content_type="multipart/form-data; boundary="
    )

    assert username_from_request(request) is None


def test_plain_django_request_repeated_field_takes_last() -> None:
    request = RequestFactory().post(
        "/login/", "username=a&username=b", content_type=("application/x-www-form-urlencoded")
    )

    assert username_from_request(request) == "b"


def extract_header_username(request: HttpRequest) -> str | None:
    return request.META.get("HTTP_X_USERNAME")


def extract_number(request: HttpRequest) -> int:
    return 7


def test_get_username_default_callable() -> None:
    request = drf_request(api_factory.post("/login/", {"username": "alice"}, format="json"))

    assert get_username_from_request(request) == "alice"


@override_settings(
    DEFENDER_GET_USERNAME_FROM_REQUEST_PATH="tests.test_identity.extract_header_username"
)
def test_get_username_custom_callable() -> None:
    request = RequestFactory().post("/login/", HTTP_X_USERNAME="bob")

    assert get_username_from_request(request) == "bob"


@override_settings(DEFENDER_GET_USERNAME_FROM_REQUEST_PATH="tests.test_identity.extract_number")
def test_get_username_non_string_result_gives_none() -> None:
    assert get_username_from_request(RequestFactory().post("/login/")) is None


# --- masking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.7", "203.0.113.x"),
        ("2001:db8:1:2::7", "2001:db8:1:…"),
        ("2001:db8:1:2::/64", "2001:db8:1:…/64"),
        ("::ffff:203.0.113.7", "203.0.113.x"),
        (None, "-"),
        ("garbage\n", "<invalid>"),
    ],
)
def test_mask_ip(ip: str | None, expected: str) -> None:
    assert mask_ip(ip) == expected


@override_settings(DEFENDER_LOG_FULL_IDENTITIES=True)
def test_mask_ip_full_when_enabled() -> None:
    assert mask_ip("203.0.113.7") == "203.0.113.7"
    assert mask_ip("2001:db8:1:2::/64") == "2001:db8:1:2::/64"


def test_mask_username() -> None:
    assert mask_username("alice") == "al…(5 chars)"
    assert mask_username("a") == "a…(1 chars)"
    assert mask_username(None) == "-"
    assert mask_username("\nx\ny") == "\\nx…(4 chars)"
    assert "\ud800" not in mask_username("\ud800abc")


@override_settings(DEFENDER_LOG_FULL_IDENTITIES=True)
def test_mask_username_full_when_enabled() -> None:
    assert mask_username("alice") == "alice"
    assert mask_username("ali\r\nce") == "ali\\r\\nce"
    long_name = mask_username("x" * 100_000)
    assert long_name.endswith("…(100000 chars)")
    assert len(long_name) < 200
