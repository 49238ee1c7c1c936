"""Subjects, scope policies and backend key names.

A *subject* is one thing that failures are counted against: an IP, a username, or the
pair of both, within a *scope* ("login" by default, "password_reset" for reset
requests). A scope's *policy* defines which subjects are counted, their limits and the
cool-offs. This module is pure: it reads settings but performs no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .conf import defender_settings, on_reload

KIND_IP = "ip"
KIND_USERNAME = "username"
KIND_PAIR = "ipusername"
KINDS = (KIND_IP, KIND_USERNAME, KIND_PAIR)

#: The ``reason`` sent with signals and shown by the admin API for each kind.
REASONS = {KIND_IP: "ip", KIND_USERNAME: "username", KIND_PAIR: "ip_and_username"}

SCOPE_LOGIN = "login"
SCOPE_PASSWORD_RESET = "password_reset"  # noqa: S105 - a scope name, not a secret

#: Separates the IP from the username in a pair identity.
PAIR_SEPARATOR = "|"


@dataclass(frozen=True)
class Subject:
    """One counted identity: ``kind`` is an IP, a username or a pair, within ``scope``.

    ``identity`` is key-safe (bounded, without braces or white space); ``display`` is the
    value to show people, which differs from ``identity`` for hashed long usernames.
    """

    kind: str
    identity: str
    scope: str = SCOPE_LOGIN
    display: str = ""

    @property
    def reason(self) -> str:
        return REASONS[self.kind]

    @property
    def label(self) -> str:
        return self.display or self.identity


@dataclass(frozen=True)
class ScopePolicy:
    """Limits and cool-offs of one scope, all durations in seconds (0: no expiry)."""

    scope: str
    limits: dict[str, int]
    attempt_window: int
    lockout_durations: tuple[int, ...]
    lockout_memory: int
    kinds: tuple[str, ...] = field(default=(KIND_IP, KIND_USERNAME))

    def limit(self, kind: str) -> int:
        return self.limits[kind]

    def lockout_duration(self, lockout_number: int) -> int:
        """Return the duration of the ``lockout_number``-th lockout (1-based) in the window."""
        index = min(max(lockout_number, 1), len(self.lockout_durations)) - 1
        return self.lockout_durations[index]


def _durations(value: int | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(int(item) for item in value) or (0,)
    return (int(value),)


def login_kinds() -> tuple[str, ...]:
    """Return the subject kinds counted for logins under the current settings."""
    if defender_settings.LOCK_OUT_BY_IP_AND_USERNAME:
        return (KIND_PAIR,)
    kinds: list[str] = []
    if not defender_settings.DISABLE_IP_LOCKOUT:
        kinds.append(KIND_IP)
    if not defender_settings.DISABLE_USERNAME_LOCKOUT:
        kinds.append(KIND_USERNAME)
    return tuple(kinds)


_policies: dict[str, ScopePolicy] = {}


def get_policy(scope: str = SCOPE_LOGIN) -> ScopePolicy:
    """Return the policy of ``scope`` under the current settings.

    Policies are built once and kept until a setting changes.
    """
    policy = _policies.get(scope)
    if policy is None:
        policy = _policies[scope] = _build_policy(scope)
    return policy


@on_reload
def _forget_policies() -> None:
    _policies.clear()


def _build_policy(scope: str) -> ScopePolicy:
    memory = int(defender_settings.ACCESS_ATTEMPT_EXPIRATION * 3600)
    if scope == SCOPE_PASSWORD_RESET:
        limit = int(defender_settings.PASSWORD_RESET_LIMIT)
        cooloff = int(defender_settings.PASSWORD_RESET_COOLOFF_TIME)
        return ScopePolicy(
            scope=scope,
            limits={KIND_IP: limit, KIND_USERNAME: limit, KIND_PAIR: limit},
            attempt_window=cooloff,
            lockout_durations=(cooloff,),
            lockout_memory=memory,
            kinds=(KIND_IP, KIND_USERNAME),
        )
    return ScopePolicy(
        scope=scope,
        limits={
            KIND_IP: int(defender_settings.LOGIN_FAILURE_LIMIT_IP),
            KIND_USERNAME: int(defender_settings.LOGIN_FAILURE_LIMIT_USERNAME),
            KIND_PAIR: int(defender_settings.LOGIN_FAILURE_LIMIT),
        },
        attempt_window=int(defender_settings.ATTEMPT_COOLOFF_TIME),
        lockout_durations=_durations(defender_settings.LOCKOUT_COOLOFF_TIME),
        lockout_memory=memory,
        kinds=login_kinds(),
    )


def _scope_part(scope: str) -> str:
    # Login keys keep django-defender's names; other scopes get a segment of their own.
    return "" if scope == SCOPE_LOGIN else f"{scope}:"


def subject_key(prefix: str, role: str, subject: Subject) -> str:
    """Return the key of ``role`` ("failed", "blocked" or "lockouts") for ``subject``.

    The identity sits in a Redis Cluster hash tag, so every key of one subject lives in
    one slot and one script can update them together.
    """
    base = f"{prefix}:{_scope_part(subject.scope)}{role}:{subject.kind}:"
    if subject.kind == KIND_PAIR:
        # The tag contains the IP alone, so a pair shares the slot of its IP's keys and
        # one script can update both.
        ip, _, username = subject.identity.partition(PAIR_SEPARATOR)
        return f"{base}{{{ip}}}{PAIR_SEPARATOR}{username}"
    return f"{base}{{{subject.identity}}}"


def index_key(prefix: str, scope: str, kind: str) -> str:
    """Return the key of the sorted set that indexes blocked subjects of one kind.

    Members are identities, scored by the block's end in milliseconds (``+inf`` for a
    block without expiry), so listing costs grow with the number of blocks only.
    """
    return f"{prefix}:{_scope_part(scope)}index:blocked:{kind}"


def lists_key(prefix: str, list_name: str) -> str:
    """Return the key of a run-time allow or deny list."""
    return f"{prefix}:lists:{list_name}"


def lists_version_key(prefix: str) -> str:
    return f"{prefix}:lists:version"


#: Run-time list names, as stored in the backend and shown by the admin API.
LIST_NAMES = ("username_allow", "username_deny", "ip_allow", "ip_deny")
