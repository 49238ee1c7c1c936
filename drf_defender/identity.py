"""Identify the client of a login attempt: its IP address and its normalised username.

The lockout service counts failures under the values returned here, so every function
accepts hostile input (forged forwarding headers, huge or odd usernames, broken request
bodies) without raising. Where no usable value exists, the function returns None and
the service must not count anything under a placeholder.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeAlias

from django.contrib.auth import get_user_model
from django.core.exceptions import (
    ImproperlyConfigured,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.utils.module_loading import import_string
from rest_framework.exceptions import ParseError, UnsupportedMediaType

from drf_defender.conf import defender_settings, on_reload

logger = logging.getLogger(__name__)

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network

# Maximum length of one address in a forwarding header. The longest valid form,
# "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255]:65535", has 53 characters, and a zone
# id such as "%eth0" adds a few more.
MAX_FORWARDED_ENTRY_LENGTH = 100

# request.META keys of the headers that proxies use to pass on the client address.
FORWARDING_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_CLIENT_IP",
    "HTTP_FORWARDED",
)

# Usernames up to this length, made of READABLE_USERNAME_CHARACTERS, are used as they
# are. Anything else is replaced by HASHED_USERNAME_PREFIX and a SHA-256 prefix.
MAX_READABLE_USERNAME_LENGTH = 64
READABLE_USERNAME_CHARACTERS = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"{", "}"}
HASHED_USERNAME_PREFIX = "h:"
HASHED_USERNAME_HEX_DIGITS = 40

# Fields tried after USERNAME_FORM_FIELD when it is missing from the request body.
FALLBACK_USERNAME_FIELD = "email"

# Characters of a username shown in log messages when DEFENDER_LOG_FULL_IDENTITIES is on.
MAX_LOGGED_USERNAME_LENGTH = 100

WARNING_INTERVAL_SECONDS = 60.0


class WarningLimiter:
    """Allow one log line per reason per ``interval`` seconds, shared by all threads."""

    def __init__(
        self,
        interval: float = WARNING_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._last_logged: dict[str, float] = {}
        self._lock = threading.Lock()

    def allow(self, reason: str) -> bool:
        """Return True, and start a new interval, if ``reason`` may be logged now."""
        now = self.clock()
        with self._lock:
            last = self._last_logged.get(reason)
            if last is not None and now - last < self.interval:
                return False
            self._last_logged[reason] = now
            return True

    def reset(self) -> None:
        with self._lock:
            self._last_logged.clear()


warning_limiter = WarningLimiter()


def _warn(reason: str, message: str, *args: object) -> None:
    if warning_limiter.allow(reason):
        logger.warning(message, *args)


# --- caches of values derived from settings ---------------------------------------

_callable_cache: dict[str, Callable[..., Any]] = {}
_trusted_proxies_cache: dict[str, list[IPNetwork]] = {}
_cache_lock = threading.Lock()


@on_reload
def _clear_caches() -> None:
    with _cache_lock:
        _callable_cache.clear()
        _trusted_proxies_cache.clear()


def _resolve_callable(setting_name: str) -> Callable[..., Any]:
    """Import the callable named by a dotted-path setting, or accept a callable itself."""
    value = getattr(defender_settings, setting_name)
    if callable(value):
        return value
    if not isinstance(value, str):
        raise ImproperlyConfigured(
            f"DEFENDER_{setting_name} must be a dotted path to a callable, got {value!r}."
        )
    cached = _callable_cache.get(value)
    if cached is not None:
        return cached
    try:
        imported = import_string(value)
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DEFENDER_{setting_name} = {value!r} cannot be imported: {exc}"
        ) from exc
    if not callable(imported):
        raise ImproperlyConfigured(f"DEFENDER_{setting_name} = {value!r} is not callable.")
    with _cache_lock:
        _callable_cache[value] = imported
    return imported


def _trusted_proxies() -> list[IPNetwork]:
    with _cache_lock:
        cached = _trusted_proxies_cache.get("networks")
    if cached is not None:
        return cached
    try:
        networks = parse_networks(defender_settings.TRUSTED_PROXIES)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DEFENDER_TRUSTED_PROXIES is invalid: {exc}") from exc
    with _cache_lock:
        _trusted_proxies_cache["networks"] = networks
    return networks


# --- addresses and networks --------------------------------------------------------


def _canonical_address(address: IPAddress) -> IPAddress:
    """Drop an IPv6 zone id and turn an IPv4-mapped IPv6 address into IPv4."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.scope_id is not None:
            return ipaddress.IPv6Address(address.packed)
    return address


def _parse_address(text: object) -> IPAddress | None:
    """Parse one address as written in REMOTE_ADDR or a forwarding header.

    Accepts surrounding whitespace, a port (``203.0.113.7:51000``, ``[2001:db8::7]:443``),
    brackets without a port and an IPv6 zone id. Returns None for anything else.
    """
    if not isinstance(text, str):
        return None
    candidate = text.strip()
    if not candidate or len(candidate) > MAX_FORWARDED_ENTRY_LENGTH or not candidate.isascii():
        return None

    if candidate.startswith("["):
        host, bracket, rest = candidate[1:].partition("]")
        if not bracket or (rest and not _is_port_suffix(rest)):
            return None
        candidate = host
    elif candidate.count(":") == 1:
        host, _, port = candidate.partition(":")
        if not _is_port_suffix(":" + port):
            return None
        candidate = host

    try:
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return None
    return _canonical_address(address)


def canonical_ip(value: object) -> str | None:
    """Return ``value`` as a canonical address string, or None if it is not an address.

    Applies the rules of ``client_ip`` to one address typed elsewhere (an admin request,
    a list entry): whitespace and a port are dropped, IPv6 is compressed, and an
    IPv4-mapped address becomes IPv4.
    """
    return _format(_parse_address(value))


def _is_port_suffix(text: str) -> bool:
    """Return whether ``text`` is ``:`` followed by a TCP port number (0 to 65535)."""
    port = text[1:]
    if not (text.startswith(":") and 0 < len(port) <= 5 and port.isascii() and port.isdigit()):
        return False
    return int(port) <= 65535


def parse_networks(values: Iterable[str]) -> list[IPNetwork]:
    """Parse addresses and CIDR networks into network objects.

    A single address becomes a /32 or /128 network; host bits in a CIDR value are
    ignored (``10.1.2.3/8`` means ``10.0.0.0/8``). A lone string is read as one value.
    Raises ValueError naming the first value that is not an address or network.
    """
    if isinstance(values, str):
        values = [values]
    networks: list[IPNetwork] = []
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not an IP address or network (expected a string).")
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IP address or network: {exc}") from exc
    return networks


def ip_in_networks(ip: str | None, networks: Collection[IPNetwork]) -> bool:
    """Return whether ``ip`` lies in one of ``networks``.

    An IPv4-mapped IPv6 address is matched as its IPv4 address. None or an invalid
    address is in no network.
    """
    if ip is None or not networks:
        return False
    address = _parse_address(ip)
    if address is None:
        return False
    return any(address in network for network in networks)


# --- client IP -----------------------------------------------------------------------


def _meta_key(header: str) -> str:
    """Return the request.META key of a header given as ``X-Forwarded-For`` or META key."""
    key = header.strip().upper().replace("-", "_")
    if key.startswith("HTTP_") or key in {"REMOTE_ADDR", "CONTENT_TYPE", "CONTENT_LENGTH"}:
        return key
    return "HTTP_" + key


def _proxy_count() -> int:
    count = defender_settings.REVERSE_PROXY_COUNT
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ImproperlyConfigured(
            f"DEFENDER_REVERSE_PROXY_COUNT must be an integer of at least 1, got {count!r}."
        )
    return count


def _forwarded_for_value(element: str) -> str:
    """Return the ``for=`` parameter of one element of an RFC 7239 Forwarded header."""
    for pair in element.split(";"):
        name, equals, value = pair.partition("=")
        if equals and name.strip().lower() == "for":
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            return value
    return ""


def client_ip(request: HttpRequest) -> str | None:
    """Return the canonical address of the client that sent ``request``, or None.

    Without DEFENDER_BEHIND_REVERSE_PROXY this is REMOTE_ADDR and no forwarding header
    is read. Behind a proxy, it is the DEFENDER_REVERSE_PROXY_COUNT-th entry from the
    right of DEFENDER_REVERSE_PROXY_HEADER, because proxies append to the right and the
    client writes whatever it likes on the left. The header is read only when
    DEFENDER_TRUSTED_PROXIES is empty or contains REMOTE_ADDR. A missing, empty, invalid
    or too short header falls back to REMOTE_ADDR with a rate-limited warning.

    IPv6 addresses are returned compressed and IPv4-mapped IPv6 addresses as IPv4.
    Returns None when REMOTE_ADDR is missing or invalid and no forwarded address
    applies.
    """
    meta = request.META
    peer = _parse_address(meta.get("REMOTE_ADDR"))

    if not defender_settings.BEHIND_REVERSE_PROXY:
        _warn_about_unused_forwarding_header(meta, peer)
        return _format(peer)

    trusted = _trusted_proxies()
    if trusted and (peer is None or not any(peer in network for network in trusted)):
        header = _meta_key(defender_settings.REVERSE_PROXY_HEADER)
        if meta.get(header):
            _warn(
                "untrusted_peer",
                "Ignored the %s header from %s because that address is not in "
                "DEFENDER_TRUSTED_PROXIES; add the proxy's address there if it is one.",
                header,
                mask_ip(_format(peer)),
            )
        return _format(peer)

    forwarded = _forwarded_address(meta, peer)
    return _format(forwarded if forwarded is not None else peer)


def _format(address: IPAddress | None) -> str | None:
    return None if address is None else str(address)


def _forwarded_address(meta: Mapping[str, Any], peer: IPAddress | None) -> IPAddress | None:
    """Return the client address from the forwarding header, or None with a warning."""
    header = _meta_key(defender_settings.REVERSE_PROXY_HEADER)
    count = _proxy_count()
    value = meta.get(header)
    masked_peer = mask_ip(_format(peer))

    if not isinstance(value, str) or not value.strip():
        reason = "missing" if value is None else "empty"
        _warn(
            "header_" + reason,
            "The %s header is %s on a request from %s; counted the request under "
            "REMOTE_ADDR. Check that the proxy sets DEFENDER_REVERSE_PROXY_HEADER.",
            header,
            reason,
            masked_peer,
        )
        return None

    # Split only the right-hand part that the trusted proxies wrote, so that a client
    # cannot change the result, or force the fallback, by padding the left-hand side.
    entries = value.rsplit(",", count)
    if len(entries) < count:
        _warn(
            "header_too_few_entries",
            "The %s header has %d entries but DEFENDER_REVERSE_PROXY_COUNT is %d, on a "
            "request from %s; counted the request under REMOTE_ADDR. Lower the count if "
            "fewer proxies append to the header.",
            header,
            len(entries),
            count,
            masked_peer,
        )
        return None

    entry = entries[-count]
    if header == "HTTP_FORWARDED":
        entry = _forwarded_for_value(entry)
    address = _parse_address(entry)
    if address is None:
        reason = "too long" if len(entry.strip()) > MAX_FORWARDED_ENTRY_LENGTH else "invalid"
        _warn(
            "header_" + reason.replace(" ", "_"),
            "The client entry of the %s header is %s (%d characters) on a request from %s; "
            "counted the request under REMOTE_ADDR.",
            header,
            reason,
            len(entry),
            masked_peer,
        )
        return None
    return address


def _warn_about_unused_forwarding_header(meta: Mapping[str, Any], peer: IPAddress | None) -> None:
    """Warn when a private peer sends forwarding headers but no proxy is configured."""
    if peer is None or not (peer.is_loopback or peer.is_private):
        return
    configured = _meta_key(defender_settings.REVERSE_PROXY_HEADER)
    headers = dict.fromkeys((configured, *FORWARDING_HEADERS))
    present = [header for header in headers if meta.get(header)]
    if not present:
        return
    _warn(
        "unused_forwarding_header",
        "A request from the private address %s carries %s, but DEFENDER_BEHIND_REVERSE_PROXY "
        "is False, so every client behind that proxy is counted as the proxy and may be "
        "locked out together. If Django runs behind a proxy, set "
        "DEFENDER_BEHIND_REVERSE_PROXY, DEFENDER_REVERSE_PROXY_HEADER, "
        "DEFENDER_REVERSE_PROXY_COUNT and DEFENDER_TRUSTED_PROXIES.",
        mask_ip(_format(peer)),
        ", ".join(present),
    )


def ip_subject(ip: str) -> str:
    """Return the identity under which failures from ``ip`` are counted.

    That is the address itself for IPv4, and for IPv6 the network of
    DEFENDER_IPV6_PREFIX_LENGTH bits (``2001:db8:1:2::/64``) unless the length is 128,
    so that one host cannot escape the count by rotating through its own prefix.
    Raises ValueError if ``ip`` is not an address.
    """
    address = _parse_address(ip)
    if address is None:
        raise ValueError(f"{ip!r} is not an IP address.")
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)

    prefix_length = defender_settings.IPV6_PREFIX_LENGTH
    if isinstance(prefix_length, bool) or not isinstance(prefix_length, int):
        raise ImproperlyConfigured(
            f"DEFENDER_IPV6_PREFIX_LENGTH must be an integer from 0 to 128, got {prefix_length!r}."
        )
    if not 0 <= prefix_length <= 128:
        raise ImproperlyConfigured(
            f"DEFENDER_IPV6_PREFIX_LENGTH must be from 0 to 128, got {prefix_length}."
        )
    if prefix_length == 128:
        return str(address)
    return str(ipaddress.IPv6Network((address, prefix_length), strict=False))


# --- usernames -----------------------------------------------------------------------


def normalize_username(value: str) -> str:
    """Return ``value`` stripped, NFKC-normalised and case-folded.

    The value is normalised again after case folding, which can produce text that is
    not in NFKC form, and stripped again because NFKC maps characters such as U+3000
    to spaces. Lone surrogates pass through unchanged.
    """
    normalised = unicodedata.normalize("NFKC", value.strip())
    normalised = unicodedata.normalize("NFKC", normalised.casefold())
    return normalised.strip()


def _hashed_username(normalised: str) -> str:
    digest = hashlib.sha256(normalised.encode("utf-8", "surrogatepass")).hexdigest()
    return HASHED_USERNAME_PREFIX + digest[:HASHED_USERNAME_HEX_DIGITS]


def _is_readable_username(normalised: str) -> bool:
    return (
        len(normalised) <= MAX_READABLE_USERNAME_LENGTH
        and not normalised.startswith(HASHED_USERNAME_PREFIX)
        and READABLE_USERNAME_CHARACTERS.issuperset(normalised)
    )


def username_identity(value: object) -> str | None:
    """Return the identity under which failures for the username ``value`` are counted.

    The value goes through DEFENDER_USERNAME_NORMALIZER. A normalised value of at most
    64 printable ASCII characters, without spaces or braces and not starting with
    ``h:``, is returned as it is (``alice``, ``alice@example.com``). Any other value is
    returned as ``h:`` followed by the first 40 hex digits of the SHA-256 of its UTF-8
    encoding (lone surrogates encoded with ``surrogatepass``), 42 characters in all.
    Returns None for a non-string or for a value that normalises to an empty string.

    If a custom normaliser raises ValueError or UnicodeError, the default normaliser is
    used for that value, so that a username the custom code cannot handle is still
    counted.
    """
    if not isinstance(value, str):
        return None
    normalizer = _resolve_callable("USERNAME_NORMALIZER")
    try:
        normalised = normalizer(value)
    except (ValueError, UnicodeError) as exc:
        _warn(
            "normalizer_failed",
            "DEFENDER_USERNAME_NORMALIZER raised %s for the username %s; used the default "
            "normaliser instead.",
            type(exc).__name__,
            mask_username(value),
        )
        normalised = normalize_username(value)
    if not isinstance(normalised, str) or not normalised:
        return None
    if _is_readable_username(normalised):
        return normalised
    return _hashed_username(normalised)


def _request_data(request: Any) -> Mapping[str, Any] | None:
    """Return the parsed body of a DRF or Django request, or None if it cannot be read."""
    data = None
    try:
        if hasattr(request, "data"):
            data = request.data
        if not isinstance(data, Mapping):
            data = request.POST
    except (
        ParseError,
        UnsupportedMediaType,
        MultiPartParserError,
        UnreadablePostError,
        RequestDataTooBig,
        TooManyFieldsSent,
        TooManyFilesSent,
    ) as exc:
        logger.debug("Could not read the request body for the username: %s", exc)
        return None
    return data if isinstance(data, Mapping) else None


def _username_fields() -> list[str]:
    fields = [defender_settings.USERNAME_FORM_FIELD]
    try:
        fields.append(get_user_model().USERNAME_FIELD)
    except (ImproperlyConfigured, LookupError, AttributeError):
        pass
    fields.append(FALLBACK_USERNAME_FIELD)
    return list(dict.fromkeys(field for field in fields if isinstance(field, str)))


def username_from_request(request: Any) -> str | None:
    """Return the raw username that ``request`` submits, or None.

    Reads DEFENDER_USERNAME_FORM_FIELD from DRF's ``request.data`` when that is a
    mapping, otherwise from ``request.POST``, so both a DRF Request and a plain Django
    HttpRequest work. When the field is missing, null or blank, the user model's
    USERNAME_FIELD and then ``email`` are tried. Returns None for an unreadable body
    (broken JSON, unsupported media type) and for a value that is not a string.
    """
    data = _request_data(request)
    if data is None:
        return None
    for field in _username_fields():
        value = data.get(field)
        if value is None:
            continue
        if not isinstance(value, str):
            return None
        if value.strip():
            return value
    return None


def get_username_from_request(request: Any) -> str | None:
    """Call DEFENDER_GET_USERNAME_FROM_REQUEST_PATH and return its result if it is a string."""
    extract = _resolve_callable("GET_USERNAME_FROM_REQUEST_PATH")
    value = extract(request)
    return value if isinstance(value, str) else None


# --- masking for log messages --------------------------------------------------------


def mask_ip(ip: str | None) -> str:
    """Return ``ip`` for a log message, masked unless DEFENDER_LOG_FULL_IDENTITIES.

    IPv4 keeps three octets (``203.0.113.x``), IPv6 the first three groups
    (``2001:db8:1:…``). A network keeps its prefix length. None becomes ``-`` and any
    other text ``<invalid>``.
    """
    if ip is None:
        return "-"
    address_text, slash, prefix = ip.partition("/")
    address = _parse_address(address_text)
    if address is None or (slash and not (prefix.isascii() and prefix.isdigit())):
        return "<invalid>"
    suffix = f"/{prefix}" if slash else ""
    if defender_settings.LOG_FULL_IDENTITIES:
        return f"{address}{suffix}"
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(str(address).split(".")[:3]) + ".x" + suffix
    groups = [group.lstrip("0") or "0" for group in address.exploded.split(":")[:3]]
    return ":".join(groups) + ":…" + suffix


def _escape_for_log(text: str) -> str:
    """Escape characters that could forge or break a log line (control chars, newlines)."""
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def mask_username(name: str | None) -> str:
    """Return ``name`` for a log message, masked unless DEFENDER_LOG_FULL_IDENTITIES.

    The masked form keeps the first two characters and the length (``al…(5 chars)``).
    Control characters are escaped, and full names are cut after 100 characters.
    """
    if name is None:
        return "-"
    if defender_settings.LOG_FULL_IDENTITIES:
        if len(name) <= MAX_LOGGED_USERNAME_LENGTH:
            return _escape_for_log(name)
        truncated = _escape_for_log(name[:MAX_LOGGED_USERNAME_LENGTH])
        return f"{truncated}…({len(name)} chars)"
    return f"{_escape_for_log(name[:2])}…({len(name)} chars)"
