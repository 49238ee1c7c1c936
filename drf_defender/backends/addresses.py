"""Parse the server addresses of the Sentinel and Cluster settings.

An address is a ``(host, port)`` pair, or a ``"host:port"`` string, which is easier to read
from an environment variable. An IPv6 host is written in brackets, as in
``"[2001:db8::7]:26379"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Address = tuple[str, int]


def parse_address(value: Any) -> Address:
    """Return ``value`` as a ``(host, port)`` pair; raise ValueError when it is not one."""
    if isinstance(value, str):
        host, separator, port_text = value.rpartition(":")
        if not separator:
            raise ValueError(f"{value!r} has no port; write it as 'host:port'")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        try:
            port: Any = int(port_text)
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port {port_text!r}") from None
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        host, port = value
    else:
        raise ValueError(f"{value!r} is neither a (host, port) pair nor a 'host:port' string")
    if not isinstance(host, str) or not host.strip():
        raise ValueError(f"{value!r} has an empty or invalid host")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"{value!r} has an invalid port; use a number from 1 to 65535")
    return host.strip(), port


def parse_addresses(setting: str, values: Any) -> list[Address]:
    """Return the addresses of the list ``values``, read from the setting named ``setting``.

    Raises ValueError, naming the setting, when ``values`` is empty, is not a list or
    tuple, or contains an entry that is not an address.
    """
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(
            f"{setting} is {values!r}; it must be a list of (host, port) pairs or "
            "'host:port' strings"
        )
    if not values:
        raise ValueError(f"{setting} is empty; list at least one (host, port) address")
    addresses = []
    for value in values:
        try:
            addresses.append(parse_address(value))
        except ValueError as error:
            raise ValueError(f"{setting} contains an invalid address: {error}") from None
    return addresses
