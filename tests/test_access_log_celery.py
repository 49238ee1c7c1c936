"""Celery mode of the access log: eager mode, a real broker and worker, broker failures."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from celery import current_app as celery_current_app
from celery.signals import task_prerun
from django.db import OperationalError, connection
from django.test import override_settings
from kombu import Connection

from drf_defender import access_log
from drf_defender.exceptions import LockedOut
from drf_defender.models import AccessAttempt
from drf_defender.service import get_service

ATTACKER = "203.0.113.10"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
ROOT = Path(__file__).resolve().parent.parent
TABLE = AccessAttempt._meta.db_table


@pytest.fixture
def make_celery_app():
    """Factory of Celery apps made current for one test and closed afterwards."""
    previous = celery_current_app._get_current_object()
    apps: list[Celery] = []

    def make(**conf) -> Celery:
        app = Celery(f"drf-defender-test-{uuid.uuid4().hex[:8]}")
        app.conf.update(conf)
        app.set_current()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()
    previous.set_current()


@pytest.fixture
def celery_mode(cache_settings, clock):
    """The access log on, written through Celery, with a fresh error-log limiter."""
    access_log.errors.reset()
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_USE_CELERY=True):
        yield get_service()
    access_log.errors.reset()


@pytest.fixture
def started_tasks():
    names: list[str] = []

    def receiver(sender=None, **kwargs):
        names.append(sender.name)

    task_prerun.connect(receiver, weak=False)
    yield names
    task_prerun.disconnect(receiver)


def fail(service, username, ip=ATTACKER):
    try:
        service.begin(username=username, ip=ip, integration="tests").failed()
    except LockedOut:
        return "locked"
    return "bad"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- eager mode ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_eager_task_writes_row(make_celery_app, celery_mode, started_tasks):
    make_celery_app(task_always_eager=True)
    assert [fail(celery_mode, "alice") for _ in range(4)] == ["bad"] * 3 + ["locked"]
    celery_mode.begin(username="bob", ip="198.51.100.20").succeeded()
    assert started_tasks == ["drf_defender.tasks.record_access_attempt"] * 5
    rows = list(AccessAttempt.objects.order_by("pk"))
    assert [row.username for row in rows] == ["alice"] * 4 + ["bob"]
    assert [row.locked_out for row in rows] == [False, False, False, True, False]
    assert [row.login_valid for row in rows] == [False] * 4 + [True]
    assert rows[0].integration == "tests"


@pytest.mark.django_db
def test_explicit_celery_mode(make_celery_app, cache_settings, clock, started_tasks):
    make_celery_app(task_always_eager=True)
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_ACCESS_LOG_MODE="celery"):
        fail(get_service(), "alice")
    assert started_tasks == ["drf_defender.tasks.record_access_attempt"]
    assert AccessAttempt.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_eager_database_failure_is_logged(make_celery_app, celery_mode, caplog):
    make_celery_app(task_always_eager=True, task_eager_propagates=True)

    def refuse(execute, sql, params, many, context):
        if sql.startswith("INSERT") and TABLE in sql:
            raise OperationalError("could not connect to server")
        return execute(sql, params, many, context)

    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        with connection.execute_wrapper(refuse):
            answers = [fail(celery_mode, "alice") for _ in range(4)]
    assert answers == ["bad"] * 3 + ["locked"]
    messages = [r.getMessage() for r in caplog.records if r.name == "drf_defender.access_log"]
    assert len(messages) == 1
    assert "could not record an access-attempt row through Celery" in messages[0]
    assert "could not connect to server" in messages[0]
    assert AccessAttempt.objects.count() == 0


@pytest.mark.django_db
def test_eager_drain_task(make_celery_app, redis_settings, clock):
    make_celery_app(task_always_eager=True)
    from drf_defender.tasks import drain_access_attempts

    with override_settings(
        DEFENDER_STORE_ACCESS_ATTEMPTS=True, DEFENDER_ACCESS_LOG_MODE="buffered"
    ):
        service = get_service()
        fail(service, "alice")
        service.begin(username="bob", ip="198.51.100.20").succeeded()
        assert AccessAttempt.objects.count() == 0
        result = drain_access_attempts.delay()
    assert result.get()["stored"] == 2
    assert sorted(AccessAttempt.objects.values_list("username", flat=True)) == ["alice", "bob"]


# --- broker failures ---------------------------------------------------------------------------


def test_broker_down_login_completes(make_celery_app, celery_mode, caplog):
    make_celery_app(broker_url=f"amqp://guest:guest@127.0.0.1:{closed_port()}//")
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        answers = [fail(celery_mode, "alice") for _ in range(4)]
        celery_mode.begin(username="bob", ip="198.51.100.20").succeeded()
    elapsed = time.monotonic() - started
    assert answers == ["bad"] * 3 + ["locked"]
    # One immediate publishing retry: a refused connection costs milliseconds per login.
    assert elapsed < 5
    messages = [r.getMessage() for r in caplog.records if r.name == "drf_defender.access_log"]
    assert len(messages) == 1
    assert "through Celery" in messages[0]
    assert "Connection refused" in messages[0]


def test_celery_import_error_is_logged(celery_mode, caplog, monkeypatch):
    monkeypatch.setitem(sys.modules, "drf_defender.tasks", None)
    with caplog.at_level(logging.ERROR, logger="drf_defender.access_log"):
        assert fail(celery_mode, "alice") == "bad"
    assert "through Celery" in caplog.text


# --- a real broker and worker ---------------------------------------------------------------


class Worker:
    """A Celery worker subprocess owned by one test, stopped by its PID."""

    def __init__(self, tmp_path: Path, broker: str, queue: str) -> None:
        self.database = tmp_path / "worker.sqlite3"
        self.log = tmp_path / "worker.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(ROOT),
            "DJANGO_SETTINGS_MODULE": "tests.celery_worker_settings",
            "DEFENDER_TEST_DB": "sqlite",
            "DEFENDER_WORKER_DB": str(self.database),
            "DEFENDER_WORKER_BROKER": broker,
            "DEFENDER_WORKER_QUEUE": queue,
        }
        self.queue = queue
        self.process: subprocess.Popen[bytes] | None = None

    def migrate(self) -> None:
        subprocess.run(
            # The log table has no dependencies; the other apps' tables are not needed.
            [sys.executable, "-m", "django", "migrate", "drf_defender", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=120,
        )

    def start(self, timeout: float = 60) -> None:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "tests.celery_app",
                    "worker",
                    "--pool=solo",
                    "--concurrency=1",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "--loglevel=INFO",
                    "-Q",
                    self.queue,
                    "-n",
                    f"{self.queue}@127.0.0.1",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"The Celery worker exited early:\n{self.log.read_text()}")
            if " ready." in self.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        pytest.fail(f"The Celery worker was not ready within {timeout} s:\n{self.log_text()}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Cold shutdown: the test has read what it needs, so pending work may be dropped.
        os.kill(self.process.pid, signal.SIGQUIT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def rows(self, username: str) -> list[tuple]:
        with sqlite3.connect(self.database) as db:
            return db.execute(
                f"SELECT username, login_valid, locked_out, ip_address, integration "  # noqa: S608
                f"FROM {TABLE} WHERE username = ? ORDER BY id",
                (username,),
            ).fetchall()


def delete_queue(broker: str, queue: str) -> None:
    with Connection(broker, connect_timeout=5) as conn:
        channel = conn.channel()
        try:
            channel.queue_delete(queue)
            channel.exchange_delete(queue)
        finally:
            channel.close()


@pytest.mark.slow
def test_real_worker_writes_rows(tmp_path, make_celery_app, celery_mode):
    queue = f"drf-defender-test-{uuid.uuid4().hex[:12]}"
    worker = Worker(tmp_path, RABBITMQ_URL, queue)
    worker.migrate()
    make_celery_app(broker_url=RABBITMQ_URL, task_default_queue=queue)
    try:
        worker.start()
        username = f"alice-{uuid.uuid4().hex[:6]}"
        answers = [fail(celery_mode, username) for _ in range(4)]
        celery_mode.begin(username=f"{username}-ok", ip="198.51.100.20").succeeded()
        assert answers == ["bad"] * 3 + ["locked"]

        deadline = time.monotonic() + 30
        rows = worker.rows(username)
        while len(rows) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            rows = worker.rows(username)
        successes = worker.rows(f"{username}-ok")
        while not successes and time.monotonic() < deadline:
            time.sleep(0.2)
            successes = worker.rows(f"{username}-ok")
    finally:
        worker.stop()
        delete_queue(RABBITMQ_URL, queue)
    assert rows == [
        (username, 0, 0, ATTACKER, "tests"),
        (username, 0, 0, ATTACKER, "tests"),
        (username, 0, 0, ATTACKER, "tests"),
        (username, 0, 1, ATTACKER, "tests"),
    ], worker.log_text()
    assert successes == [(f"{username}-ok", 1, 0, "198.51.100.20", "custom")]
    assert "drf_defender.tasks.record_access_attempt" in worker.log_text()
