"""Login entry points, a counting hasher and Redis helpers for the hardening suite.

Every login entry point of the test URL conf is described once here, with the status
of its bad-credentials answer, so that each guarantee can be checked on all of them.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis
from django.contrib.auth.hashers import MD5PasswordHasher
from django.http import HttpResponse

from drf_defender.service import get_service

ATTACKER = "203.0.113.10"
USER_IP = "198.51.100.20"
PROXY = "192.0.2.1"

ALICE_PASSWORD = "Correct-Horse-1"
BOB_PASSWORD = "Battery-Staple-2"
CAROL_PASSWORD = "Inactive-Carol-3"
STAFF_PASSWORD = "Staff-Member-4"
WRONG_PASSWORD = "wrong-password"

LIMIT = 3
COOLOFF = 300
LOCKED_STATUS = 429
LOGIN_MIDDLEWARE = "drf_defender.integrations.django_login.DefenderLoginMiddleware"


class CountingHasher(MD5PasswordHasher):
    """MD5 hasher that counts password checks and hashings, safe to use from threads."""

    _lock = threading.Lock()
    verify_calls = 0
    encode_calls = 0

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher._lock:
            CountingHasher.verify_calls += 1
        return super().verify(password, encoded)

    def encode(self, password: str, salt: str, *args: Any, **kwargs: Any) -> str:
        with CountingHasher._lock:
            CountingHasher.encode_calls += 1
        return super().encode(password, salt, *args, **kwargs)

    @classmethod
    def reset(cls) -> None:
        with cls._lock:
            cls.verify_calls = 0
            cls.encode_calls = 0

    @classmethod
    def calls(cls) -> int:
        """Return the number of hasher runs of any kind since the last reset."""
        with cls._lock:
            return cls.verify_calls + cls.encode_calls


HASHER_PATH = f"{CountingHasher.__module__}.{CountingHasher.__qualname__}"


def basic(user_id: str, password: str, encoding: str = "utf-8") -> str:
    """Return an ``Authorization`` value for HTTP Basic with ``user_id:password``."""
    raw = f"{user_id}:{password}".encode(encoding)
    return "Basic " + base64.b64encode(raw).decode("ascii")


# --------------------------------------------------------------------------------------
# Login entry points


@dataclass(frozen=True)
class Entry:
    """One login entry point: how to send a username and password, and how it answers."""

    name: str
    path: str
    #: Status of the answer to a wrong password.
    bad_status: int
    #: "json", "form" (HTML login page), or "basic" (credentials in the header).
    style: str
    #: Status of a successful login.
    ok_status: int = 200
    html: bool = field(default=False)

    def send(
        self,
        client: Any,
        username: Any,
        password: Any,
        *,
        username_field: str = "username",
        content_format: str = "json",
        **extra: Any,
    ) -> HttpResponse:
        """Send one login with ``username`` and ``password``; ``extra`` are META values."""
        if self.style == "basic":
            return client.get(self.path, HTTP_AUTHORIZATION=basic(username, password), **extra)
        data = {username_field: username, "password": password}
        if self.style == "form":
            return client.post(self.path, data, **extra)
        if content_format == "json":
            return client.post(self.path, data, format="json", **extra)
        return client.post(self.path, data, format=content_format, **extra)

    def outcome(self, response: HttpResponse) -> str:
        """Classify ``response`` as "ok", "bad", "locked" or "other:<status>"."""
        status = response.status_code
        if status == LOCKED_STATUS and is_lockout(response):
            return "locked"
        if self.html and status == 302:
            return "ok"
        if status == self.ok_status and not (self.html and has_form_error(response)):
            return "ok"
        if status == self.bad_status:
            return "bad"
        return f"other:{status}"


def is_lockout(response: HttpResponse) -> bool:
    """Return whether ``response`` is the lockout answer (JSON body or HTML page)."""
    content_type = response.get("Content-Type", "")
    if content_type.startswith("application/json"):
        body = response.json()
        return isinstance(body, dict) and body.get("code") == "locked_out"
    return response.status_code == LOCKED_STATUS


def has_form_error(response: HttpResponse) -> bool:
    return b"errornote" in response.content or b"errorlist" in response.content


API_ENTRIES = (
    Entry("basic", "/api/me/", 401, "basic"),
    Entry("obtain_token", "/api/auth/token/", 400, "json"),
    Entry("jwt", "/api/auth/jwt/", 401, "json"),
    Entry("jwt_settings", "/api/auth/jwt/settings/", 401, "json"),
    Entry("dj_rest_auth", "/api/auth/login/", 400, "json"),
    # Both views raise AuthenticationFailed without an authenticator, which DRF answers
    # with 403.
    Entry("custom_serializer", "/api/custom/login/", 403, "json"),
    Entry("guard_decorator", "/api/custom/decorated/", 403, "json"),
)
HTML_ENTRIES = (
    Entry("django_login", "/accounts/login/", 200, "form", html=True),
    Entry("admin_login", "/admin/login/", 200, "form", html=True),
    Entry("mixin_login", "/accounts/mixin-login/", 200, "form", html=True),
)
ALL_ENTRIES = API_ENTRIES + HTML_ENTRIES
ENTRIES_BY_NAME = {entry.name: entry for entry in ALL_ENTRIES}


def entry_ids(entries: Iterable[Entry]) -> list[str]:
    return [entry.name for entry in entries]


# --------------------------------------------------------------------------------------
# Stored state


def failures(**identity: Any) -> dict[str, int]:
    """Return the stored failure count of each subject kind of an identity."""
    status = get_service().status(**identity)
    return {state.subject.kind: state.failures for state in status.states}


def blocked(**identity: Any) -> dict[str, bool]:
    """Return whether each subject kind of an identity is blocked."""
    status = get_service().status(**identity)
    return {state.subject.kind: state.blocked for state in status.states}


def prefix_keys(client: redis.Redis, prefix: str) -> list[str]:
    """Return every key under ``prefix``, found with SCAN."""
    pattern = "".join("\\" + char if char in "*?[]\\" else char for char in prefix) + ":*"
    return sorted(name.decode("utf-8", "replace") for name in client.scan_iter(match=pattern))


def counter_keys(client: redis.Redis, prefix: str, kind: str) -> list[str]:
    """Return the failure-counter keys of one subject kind in the login scope."""
    marker = f"{prefix}:failed:{kind}:"
    return [key for key in prefix_keys(client, prefix) if key.startswith(marker)]


def run_threads(target: Callable[[int], Any], count: int, timeout: float = 60.0) -> list[Any]:
    """Run ``target(index)`` in ``count`` threads released together; return the results.

    An exception in a thread is returned in its place, so that the test reports it.
    """
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = target(index)
        except BaseException as error:  # the caller reports it
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    alive = [thread for thread in threads if thread.is_alive()]
    assert not alive, f"{len(alive)} threads did not finish within {timeout} s"
    return results
