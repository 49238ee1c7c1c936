"""Create or reset the demo's two users, for a server bound to loopback only."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.loopback import is_loopback_host


class Command(BaseCommand):
    help = (
        "Create the demo users from settings.DEMO_USERS, or reset their password, email and "
        "staff flags when they exist. Runs only when DEMO_BIND_HOST is a loopback host "
        "(127.0.0.1, localhost or ::1), because the passwords are published."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        bind_host = settings.DEMO_BIND_HOST
        if not is_loopback_host(bind_host):
            raise CommandError(
                f"DEMO_BIND_HOST is {bind_host!r}, which is not a loopback address. The demo "
                "users have published passwords, so they are created only for a server bound "
                "to 127.0.0.1, localhost or ::1. Run `make demo` without changing DEMO_HOST, "
                "or create your own users with `manage.py createsuperuser`."
            )

        user_model = get_user_model()
        with transaction.atomic():
            for spec in settings.DEMO_USERS:
                self._ensure_user(user_model, spec)

    def _ensure_user(self, user_model: Any, spec: dict[str, Any]) -> None:
        username = spec["username"]
        if not username or not spec["password"]:
            raise CommandError(
                f"Demo user {username!r} has an empty username or password; "
                "check the DEMO_*_USERNAME and DEMO_*_PASSWORD environment variables."
            )

        user, created = user_model._default_manager.get_or_create(
            **{user_model.USERNAME_FIELD: username}
        )
        changed = created or not user.check_password(spec["password"])
        if changed:
            user.set_password(spec["password"])
        for field in ("email", "is_staff", "is_superuser"):
            if getattr(user, field) != spec[field]:
                setattr(user, field, spec[field])
                changed = True
        if not user.is_active:
            user.is_active = True
            changed = True
        if changed:
            user.save()

        if created:
            state = "created"
        elif changed:
            state = "reset"
        else:
            state = "unchanged"
        role = "staff user" if spec["is_staff"] else "user"
        self.stdout.write(f"Demo {role} {username!r}: {state}.")
