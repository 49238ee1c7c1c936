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
        send_packed = self._saved["send_packed_command"] = AbstractConnection.send_packed_command

        # Every way of sending ends here: single commands, redis-py's pipelines and
        # drf-defender's own packing. The commands are read back from the packed bytes,
        # so the count does not depend on which packer produced them.
        def counting_send_packed(self: Any, command: Any, check_health: bool = True) -> None:
            counter.round_trips += 1
            for name in command_names(command):
                counter.commands[name] += 1
            send_packed(self, command, check_health)

        AbstractConnection.send_packed_command = counting_send_packed  # type: ignore[method-assign]
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


def command_names(packed: Any) -> list[str]:
    """Return the name of each command in a packed Redis protocol payload, in order.

    ``packed`` is what redis-py hands to ``send_packed_command``: bytes, or a list of
    byte chunks. Each command is an array of bulk strings; the first is its name.
    """
    if isinstance(packed, (bytes, bytearray, memoryview)):
        data = bytes(packed)
    else:
        data = b"".join(bytes(chunk) for chunk in packed)
    names = []
    position = 0
    while position < len(data):
        if data[position : position + 1] != b"*":
            raise ValueError(f"not a Redis command array at byte {position}")
        end = data.index(b"\r\n", position)
        items = int(data[position + 1 : end])
        position = end + 2
        for item in range(items):
            end = data.index(b"\r\n", position)
            length = int(data[position + 1 : end])
            value = data[end + 2 : end + 2 + length]
            if item == 0:
                names.append(value.decode("ascii", "replace").upper())
            position = end + 2 + length + 2
    return names


def server_command_calls(clients: list[redis.Redis]) -> dict[str, int]:
    """Return INFO commandstats as {command: calls}, summed over ``clients``' servers.

    The snapshots' own INFO calls are left out, because no system sends INFO while
    logging in: two snapshots then differ by what the requests in between sent.
    """
    result: dict[str, int] = {}
    for client in clients:
        stats = client.info("commandstats")
        for key, value in stats.items():
            name = key.removeprefix("cmdstat_")
            calls = int(value["calls"]) if isinstance(value, dict) else 0
            if name != "info":
                result[name] = result.get(name, 0) + calls
    return result


def command_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Return the calls made between two snapshots."""
    delta = {}
    for name, calls in after.items():
        diff = calls - before.get(name, 0)
        if diff > 0:
            delta[name] = diff
    return delta
