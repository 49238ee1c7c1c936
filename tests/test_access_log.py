"""The access-attempt log: model, migrations, indexes and the inline writes of the service."""

from __future__ import annotations

import logging
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.checks import run_checks
from django.db import OperationalError, connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext

from drf_defender import access_log
from drf_defender.exceptions import LockedOut
from drf_defender.identity import username_identity
from drf_defender.models import AccessAttempt
from drf_defender.service import get_service

ATTACKER = "203.0.113.10"
VICTIM = "198.51.100.20"
TABLE = AccessAttempt._meta.db_table
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def log_on():
    """Turn the access log on, with a fresh error-log rate limiter."""
    access_log.errors.reset()
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True):
        yield
    access_log.errors.reset()


def login_request(path="/api/auth/login/", **meta):
    meta.setdefault("HTTP_USER_AGENT", "pytest-agent/1.0")
    meta.setdefault("HTTP_ACCEPT", "application/json")
    return RequestFactory().post(path, **meta)


def fail(service, username, ip=ATTACKER, request=None):
    """Run one failed check; return True when it was answered as locked out."""
    try:
        attempt = service.begin(request, username=username, ip=ip, integration="tests")
    except LockedOut:
        return True
    try:
        attempt.failed()
    except LockedOut:
        return True
    return False


# --- migrations and indexes ----------------------------------------------------------

MAKEMIGRATIONS_CHECK = """
import sys
import django
from django.conf import settings
import tests.settings as base
values = {name: getattr(base, name) for name in dir(base) if name.isupper()}
values["DEFAULT_AUTO_FIELD"] = sys.argv[1]
settings.configure(**values)
django.setup()
from django.core.management import call_command
call_command("makemigrations", "drf_defender", check=True, dry_run=True, verbosity=1)
"""


@pytest.mark.parametrize(
    "auto_field", ["django.db.models.AutoField", "django.db.models.BigAutoField"]
)
def test_shipped_migrations_match_models(auto_field):
    result = subprocess.run(
        [sys.executable, "-c", MAKEMIGRATIONS_CHECK, auto_field],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DEFENDER_TEST_DB": "sqlite"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def _plan(queryset) -> str:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Tiny test tables are cheapest to scan; forbid that to see which index fits.
            cursor.execute("SET LOCAL enable_seqscan = off")
            return queryset.explain()
    return queryset.explain()


TIME_INDEX = f"{TABLE}_attempt_time_"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("filters", "indexes"),
    [
        ({"username_normalized": "alice"}, ["drf_defender_aa_user_time"]),
        ({"username": "Alice"}, ["drf_defender_aa_typed_time"]),
        ({"ip_address": ATTACKER}, ["drf_defender_aa_ip_time"]),
        # Without statistics, SQLite may walk the time index and test the flag per row,
        # which is also an index scan in the order the listing needs.
        ({"login_valid": False}, ["drf_defender_aa_valid_time", TIME_INDEX]),
    ],
)
def test_filters_use_an_index(filters, indexes):
    plan = _plan(AccessAttempt.objects.filter(**filters).order_by("-attempt_time"))
    assert any(index in plan for index in indexes), plan


@pytest.mark.django_db
def test_time_filter_uses_an_index():
    since = datetime(2026, 1, 1, tzinfo=timezone.utc)
    plan = _plan(AccessAttempt.objects.filter(attempt_time__gte=since))
    assert TIME_INDEX in plan, plan


# --- rows written by the service ------------------------------------------------------


@pytest.mark.django_db
def test_failed_check_writes_one_row(service, clock, log_on):
    request = login_request()
    assert fail(service, "  Alice ", request=request) is False
    row = AccessAttempt.objects.get()
    assert row.attempt_time == datetime.fromtimestamp(clock.now, tz=timezone.utc)
    assert row.ip_address == ATTACKER
    assert row.username == "  Alice "
    assert row.username_normalized == "alice"
    assert row.user_agent == "pytest-agent/1.0"
    assert row.http_accept == "application/json"
    assert row.path_info == "/api/auth/login/"
    assert row.login_valid is False
    assert row.locked_out is False
    assert row.integration == "tests"
    assert row.scope == "login"
    assert row.stream_id is None


@pytest.mark.django_db
def test_successful_check_writes_row(service, log_on):
    service.begin(username="alice", ip=VICTIM, integration="tests").succeeded()
    row = AccessAttempt.objects.get()
    assert row.login_valid is True
    assert row.locked_out is False
    assert row.username == "alice"
    assert row.ip_address == VICTIM
    # No request: the request fields stay empty.
    assert row.user_agent == ""
    assert row.path_info == ""


@pytest.mark.django_db
def test_failure_that_starts_block_is_locked_out(service, log_on):
    answers = [fail(service, "alice") for _ in range(4)]
    assert answers == [False, False, False, True]
    rows = list(AccessAttempt.objects.order_by("pk"))
    assert [row.locked_out for row in rows] == [False, False, False, True]
    assert not any(row.login_valid for row in rows)


@pytest.mark.django_db
def test_refused_request_writes_no_row(service, log_on):
    for _ in range(4):
        fail(service, "alice")
    with pytest.raises(LockedOut):
        service.begin(username="alice", ip=ATTACKER)
    assert AccessAttempt.objects.count() == 4


@pytest.mark.django_db
def test_denylisted_request_writes_no_row(service, log_on):
    with override_settings(DEFENDER_USERNAME_DENYLIST=["mallory"]):
        with pytest.raises(LockedOut):
            service.begin(username="mallory", ip=ATTACKER)
    assert AccessAttempt.objects.count() == 0


@pytest.mark.django_db
def test_store_access_attempts_off_writes_nothing(service):
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=False):
        fail(service, "alice")
        service.begin(username="alice", ip=VICTIM).succeeded()
    assert AccessAttempt.objects.count() == 0


@pytest.mark.django_db
def test_abandoned_check_writes_no_row(service, log_on):
    service.begin(username="alice", ip=ATTACKER).abandon()
    assert AccessAttempt.objects.count() == 0


# --- the cost on the login path ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("outcome", ["failed", "succeeded"])
def test_inline_write_is_one_insert(service, log_on, outcome):
    service.backend  # noqa: B018 - build the backend before counting queries
    with CaptureQueriesContext(connection) as queries:
        attempt = service.begin(username="alice", ip=ATTACKER)
        getattr(attempt, outcome)()
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 1, statements
    assert statements[0].startswith("INSERT INTO")
    assert TABLE in statements[0]


@pytest.mark.django_db
def test_inline_write_in_transaction_uses_savepoint(service, log_on):
    with CaptureQueriesContext(connection) as queries:
        fail(service, "alice")
    statements = [query["sql"] for query in queries.captured_queries]
    assert len(statements) == 3, statements
    assert statements[0].startswith("SAVEPOINT")
    assert statements[1].startswith("INSERT INTO")
    assert statements[2].startswith("RELEASE SAVEPOINT")


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("length", [300, 100_000])
def test_long_values_are_truncated(service, log_on, length):
    long_name = "u" * length
    request = login_request(
        path="/" + "p" * length,
        HTTP_USER_AGENT="a" * length,
        HTTP_ACCEPT="text/" + "x" * length,
    )
    answers = [fail(service, long_name, request=request) for _ in range(4)]
    # The same long name is counted under one bounded key: the 4th failure locks.
    assert answers == [False, False, False, True]
    rows = list(AccessAttempt.objects.order_by("pk"))
    assert len(rows) == 4
    row = rows[0]
    assert row.username == long_name[:255]
    assert row.username_normalized == username_identity(long_name)
    assert len(row.username_normalized) <= 64
    assert len(row.user_agent) == 255
    assert len(row.path_info) == 255
    assert len(row.http_accept) == min(1025, len(request.META["HTTP_ACCEPT"]))
    assert {r.username_normalized for r in rows} == {row.username_normalized}


@pytest.mark.django_db
def test_nul_and_lone_surrogate_are_stored(service, log_on):
    fail(service, "ali\x00ce\ud800")
    row = AccessAttempt.objects.get()
    assert row.username == "ali\ufffdce?"
    assert row.username_normalized == username_identity("ali\x00ce\ud800")


def test_lone_surrogate_username_in_buffered_mode(redis_settings, clock, log_on, redis_client):
    with override_settings(DEFENDER_ACCESS_LOG_MODE="buffered"):
        service = get_service()
        answers = [fail(service, "bad\ud800name") for _ in range(4)]
        stream = service.backend.attempt_stream_key()
    # The record rides in the failure pipeline, so an unencodable name must not stop it.
    assert answers == [False, False, False, True]
    usernames = [fields[b"username"] for _, fields in redis_client.xrange(stream)]
    assert usernames == [b"bad?name"] * 4


def test_entry_with_malformed_fields_gets_defaults():
    row = access_log.attempt_from_entry(
        {"time": "soon", "ip": "not-an-ip", "success": "maybe", "scope": "s" * 40}
    )
    assert row.ip_address is None
    assert row.login_valid is False
    assert row.scope == "s" * 32
    assert row.username == ""
    assert row.attempt_time.tzinfo is not None


def test_entry_time_without_time_zone_support():
    with override_settings(USE_TZ=False):
        row = access_log.attempt_from_entry({"time": "1800000000.5"})
    assert row.attempt_time == datetime(2027, 1, 15, 8, 0, 0, 500000)


# --- database failures --------------------------------------------------------------------


class FailingInserts:
    """Make every INSERT into the log fail as a lost database connection does."""

    def __init__(self):
        self.calls = 0

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith("INSERT") and TABLE in sql:
            self.calls += 1
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)


@pytest.mark.django_db(transaction=True)
def test_database_failure_does_not_break_login(service, log_on, caplog):
    failing = FailingInserts()
    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        with connection.execute_wrapper(failing):
            answers = [fail(service, "alice") for _ in range(4)]
            service.begin(username="bob", ip=VICTIM).succeeded()
    assert answers == [False, False, False, True]
    assert failing.calls == 5
    records = [r for r in caplog.records if r.name == "drf_defender.access_log"]
    # One message for the outage; the other four errors are counted, not logged.
    assert len(records) == 1
    assert "could not write an access-attempt row" in records[0].getMessage()
    assert "server closed the connection" in records[0].getMessage()
    assert AccessAttempt.objects.count() == 0


@pytest.mark.django_db
def test_failed_write_leaves_transaction_usable(service, log_on, caplog):
    user = get_user_model().objects.create_user("alice", password="Correct-Horse-1")
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_away")
    try:
        with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
            fail(service, "alice")
        # On PostgreSQL a failed statement outside a savepoint would abort the
        # transaction and make this query fail too.
        assert get_user_model().objects.get(pk=user.pk).username == "alice"
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {TABLE}_away RENAME TO {TABLE}")
    assert "could not write an access-attempt row" in caplog.text


def test_error_reporter_logs_again_after_interval(caplog):
    reporter = access_log.ErrorReporter(interval=0)
    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        reporter.report("database", "failed (%d not logged): %s", OSError("one"))
        reporter.report("database", "failed (%d not logged): %s", OSError("two"))
    assert [r.getMessage() for r in caplog.records] == [
        "failed (0 not logged): one",
        "failed (0 not logged): two",
    ]


def test_error_reporter_counts_suppressed(caplog):
    reporter = access_log.ErrorReporter(interval=3600)
    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        for number in range(3):
            reporter.report("celery", "failed (%d not logged): %s", OSError(str(number)))
        reporter.report("database", "db failed (%d not logged): %s", OSError("db"))
    assert [r.getMessage() for r in caplog.records] == [
        "failed (0 not logged): 0",
        "db failed (0 not logged): db",
    ]


# --- modes and checks ----------------------------------------------------------------------


def test_mode_defaults_to_inline():
    assert access_log.access_log_mode() == "inline"


def test_use_celery_selects_celery_mode():
    with override_settings(DEFENDER_USE_CELERY=True):
        assert access_log.access_log_mode() == "celery"


def test_explicit_mode_wins_over_use_celery():
    with override_settings(DEFENDER_USE_CELERY=True, DEFENDER_ACCESS_LOG_MODE="buffered"):
        assert access_log.access_log_mode() == "buffered"


def test_unknown_mode_writes_inline():
    with override_settings(DEFENDER_ACCESS_LOG_MODE="sometimes"):
        assert access_log.access_log_mode() == "inline"


def _check_ids(**values):
    with override_settings(**values):
        return [message.id for message in access_log.check_access_log()]


def test_check_accepts_defaults():
    assert _check_ids(DEFENDER_STORE_ACCESS_ATTEMPTS=True) == []


def test_check_rejects_unknown_mode():
    assert _check_ids(DEFENDER_ACCESS_LOG_MODE="sometimes") == ["drf_defender.E101"]


@pytest.mark.parametrize("maxlen", [0, -5, "100", True, 1.5])
def test_check_rejects_bad_stream_maxlen(maxlen):
    assert "drf_defender.E102" in _check_ids(DEFENDER_ACCESS_LOG_STREAM_MAXLEN=maxlen)


def test_check_warns_when_mode_overrides_use_celery():
    ids = _check_ids(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True,
        DEFENDER_USE_CELERY=True,
        DEFENDER_ACCESS_LOG_MODE="inline",
    )
    assert ids == ["drf_defender.W101"]


def test_check_warns_buffered_without_stream():
    ids = _check_ids(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True,
        DEFENDER_ACCESS_LOG_MODE="buffered",
        DEFENDER_BACKEND="drf_defender.backends.cache.CacheBackend",
    )
    assert ids == ["drf_defender.W102"]


def test_check_accepts_buffered_on_redis():
    ids = _check_ids(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True,
        DEFENDER_ACCESS_LOG_MODE="buffered",
        DEFENDER_BACKEND="drf_defender.backends.redis.RedisBackend",
    )
    assert ids == []


def test_check_requires_celery_for_celery_mode(monkeypatch):
    real_find_spec = access_log.importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "celery" else real_find_spec(name, *args)

    monkeypatch.setattr(access_log.importlib.util, "find_spec", find_spec)
    ids = _check_ids(DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_USE_CELERY=True)
    assert ids == ["drf_defender.E103"]


def test_checks_are_registered():
    with override_settings(DEFENDER_ACCESS_LOG_MODE="sometimes"):
        ids = [message.id for message in run_checks()]
    assert "drf_defender.E101" in ids


@pytest.mark.django_db
def test_buffered_mode_without_stream_writes_inline(log_on, cache_settings, clock):
    with override_settings(DEFENDER_ACCESS_LOG_MODE="buffered"):
        fail(get_service(), "alice")
    assert AccessAttempt.objects.count() == 1


def test_import_without_celery():
    code = (
        "import sys\n"
        "sys.modules['celery'] = None\n"
        "import django\n"
        "from django.conf import settings\n"
        "settings.configure(INSTALLED_APPS=['django.contrib.contenttypes',"
        " 'django.contrib.auth', 'drf_defender'])\n"
        "django.setup()\n"
        "import drf_defender, drf_defender.receivers, drf_defender.access_log\n"
        "import drf_defender.access_log_drain\n"
        "from django.core.management import get_commands, load_command_class\n"
        "for name in ('cleanup_django_defender', 'drain_access_attempts', 'defender_blocked'):\n"
        "    load_command_class('drf_defender', name)\n"
        "assert 'drf_defender.tasks' not in sys.modules\n"
        "print('imported')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "imported" in result.stdout
