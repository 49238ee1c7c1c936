"""Throwaway redis-server processes on free loopback ports, for tests.

Each server runs in the foreground as a child of the test process, keeps nothing on
disk (``--save ""``, ``--appendonly no``) and listens on 127.0.0.1 only. A server is
stopped by the PID of the process that this module started, never by name. On Linux
the child also gets SIGTERM when the test process dies, so a killed test run does not
leave servers behind.

Sentinel and Cluster helpers build on ``RedisServer`` by passing ``extra_args`` and by
overriding ``command()``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

LOOPBACK = "127.0.0.1"
INSTALL_HINT = (
    "Install Redis with `apt-get install redis-server` (Debian, Ubuntu) or "
    "`brew install redis` (macOS), or set REDIS_URL to a Redis server that the tests may use."
)
# Seconds a new server gets to reply to PING before the start counts as failed.
START_TIMEOUT = 10.0
# Seconds a stopping server gets to exit after SIGTERM before it gets SIGKILL.
STOP_TIMEOUT = 5.0
# A free port can be taken by another process before redis-server binds it.
START_ATTEMPTS = 3
# Value of PR_SET_PDEATHSIG from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1


class RedisUnavailableError(RuntimeError):
    """Raised when a throwaway redis-server cannot be started."""


def find_redis_server_binary() -> str | None:
    """Return the path of redis-server, from REDIS_SERVER_BIN or PATH, or None."""
    configured = os.environ.get("REDIS_SERVER_BIN")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("redis-server")


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free when this function checked it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def no_retry() -> Retry:
    """Return a redis-py retry policy that makes one attempt, so that failures show at once."""
    return Retry(NoBackoff(), 0)


def ping(url: str, timeout: float = 0.5) -> bool:
    """Return whether the Redis server at ``url`` replies to PING within ``timeout`` seconds."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout, socket_timeout=timeout, retry=no_retry()
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _kill_with_parent() -> None:
    """Ask Linux to send SIGTERM to this child when its parent exits."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    libc = ctypes.CDLL(libc_name, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _child_setup() -> Callable[[], None] | None:
    return _kill_with_parent if sys.platform.startswith("linux") else None


class RedisServer:
    """A redis-server child process on a loopback port, restartable on the same port.

    The port is chosen on the first ``start()`` unless one is given, and kept for
    restarts so that clients can reconnect to the same URL.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        db: int = 0,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        found = binary or find_redis_server_binary()
        if found is None:
            raise RedisUnavailableError(f"redis-server was not found. {INSTALL_HINT}")
        self.binary = found
        self.port = port
        self.db = db
        self.extra_args = list(extra_args)
        self.workdir = Path(tempfile.mkdtemp(prefix="drf-defender-redis-"))
        self.process: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        """Redis URL of this server, including the database number."""
        if self.port is None:
            raise RedisUnavailableError("The server has no port until start() is called.")
        return f"redis://{LOOPBACK}:{self.port}/{self.db}"

    @property
    def pid(self) -> int | None:
        """PID of the running redis-server process, or None when it is not running."""
        return self.process.pid if self.is_running() else None

    @property
    def log_path(self) -> Path:
        """File that receives the server's stdout and stderr."""
        return self.workdir / "redis-server.log"

    def command(self, port: int) -> list[str]:
        """Return the argv that starts the server on ``port``."""
        return [
            self.binary,
            "--port",
            str(port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
            *self.extra_args,
        ]

    def is_running(self) -> bool:
        """Return whether the process was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    def start(self) -> RedisServer:
        """Start the server, or restart it on its previous port, and wait for PING.

        Raises RedisUnavailableError, with the end of the server log, when the server
        exits or does not reply to PING within START_TIMEOUT seconds.
        """
        if self.is_running():
            return self
        fixed_port = self.port is not None
        attempts = 1 if fixed_port else START_ATTEMPTS
        last_error = ""
        for _attempt in range(attempts):
            port = self.port if self.port is not None else find_free_port()
            error = self._spawn_and_wait(port)
            if error is None:
                self.port = port
                return self
            last_error = error
        raise RedisUnavailableError(last_error)

    def _spawn_and_wait(self, port: int) -> str | None:
        """Spawn redis-server on ``port``; return None once it replies to PING, else the reason."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # The hook only calls prctl, which takes no locks, so it is safe after fork.
                preexec_fn=_child_setup(),
            )
        self._paused = False
        url = f"redis://{LOOPBACK}:{port}/0"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return (
                    f"redis-server exited with code {self.process.returncode} on port {port}. "
                    f"Log tail:\n{self._log_tail()}"
                )
            if ping(url, timeout=0.2):
                return None
            time.sleep(0.05)
        self._terminate()
        return (
            f"redis-server did not reply to PING on port {port} within {START_TIMEOUT} s. "
            f"Log tail:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def pause(self) -> None:
        """Freeze the server with SIGSTOP, so clients time out instead of being refused."""
        if self.process is None or not self.is_running():
            raise RedisUnavailableError("Cannot pause a server that is not running.")
        os.kill(self.process.pid, signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Continue a paused server with SIGCONT."""
        if self.process is None or not self.is_running():
            raise RedisUnavailableError("Cannot resume a server that is not running.")
        os.kill(self.process.pid, signal.SIGCONT)
        self._paused = False

    def stop(self) -> None:
        """Stop the server by PID and wait until it has exited. The port is kept for start()."""
        self._terminate()

    def _terminate(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        if self._paused:
            # A stopped process does not act on SIGTERM until it is continued.
            os.kill(process.pid, signal.SIGCONT)
            self._paused = False
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def close(self) -> None:
        """Stop the server and delete its working directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


class RedisServerPool:
    """Throwaway servers started for one test or session, all closed by ``close_all()``."""

    def __init__(self) -> None:
        self.servers: list[RedisServer] = []

    def start(
        self,
        port: int | None = None,
        *,
        db: int = 0,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> RedisServer:
        """Start a new server; the arguments are those of RedisServer."""
        server = RedisServer(port, db=db, extra_args=extra_args, binary=binary)
        self.servers.append(server)
        return server.start()

    def close_all(self) -> None:
        """Stop every server of this pool and delete their working directories."""
        for server in reversed(self.servers):
            server.close()
        self.servers.clear()


def delete_keys_with_prefix(client: redis.Redis, prefix: str, batch: int = 500) -> int:
    """Delete the keys whose names start with ``prefix``, using SCAN and DEL; return the count.

    Glob characters in ``prefix`` are escaped, so only keys that literally start with it
    are deleted. The SCAN cursor walks the keyspace once, so the loop ends.
    """
    if not prefix:
        raise ValueError("An empty prefix would match every key.")
    pattern = "".join("\\" + char if char in "*?[]\\" else char for char in prefix) + "*"
    deleted = 0
    names: list[bytes] = []
    for name in client.scan_iter(match=pattern, count=batch):
        names.append(name)
        if len(names) >= batch:
            deleted += int(client.delete(*names))
            names.clear()
    if names:
        deleted += int(client.delete(*names))
    return deleted
