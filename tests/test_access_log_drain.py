"""Buffered access log: the Redis stream on the login path and the drain into the database."""

from __future__ import annotations

import contextlib
import json
import socket
from io import StringIO

import pytest
import redis
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext

from drf_defender import access_log, access_log_drain
from drf_defender.exceptions import LockedOut
from drf_defender.models import AccessAttempt
from drf_defender.service import get_service

ATTACKER = "203.0.113.10"
VICTIM = "198.51.100.20"


class Crash(Exception):
    """Stands for a drain process that dies at a given point."""


@pytest.fixture
def buffered(redis_settings, clock):
    """The service in buffered mode on the test Redis database."""
    access_log.errors.reset()
    with override_settings(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_ACCESS_LOG_MODE="buffered"
    ):
        yield get_service()


@pytest.fixture
def stream(buffered, redis_client):
    """Read helpers for the attempt stream of the current prefix."""
    return Stream(redis_client, buffered.backend.attempt_stream_key())


class Stream:
    def __init__(self, client, key):
        self.client = client
        self.key = key

    def length(self):
        return self.client.xlen(self.key)

    def pending(self):
        try:
            return self.client.xpending(self.key, access_log_drain.GROUP)["pending"]
        except redis.ResponseError:
            # NOGROUP: no drain has read the stream yet.
            return 0

    def entries(self):
        return [
            {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
            for _, fields in self.client.xrange(self.key)
        ]

    def read_as(self, consumer, count=1000):
        """Read new entries as another consumer of the group, as a drain that then died."""
        with contextlib.suppress(redis.ResponseError):
            # BUSYGROUP: the group exists already.
            self.client.xgroup_create(self.key, access_log_drain.GROUP, id="0", mkstream=True)
        reply = self.client.xreadgroup(
            access_log_drain.GROUP, consumer, {self.key: ">"}, count=count
        )
        return reply[0][1] if reply else []


def attempts(service, count, *, success=False, prefix="user"):
    for number in range(count):
        # One IP per attempt, so that no IP reaches the failure limit.
        ip = f"198.51.100.{number % 250 + 1}"
        attempt = service.begin(username=f"{prefix}{number}", ip=ip, integration="tests")
        if success:
            attempt.succeeded()
        else:
            attempt.failed()
    # The entry of the last failure waits in the process for a later backend call.
    service.flush_pending_writes()


def drain(*args):
    out = StringIO()
    call_command("drain_access_attempts", *args, stdout=out)
    return out.getvalue()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the login path -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_buffered_login_runs_no_sql_query(buffered, stream):
    buffered.backend.ping()
    request = RequestFactory().post("/api/auth/login/", HTTP_USER_AGENT="agent/2")
    with CaptureQueriesContext(connection) as queries:
        answers = []
        for _ in range(4):
            try:
                buffered.begin(request, username="alice", ip=ATTACKER).failed()
                answers.append("bad")
            except LockedOut:
                answers.append("locked")
        buffered.begin(request, username="bob", ip=VICTIM).succeeded()
        buffered.flush_pending_writes()
    assert queries.captured_queries == []
    assert answers == ["bad", "bad", "bad", "locked"]
    entries = stream.entries()
    assert [e["success"] for e in entries] == ["0", "0", "0", "0", "1"]
    assert [e["locked_out"] for e in entries] == ["0", "0", "0", "1", "0"]
    assert entries[0]["username"] == "alice"
    assert entries[0]["user_agent"] == "agent/2"
    assert entries[0]["path"] == "/api/auth/login/"
    assert AccessAttempt.objects.count() == 0


def test_store_off_adds_nothing_to_stream(buffered, stream):
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=False):
        attempts(get_service(), 2)
    assert stream.length() == 0


# --- the drain ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_drain_moves_entries_into_rows(buffered, stream, clock):
    attempts(buffered, 3)
    attempts(buffered, 2, success=True, prefix="ok")
    ids = [entry_id.decode() for entry_id, _ in stream.client.xrange(stream.key)]
    output = drain()
    rows = list(AccessAttempt.objects.order_by("stream_id"))
    assert len(rows) == 5
    assert sorted(row.stream_id for row in rows) == sorted(ids)
    assert {row.username for row in rows} == {"user0", "user1", "user2", "ok0", "ok1"}
    assert sum(row.login_valid for row in rows) == 2
    assert {row.ip_address for row in rows} == {"198.51.100.1", "198.51.100.2", "198.51.100.3"}
    assert {row.integration for row in rows} == {"tests"}
    assert {row.attempt_time.timestamp() for row in rows} == {clock.now}
    assert stream.length() == 0
    assert stream.pending() == 0
    assert "Stored 5 access attempts in 1 batch (" in output
    assert "Stream: 0 entries left, 0 read but not stored." in output


@pytest.mark.django_db
def test_drain_reads_in_batches(buffered, stream):
    attempts(buffered, 23)
    output = drain("--batch-size", "5")
    assert AccessAttempt.objects.count() == 23
    assert "Stored 23 access attempts in 5 batches" in output
    assert stream.length() == 0


@pytest.mark.django_db
def test_second_drain_stores_nothing(buffered, stream):
    attempts(buffered, 4)
    drain()
    output = drain()
    assert AccessAttempt.objects.count() == 4
    assert "Stored 0 access attempts" in output


@pytest.mark.django_db
def test_drain_of_missing_stream_stores_nothing(buffered):
    output = drain()
    assert "Stored 0 access attempts in 0 batches" in output


@pytest.mark.django_db
def test_crash_between_insert_and_ack_leaves_no_duplicate(buffered, stream):
    attempts(buffered, 6)

    def crash(ids):
        raise Crash(f"stopped after inserting {len(ids)} rows")

    with pytest.raises(Crash):
        access_log_drain.drain(buffered.backend, batch_size=4, consumer="a", after_insert=crash)
    # The first batch is in the database but was never acknowledged.
    assert AccessAttempt.objects.count() == 4
    assert stream.pending() == 4
    assert stream.length() == 6

    output = drain("--min-idle", "0")

    assert AccessAttempt.objects.count() == 6
    assert AccessAttempt.objects.values("stream_id").distinct().count() == 6
    assert "(4 taken over from an earlier run" in output
    assert stream.pending() == 0
    assert stream.length() == 0


@pytest.mark.django_db
def test_crash_before_insert_loses_nothing(buffered, stream):
    attempts(buffered, 5)
    delivered = stream.read_as("crashed-drain", count=3)
    assert len(delivered) == 3

    # Entries read by another drain are left alone until they have been idle long enough.
    drain()
    assert AccessAttempt.objects.count() == 2
    assert stream.pending() == 3

    drain("--min-idle", "0")
    assert AccessAttempt.objects.count() == 5
    assert stream.pending() == 0
    assert stream.length() == 0


@pytest.mark.django_db(transaction=True)
def test_database_failure_keeps_entries_pending(buffered, stream):
    attempts(buffered, 3)

    def refuse(execute, sql, params, many, context):
        if sql.startswith("INSERT"):
            raise OperationalError("could not connect to server")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        with pytest.raises(CommandError) as raised:
            drain()
    assert raised.value.returncode == 3
    assert "could not connect to server" in str(raised.value)
    assert stream.pending() == 3

    drain("--min-idle", "0")
    assert AccessAttempt.objects.count() == 3
    assert stream.length() == 0


@pytest.mark.django_db
def test_stream_cap_drops_oldest_entries(buffered, stream):
    with override_settings(DEFENDER_ACCESS_LOG_STREAM_MAXLEN=100):
        service = get_service()
        attempts(service, 600, success=True)
    length = stream.length()
    usernames = [entry["username"] for entry in stream.entries()]
    # Approximate trimming removes whole stream nodes (100 entries each by default),
    # so the stream keeps between MAXLEN and MAXLEN plus one node.
    assert 100 <= length <= 200
    assert "user0" not in usernames
    assert usernames[-1] == "user599"

    drain()
    stored = set(AccessAttempt.objects.values_list("username", flat=True))
    assert len(stored) == length
    assert "user599" in stored
    assert "user0" not in stored


@pytest.mark.django_db
def test_drain_json_output(buffered):
    attempts(buffered, 2)
    report = json.loads(drain("--json"))
    assert report["stored"] == 2
    assert report["reclaimed"] == 0
    assert report["stopped_early"] is False
    assert report["stream"] == {"length": 0, "pending": 0}


def test_drain_stops_at_max_seconds(buffered, stream, db):
    attempts(buffered, 3)
    report = access_log_drain.drain(buffered.backend, batch_size=1, max_seconds=0)
    assert report.stopped_early is True
    assert report.stored == 0
    assert stream.length() == 3


@pytest.mark.django_db
def test_drain_needs_a_stream_backend(cache_settings):
    with pytest.raises(CommandError) as raised:
        drain()
    assert raised.value.returncode == 2
    assert "has no attempt stream" in str(raised.value)


@pytest.mark.django_db
def test_drain_with_redis_down(redis_settings):
    with override_settings(DEFENDER_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        with pytest.raises(CommandError) as raised:
            drain()
    assert raised.value.returncode == 3
    assert "unavailable" in str(raised.value)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--max-seconds", "-1"], "--max-seconds must be 0 or more"),
        (["--min-idle", "nan"], "--min-idle must be 0 or more"),
    ],
)
def test_drain_rejects_bad_options(args, message):
    with pytest.raises(CommandError) as raised:
        drain(*args)
    assert raised.value.returncode == 2
    assert message in str(raised.value)


@pytest.mark.django_db
def test_reclaim_in_several_batches(buffered, stream):
    attempts(buffered, 5)
    assert len(stream.read_as("crashed-drain")) == 5
    output = drain("--min-idle", "0", "--batch-size", "2")
    assert "Stored 5 access attempts in 3 batches (5 taken over" in output
    assert AccessAttempt.objects.count() == 5
    assert stream.pending() == 0
