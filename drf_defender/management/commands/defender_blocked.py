"""List blocked usernames, IPs and IP-and-username pairs with the seconds left."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...backends.base import SubjectState
from ...keys import KIND_IP, KIND_PAIR, KIND_USERNAME
from ...service import get_service, now
from ..base import DefenderCommand, format_time, invalid

KIND_CHOICES = {
    "all": (KIND_USERNAME, KIND_IP, KIND_PAIR),
    KIND_USERNAME: (KIND_USERNAME,),
    KIND_IP: (KIND_IP,),
    KIND_PAIR: (KIND_PAIR,),
}
#: Subjects fetched from the backend per call.
PAGE_SIZE = 100


class Command(DefenderCommand):
    help = (
        "List blocked usernames, IP addresses and IP-and-username pairs with the seconds "
        "left on each block. Exit code 0, or 3 when the backend is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            choices=tuple(KIND_CHOICES),
            default="all",
            help="Which subjects to list (default: all). 'ipusername' lists IP-and-username pairs.",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=1000,
            help="Maximum subjects listed per kind (default: 1000).",
        )
        self.add_scope_argument(parser)
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        if limit < 1:
            raise invalid(f"--limit must be at least 1, not {limit}.")
        scope = options["scope"]
        service = get_service()
        current = now()

        listed: list[SubjectState] = []
        totals: dict[str, int] = {}
        for kind in KIND_CHOICES[options["kind"]]:
            total, states = _list_kind(service, kind, scope, limit)
            totals[kind] = total
            listed.extend(states)

        if options["json"]:
            self.write_json(
                {
                    "scope": scope,
                    "totals": totals,
                    "blocked": [_as_dict(state, current) for state in listed],
                }
            )
            return
        if not listed:
            self.stdout.write(f"Nothing is blocked in scope '{scope}'.")
            return
        rows = [
            (
                state.subject.kind,
                state.subject.label,
                _seconds_text(state, current),
                format_time(state.blocked_until),
                state.lockout_count,
                "manual" if state.manual else "automatic",
            )
            for state in listed
        ]
        self.write_table(
            ("KIND", "SUBJECT", "SECONDS LEFT", "BLOCKED UNTIL", "LOCKOUTS", "SET BY"), rows
        )
        shown = ", ".join(f"{totals[kind]} {kind}" for kind in totals)
        self.stdout.write(f"\nBlocked in scope '{scope}': {shown}.")
        if len(listed) < sum(totals.values()):
            self.stdout.write(f"Only the first {limit} of each kind are listed (--limit).")


def _list_kind(service: Any, kind: str, scope: str, limit: int) -> tuple[int, list[SubjectState]]:
    states: list[SubjectState] = []
    total = 0
    offset = 0
    while offset < limit:
        total, page = service.list_blocked(
            kind, scope=scope, offset=offset, limit=min(PAGE_SIZE, limit - offset)
        )
        states.extend(page)
        offset += PAGE_SIZE
        if offset >= total:
            break
    return total, states[:limit]


def _seconds_text(state: SubjectState, current: float) -> str:
    seconds = state.seconds_left(current)
    return "until unblocked" if seconds is None else str(seconds)


def _as_dict(state: SubjectState, current: float) -> dict[str, Any]:
    return {
        "kind": state.subject.kind,
        "subject": state.subject.label,
        "scope": state.subject.scope,
        "seconds_left": state.seconds_left(current),
        "blocked_since": state.blocked_since,
        "blocked_until": state.blocked_until or None,
        "lockout_count": state.lockout_count,
        "manual": state.manual,
        "failures": state.failures,
    }
