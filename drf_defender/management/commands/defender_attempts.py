"""List recent access attempts from the database log, newest first."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser
from django.utils import timezone as django_timezone
from django.utils.dateparse import parse_date, parse_datetime

from ...access_log import as_dict, filter_attempts
from ...service import now
from ..base import DefenderCommand, invalid

#: Most rows one call prints.
MAX_LIMIT = 10_000
_RELATIVE = re.compile(r"(\d+)\s*([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Command(DefenderCommand):
    help = (
        "List recent login attempts from the access log, newest first, with optional "
        "filters. Exit code 0, 2 for invalid input, 3 when the database is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--username", help="Only attempts for this username (normalised as at login)."
        )
        parser.add_argument("--ip", help="Only attempts from this IP address.")
        outcome = parser.add_mutually_exclusive_group()
        outcome.add_argument("--success", action="store_true", help="Only successful attempts.")
        outcome.add_argument("--failure", action="store_true", help="Only failed attempts.")
        parser.add_argument(
            "--since",
            help="Only attempts at or after this time: a duration back from now such as "
            "'90s', '30m', '2h' or '7d', or an ISO 8601 date or time such as "
            "'2026-01-31' or '2026-01-31T08:00:00+00:00' (without an offset, TIME_ZONE "
            "applies).",
        )
        parser.add_argument(
            "--limit",
            type=int,
            default=50,
            help=f"Maximum rows printed, 1 to {MAX_LIMIT} (default: 50).",
        )
        parser.add_argument(
            "--scope",
            help="Only attempts of this scope, for example 'login' or 'password_reset'.",
        )
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        limit = options["limit"]
        if not 1 <= limit <= MAX_LIMIT:
            raise invalid(f"--limit must be between 1 and {MAX_LIMIT}, not {limit}.")
        success = True if options["success"] else False if options["failure"] else None
        since = parse_since(options["since"]) if options["since"] is not None else None

        rows = list(
            filter_attempts(
                username=options["username"],
                ip=options["ip"],
                success=success,
                since=since,
                scope=options["scope"],
            )[:limit]
        )

        if options["json"]:
            self.write_json([as_dict(row) for row in rows])
            return
        if not rows:
            self.stdout.write("No access attempts match.")
            return
        self.write_table(
            ("TIME", "RESULT", "USERNAME", "IP", "INTEGRATION", "SCOPE", "PATH"),
            [
                (
                    _time_text(row.attempt_time),
                    _result(row.login_valid, row.locked_out),
                    row.username,
                    row.ip_address,
                    row.integration,
                    row.scope,
                    row.path_info,
                )
                for row in rows
            ],
        )
        if len(rows) == limit:
            self.stdout.write(f"\nShowing the newest {limit} rows (--limit).")


def parse_since(value: str) -> datetime:
    """Return the time that ``--since`` names; raise ValueError with the accepted forms."""
    text = value.strip()
    relative = _RELATIVE.fullmatch(text)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        try:
            delta = timedelta(seconds=amount * _UNIT_SECONDS[unit])
            moment = datetime.fromtimestamp(now(), tz=timezone.utc) - delta
        except (OverflowError, ValueError) as error:
            raise ValueError(f"--since {value!r} is too far back.") from error
        return _database_time(moment)
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = datetime(day.year, day.month, day.day) if day is not None else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(
            f"--since {value!r} is not a duration such as '30m', '2h' or '7d', nor an ISO "
            "8601 date or time such as '2026-01-31T08:00:00'."
        )
    if django_timezone.is_naive(parsed):
        parsed = django_timezone.make_aware(parsed, django_timezone.get_default_timezone())
    return _database_time(parsed)


def _database_time(moment: datetime) -> datetime:
    if settings.USE_TZ:
        return moment
    return django_timezone.make_naive(moment, django_timezone.get_default_timezone())


def _time_text(moment: datetime) -> str:
    if django_timezone.is_aware(moment):
        moment = moment.astimezone(timezone.utc)
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _result(login_valid: bool, locked_out: bool) -> str:
    if login_valid:
        return "success"
    return "locked out" if locked_out else "failed"
