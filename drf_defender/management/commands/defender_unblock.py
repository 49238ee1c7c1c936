"""Lift the block of a username, an IP address or an IP-and-username pair."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from ...keys import KIND_IP, KIND_PAIR, KIND_USERNAME, PAIR_SEPARATOR
from ...service import get_service
from ..base import EXIT_NOTHING_TO_DO, DefenderCommand, actor_name, printable


class Command(DefenderCommand):
    help = (
        "Lift the block of one username, IP address or IP-and-username pair and delete "
        "its failure counters. Exit code 0 when a block was lifted, 1 when the subject was "
        "not blocked (its counters are deleted all the same), 2 for invalid input, 3 when "
        "the backend is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--username", help="Username to unblock, as typed at login.")
        target.add_argument("--ip", help="IP address to unblock.")
        target.add_argument(
            "--pair",
            metavar=f"IP{PAIR_SEPARATOR}USERNAME",
            help=f"IP-and-username pair to unblock, as 'IP{PAIR_SEPARATOR}USERNAME' "
            f"(quote it in a shell), for example '203.0.113.7{PAIR_SEPARATOR}alice'.",
        )
        self.add_scope_argument(parser)
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["username"] is not None:
            kind, value = KIND_USERNAME, options["username"]
        elif options["ip"] is not None:
            kind, value = KIND_IP, options["ip"]
        else:
            kind, value = KIND_PAIR, options["pair"]
            if PAIR_SEPARATOR not in value:
                raise ValueError(
                    f"--pair must be 'IP{PAIR_SEPARATOR}USERNAME', for example "
                    f"'203.0.113.7{PAIR_SEPARATOR}alice'; {value!r} has no "
                    f"'{PAIR_SEPARATOR}'."
                )
        scope = options["scope"]

        was_blocked = get_service().unblock(
            kind, value, scope=scope, actor=actor_name("defender_unblock")
        )

        if options["json"]:
            self.write_json(
                {"kind": kind, "value": value, "scope": scope, "unblocked": was_blocked}
            )
        label = f"{kind} {printable(value)!r}"
        if not was_blocked:
            raise CommandError(
                f"Nothing to unblock: {label} was not blocked in scope '{scope}'. Its failure "
                "counters were deleted.",
                returncode=EXIT_NOTHING_TO_DO,
            )
        if not options["json"]:
            self.stdout.write(f"Unblocked {label} in scope '{scope}'.")
