"""Tell loopback hosts apart, for the commands that guard the demo's known passwords."""

from __future__ import annotations

import ipaddress

LOOPBACK_NAMES = frozenset({"localhost"})


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` (a name or an address, IPv6 possibly in brackets) is loopback.

    Only the name ``localhost`` and addresses in 127.0.0.0/8 or ``::1`` count. Other names
    are never resolved, because a name can point anywhere.
    """
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
