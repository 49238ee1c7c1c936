"""Exact counts of Redis round trips, Redis commands and SQL queries per request.

Round trips and commands are counted on the client side by wrapping redis-py's
connection class for the duration of a ``RedisCounter`` block: every system's client
(drf-defender's, django-defender's module-level client, Django's RedisCache used by
django-axes) is an instance of it, so one method counts them all alike. A round trip is
one packed send followed by its replies: a pipeline of five commands is one round trip
and five commands; an EVALSHA is one command however many keys its script touches.
The server side is counted with INFO commandstats, which also counts the commands that
scripts run.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import redis
from redis.connection import AbstractConnection


class RedisCounter:
    """Count round trips and commands sent through redis-py while active."""

    def __init__(self) -> None:
        self.round_trips = 0
        self.commands: Counter[str] = Counter()
        self._saved: dict[str, Any] = {}

    def __enter__(self) -> RedisCounter:
        counter = self
        send_packed = AbstractConnection.send_packed_command
        send_command = AbstractConnection.send_command
        pack_commands = AbstractConnection.pack_commands
        self._saved = {
            "send_packed_command": send_packed,
            "send_command": send_command,
            "pack_commands": pack_commands,
        }

        def counting_send_packed(self: Any, command: Any, check_health: bool = True) -> None:
            counter.round_trips += 1
            send_packed(self, command, check_health)

        def counting_send_command(self: Any, *args: Any, **kwargs: Any) -> None:
            counter.commands[_name(args)] += 1
            send_command(self, *args, **kwargs)

        def counting_pack_commands(self: Any, commands: Any) -> Any:
            commands = list(commands)
            for args in commands:
                counter.commands[_name(args)] += 1
            return pack_commands(self, commands)

        AbstractConnection.send_packed_command = counting_send_packed  # type: ignore[method-assign]
        AbstractConnection.send_command = counting_send_command  # type: ignore[method-assign]
        AbstractConnection.pack_commands = counting_pack_commands  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        for name, method in self._saved.items():
            setattr(AbstractConnection, name, method)

    def reset(self) -> None:
        self.round_trips = 0
        self.commands.clear()

    @property
    def command_total(self) -> int:
        return sum(self.commands.values())


class HashCounter:
    """Count password hashes computed with the project's default hasher while active.

    Django hashes once per password check, and also once for a username that does not
    exist (so that the response takes as long). Both go through the hasher's ``encode``.
    """

    def __init__(self) -> None:
        self.hashes = 0
        self._hasher_class: Any = None
        self._encode: Any = None

    def __enter__(self) -> HashCounter:
        from django.contrib.auth.hashers import get_hasher

        counter = self
        self._hasher_class = type(get_hasher())
        encode = self._encode = self._hasher_class.encode

        def counting_encode(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.hashes += 1
            return encode(self, *args, **kwargs)

        self._hasher_class.encode = counting_encode
        return self

    def __exit__(self, *exc: object) -> None:
        self._hasher_class.encode = self._encode


def _name(args: Any) -> str:
    first = args[0] if args else b"?"
    if isinstance(first, bytes):
        first = first.decode("ascii", "replace")
    return str(first).upper()


def server_command_calls(clients: list[redis.Redis]) -> dict[str, int]:
    """Return INFO commandstats as {command: calls}, summed over ``clients``' servers.

    Each snapshot's own INFO is left out, so that two snapshots differ by what the
    requests in between sent.
    """
    result: dict[str, int] = {}
    for client in clients:
        stats = client.info("commandstats")
        for key, value in stats.items():
            name = key.removeprefix("cmdstat_")
            calls = int(value["calls"]) if isinstance(value, dict) else 0
            result[name] = result.get(name, 0) + calls
        result["info"] = result.get("info", 0) - 1
    return result


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Return the calls made between two snapshots."""
    delta = {}
    for name, calls in after.items():
        diff = calls - before.get(name, 0)
        if diff > 0:
            delta[name] = diff
    return delta
