"""Redis backend on redis-py: atomic per-subject scripts, one round trip per call.

Every script touches the keys of one subject only, and those keys share a Cluster hash
tag, so no script spans two slots. Calls that concern several subjects send their
scripts in one pipeline. The index of blocked subjects lives in a key of its own. A
single server updates it inside the blocking script, while a Cluster updates it with a
separate command after the block, because the index may sit in another slot.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from typing import Any
from urllib.parse import quote

import redis
from django.core.exceptions import ImproperlyConfigured
from redis.exceptions import NoScriptError

from ..conf import defender_settings
from ..exceptions import BackendUnavailable
from ..keys import (
    LIST_NAMES,
    Subject,
    index_key,
    lists_key,
    lists_version_key,
    subject_key,
)
from .base import (
    AuditEntry,
    Backend,
    FailureOutcome,
    Reservation,
    ReserveStatus,
    SubjectSpec,
    SubjectState,
)

logger = logging.getLogger(__name__)

#: Subjects whose reservations one call of the release script gives back at most.
RELEASE_CHUNK = 256

SCRIPT_NAMES = ("reserve", "failure", "release", "forgive", "block", "index")


def _load_script(name: str) -> str:
    return resources.files("drf_defender").joinpath(f"lua/{name}.lua").read_text("utf-8")


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _seconds(milliseconds: Any) -> float:
    return int(milliseconds) / 1000.0


def quote_password(url: str) -> str:
    """Percent-encode the password of a Redis URL written with a plain-text password.

    Used when ``DEFENDER_REDIS_PASSWORD_QUOTE`` is on, so that ``#``, ``@`` or ``/`` in a
    password do not break URL parsing. The last ``@`` ends the credentials.
    """
    scheme, separator, rest = url.partition("://")
    if not separator or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    username, has_password, password = credentials.partition(":")
    if not has_password:
        return url
    return f"{scheme}://{username}:{quote(password, safe='')}@{location}"


def client_from_settings() -> Any:
    """Build the redis-py client that the settings ask for.

    ``DEFENDER_REDIS_NAME`` reuses the client of a ``CACHES`` entry (Django's RedisCache
    or django-redis); otherwise ``DEFENDER_REDIS_URL`` is opened with redis-py's
    ``from_url``, which understands ``redis://``, ``rediss://`` and ``unix://`` URLs.
    """
    alias = defender_settings.REDIS_NAME
    if alias:
        return _client_from_cache(alias)
    url = defender_settings.REDIS_URL
    if not url:
        raise ImproperlyConfigured(
            "DEFENDER_REDIS_URL is empty. Set it to a Redis URL such as "
            "'redis://localhost:6379/0', or set DEFENDER_REDIS_NAME to a CACHES alias."
        )
    if defender_settings.REDIS_PASSWORD_QUOTE:
        url = quote_password(url)
    options: dict[str, Any] = {
        "socket_timeout": defender_settings.REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": defender_settings.REDIS_CONNECT_TIMEOUT,
        "health_check_interval": 30,
        **pool_options(),
    }
    options.update(defender_settings.REDIS_OPTIONS)
    try:
        pool = redis.BlockingConnectionPool.from_url(url, **options)
    except ValueError as error:
        raise ImproperlyConfigured(f"DEFENDER_REDIS_URL {url!r} is invalid: {error}") from error
    return redis.Redis(connection_pool=pool)


def pool_options() -> dict[str, Any]:
    """Return the size and wait time of a blocking connection pool, from the settings.

    redis-py's plain pool raises at once when every connection is busy, so a burst of
    concurrent logins in one process would meet the outage policy and lose counts. A
    blocking pool makes such a request wait, up to ``DEFENDER_REDIS_POOL_TIMEOUT``
    seconds, for a connection to come back.
    """
    return {
        "max_connections": defender_settings.REDIS_MAX_CONNECTIONS,
        "timeout": defender_settings.REDIS_POOL_TIMEOUT,
    }


def _client_from_cache(alias: str) -> Any:
    from django.conf import settings
    from django.core.cache import caches

    if alias not in settings.CACHES:
        raise ImproperlyConfigured(
            f"DEFENDER_REDIS_NAME is {alias!r}, but CACHES has no such alias. "
            f"Known aliases: {', '.join(sorted(settings.CACHES)) or 'none'}."
        )
    cache = caches[alias]
    django_client = getattr(cache, "_cache", None)
    if django_client is not None and hasattr(django_client, "get_client"):
        return django_client.get_client(write=True)
    django_redis_client = getattr(cache, "client", None)
    if django_redis_client is not None and hasattr(django_redis_client, "get_client"):
        return django_redis_client.get_client(write=True)
    raise ImproperlyConfigured(
        f"CACHES[{alias!r}] uses {type(cache).__module__}.{type(cache).__name__}, which is "
        "not a Redis cache. DEFENDER_REDIS_NAME needs "
        "django.core.cache.backends.redis.RedisCache or django-redis."
    )


#: One Redis command as sent on the wire: its name, then its arguments.
Command = tuple[Any, ...]


_UNSET: Any = object()


def _load_hiredis_pack() -> Callable[[Command], bytes] | None:
    try:
        from hiredis import pack_command
    except ImportError:  # pragma: no cover - depends on the optional hiredis extra
        return None
    return pack_command


_hiredis_pack = _load_hiredis_pack()


#: Packs commands into the Redis protocol for one connection: (connection, commands).
Packer = Callable[[Any, Sequence[Command]], list[bytes]]


def _pack_with_connection(connection: Any, commands: Sequence[Command]) -> list[bytes]:
    return connection.pack_commands(commands)


def _packer(pool: Any) -> Packer:
    """Return how to pack commands for the connections of ``pool``.

    hiredis packs a whole command in C and encodes text as strict UTF-8. It is used only
    where the pool's encoder produces the same bytes. Elsewhere each connection packs
    every argument itself, as redis-py always does.
    """
    encoder = pool.get_encoder()
    pack_command = _hiredis_pack
    if (
        pack_command is None
        or encoder.encoding.lower().replace("_", "-") not in ("utf-8", "utf8")
        or encoder.encoding_errors != "strict"
    ):
        return _pack_with_connection

    def pack_with_hiredis(_connection: Any, commands: Sequence[Command]) -> list[bytes]:
        return [b"".join([pack_command(command) for command in commands])]

    return pack_with_hiredis


def _exchange(pool: Any, pack: Packer, commands: Sequence[Command]) -> list[Any]:
    """Send ``commands`` on a connection of ``pool``; read one reply or error each.

    Connection errors follow the connection's retry policy, as a redis-py pipeline
    does: the connection is dropped and the whole batch is sent again on a fresh one.
    Any other error while replies are pending also drops the connection, so that no
    later caller reads them.
    """
    connection = pool.get_connection()
    try:
        packed = pack(connection, commands)

        def send_and_read() -> list[Any]:
            connection.send_packed_command(packed)
            replies: list[Any] = []
            for _command in commands:
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as error:
                    replies.append(error)
            return replies

        try:
            return connection.retry.call_with_retry(
                send_and_read, lambda _error: connection.disconnect()
            )
        except BaseException:
            connection.disconnect()
            raise
    finally:
        pool.release(connection)


class PartialPipelineError(redis.RedisError):
    """Some commands of a pipeline failed after others had run.

    ``replies`` contains one entry per queued command: its reply, or its exception.
    """

    def __init__(self, error: Exception, replies: list[Any]) -> None:
        super().__init__(str(error))
        self.error = error
        self.replies = replies


class RedisBackend(Backend):
    """Counters and blocks in Redis, atomic across processes and servers."""

    atomic_across_processes = True
    supports_attempt_stream = True
    carries_pending_writes = True
    #: Whether the client talks to a Redis Cluster, where the index is updated apart.
    cluster = False

    def __init__(self, prefix: str, client: Any = None) -> None:
        super().__init__(prefix)
        self.client = client if client is not None else client_from_settings()
        self._sources = {name: _load_script(name) for name in SCRIPT_NAMES}
        self._shas = {name: _sha1(source) for name, source in self._sources.items()}
        self._sources_by_sha = {self._shas[name]: source for name, source in self._sources.items()}
        self._pool: Any = _UNSET
        self._pack: Packer = _pack_with_connection

    # --- plumbing ----------------------------------------------------------------------

    @contextmanager
    def _driver_errors(self, operation: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as error:
            raise BackendUnavailable(f"Redis {operation} failed: {error}") from error

    def _load_scripts(self) -> None:
        """Load every script into the server's cache (on a Cluster, every primary's)."""
        for source in self._sources.values():
            self.client.script_load(source)

    def _run_pipeline(self, fill: Callable[[list[Command]], None]) -> list[Any]:
        """Send the commands that ``fill`` appends in one round trip (one batch per node).

        Scripts run by SHA1. A script that fails with NOSCRIPT, because the server lost
        its script cache (restart, failover, SCRIPT FLUSH), is sent once more as EVAL,
        which runs it and caches it. Only those are sent again, because the other
        commands, such as a buffered access-log entry, have run already.
        """
        commands: list[Command] = []
        fill(commands)
        replies = self._send(commands)
        missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            again = self._send([self._as_eval(commands[i]) for i in missing])
            for position, reply in zip(missing, again, strict=True):
                replies[position] = reply
        errors = [reply for reply in replies if isinstance(reply, Exception)]
        if errors and len(errors) < len(replies):
            raise PartialPipelineError(errors[0], replies)
        if errors:
            raise errors[0]
        return replies

    def _send(self, commands: Sequence[Command]) -> list[Any]:
        """Send ``commands`` in one round trip; return one reply or exception each."""
        pool = self._direct_pool()
        if pool is None:
            pipe = self.client.pipeline(transaction=False)
            for command in commands:
                pipe.execute_command(*command)
            return list(pipe.execute(raise_on_error=False))
        return _exchange(pool, self._pack, commands)

    def _direct_pool(self) -> Any:
        """Return the connection pool to use directly, or None to go through a pipeline.

        A pipeline of redis-py spends more time on its own bookkeeping than the Redis
        server spends on a login's commands. The login path therefore borrows a
        connection from the client's pool and sends the packed commands itself, with
        the connection's own retry policy and health check. A Cluster client, or a
        client bound to a single connection, keeps redis-py's pipeline.
        """
        if self._pool is _UNSET:
            client = self.client
            pool = getattr(client, "connection_pool", None)
            usable = (
                not self.cluster
                and isinstance(client, redis.Redis)
                and getattr(client, "connection", None) is None
                and pool is not None
            )
            self._pool = pool if usable else None
            if usable:
                self._pack = _packer(pool)
        return self._pool

    def _as_eval(self, command: Command) -> Command:
        _name, sha, *rest = command
        return ("EVAL", self._sources_by_sha[sha], *rest)

    def _evalsha(
        self, commands: list[Command], name: str, keys: Sequence[str], args: Sequence[Any]
    ) -> None:
        commands.append(("EVALSHA", self._shas[name], len(keys), *keys, *args))

    def _key(self, role: str, subject: Subject) -> str:
        return subject_key(self.prefix, role, subject)

    def _index(self, subject: Subject) -> str:
        return index_key(self.prefix, subject.scope, subject.kind)

    # --- the login path --------------------------------------------------------------

    def reserve(
        self,
        specs: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
        release: Sequence[SubjectSpec] = (),
    ) -> tuple[list[Reservation], str | None]:
        now_ms = _ms(now)

        releases = 0

        def fill(commands: list[Command]) -> None:
            nonlocal releases
            # Releases go first: one may give back a slot of a subject reserved below.
            releases = self._queue_releases(commands, release)
            for spec in specs:
                args = (now_ms, spec.limit, _ms(spec.attempt_window))
                self._evalsha(commands, "reserve", self._reserve_keys(spec), args)
            commands.append(("GET", lists_version_key(self.prefix)))
            self._append_audit(commands, audit)

        # Separate commands in one pipeline, not one script for the whole login. Such a
        # script, which decodes the entries and loops over the subjects, costs the Redis
        # server more CPU time, and lowers throughput when both share the CPU.
        with self._driver_errors("reserve"):
            replies = self._run_pipeline(fill)[releases:]
        version = replies[len(specs)]
        reservations = []
        for spec, reply in zip(specs, replies[: len(specs)], strict=True):
            status, ends, lockouts, count, companion_count = reply
            reservations.append(
                Reservation(
                    spec=spec,
                    status=ReserveStatus(int(status)),
                    count=int(count),
                    blocked_until=_seconds(ends) if int(status) == ReserveStatus.BLOCKED else None,
                    lockout_count=int(lockouts),
                    companion_count=int(companion_count),
                )
            )
        return reservations, version.decode() if isinstance(version, bytes) else version

    def _reserve_keys(self, spec: SubjectSpec) -> list[str]:
        keys = [self._key("failed", spec.subject), self._key("blocked", spec.subject)]
        if spec.companion is not None:
            keys.append(self._key("failed", spec.companion))
        return keys

    def _release_keys(self, spec: SubjectSpec) -> list[str]:
        keys = [self._key("failed", spec.subject)]
        if spec.companion is not None:
            keys.append(self._key("failed", spec.companion))
        return keys

    def release(
        self, specs: Sequence[SubjectSpec], now: float, audit: Sequence[AuditEntry] = ()
    ) -> None:
        if not specs and not audit:
            return

        def fill(commands: list[Command]) -> None:
            self._queue_releases(commands, specs)
            self._append_audit(commands, audit)

        with self._driver_errors("release"):
            self._run_pipeline(fill)

    def _queue_releases(self, commands: list[Command], specs: Sequence[SubjectSpec]) -> int:
        """Queue the release of ``specs``; return the number of commands queued.

        A single server takes the releases of many subjects in one script call, in
        chunks that keep each call short. On a Cluster each subject's keys may sit on
        another node, so each gets a call of its own.
        """
        if self.cluster:
            for spec in specs:
                self._evalsha(commands, "release", self._release_keys(spec), ())
            return len(specs)
        queued = 0
        for start in range(0, len(specs), RELEASE_CHUNK):
            keys: list[str] = []
            sizes: list[int] = []
            for spec in specs[start : start + RELEASE_CHUNK]:
                group = self._release_keys(spec)
                keys.extend(group)
                sizes.append(len(group))
            self._evalsha(commands, "release", keys, sizes)
            queued += 1
        return queued

    def record_failure(
        self, reservations: Sequence[Reservation], now: float, audit: Sequence[AuditEntry] = ()
    ) -> list[FailureOutcome]:
        now_ms = _ms(now)
        # Slots within the limit were counted when reserved: nothing to send for them.
        pending = [r for r in reservations if r.count > r.spec.limit]
        outcomes = {
            id(r): FailureOutcome(spec=r.spec, blocked_now=False)
            for r in reservations
            if r.count <= r.spec.limit
        }
        if pending or audit:

            def fill(commands: list[Command]) -> None:
                for reservation in pending:
                    subject = reservation.spec.subject
                    keys = [
                        self._key("failed", subject),
                        self._key("blocked", subject),
                        self._key("lockouts", subject),
                    ]
                    if not self.cluster:
                        keys.append(self._index(subject))
                    args = [
                        now_ms,
                        reservation.count,
                        reservation.spec.limit,
                        _ms(reservation.spec.lockout_memory),
                        subject.identity,
                        subject.label,
                        *(_ms(d) for d in reservation.spec.lockout_durations),
                    ]
                    self._evalsha(commands, "failure", keys, args)
                self._append_audit(commands, audit)

            with self._driver_errors("record_failure"):
                replies = self._run_pipeline(fill)
            replies = replies[: len(pending)]
            for reservation, (status, ends, lockouts) in zip(pending, replies, strict=True):
                blocked = int(status) in (1, 2)
                outcomes[id(reservation)] = FailureOutcome(
                    spec=reservation.spec,
                    blocked_now=int(status) == 1,
                    blocked_until=_seconds(ends) if blocked else None,
                    lockout_count=int(lockouts),
                )
            if self.cluster:
                blocked_now = [outcomes[id(r)] for r in pending if outcomes[id(r)].blocked_now]
                self._index_blocks(blocked_now, now)
        return [outcomes[id(r)] for r in reservations]

    def attempt_stream_key(self) -> str:
        """Return the key of the capped stream that buffers access-log entries."""
        return f"{self.prefix}:attempts"

    def _append_audit(self, commands: list[Command], entries: Sequence[AuditEntry]) -> None:
        if not entries:
            return
        key = self.attempt_stream_key()
        maxlen = int(defender_settings.ACCESS_LOG_STREAM_MAXLEN)
        for entry in entries:
            fields = [part for item in entry.items() for part in item]
            commands.append(("XADD", key, "MAXLEN", "~", maxlen, "*", *fields))

    def _index_blocks(self, outcomes: Sequence[FailureOutcome], now: float) -> None:
        if not outcomes:
            return

        def fill(commands: list[Command]) -> None:
            for outcome in outcomes:
                subject = outcome.spec.subject
                ends = outcome.blocked_until or 0
                duration = _ms(ends - now) if ends else 0
                args = (_ms(ends), subject.identity, duration)
                self._evalsha(commands, "index", (self._index(subject),), args)

        with self._driver_errors("index update"):
            self._run_pipeline(fill)

    def record_success(
        self,
        clear: Sequence[SubjectSpec],
        release: Sequence[SubjectSpec],
        now: float,
        audit: Sequence[AuditEntry] = (),
    ) -> None:
        if not clear and not release and not audit:
            return

        def fill(commands: list[Command]) -> None:
            for spec in clear:
                commands.append(("DEL", self._key("failed", spec.subject)))
            for spec in release:
                failed = self._key("failed", spec.subject)
                if spec.companion is None:
                    self._evalsha(commands, "release", (failed,), ())
                else:
                    companion = self._key("failed", spec.companion)
                    self._evalsha(commands, "forgive", (failed, companion), (now_ms,))
            self._append_audit(commands, audit)

        now_ms = _ms(now)
        with self._driver_errors("record_success"):
            self._run_pipeline(fill)

    # --- administration --------------------------------------------------------------

    def get_states(self, specs: Sequence[SubjectSpec], now: float) -> list[SubjectState]:
        subjects = [spec.subject for spec in specs]
        return self._states(subjects, now)

    def _states(self, subjects: Sequence[Subject], now: float) -> list[SubjectState]:
        if not subjects:
            return []
        now_ms = _ms(now)
        with self._driver_errors("state lookup"):
            pipe = self.client.pipeline(transaction=False)
            for subject in subjects:
                pipe.hmget(self._key("failed", subject), "c", "e")
                pipe.hgetall(self._key("blocked", subject))
                pipe.hmget(self._key("lockouts", subject), "c", "e")
            replies = pipe.execute()
        states = []
        for position, subject in enumerate(subjects):
            failed, block, history = replies[3 * position : 3 * position + 3]
            states.append(_state(subject, failed, block, history, now_ms))
        return states

    def block(
        self, spec: SubjectSpec, duration: int, now: float, *, manual: bool = True
    ) -> SubjectState:
        subject = spec.subject
        keys = [self._key("blocked", subject), self._key("lockouts", subject)]
        if not self.cluster:
            keys.append(self._index(subject))
        args = (_ms(now), _ms(duration), subject.identity, subject.label)

        def fill(commands: list[Command]) -> None:
            self._evalsha(commands, "block", keys, args)

        def fill_index(commands: list[Command]) -> None:
            ends = _ms(now + duration) if duration else 0
            index_args = (ends, subject.identity, _ms(duration))
            self._evalsha(commands, "index", (self._index(subject),), index_args)

        with self._driver_errors("block"):
            (lockouts,) = self._run_pipeline(fill)
            if self.cluster:
                self._run_pipeline(fill_index)
        return SubjectState(
            subject=subject,
            blocked=True,
            blocked_since=now,
            blocked_until=now + duration if duration else 0,
            lockout_count=int(lockouts),
            manual=manual,
        )

    def unblock(self, subject: Subject) -> bool:
        with self._driver_errors("unblock"):
            # On one server, MULTI keeps a failure that blocks the subject again from
            # running between the DEL of the block and the ZREM, which would leave an
            # active block out of the index. A Cluster cannot wrap the index, which may
            # sit in another slot, in the same transaction.
            pipe = self.client.pipeline(transaction=not self.cluster)
            # One key per DEL: redis-py's ClusterPipeline rejects a DEL of several keys.
            pipe.delete(self._key("blocked", subject))
            pipe.delete(self._key("failed", subject))
            pipe.delete(self._key("lockouts", subject))
            pipe.zrem(self._index(subject), subject.identity)
            deleted_block, *_others = pipe.execute()
        return bool(deleted_block)

    def list_blocked(
        self, scope: str, kind: str, now: float, offset: int = 0, limit: int = 100
    ) -> tuple[int, list[SubjectState]]:
        key = index_key(self.prefix, scope, kind)
        now_ms = _ms(now)
        with self._driver_errors("list_blocked"):
            pipe = self.client.pipeline(transaction=False)
            # Blocks whose end has passed leave the index here, so it stays bounded.
            pipe.zremrangebyscore(key, "-inf", now_ms)
            pipe.zcard(key)
            pipe.zrangebyscore(key, f"({now_ms}", "+inf", start=offset, num=limit)
            _removed, total, members = pipe.execute()
        subjects = [Subject(kind=kind, identity=_text(member), scope=scope) for member in members]
        states = self._states(subjects, now)
        return int(total), [state for state in states if state.blocked]

    # --- run-time allow and deny lists -----------------------------------------------

    def get_lists(self) -> tuple[str | None, dict[str, set[str]]]:
        with self._driver_errors("list read"):
            pipe = self.client.pipeline(transaction=False)
            pipe.get(lists_version_key(self.prefix))
            for name in LIST_NAMES:
                pipe.smembers(lists_key(self.prefix, name))
            version, *members = pipe.execute()
        lists = {
            name: {_text(v) for v in values}
            for name, values in zip(LIST_NAMES, members, strict=True)
        }
        return (_text(version) if version is not None else None), lists

    def add_list_entry(self, list_name: str, value: str) -> bool:
        return self._change_list("SADD", list_name, value)

    def remove_list_entry(self, list_name: str, value: str) -> bool:
        return self._change_list("SREM", list_name, value)

    def _change_list(self, command: str, list_name: str, value: str) -> bool:
        with self._driver_errors("list update"):
            changed = self.client.execute_command(command, lists_key(self.prefix, list_name), value)
            if changed:
                self.client.incr(lists_version_key(self.prefix))
        return bool(changed)

    # --- health ----------------------------------------------------------------------

    def ping(self) -> None:
        with self._driver_errors("ping"):
            self.client.ping()

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()


def _sha1(source: str) -> str:
    return hashlib.sha1(source.encode("utf-8"), usedforsecurity=False).hexdigest()


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _number(value: Any) -> int:
    return int(float(_text(value))) if value is not None else 0


def _state(
    subject: Subject, failed: Any, block: dict[Any, Any], history: Any, now_ms: int
) -> SubjectState:
    failures = 0
    if failed[0] is not None:
        expires = _number(failed[1])
        if expires == 0 or expires > now_ms:
            failures = _number(failed[0])
    lockouts = 0
    if history[0] is not None:
        expires = _number(history[1])
        if expires == 0 or expires > now_ms:
            lockouts = _number(history[0])
    fields = {_text(k): _text(v) for k, v in block.items()}
    ends = _number(fields.get("u")) if fields else None
    blocked = bool(fields) and (ends == 0 or (ends is not None and ends > now_ms))
    if not blocked:
        return SubjectState(subject=subject, failures=failures, lockout_count=lockouts)
    display = fields.get("d") or subject.display
    return SubjectState(
        subject=Subject(subject.kind, subject.identity, subject.scope, display),
        failures=failures,
        blocked=True,
        blocked_since=_number(fields.get("s")) / 1000.0,
        blocked_until=(ends or 0) / 1000.0,
        lockout_count=max(lockouts, _number(fields.get("n"))),
        manual=fields.get("m") == "1",
    )
