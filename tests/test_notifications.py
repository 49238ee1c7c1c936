"""Lockout emails to account owners.

Settings come from the snippet in docs/integrations.md. Most tests send the email
during the request (DEFENDER_NOTIFY_EMAIL_BACKGROUND off) so that the outbox can be
read at once; one test covers the background thread.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client, override_settings

from drf_defender.exceptions import LockedOut
from drf_defender.keys import KIND_USERNAME, SCOPE_PASSWORD_RESET
from drf_defender.notifications import THREAD_NAME
from drf_defender.service import get_service
from tests.docs_snippets import docs_settings

pytestmark = pytest.mark.django_db

LIMIT = 3
COOLOFF = 300
ATTACKER_IP = "203.0.113.10"
ADMIN_LOGIN_URL = "/admin/login/"


class FailingEmailBackend(BaseEmailBackend):
    """Email backend whose server always rejects the message."""

    def send_messages(self, email_messages: Any) -> int:
        raise smtplib.SMTPException("test server rejected the message")


@pytest.fixture
def notify_settings(service: Any) -> Iterator[dict[str, Any]]:
    values = docs_settings("integrations.md", "Lockout emails to account owners")
    assert values["DEFENDER_NOTIFY_USER_ON_LOCKOUT"] is True
    with override_settings(DEFENDER_NOTIFY_EMAIL_BACKGROUND=False, **values):
        yield values


@pytest.fixture
def users(notify_settings: dict[str, Any]) -> dict[str, Any]:
    model = get_user_model()
    return {
        "alice": model.objects.create_user("alice", "alice@example.com", "Correct-Horse-1"),
        "dave": model.objects.create_user("dave", "", "No-Mail-4"),
        "erin": model.objects.create_user(
            "erin", "erin@example.com", "Inactive-5", is_active=False
        ),
        "Frank": model.objects.create_user("Frank", "frank1@example.com", "Twin-6"),
        "frank": model.objects.create_user("frank", "frank2@example.com", "Twin-7"),
    }


def fail_login(username: str, ip: str = ATTACKER_IP) -> str:
    """Record one failed login; return "failed", "locked" (this failure locked) or "refused"."""
    try:
        attempt = get_service().begin(username=username, ip=ip, integration="test")
    except LockedOut:
        return "refused"
    try:
        attempt.failed()
    except LockedOut:
        return "locked"
    return "failed"


def lock_username(username: str) -> list[str]:
    # A new IP each time, so that only the username counter can lock.
    return [fail_login(username, ip=f"198.51.100.{index}") for index in range(LIMIT + 1)]


def lockout_mails() -> list[Any]:
    return [message for message in mail.outbox if "temporarily locked" in message.subject]


def test_email_once_per_lockout(users: dict[str, Any], clock: Any) -> None:
    assert lock_username("alice") == ["failed"] * LIMIT + ["locked"]
    assert fail_login("alice", ip="198.51.100.50") == "refused"

    assert len(lockout_mails()) == 1
    message = lockout_mails()[0]
    assert message.to == ["alice@example.com"]
    assert message.from_email == "security@example.com"
    assert message.subject == "Sign-in to alice is temporarily locked"
    assert "\n" not in message.subject
    assert "more than 3 times" in message.body
    assert "in 5 minutes" in message.body

    clock.advance(COOLOFF + 1)
    assert lock_username("alice")[-1] == "locked"

    assert len(lockout_mails()) == 2


def test_login_by_email_finds_owner(users: dict[str, Any]) -> None:
    lock_username("Alice@Example.com")

    assert [message.to for message in lockout_mails()] == [["alice@example.com"]]


@pytest.mark.parametrize(
    "username",
    ["zed-unknown", "dave", "erin", "frank", "h:" + "0" * 40],
    ids=["unknown", "no-email", "inactive", "ambiguous", "hashed"],
)
def test_no_email_without_one_owner(users: dict[str, Any], username: str) -> None:
    assert lock_username(username)[-1] == "locked"

    assert mail.outbox == []


def test_no_email_when_setting_off(users: dict[str, Any]) -> None:
    with override_settings(DEFENDER_NOTIFY_USER_ON_LOCKOUT=False):
        assert lock_username("alice")[-1] == "locked"

    assert mail.outbox == []


def test_no_email_for_ip_lockout(users: dict[str, Any]) -> None:
    results = [fail_login(name) for name in ["alice", "bob", "carol", "alice"]]

    assert results[-1] == "locked"
    assert mail.outbox == []


def test_no_email_for_manual_block(users: dict[str, Any]) -> None:
    get_service().block(KIND_USERNAME, "alice", actor="test")

    assert mail.outbox == []


def test_no_email_for_reset_scope(users: dict[str, Any]) -> None:
    locked = False
    for index in range(LIMIT + 1):
        attempt = get_service().begin(
            username="alice", ip=f"198.51.100.{index}", scope=SCOPE_PASSWORD_RESET
        )
        try:
            attempt.failed()
        except LockedOut:
            locked = True

    assert locked
    assert mail.outbox == []


def test_pair_mode_one_email_per_lockout(users: dict[str, Any]) -> None:
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]:
            results = [fail_login("alice", ip=ip) for _ in range(LIMIT + 1)]
            assert results[-1] == "locked"

    assert len(lockout_mails()) == 1


def test_http_response_same_with_email(users: dict[str, Any]) -> None:
    middleware = docs_settings("integrations.md", "Django login and the admin login")["MIDDLEWARE"]
    responses = {}
    with override_settings(MIDDLEWARE=middleware):
        for index, username in enumerate(["alice", "zed-unknown"]):
            for attempt in range(LIMIT + 1):
                responses[username] = Client().post(
                    ADMIN_LOGIN_URL,
                    {"username": username, "password": "wrong"},
                    REMOTE_ADDR=f"198.51.100.{10 * index + attempt}",
                )

    assert len(lockout_mails()) == 1
    assert responses["alice"].status_code == 429
    assert responses["alice"].content == responses["zed-unknown"].content
    # Expires contains the time of the response, like Date.
    headers = {
        username: {k: v for k, v in response.headers.items() if k != "Expires"}
        for username, response in responses.items()
    }
    assert headers["alice"] == headers["zed-unknown"]


def test_send_failure_logged_not_raised(
    users: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    middleware = docs_settings("integrations.md", "Django login and the admin login")["MIDDLEWARE"]
    backend = "tests.test_notifications.FailingEmailBackend"
    with override_settings(MIDDLEWARE=middleware, EMAIL_BACKEND=backend):
        with caplog.at_level(logging.ERROR, logger="drf_defender.notifications"):
            for attempt in range(LIMIT + 1):
                response = Client().post(
                    ADMIN_LOGIN_URL,
                    {"username": "alice", "password": "wrong"},
                    REMOTE_ADDR=f"198.51.100.{attempt}",
                )

    assert response.status_code == 429
    assert "could not send the lockout email" in caplog.text
    assert "SMTPException" in caplog.text
    assert "alice" not in caplog.text


def test_template_error_logged_not_raised(
    users: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with override_settings(DEFENDER_NOTIFY_EMAIL_BODY_TEMPLATE="missing/body.txt"):
        with caplog.at_level(logging.ERROR, logger="drf_defender.notifications"):
            assert lock_username("alice")[-1] == "locked"

    assert mail.outbox == []
    assert "could not prepare the lockout email" in caplog.text


def test_background_send(users: dict[str, Any]) -> None:
    with override_settings(DEFENDER_NOTIFY_EMAIL_BACKGROUND=True):
        assert lock_username("alice")[-1] == "locked"
    for thread in threading.enumerate():
        if thread.name == THREAD_NAME:
            thread.join(timeout=10)

    assert [message.to for message in lockout_mails()] == [["alice@example.com"]]


def test_custom_templates(users: dict[str, Any]) -> None:
    templates = {
        "custom/subject.txt": "Locked:\n{{ username }} ({{ reason }})\n",
        "custom/body.txt": (
            "{{ user.email }} limit={{ failure_limit }} seconds={{ seconds }} "
            "minutes={{ minutes }} count={{ lockout_count }} ip={{ ip_address }}"
        ),
    }
    engine = {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "OPTIONS": {"loaders": [("django.template.loaders.locmem.Loader", templates)]},
    }
    with override_settings(
        TEMPLATES=[engine],
        DEFENDER_NOTIFY_EMAIL_SUBJECT_TEMPLATE="custom/subject.txt",
        DEFENDER_NOTIFY_EMAIL_BODY_TEMPLATE="custom/body.txt",
    ):
        lock_username("alice")

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.subject == "Locked: alice (username)"
    assert message.body == ("alice@example.com limit=3 seconds=300 minutes=5 count=1 ip=None")
