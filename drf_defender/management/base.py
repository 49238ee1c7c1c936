"""Shared parts of drf-defender's management commands: exit codes, errors and output.

Exit codes, the same for every command:

- 0: done.
- 1: nothing to do (``defender_unblock`` of a subject that was not blocked).
- 2: invalid input (a bad IP address, an empty username, a bad option value).
- 3: the lockout backend or the database is unavailable or misconfigured.
"""

from __future__ import annotations

import getpass
import json
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from ..exceptions import BackendUnavailable
from ..keys import SCOPE_LOGIN, SCOPE_PASSWORD_RESET

EXIT_NOTHING_TO_DO = 1
EXIT_INVALID_INPUT = 2
EXIT_UNAVAILABLE = 3

SCOPES = (SCOPE_LOGIN, SCOPE_PASSWORD_RESET)
#: Widest a table cell gets before it is cut with an ellipsis.
MAX_CELL_WIDTH = 48


class DefenderCommand(BaseCommand):
    """A command whose expected errors end in a one-line message and an exit code."""

    def add_json_argument(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print JSON instead of a table.",
        )

    def add_scope_argument(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--scope",
            choices=SCOPES,
            default=SCOPE_LOGIN,
            help="Scope whose counters and blocks to use (default: login).",
        )

    def execute(self, *args: Any, **options: Any) -> str | None:
        try:
            return super().execute(*args, **options)
        except ValueError as error:
            raise CommandError(str(error), returncode=EXIT_INVALID_INPUT) from error
        except BackendUnavailable as error:
            raise CommandError(
                f"The lockout backend is unavailable: {error}", returncode=EXIT_UNAVAILABLE
            ) from error
        except ImproperlyConfigured as error:
            raise CommandError(
                f"drf-defender is misconfigured: {error}", returncode=EXIT_UNAVAILABLE
            ) from error
        except DatabaseError as error:
            raise CommandError(
                f"The database query failed: {str(error).rstrip('.')}. Check the database "
                "settings and run "
                "`manage.py migrate drf_defender`.",
                returncode=EXIT_UNAVAILABLE,
            ) from error

    def write_json(self, data: Any) -> None:
        # ASCII-only output escapes every control character that a username may carry.
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=True, sort_keys=False))

    def write_table(self, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        cells = [[printable(value) for value in row] for row in rows]
        widths = [len(header) for header in headers]
        for row in cells:
            for column, value in enumerate(row):
                widths[column] = max(widths[column], len(value))
        self.stdout.write(_line(headers, widths))
        self.stdout.write(_line(["-" * width for width in widths], widths))
        for row in cells:
            self.stdout.write(_line(row, widths))


def invalid(message: str) -> CommandError:
    """Return the error for invalid input, exit code 2."""
    return CommandError(message, returncode=EXIT_INVALID_INPUT)


def actor_name(command: str) -> str:
    """Return the name logged as the actor of a block or unblock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown user"
    return f"manage.py {command} ({user})"


def printable(value: object) -> str:
    """Return ``value`` as one table cell, escaped and cut to the maximum width.

    An empty value becomes "-". Control and separator characters other than the space
    are written as Python escapes, because usernames, paths and user agents come from
    clients and could otherwise move the cursor or change colours in the terminal.
    """
    text = "" if value is None else str(value)
    if not text:
        return "-"
    if any(unicodedata.category(char)[0] in "CZ" and char != " " for char in text):
        text = "".join(
            char
            if char == " " or unicodedata.category(char)[0] not in "CZ"
            else char.encode("unicode_escape", "backslashreplace").decode("ascii")
            for char in text
        )
    if len(text) > MAX_CELL_WIDTH:
        text = text[: MAX_CELL_WIDTH - 1] + "…"
    return text


def format_time(epoch_seconds: float | None) -> str:
    """Return an epoch time as ``YYYY-MM-DD HH:MM:SS UTC``; "-" for None or 0."""
    if not epoch_seconds:
        return "-"
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _line(values: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(
        value.ljust(width) for value, width in zip(values, widths, strict=True)
    ).rstrip()
