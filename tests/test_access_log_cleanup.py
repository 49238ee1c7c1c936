"""cleanup_django_defender: deleting expired access attempts in bounded batches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.db.models.signals import pre_delete
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from drf_defender.models import AccessAttempt

TABLE = AccessAttempt._meta.db_table

pytestmark = pytest.mark.django_db


@pytest.fixture
def now(clock):
    return datetime.fromtimestamp(clock.now, tz=timezone.utc)


@pytest.fixture
def cutoff(now):
    """The expiry time under the default DEFENDER_ACCESS_ATTEMPT_EXPIRATION of 24 hours."""
    return now - timedelta(hours=24)


def add_rows(*times, username="alice"):
    AccessAttempt.objects.bulk_create(
        AccessAttempt(attempt_time=moment, username=username, ip_address="203.0.113.10")
        for moment in times
    )


def cleanup(*args):
    out = StringIO()
    call_command("cleanup_django_defender", *args, stdout=out)
    return out.getvalue()


def remaining_times():
    return sorted(AccessAttempt.objects.values_list("attempt_time", flat=True))


def test_deletes_strictly_older_rows(cutoff, now):
    add_rows(
        cutoff - timedelta(hours=1),
        cutoff - timedelta(microseconds=1),
        cutoff,
        cutoff + timedelta(seconds=1),
        now,
    )
    output = cleanup()
    assert remaining_times() == [cutoff, cutoff + timedelta(seconds=1), now]
    assert output.startswith("Deleted 2 access attempts older than 2027-01-14T08:00:00+00:00")
    assert "(DEFENDER_ACCESS_ATTEMPT_EXPIRATION = 24 hours)" in output


def test_row_at_expiry_is_kept_then_deleted(clock, cutoff):
    add_rows(cutoff)
    cleanup()
    assert AccessAttempt.objects.count() == 1
    clock.advance(0.000001)
    cleanup()
    assert AccessAttempt.objects.count() == 0


def test_dry_run_counts_without_deleting(cutoff):
    add_rows(cutoff - timedelta(seconds=5), cutoff - timedelta(days=3), cutoff)
    output = cleanup("--dry-run")
    assert output.startswith("Dry run: would delete 2 access attempts older than")
    assert AccessAttempt.objects.count() == 3


def test_deletes_in_batches(cutoff, now):
    add_rows(*(cutoff - timedelta(minutes=n) for n in range(1, 11)))
    add_rows(*(now - timedelta(minutes=n) for n in range(5)))
    output = cleanup("--batch-size", "3")
    assert "Deleted 10 access attempts" in output
    assert "in 4 batches" in output
    assert AccessAttempt.objects.count() == 5
    assert all(moment >= cutoff for moment in remaining_times())


def test_second_run_deletes_nothing(cutoff):
    add_rows(cutoff - timedelta(hours=2))
    cleanup()
    assert cleanup().startswith("Deleted 0 access attempts")


def test_expired_rows_after_newer_keys(cutoff, now):
    # Buffered rows reach the table late, so an old time can have a higher key.
    add_rows(now, now)
    add_rows(cutoff - timedelta(hours=5), cutoff - timedelta(hours=6))
    add_rows(now)
    output = cleanup("--batch-size", "1")
    assert "Deleted 2 access attempts" in output
    assert remaining_times() == [now, now, now]


def test_fractional_expiration_hours(now):
    add_rows(now - timedelta(minutes=31), now - timedelta(minutes=29))
    with override_settings(DEFENDER_ACCESS_ATTEMPT_EXPIRATION=0.5):
        output = cleanup()
    assert "Deleted 1 access attempts" in output
    assert "= 0.5 hours" in output
    assert remaining_times() == [now - timedelta(minutes=29)]


def test_batches_never_select_rows(cutoff):
    add_rows(*(cutoff - timedelta(minutes=n) for n in range(1, 8)))
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs["instance"])

    # A pre_delete receiver for every model makes QuerySet.delete() fetch each row; the
    # cleanup must delete without fetching even then.
    pre_delete.connect(receiver, weak=False)
    try:
        with CaptureQueriesContext(connection) as queries:
            cleanup("--batch-size", "3")
    finally:
        pre_delete.disconnect(receiver)
    statements = [query["sql"] for query in queries.captured_queries]
    assert statements[0].startswith("SELECT MIN(")
    assert len(statements) == 4
    assert all(statement.startswith("DELETE FROM") for statement in statements[1:])
    assert received == []
    assert AccessAttempt.objects.count() == 0


def test_empty_table():
    assert cleanup().startswith("Deleted 0 access attempts")
    assert cleanup("--dry-run").startswith("Dry run: would delete 0 access attempts")


def test_verbose_output_lists_batches(cutoff):
    add_rows(*(cutoff - timedelta(minutes=n) for n in range(1, 4)))
    output = cleanup("--batch-size", "2", "--verbosity", "2")
    assert "Batch 1: deleted 2." in output
    assert "Batch 2: deleted 1." in output


@pytest.mark.parametrize("size", ["0", "-5"])
def test_rejects_bad_batch_size(size):
    with pytest.raises(CommandError) as raised:
        cleanup("--batch-size", size)
    assert raised.value.returncode == 2
    assert f"--batch-size must be at least 1, not {size}." in str(raised.value)


def test_missing_table_is_a_clear_error():
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {TABLE}_away")
    try:
        with pytest.raises(CommandError) as raised:
            cleanup("--dry-run")
    finally:
        # Undoes the rename and, on PostgreSQL, the aborted state of the transaction.
        transaction.savepoint_rollback(savepoint)
    assert raised.value.returncode == 3
    assert "The database query failed" in str(raised.value)
    assert "migrate drf_defender" in str(raised.value)
