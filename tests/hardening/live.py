"""Processes that the hardening suite starts: a shared database file and loopback servers.

``LiveDatabase`` prepares an SQLite file with the migrations and the test accounts in a
child process, so that worker processes and servers can all open it. ``LiveServer``
runs ``manage.py runserver`` on a free 127.0.0.1 port with ``tests.hardening.live_settings``
and stops it by the PID of the process it started.

Run ``python -m tests.hardening.live prepare`` with the environment of
``LiveDatabase.environment()`` to build the database by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.redis_servers import _child_setup, find_free_port

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "tests.hardening.live_settings"

#: Accounts of the live database: username to password.
ACCOUNTS = {
    "alice": "Correct-Horse-1",
    "bob": "Battery-Staple-2",
    "loaduser": "Load-User-5",
}

# Seconds a server gets to answer its first request, and to exit after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


class LiveDatabase:
    """An SQLite file with migrations applied and ``ACCOUNTS`` created."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "live.sqlite3"

    def environment(
        self,
        *,
        redis_url: str,
        prefix: str,
        limit: int = 3,
        trusted_proxy: str | None = None,
    ) -> dict[str, str]:
        """Return the environment variables that ``live_settings`` reads."""
        env = {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DEFENDER_LIVE_DATABASE": str(self.path),
            "DEFENDER_LIVE_REDIS_URL": redis_url,
            "DEFENDER_LIVE_PREFIX": prefix,
            "DEFENDER_LIVE_LIMIT": str(limit),
            "PYTHONPATH": str(ROOT),
        }
        if trusted_proxy:
            env["DEFENDER_LIVE_TRUSTED_PROXY"] = trusted_proxy
        return env

    def prepare(self) -> None:
        """Apply the migrations and create the accounts, in a child process."""
        env = {
            **os.environ,
            **self.environment(redis_url="redis://127.0.0.1:1/0", prefix="unused"),
        }
        subprocess.run(
            [sys.executable, "-m", "tests.hardening.live", "prepare"],
            cwd=ROOT,
            env=env,
            check=True,
            timeout=300,
            capture_output=True,
        )

    @staticmethod
    def failures(redis_url: str, prefix: str, **identity: str) -> int:
        """Return the failure count that the processes stored for one username or IP.

        ``identity`` is ``username=...`` or ``ip=...``.
        """
        import redis

        from drf_defender.backends.redis import RedisBackend
        from drf_defender.service import LockoutService

        client = redis.Redis.from_url(redis_url)
        try:
            service = LockoutService(backend=RedisBackend(prefix, client))
            (state,) = service.status(**identity).states
            return state.failures
        finally:
            client.close()


class LiveServer:
    """``manage.py runserver`` on a free loopback port, in a child process of the test."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        """Start the server and wait until it answers HTTP requests."""
        self.port = find_free_port()
        command = [
            sys.executable,
            "-m",
            "django",
            "runserver",
            f"127.0.0.1:{self.port}",
            "--noreload",
            "--skip-checks",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_child_setup(),
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runserver exited early:\n{self.log_tail()}")
            if self._answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"runserver did not answer within {START_TIMEOUT} s:\n{self.log_tail()}")

    def _answers(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/api/me/", timeout=1.0)  # noqa: S310 - loopback
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def stop(self) -> None:
        """Stop the server by its PID and wait until it has exited."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


def login_worker(env: dict[str, str], start: Any, count: int, threads: int, queue: Any) -> None:
    """Send ``count`` wrong dj-rest-auth logins for alice from ``threads`` threads.

    Runs in a spawned process: the environment selects ``live_settings`` before
    Django is set up, and the outcomes go back through ``queue``.
    """
    os.environ.update(env)
    import django

    django.setup()
    from rest_framework.test import APIClient

    from tests.hardening.support import ENTRIES_BY_NAME, WRONG_PASSWORD, run_threads

    # Import every view and authentication class before the threads start: modules
    # imported by several threads at once can see each other half initialised.
    warm_up = APIClient(REMOTE_ADDR="192.0.2.254").get("/api/me/")
    assert warm_up.status_code in (401, 403), warm_up.status_code

    entry = ENTRIES_BY_NAME["dj_rest_auth"]
    per_thread = count // threads

    def send(index: int) -> list[str]:
        client = APIClient(REMOTE_ADDR=f"198.51.100.{index}")
        return [
            entry.outcome(entry.send(client, "alice", WRONG_PASSWORD)) for _ in range(per_thread)
        ]

    start.wait(timeout=120)
    results = run_threads(send, threads)
    outcomes: list[str] = []
    for result in results:
        outcomes.extend(result if isinstance(result, list) else [f"error:{result!r}"])
    queue.put(outcomes)


def _prepare() -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    model = get_user_model()
    for username, password in ACCOUNTS.items():
        model.objects.create_user(username, email=f"{username}@example.com", password=password)


if __name__ == "__main__":
    if sys.argv[1:] != ["prepare"]:
        raise SystemExit("usage: python -m tests.hardening.live prepare")
    _prepare()
