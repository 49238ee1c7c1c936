"""Block a username or an IP address by hand, for a duration or until unblocked."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...keys import KIND_IP, KIND_USERNAME
from ...service import get_service, now
from ..base import DefenderCommand, actor_name, format_time, invalid, printable

#: Longest block the command accepts, in seconds (ten years); longer ones are --permanent.
MAX_BLOCK_SECONDS = 10 * 365 * 24 * 3600


class Command(DefenderCommand):
    help = (
        "Block one username or IP address by hand. Without --seconds or --permanent the "
        "block lasts the scope's first lockout duration. Exit code 0, 2 for invalid "
        "input, 3 when the backend is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--username", help="Username to block, as typed at login.")
        target.add_argument("--ip", help="IP address to block.")
        duration = parser.add_mutually_exclusive_group()
        duration.add_argument(
            "--seconds",
            type=int,
            help=f"Length of the block in seconds, 1 to {MAX_BLOCK_SECONDS}.",
        )
        duration.add_argument(
            "--permanent",
            action="store_true",
            help="Block until someone unblocks it (defender_unblock or the admin API).",
        )
        self.add_scope_argument(parser)
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["seconds"]
        if seconds is not None and not 1 <= seconds <= MAX_BLOCK_SECONDS:
            raise invalid(
                f"--seconds must be between 1 and {MAX_BLOCK_SECONDS}, not {seconds}; use "
                "--permanent for a block without an end."
            )
        duration = 0 if options["permanent"] else seconds
        if options["username"] is not None:
            kind, value = KIND_USERNAME, options["username"]
        else:
            kind, value = KIND_IP, options["ip"]
        scope = options["scope"]

        state = get_service().block(
            kind, value, duration=duration, scope=scope, actor=actor_name("defender_block")
        )

        seconds_left = state.seconds_left(now())
        if options["json"]:
            self.write_json(
                {
                    "kind": kind,
                    "subject": state.subject.label,
                    "scope": scope,
                    "seconds_left": seconds_left,
                    "blocked_until": state.blocked_until or None,
                    "lockout_count": state.lockout_count,
                    "manual": state.manual,
                }
            )
            return
        label = f"{kind} {printable(state.subject.label)!r}"
        if seconds_left is None:
            self.stdout.write(f"Blocked {label} in scope '{scope}' until unblocked.")
        else:
            self.stdout.write(
                f"Blocked {label} in scope '{scope}' for {seconds_left} seconds, until "
                f"{format_time(state.blocked_until)}."
            )
