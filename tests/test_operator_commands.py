"""Operator commands: defender_blocked, defender_block, defender_unblock, defender_attempts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test import override_settings

from drf_defender import access_log
from drf_defender.exceptions import LockedOut
from drf_defender.models import AccessAttempt

ATTACKER = "203.0.113.10"
VICTIM = "198.51.100.20"
ROOT = Path(__file__).resolve().parent.parent


def run(name, *args):
    """Run a command; return its standard output."""
    out = StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def run_error(name, *args) -> CommandError:
    """Run a command that must fail; return the CommandError."""
    with pytest.raises(CommandError) as raised:
        run(name, *args)
    return raised.value


def fail(service, username, ip=ATTACKER, integration="tests"):
    try:
        service.begin(username=username, ip=ip, integration=integration).failed()
    except LockedOut:
        pass


def lock_alice(service):
    for _ in range(4):
        fail(service, "alice")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def backend_down(redis_settings):
    with override_settings(DEFENDER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        yield


# --- defender_blocked -------------------------------------------------------------------------


def test_blocked_lists_nothing(service):
    assert run("defender_blocked") == "Nothing is blocked in scope 'login'.\n"


def test_blocked_table(service, clock):
    lock_alice(service)
    clock.advance(100)
    lines = run("defender_blocked").splitlines()
    assert lines[0] == (
        "KIND      SUBJECT       SECONDS LEFT  BLOCKED UNTIL            LOCKOUTS  SET BY"
    )
    assert set(lines[1]) == {"-", " "}
    assert lines[2].split() == [
        "username",
        "alice",
        "200",
        "2027-01-15",
        "08:05:00",
        "UTC",
        "1",
        "automatic",
    ]
    assert lines[3].split()[:3] == ["ip", ATTACKER, "200"]
    assert lines[-1] == "Blocked in scope 'login': 1 username, 1 ip, 0 ipusername."


def test_blocked_json(service, clock):
    lock_alice(service)
    service.block("ip", "198.51.100.7", duration=0)
    data = json.loads(run("defender_blocked", "--json"))
    assert data["scope"] == "login"
    assert data["totals"] == {"username": 1, "ip": 2, "ipusername": 0}
    by_subject = {entry["subject"]: entry for entry in data["blocked"]}
    assert by_subject["alice"]["seconds_left"] == 300
    assert by_subject["alice"]["kind"] == "username"
    assert by_subject["alice"]["manual"] is False
    assert by_subject["alice"]["blocked_until"] == clock.now + 300
    assert by_subject["198.51.100.7"]["seconds_left"] is None
    assert by_subject["198.51.100.7"]["blocked_until"] is None
    assert by_subject["198.51.100.7"]["manual"] is True


def test_blocked_filters_by_kind(service):
    lock_alice(service)
    data = json.loads(run("defender_blocked", "--kind", "ip", "--json"))
    assert [entry["kind"] for entry in data["blocked"]] == ["ip"]
    assert data["totals"] == {"ip": 1}


def test_blocked_lists_pairs(service):
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        lock_alice(service)
        output = run("defender_blocked", "--kind", "ipusername")
    assert f"ipusername  {ATTACKER} alice" in output
    assert "until unblocked" not in output


def test_blocked_permanent_block(service):
    service.block("username", "bob", duration=0)
    output = run("defender_blocked", "--kind", "username")
    assert "until unblocked" in output
    assert "manual" in output


def test_blocked_limit(service):
    for number in range(5):
        service.block("username", f"user{number}", duration=60)
    data = json.loads(run("defender_blocked", "--kind", "username", "--limit", "2", "--json"))
    assert len(data["blocked"]) == 2
    assert data["totals"] == {"username": 5}
    output = run("defender_blocked", "--kind", "username", "--limit", "2")
    assert "Only the first 2 of each kind are listed (--limit)." in output


def test_blocked_pages_past_one_backend_call(service):
    for number in range(130):
        service.block("username", f"user{number}", duration=60)
    data = json.loads(run("defender_blocked", "--kind", "username", "--json"))
    assert len(data["blocked"]) == 130
    assert len({entry["subject"] for entry in data["blocked"]}) == 130


def test_blocked_password_reset_scope(service):
    service.block("username", "carol", duration=60, scope="password_reset")
    assert "Nothing is blocked" in run("defender_blocked")
    output = run("defender_blocked", "--scope", "password_reset")
    assert "carol" in output


def test_blocked_rejects_bad_limit(service):
    error = run_error("defender_blocked", "--limit", "0")
    assert error.returncode == 2
    assert "--limit must be at least 1, not 0." in str(error)


def test_blocked_rejects_unknown_kind():
    error = run_error("defender_blocked", "--kind", "email")
    assert "invalid choice: 'email'" in str(error)


def test_blocked_backend_down(backend_down):
    error = run_error("defender_blocked")
    assert error.returncode == 3
    assert str(error).startswith("The lockout backend is unavailable:")


# --- defender_block ---------------------------------------------------------------------------


def test_block_username_for_seconds(service, clock):
    output = run("defender_block", "--username", "Alice", "--seconds", "60")
    assert output == (
        "Blocked username 'alice' in scope 'login' for 60 seconds, until 2027-01-15 08:01:00 UTC.\n"
    )
    status = service.status(username="alice")
    assert status.blocked
    assert status.seconds_left() == 60


def test_block_ip_permanently(service):
    output = run("defender_block", "--ip", "203.0.113.7", "--permanent")
    assert output == "Blocked ip '203.0.113.7' in scope 'login' until unblocked.\n"
    assert service.status(ip="203.0.113.7").seconds_left() is None


def test_block_default_duration(service):
    with override_settings(DEFENDER_COOLOFF_TIME=900):
        data = json.loads(run("defender_block", "--username", "bob", "--json"))
    assert data["seconds_left"] == 900
    assert data["manual"] is True
    assert data["kind"] == "username"
    assert data["subject"] == "bob"


def test_block_in_password_reset_scope(service):
    run("defender_block", "--username", "bob", "--seconds", "30", "--scope", "password_reset")
    assert not service.status(username="bob").blocked
    assert service.status(username="bob", scope="password_reset").blocked


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "not-an-ip"], "'not-an-ip' is not a valid IP address."),
        (["--ip", "203.0.113.300"], "'203.0.113.300' is not a valid IP address."),
        (["--username", "   "], "The username is empty."),
        (["--username", "bob", "--seconds", "0"], "--seconds must be between 1 and"),
        (["--username", "bob", "--seconds", "-3"], "use --permanent for a block without"),
        (["--username", "bob", "--seconds", "999999999999"], "--seconds must be between"),
    ],
)
def test_block_rejects_bad_input(service, args, message):
    error = run_error("defender_block", *args)
    assert error.returncode == 2
    assert message in str(error)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "one of the arguments --username --ip is required"),
        (["--username", "a", "--ip", "203.0.113.7"], "not allowed with argument"),
        (["--ip", "203.0.113.7", "--seconds", "5", "--permanent"], "not allowed with argument"),
        (["--ip", "203.0.113.7", "--seconds", "soon"], "invalid int value: 'soon'"),
        (["--ip", "203.0.113.7", "--scope", "signup"], "invalid choice: 'signup'"),
    ],
)
def test_block_rejects_bad_arguments(args, message):
    error = run_error("defender_block", *args)
    assert message in str(error)


def test_block_backend_down(backend_down):
    error = run_error("defender_block", "--ip", "203.0.113.7")
    assert error.returncode == 3


# --- defender_unblock -------------------------------------------------------------------------


def test_unblock_username(service):
    lock_alice(service)
    output = run("defender_unblock", "--username", "ALICE")
    assert output == "Unblocked username 'ALICE' in scope 'login'.\n"
    states = {state.subject.kind: state for state in service.status(username="alice").states}
    assert not states["username"].blocked
    assert states["username"].failures == 0
    # The IP stays blocked until it is unblocked too.
    assert service.status(ip=ATTACKER).blocked


def test_unblock_ip(service):
    lock_alice(service)
    run("defender_unblock", "--ip", ATTACKER)
    assert not service.status(ip=ATTACKER).blocked


def test_unblock_pair(service):
    with override_settings(DEFENDER_LOCK_OUT_BY_IP_AND_USERNAME=True):
        lock_alice(service)
        output = run("defender_unblock", "--pair", f"{ATTACKER}|alice")
        assert output == f"Unblocked ipusername '{ATTACKER}|alice' in scope 'login'.\n"
        assert not service.status(username="alice", ip=ATTACKER).blocked


def test_unblock_json(service):
    lock_alice(service)
    data = json.loads(run("defender_unblock", "--username", "alice", "--json"))
    assert data == {"kind": "username", "value": "alice", "scope": "login", "unblocked": True}


def test_unblock_of_unblocked_subject_exits_1(service):
    fail(service, "alice")
    error = run_error("defender_unblock", "--username", "alice")
    assert error.returncode == 1
    assert str(error) == (
        "Nothing to unblock: username 'alice' was not blocked in scope 'login'. Its failure "
        "counters were deleted."
    )
    states = {state.subject.kind: state for state in service.status(username="alice").states}
    assert states["username"].failures == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "bad"], "'bad' is not a valid IP address."),
        (["--username", ""], "The username is empty."),
        (["--pair", "203.0.113.7"], "--pair must be 'IP|USERNAME'"),
        (["--pair", "nope|alice"], "'nope' is not a valid IP address."),
        (["--pair", "203.0.113.7|"], "The username is empty."),
    ],
)
def test_unblock_rejects_bad_input(service, args, message):
    error = run_error("defender_unblock", *args)
    assert error.returncode == 2
    assert message in str(error)


def test_unblock_requires_a_target():
    error = run_error("defender_unblock")
    assert "one of the arguments --username --ip --pair is required" in str(error)


def test_unblock_backend_down(backend_down):
    error = run_error("defender_unblock", "--username", "alice")
    assert error.returncode == 3
    assert "unavailable" in str(error)


# --- defender_attempts ------------------------------------------------------------------------


@pytest.fixture
def logged(service, clock):
    """Four attempts in the log: three an hour ago, one now."""
    access_log.errors.reset()
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True):
        fail(service, "alice")
        fail(service, "Alice ", ip="198.51.100.5")
        service.begin(username="bob", ip=VICTIM, integration="basic").succeeded()
        clock.advance(3600)
        fail(service, "carol", ip=VICTIM)
    return service


@pytest.mark.django_db
def test_attempts_table(logged):
    lines = run("defender_attempts").splitlines()
    assert lines[0].split() == ["TIME", "RESULT", "USERNAME", "IP", "INTEGRATION", "SCOPE", "PATH"]
    assert lines[2].split() == [
        "2027-01-15",
        "09:00:00",
        "UTC",
        "failed",
        "carol",
        VICTIM,
        "tests",
        "login",
        "-",
    ]
    assert len(lines) == 6


@pytest.mark.django_db
def test_attempts_filters(logged):
    def usernames(*args):
        return [row["username"] for row in json.loads(run("defender_attempts", "--json", *args))]

    assert usernames("--username", "ALICE") == ["Alice ", "alice"]
    assert usernames("--ip", VICTIM) == ["carol", "bob"]
    assert usernames("--success") == ["bob"]
    assert usernames("--failure") == ["carol", "Alice ", "alice"]
    assert usernames("--since", "30m") == ["carol"]
    assert usernames("--since", "2h") == ["carol", "bob", "Alice ", "alice"]
    assert usernames("--since", "2027-01-15T08:30:00+00:00") == ["carol"]
    assert usernames("--since", "2027-01-16") == []
    assert usernames("--limit", "1") == ["carol"]
    assert usernames("--scope", "password_reset") == []
    assert usernames("--username", "alice", "--ip", "198.51.100.5") == ["Alice "]


@pytest.mark.django_db
def test_attempts_json_fields(logged):
    rows = json.loads(run("defender_attempts", "--json", "--success"))
    assert len(rows) == 1
    row = rows[0]
    assert row["attempt_time"] == "2027-01-15T08:00:00+00:00"
    assert row["ip_address"] == VICTIM
    assert row["username_normalized"] == "bob"
    assert row["login_valid"] is True
    assert row["locked_out"] is False
    assert row["integration"] == "basic"
    assert row["scope"] == "login"


@pytest.mark.django_db
def test_attempts_locked_out_result(service):
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True):
        lock_alice(service)
    lines = run("defender_attempts").splitlines()
    assert "locked out" in lines[2]
    assert all(" failed " in line for line in lines[3:6])


@pytest.mark.django_db
def test_attempts_escape_control_characters():
    AccessAttempt.objects.create(username="evil\x1b[2J\x07name", user_agent="x")
    output = run("defender_attempts")
    assert "\x1b" not in output
    assert "\x07" not in output
    assert "evil\\x1b[2J\\x07name" in output
    data = run("defender_attempts", "--json")
    assert "\x1b" not in data
    assert json.loads(data)[0]["username"] == "evil\x1b[2J\x07name"


@pytest.mark.django_db
def test_attempts_cut_long_cells():
    AccessAttempt.objects.create(username="u" * 255)
    output = run("defender_attempts")
    assert "u" * 47 + "…" in output
    assert "u" * 49 not in output


@pytest.mark.django_db
def test_attempts_none_match():
    assert run("defender_attempts") == "No access attempts match.\n"
    assert json.loads(run("defender_attempts", "--json")) == []


@pytest.mark.django_db
def test_attempts_limit_notice(logged):
    output = run("defender_attempts", "--limit", "2")
    assert output.endswith("Showing the newest 2 rows (--limit).\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ip", "999.1.1.1"], "'999.1.1.1' is not a valid IP address."),
        (["--username", " "], "The username is empty."),
        (["--since", "yesterday"], "--since 'yesterday' is not a duration such as"),
        (["--since", "2027-02-30"], "--since '2027-02-30' is not a duration such as"),
        (["--since", "99999999999999d"], "--since '99999999999999d' is too far back."),
        (["--limit", "0"], "--limit must be between 1 and 10000, not 0."),
        (["--limit", "10001"], "--limit must be between 1 and 10000, not 10001."),
    ],
)
def test_attempts_rejects_bad_input(args, message):
    error = run_error("defender_attempts", *args)
    assert error.returncode == 2
    assert message in str(error)


def test_attempts_success_and_failure_exclusive():
    error = run_error("defender_attempts", "--success", "--failure")
    assert "not allowed with argument" in str(error)


@pytest.mark.django_db
def test_attempts_database_error():
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {AccessAttempt._meta.db_table} RENAME TO defender_away")
    try:
        error = run_error("defender_attempts")
    finally:
        transaction.savepoint_rollback(savepoint)
    assert error.returncode == 3
    assert "The database query failed" in str(error)


# --- as run from a shell ------------------------------------------------------------------------


def manage(*args):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PYTHONPATH": str(ROOT),
        "DEFENDER_TEST_DB": "sqlite",
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["defender_block", "--ip", "not-an-ip"], 2, "'not-an-ip' is not a valid IP address."),
        (["defender_blocked", "--kind", "email"], 2, "invalid choice: 'email'"),
        (["defender_unblock", "--username", "nobody"], 1, "Nothing to unblock: username"),
        (["cleanup_django_defender", "--batch-size", "x"], 2, "invalid int value: 'x'"),
    ],
)
def test_exit_codes_from_shell(args, code, message):
    result = manage(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_success_from_shell():
    result = manage("defender_blocked")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Nothing is blocked in scope 'login'.\n"
