"""Accounts, a counting password hasher and request helpers for the integration tests."""

from __future__ import annotations

import base64
from typing import Any

from django.contrib.auth.hashers import MD5PasswordHasher

ATTACKER = "203.0.113.10"
OTHER_IP = "198.51.100.20"

ALICE_PASSWORD = "Correct-Horse-1"
BOB_PASSWORD = "Battery-Staple-2"
CAROL_PASSWORD = "Inactive-Carol-3"


class CountingMD5PasswordHasher(MD5PasswordHasher):
    """MD5 hasher that counts its calls, to show which requests reach password hashing."""

    verify_calls = 0
    encode_calls = 0

    def verify(self, password: str, encoded: str) -> bool:
        type(self).verify_calls += 1
        return super().verify(password, encoded)

    def encode(self, password: str, salt: str) -> str:
        type(self).encode_calls += 1
        return super().encode(password, salt)

    @classmethod
    def reset(cls) -> None:
        cls.verify_calls = 0
        cls.encode_calls = 0


def basic(user_id: str, password: str, encoding: str = "utf-8") -> str:
    """Return an Authorization value for HTTP Basic with ``user_id:password``."""
    raw = f"{user_id}:{password}".encode(encoding)
    return "Basic " + base64.b64encode(raw).decode("ascii")


def basic_raw(payload: bytes) -> str:
    """Return an Authorization value for HTTP Basic with arbitrary decoded bytes."""
    return "Basic " + base64.b64encode(payload).decode("ascii")


def failures(service: Any, **identity: Any) -> dict[str, int]:
    """Return the stored failure count of each subject kind of an identity."""
    status = service.status(**identity)
    return {state.subject.kind: state.failures for state in status.states}


def blocked(service: Any, **identity: Any) -> dict[str, bool]:
    """Return whether each subject kind of an identity is blocked."""
    status = service.status(**identity)
    return {state.subject.kind: state.blocked for state in status.states}
