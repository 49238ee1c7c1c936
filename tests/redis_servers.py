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


# --------------------------------------------------------------------------------------
# Redis Cluster and Redis Sentinel set-ups built from throwaway servers

#: Number of hash slots in a Redis Cluster.
CLUSTER_SLOTS = 16384
# Seconds a cluster or Sentinel set-up gets to settle after its servers started.
SETTLE_TIMEOUT = 30.0
# A replica's first sync starts at once instead of after the default 5 s delay.
FAST_SYNC_ARGS = ("--repl-diskless-sync-delay", "0")


def admin_client(
    port: int,
    timeout: float = 2.0,
    *,
    username: str | None = None,
    password: str | None = None,
) -> redis.Redis:
    """Return a client for one throwaway server or sentinel, for set-up commands."""
    return redis.Redis(
        host=LOOPBACK,
        port=port,
        username=username,
        password=password,
        socket_connect_timeout=timeout,
        socket_timeout=timeout,
        retry=no_retry(),
        decode_responses=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float, description: str) -> None:
    """Poll ``condition`` every 50 ms until it is true; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise RedisUnavailableError(f"Timed out after {timeout} s waiting for {description}.")
        time.sleep(0.05)


def _answers(check: Callable[[], bool]) -> bool:
    """Return ``check()``, or False while a server does not reply yet."""
    try:
        return check()
    except (redis.RedisError, OSError):
        return False


class ClusterNodeServer(RedisServer):
    """A redis-server in cluster mode whose cluster bus listens on a free port of its own.

    By default the bus port is the client port plus 10000, which may be taken or above
    65535; ``--cluster-port`` (Redis 7.0 or later) sets it apart.
    """

    def __init__(self, *, node_args: Sequence[str], binary: str | None = None) -> None:
        super().__init__(extra_args=node_args, binary=binary)
        self.bus_port: int | None = None

    def command(self, port: int) -> list[str]:
        if self.bus_port is None or self.bus_port == port:
            self.bus_port = find_free_port()
        return [*super().command(port), "--cluster-port", str(self.bus_port)]


class LocalRedisCluster:
    """A Redis Cluster of throwaway servers on loopback ports, joined in Python.

    ``primaries`` servers share the hash slots in equal ranges; each gets
    ``replicas_per_primary`` replicas. ``node_timeout_ms`` is the cluster-node-timeout,
    so a stopped primary is replaced by its replica a few node timeouts later.
    """

    def __init__(
        self,
        primaries: int = 3,
        replicas_per_primary: int = 0,
        *,
        node_timeout_ms: int = 1000,
        binary: str | None = None,
    ) -> None:
        if primaries < 1:
            raise ValueError("A cluster needs at least one primary.")
        self.primary_count = primaries
        self.replicas_per_primary = replicas_per_primary
        self.node_timeout_ms = node_timeout_ms
        self.binary = binary
        self.servers: list[ClusterNodeServer] = []
        self.node_ids: dict[int, str] = {}

    @property
    def startup_nodes(self) -> list[tuple[str, int]]:
        """(host, port) of every server, as a client's startup nodes."""
        return [(LOOPBACK, server.port) for server in self.servers if server.port is not None]

    def node_args(self) -> list[str]:
        return [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(self.node_timeout_ms),
            # A replica takes over however long its link to the primary was down.
            "--cluster-replica-validity-factor",
            "0",
            *FAST_SYNC_ARGS,
        ]

    def start(self) -> LocalRedisCluster:
        """Start every server, assign the slots, join the nodes and wait for state ok.

        Raises RedisUnavailableError (after stopping what it started) when a server does
        not start or the cluster does not settle within SETTLE_TIMEOUT seconds.
        """
        total = self.primary_count * (1 + self.replicas_per_primary)
        try:
            for _index in range(total):
                server = ClusterNodeServer(node_args=self.node_args(), binary=self.binary)
                self.servers.append(server)
                server.start()
            self._join()
        except BaseException:
            self.close()
            raise
        return self

    def _join(self) -> None:
        primaries = self.servers[: self.primary_count]
        for server in self.servers:
            assert server.port is not None
            self.node_ids[server.port] = str(admin_client(server.port).cluster("MYID"))
        for number, server in enumerate(primaries):
            assert server.port is not None
            low = number * CLUSTER_SLOTS // self.primary_count
            high = (number + 1) * CLUSTER_SLOTS // self.primary_count - 1
            client = admin_client(server.port)
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", number + 1)
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", low, high)
        first = admin_client(self.servers[0].port or 0)
        for server in self.servers[1:]:
            assert isinstance(server, ClusterNodeServer)
            first.execute_command("CLUSTER", "MEET", LOOPBACK, server.port, server.bus_port)
        wait_until(self._all_nodes_known, SETTLE_TIMEOUT, "the cluster nodes to meet")
        for number, replica in enumerate(self.servers[self.primary_count :]):
            primary = primaries[number % self.primary_count]
            assert replica.port is not None and primary.port is not None
            admin_client(replica.port).execute_command(
                "CLUSTER", "REPLICATE", self.node_ids[primary.port]
            )
        wait_until(self.is_settled, SETTLE_TIMEOUT, "the cluster to reach state ok")

    def _all_nodes_known(self) -> bool:
        def check() -> bool:
            for server in self.servers:
                assert server.port is not None
                info = admin_client(server.port).cluster("INFO")
                if int(info["cluster_known_nodes"]) != len(self.servers):
                    return False
            return True

        return _answers(check)

    def is_settled(self) -> bool:
        """Return whether every running node reports state ok and lists every replica."""

        def check() -> bool:
            running = [server for server in self.servers if server.is_running()]
            expected_replicas = self.replicas_per_primary * self.primary_count
            for server in running:
                assert server.port is not None
                client = admin_client(server.port)
                if client.cluster("INFO")["cluster_state"] != "ok":
                    return False
                nodes = client.execute_command("CLUSTER", "NODES")
                lines = [line for line in str(nodes).splitlines() if line.strip()]
                replicas = [line for line in lines if "slave" in line.split()[2].split(",")]
                if len(replicas) < expected_replicas:
                    return False
                if "slave" in client.execute_command("ROLE")[0]:
                    replication = client.info("replication")
                    if replication.get("master_link_status") != "up":
                        return False
            return True

        return _answers(check)

    def server_at(self, port: int) -> RedisServer:
        """Return the server listening on ``port``."""
        for server in self.servers:
            if server.port == port:
                return server
        raise KeyError(f"No server of this cluster listens on port {port}.")

    def primary_for_slot(self, slot: int) -> RedisServer:
        """Return the server that a running node names as the primary of ``slot``."""
        for server in self.servers:
            if not server.is_running():
                continue
            assert server.port is not None
            try:
                ranges = admin_client(server.port).execute_command("CLUSTER", "SLOTS")
            except (redis.RedisError, OSError):
                continue
            for low, high, primary, *_replicas in ranges:
                if int(low) <= slot <= int(high):
                    return self.server_at(int(primary[1]))
        raise RedisUnavailableError(f"No running node names a primary for slot {slot}.")

    def primary_for_key(self, key: str) -> RedisServer:
        """Return the server that stores ``key`` now."""
        return self.primary_for_slot(self.key_slot(key))

    def key_slot(self, key: str) -> int:
        for server in self.servers:
            if server.is_running() and server.port is not None:
                return int(admin_client(server.port).cluster("KEYSLOT", key))
        raise RedisUnavailableError("No node of the cluster is running.")

    def replicas_of(self, primary: RedisServer) -> list[RedisServer]:
        """Return the running servers that replicate ``primary``."""
        assert primary.port is not None
        primary_id = self.node_ids[primary.port]
        result = []
        for server in self.servers:
            if server is primary or not server.is_running():
                continue
            assert server.port is not None
            nodes = str(admin_client(server.port).execute_command("CLUSTER", "NODES"))
            for line in nodes.splitlines():
                fields = line.split()
                if fields and fields[0] == self.node_ids[server.port] and fields[3] == primary_id:
                    result.append(server)
        return result

    def client(self, **options: object) -> redis.RedisCluster:
        """Return a cluster client for this cluster; ``options`` go to RedisCluster."""
        nodes = [redis.cluster.ClusterNode(host, port) for host, port in self.startup_nodes]
        return redis.RedisCluster(startup_nodes=nodes, **options)  # type: ignore[arg-type]

    def flush_all(self) -> None:
        """Delete every key on every running primary of this cluster (ours to empty)."""
        for server in self.servers:
            if not server.is_running() or server.port is None:
                continue
            client = admin_client(server.port)
            if client.execute_command("ROLE")[0] == "master":
                client.flushall()

    def close(self) -> None:
        """Stop every server by PID and delete their working directories."""
        for server in reversed(self.servers):
            server.close()


class SentinelServer(RedisServer):
    """A redis-server in Sentinel mode that monitors one master, with its own config file.

    Sentinel rewrites its config file at run time, so the file lives in the server's
    working directory; ``command()`` writes it afresh for each start.
    """

    def __init__(
        self,
        master_port: int,
        service_name: str,
        *,
        quorum: int,
        down_after_ms: int,
        failover_timeout_ms: int,
        binary: str | None = None,
    ) -> None:
        super().__init__(binary=binary)
        self.master_port = master_port
        self.service_name = service_name
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms

    @property
    def config_path(self) -> Path:
        return self.workdir / "sentinel.conf"

    def command(self, port: int) -> list[str]:
        name = self.service_name
        self.config_path.write_text(
            "\n".join(
                [
                    f"port {port}",
                    f"bind {LOOPBACK}",
                    f'dir "{self.workdir}"',
                    f"sentinel monitor {name} {LOOPBACK} {self.master_port} {self.quorum}",
                    f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
                    f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
                    f"sentinel parallel-syncs {name} 1",
                    "",
                ]
            )
        )
        return [self.binary, str(self.config_path), "--sentinel"]


class LocalSentinelGroup:
    """One master, its replicas and several sentinels, all throwaway servers on loopback.

    ``down_after_ms`` is how long the sentinels wait before they call a silent master
    down; a promotion follows a few seconds later.
    """

    def __init__(
        self,
        service_name: str = "defender",
        *,
        replicas: int = 1,
        sentinels: int = 3,
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 10_000,
        binary: str | None = None,
    ) -> None:
        self.service_name = service_name
        self.replica_count = replicas
        self.sentinel_count = sentinels
        self.quorum = quorum
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.binary = binary
        self.servers: list[RedisServer] = []
        self.sentinels: list[SentinelServer] = []
        # Credentials that require_passwords() set, for this group's own set-up commands.
        self.data_password: str | None = None
        self.sentinel_user: str | None = None
        self.sentinel_password: str | None = None

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """(host, port) of every sentinel."""
        return [(LOOPBACK, s.port) for s in self.sentinels if s.port is not None]

    def start(self) -> LocalSentinelGroup:
        """Start the master, its replicas and the sentinels, and wait until they all agree.

        Raises RedisUnavailableError (after stopping what it started) when a server does
        not start or the group does not settle within SETTLE_TIMEOUT seconds.
        """
        try:
            master = RedisServer(extra_args=FAST_SYNC_ARGS, binary=self.binary)
            self.servers.append(master)
            master.start()
            assert master.port is not None
            for _index in range(self.replica_count):
                replica = RedisServer(
                    extra_args=[*FAST_SYNC_ARGS, "--replicaof", LOOPBACK, str(master.port)],
                    binary=self.binary,
                )
                self.servers.append(replica)
                replica.start()
            for _index in range(self.sentinel_count):
                sentinel = SentinelServer(
                    master.port,
                    self.service_name,
                    quorum=self.quorum,
                    down_after_ms=self.down_after_ms,
                    failover_timeout_ms=self.failover_timeout_ms,
                    binary=self.binary,
                )
                self.sentinels.append(sentinel)
                sentinel.start()
            wait_until(self.is_settled, SETTLE_TIMEOUT, "the sentinels to see every server")
        except BaseException:
            self.close()
            raise
        return self

    def sentinel_client(self, port: int) -> redis.Redis:
        return admin_client(port, username=self.sentinel_user, password=self.sentinel_password)

    def server_client(self, port: int) -> redis.Redis:
        return admin_client(port, password=self.data_password)

    def require_passwords(
        self, data_password: str, sentinel_user: str, sentinel_password: str
    ) -> None:
        """Protect the servers with ``data_password`` and the sentinels with an ACL user.

        Set at run time rather than in the configs, so that the start-up PING of
        RedisServer needs no password and no password passes through config parsing.
        The sentinels keep reaching the servers, the replica its master, and each
        sentinel its peers. The default user of the sentinels is switched off.
        """
        for replica in self.servers[1:]:
            assert replica.port is not None
            self.server_client(replica.port).config_set("masterauth", data_password)
        for server in self.servers:
            assert server.port is not None
            self.server_client(server.port).config_set("requirepass", data_password)
        self.data_password = data_password
        for sentinel in self.sentinels:
            assert sentinel.port is not None
            client = self.sentinel_client(sentinel.port)
            client.execute_command("SENTINEL", "SET", self.service_name, "auth-pass", data_password)
            client.execute_command(
                "ACL", "SETUSER", sentinel_user, "on", f">{sentinel_password}", "+@all", "~*", "&*"
            )
            client.execute_command("SENTINEL", "CONFIG", "SET", "sentinel-user", sentinel_user)
            client.execute_command("SENTINEL", "CONFIG", "SET", "sentinel-pass", sentinel_password)
        for sentinel in self.sentinels:
            assert sentinel.port is not None
            self.sentinel_client(sentinel.port).execute_command("ACL", "SETUSER", "default", "off")
        self.sentinel_user = sentinel_user
        self.sentinel_password = sentinel_password

    def is_settled(self) -> bool:
        """Return whether every sentinel reports the master up, every replica and its peers."""

        def check() -> bool:
            for sentinel in self.sentinels:
                assert sentinel.port is not None
                state = self.sentinel_client(sentinel.port).sentinel_master(self.service_name)
                if state["is_sdown"] or state["is_odown"]:
                    return False
                if int(state["num-slaves"]) < self.replica_count:
                    return False
                if int(state["num-other-sentinels"]) < self.sentinel_count - 1:
                    return False
            for replica in self.servers[1:]:
                if replica.is_running() and replica.port is not None:
                    replication = self.server_client(replica.port).info("replication")
                    if replication.get("master_link_status") != "up":
                        return False
            return True

        return _answers(check)

    def master_port(self) -> int | None:
        """Return the master's port as the first reachable sentinel reports it, or None."""
        for sentinel in self.sentinels:
            if not sentinel.is_running() or sentinel.port is None:
                continue
            try:
                address = self.sentinel_client(sentinel.port).sentinel_get_master_addr_by_name(
                    self.service_name
                )
            except (redis.RedisError, OSError):
                continue
            if address:
                return int(address[1])
        return None

    def master(self) -> RedisServer:
        """Return the server that the sentinels report as master."""
        port = self.master_port()
        for server in self.servers:
            if port is not None and server.port == port:
                return server
        raise RedisUnavailableError("No sentinel reports a master of this group.")

    def close(self) -> None:
        """Stop every sentinel and server by PID and delete their working directories."""
        for server in [*reversed(self.sentinels), *reversed(self.servers)]:
            server.close()
