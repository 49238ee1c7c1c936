"""Move buffered access attempts from the Redis stream into the database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ...access_log_drain import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_SECONDS,
    DEFAULT_MIN_IDLE_SECONDS,
    drain,
    stream_status,
)
from ...service import get_service
from ..base import DefenderCommand, invalid


class Command(DefenderCommand):
    help = (
        "Move the access attempts that buffered mode keeps in a Redis stream into the "
        "database, in bulk, until the stream is empty or --max-seconds have passed. "
        "Entries that a stopped run read but did not store are taken over. Exit code 0, "
        "2 for invalid input or a backend without a stream, 3 when Redis or the database "
        "is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Entries read and inserted at a time (default: {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--max-seconds",
            type=float,
            default=DEFAULT_MAX_SECONDS,
            help="Stop starting new batches after this many seconds "
            f"(default: {DEFAULT_MAX_SECONDS:g}).",
        )
        parser.add_argument(
            "--min-idle",
            type=float,
            default=DEFAULT_MIN_IDLE_SECONDS,
            help="Take over entries another run read but did not store once they have been "
            f"idle this many seconds (default: {DEFAULT_MIN_IDLE_SECONDS:g}).",
        )
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise invalid(f"--batch-size must be at least 1, not {batch_size}.")
        for name in ("max_seconds", "min_idle"):
            if not options[name] >= 0:
                flag = "--" + name.replace("_", "-")
                raise invalid(f"{flag} must be 0 or more, not {options[name]}.")

        backend = get_service().backend
        report = drain(
            backend,
            batch_size=batch_size,
            max_seconds=options["max_seconds"],
            min_idle_seconds=options["min_idle"],
        )
        status = stream_status(backend)

        if options["json"]:
            self.write_json({**report.as_dict(), "stream": status})
            return
        self.stdout.write(
            f"Stored {report.stored} access attempts in {report.batches} "
            f"{'batch' if report.batches == 1 else 'batches'} "
            f"({report.reclaimed} taken over from an earlier run, {report.trimmed} trimmed "
            f"from the stream before they were stored)."
        )
        self.stdout.write(
            f"Stream: {status['length']} entries left, {status['pending']} read but not stored."
        )
        if report.stopped_early:
            self.stdout.write("Stopped at --max-seconds with entries left; run again.")
