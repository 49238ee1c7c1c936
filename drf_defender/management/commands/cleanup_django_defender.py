"""Delete access attempts older than DEFENDER_ACCESS_ATTEMPT_EXPIRATION hours.

The name is django-defender's, so existing cron lines keep working.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import CommandParser

from ...access_log import count_expired, delete_expired, expiry_cutoff
from ...conf import defender_settings
from ...service import now
from ..base import DefenderCommand, invalid

DEFAULT_BATCH_SIZE = 5000


class Command(DefenderCommand):
    help = (
        "Delete access attempts strictly older than DEFENDER_ACCESS_ATTEMPT_EXPIRATION hours, "
        "in batches, and print how many were deleted. A row exactly at the expiry time is "
        "kept. Exit code 0, 2 for invalid input, 3 when the database is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the expired attempts without deleting them.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help="Rows per DELETE statement, each committed on its own "
            f"(default: {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise invalid(f"--batch-size must be at least 1, not {batch_size}.")
        hours = defender_settings.ACCESS_ATTEMPT_EXPIRATION
        cutoff = expiry_cutoff(now())
        described = (
            f"older than {cutoff.isoformat()} (DEFENDER_ACCESS_ATTEMPT_EXPIRATION = {hours} hours)"
        )

        if options["dry_run"]:
            count = count_expired(cutoff)
            self.stdout.write(f"Dry run: would delete {count} access attempts {described}.")
            return

        started = time.monotonic()
        deleted = 0
        batches = 0
        for batch_count in delete_expired(cutoff, batch_size):
            deleted += batch_count
            batches += 1
            if options["verbosity"] >= 2:
                self.stdout.write(f"Batch {batches}: deleted {batch_count}.")
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Deleted {deleted} access attempts {described} in {batches} batches, {elapsed:.1f} s."
        )
