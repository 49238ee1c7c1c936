"""Django's runserver, limited to loopback addresses.

The demo runs with DEBUG on, a published SECRET_KEY and users whose passwords are in
the README, so it must never be reachable from another machine.
"""

from __future__ import annotations

from typing import Any

from django.contrib.staticfiles.management.commands.runserver import (
    Command as StaticfilesRunserverCommand,
)
from django.core.management.base import CommandError

from demo.loopback import is_loopback_host


class Command(StaticfilesRunserverCommand):
    help = "Start the demo's development server on a loopback address (127.0.0.1 or ::1)."

    def run(self, **options: Any) -> None:
        # handle() has parsed the address into self.addr before it calls run().
        if not is_loopback_host(self.addr):
            raise CommandError(
                f"The demo serves only on loopback, not on {self.addr!r}: it runs with DEBUG "
                "on and has demo users whose passwords are published. Use 127.0.0.1 or [::1]."
            )
        super().run(**options)
