"""drf-defender's lockout service at scale: memory per identity, throughput, listings.

Run by benchmarks/run.py with the drf-defender Redis settings and the benchmark's
private Redis server::

    python -m benchmarks.scale --mode full --out results/scale.json

Attacking clients come from 100.64.0.0/10; like every simulated address here, they
only appear as values passed to the service, never as a destination.
"""

from __future__ import annotations

import argparse
import gc
import ipaddress
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import django

from benchmarks import common

ATTACK_NETWORK = ipaddress.IPv4Network("100.64.0.0/10")
#: Attempts whose keys one server-side call writes while filling up to a level.
FILL_BATCH = 10_000
#: IPs that one pipeline blocks while preparing the listing figures.
BLOCK_BATCH = 1000
#: Timed rounds at each level. Many short rounds keep a burst of load from other
#: processes on the machine out of the median round, which is the one reported.
ROUNDS = 15


def attacker(index: int) -> tuple[str, str]:
    """Return the (IP, username) of attacking attempt ``index``: both new each time."""
    return str(ATTACK_NETWORK.network_address + index), f"stuffed{index:07d}"


def _client() -> Any:
    import redis
    from django.conf import settings

    # Emptying a server of millions of keys takes a while even asynchronously.
    return redis.Redis.from_url(settings.BENCH_REDIS_URL, socket_timeout=120)


#: Writes the failure counters of attempts ARGV[1]..ARGV[2]-1 as the reservation script
#: writes them for a first failure: a hash {c: 1, e: now + window} that expires after the
#: attempt window. The script takes no KEYS. ARGV[3] is now (ms), ARGV[4] the window
#: (ms), ARGV[5..7] the key templates (IP, username, pair) with @IP@ and @USER@ in them.
FILL_SCRIPT = """
local first, stop = tonumber(ARGV[1]), tonumber(ARGV[2])
local now, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local base = 100 * 16777216 + 64 * 65536
for i = first, stop - 1 do
  local n = base + i
  local ip = string.format('%d.%d.%d.%d', math.floor(n / 16777216), math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
  local user = string.format('stuffed%07d', i)
  for t = 5, 7 do
    local key = string.gsub(string.gsub(ARGV[t], '@IP@', ip), '@USER@', user)
    redis.call('HSET', key, 'c', 1, 'e', now + window)
    redis.call('PEXPIRE', key, window)
  end
end
return stop - first
"""


def _key_templates(service: Any) -> list[str]:
    from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME, Subject, subject_key

    prefix = service.backend.prefix
    return [
        subject_key(prefix, "failed", Subject(KIND_IP, "@IP@")),
        subject_key(prefix, "failed", Subject(KIND_USERNAME, "@USER@")),
        subject_key(prefix, "failed", Subject(KIND_PAIR, "@IP@|@USER@")),
    ]


def _fill(client: Any, service: Any, start: int, stop: int) -> None:
    """Write the counters of attempts ``start``..``stop`` as ``begin()`` would.

    A failure below the limit costs the service one backend call, the reservation, and
    ``failed()`` then sends nothing. Making that call a million times takes minutes on
    a small machine. So a server-side loop writes the same keys with the same fields
    and expiry, ten thousand attempts per call, and :func:`_check_fill` compares the
    result with what the service itself writes.
    """
    from drf_defender.keys import get_policy
    from drf_defender.service import now

    window_ms = get_policy().attempt_window * 1000
    templates = _key_templates(service)
    for batch_start in range(start, stop, FILL_BATCH):
        batch_stop = min(stop, batch_start + FILL_BATCH)
        now_ms = round(now() * 1000)
        client.eval(FILL_SCRIPT, 0, batch_start, batch_stop, now_ms, window_ms, *templates)


def _check_fill(client: Any, service: Any, filled: int, fresh: int) -> dict[str, Any]:
    """Check that a filled attempt's keys match those of an attempt through the service.

    ``filled`` is an attempt written by :func:`_fill`; ``fresh`` one that no key exists
    for yet, which goes through ``begin()`` and ``failed()``. Raises AssertionError when
    the fields, the expiry or the memory of the keys differ.
    """
    ip, name = attacker(fresh)
    service.begin(None, username=name, ip=ip, integration="benchmark").failed()
    compared = {}
    for filled_key, fresh_key in zip(
        _attempt_keys(service, filled), _attempt_keys(service, fresh), strict=True
    ):
        filled_fields = client.hgetall(filled_key)
        fresh_fields = client.hgetall(fresh_key)
        if set(filled_fields) != set(fresh_fields) or filled_fields.get(b"c") != fresh_fields.get(
            b"c"
        ):
            raise AssertionError(
                f"filled key {filled_key} differs: {filled_fields} vs {fresh_fields}"
            )
        filled_ttl, fresh_ttl = client.pttl(filled_key), client.pttl(fresh_key)
        if abs(filled_ttl - fresh_ttl) > 120_000:
            raise AssertionError(
                f"filled key {filled_key} expires in {filled_ttl} ms, not {fresh_ttl}"
            )
        compared[fresh_key] = {
            "memory_filled": client.memory_usage(filled_key, samples=0),
            "memory_service": client.memory_usage(fresh_key, samples=0),
        }
    _forget(client, service, fresh, fresh + 1)
    return compared


def _attempt_keys(service: Any, index: int) -> list[str]:
    ip, name = attacker(index)
    return [
        template.replace("@IP@", ip).replace("@USER@", name) for template in _key_templates(service)
    ]


def _forget(client: Any, service: Any, start: int, stop: int) -> None:
    """Delete the counters of attempts ``start``..``stop``."""
    from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME, Subject, subject_key

    prefix = service.backend.prefix
    pipe = client.pipeline(transaction=False)
    for index in range(start, stop):
        ip, name = attacker(index)
        for kind, identity in ((KIND_IP, ip), (KIND_USERNAME, name), (KIND_PAIR, f"{ip}|{name}")):
            pipe.delete(subject_key(prefix, "failed", Subject(kind, identity)))
    pipe.execute()


def _timed_attempts(service: Any, start: int, count: int) -> float:
    """Run ``count`` begin()+failed() calls from new IPs; return attempts per second."""
    began = time.perf_counter()
    for index in range(start, start + count):
        ip, name = attacker(index)
        attempt = service.begin(None, username=name, ip=ip, integration="benchmark")
        attempt.failed()
    return count / (time.perf_counter() - began)


def throughput_and_memory(mode: common.Mode) -> dict[str, Any]:
    from drf_defender.service import get_service

    client = _client()
    client.flushdb()
    service = get_service()
    service.backend.ping()
    # Connections, scripts and the lists cache are set up before anything is timed.
    warmup_start = ATTACK_NETWORK.num_addresses // 2
    _timed_attempts(service, warmup_start, 200)
    _forget(client, service, warmup_start, warmup_start + 200)
    base_memory = int(client.info("memory")["used_memory"])
    levels = []
    tracked = 0
    sample = mode.scale_sample
    for level in mode.scale_levels:
        fill_started = time.perf_counter()
        _fill(client, service, tracked, level)
        fill_seconds = time.perf_counter() - fill_started
        tracked = level
        memory = int(client.info("memory")["used_memory"])
        keys = int(client.dbsize())
        rounds = []
        per_round = sample // ROUNDS
        for _round in range(ROUNDS):
            gc.collect()
            rounds.append(_timed_attempts(service, level, per_round))
            # The timed attempts' keys go again, so that each round starts at the level.
            _forget(client, service, level, level + per_round)
        levels.append(
            {
                "level": level,
                "keys": keys,
                "used_memory": memory,
                "bytes_per_key": (memory - base_memory) / keys if keys else None,
                "bytes_per_attempt": (memory - base_memory) / level,
                "fill_seconds": fill_seconds,
                "rounds": rounds,
                "attempts_per_second": statistics.median(rounds),
            }
        )
        print(
            f"  scale {level:>9} tracked: {statistics.median(rounds):7.0f} attempts/s,"
            f" {(memory - base_memory) / keys:5.0f} bytes/key",
            flush=True,
        )
    per_kind = _memory_by_kind(client, service, tracked)
    checked = _check_fill(client, service, filled=tracked - 1, fresh=tracked + 10 * sample)
    client.close()
    first, last = levels[0]["attempts_per_second"], levels[-1]["attempts_per_second"]
    return {
        "base_memory": base_memory,
        "levels": levels,
        "memory_usage_by_kind": per_kind,
        "fill_check": checked,
        "change_first_to_last": (last - first) / first,
        "sample_attempts": sample,
    }


def _memory_by_kind(client: Any, service: Any, tracked: int) -> dict[str, float]:
    """Return MEMORY USAGE, averaged over 200 keys, of each kind of counter."""
    from drf_defender.keys import KIND_IP, KIND_PAIR, KIND_USERNAME, Subject, subject_key

    prefix = service.backend.prefix
    step = max(1, tracked // 200)
    result = {}
    for kind in (KIND_IP, KIND_USERNAME, KIND_PAIR):
        sizes = []
        for index in range(0, tracked, step):
            ip, name = attacker(index)
            identity = {KIND_IP: ip, KIND_USERNAME: name, KIND_PAIR: f"{ip}|{name}"}[kind]
            key = subject_key(prefix, "failed", Subject(kind, identity))
            size = client.memory_usage(key, samples=0)
            if size:
                sizes.append(int(size))
        result[kind] = statistics.fmean(sizes) if sizes else 0.0
    return result


def listing(mode: common.Mode) -> dict[str, Any]:
    """Time list_blocked with few and with many blocked IPs."""
    from drf_defender.service import get_service

    client = _client()
    client.flushdb()
    service = get_service()
    results = []
    blocked = 0
    for target in (100, mode.blocked_many):
        started = time.perf_counter()
        # The first hundred through the public API, the rest in pipelines.
        while blocked < min(target, 100):
            ip, _name = attacker(blocked)
            service.block("ip", ip, duration=3600, actor="benchmark")
            blocked += 1
        _block_many(service, blocked, target, duration=3600)
        blocked = target
        fill_seconds = time.perf_counter() - started
        first_page = _time_calls(lambda: service.list_blocked("ip", offset=0, limit=100))
        last_page = _time_calls(
            lambda target=target: service.list_blocked("ip", offset=target - 100, limit=100)
        )
        total, page = service.list_blocked("ip", offset=0, limit=100)
        results.append(
            {
                "blocked": target,
                "reported_total": total,
                "page_size": len(page),
                "first_page_ms": first_page,
                "last_page_ms": last_page,
                "block_fill_seconds": fill_seconds,
            }
        )
        print(
            f"  list_blocked with {target:>7} blocked: first page {first_page:6.2f} ms,"
            f" last page {last_page:6.2f} ms",
            flush=True,
        )
    client.flushdb(asynchronous=True)
    client.close()
    return {"runs": results}


def _block_many(service: Any, start: int, stop: int, duration: int) -> None:
    """Block IPs ``start``..``stop`` with the backend's block script, many per pipeline.

    ``service.block`` costs one round trip per IP; this sends the same script with the
    same keys and arguments as RedisBackend.block, a thousand per round trip.
    """
    from drf_defender.keys import KIND_IP, Subject
    from drf_defender.service import now

    backend = service.backend
    now_ms = round(now() * 1000)
    for batch_start in range(start, stop, BLOCK_BATCH):

        def fill(commands: list[Any], batch_start: int = batch_start) -> None:
            for index in range(batch_start, min(stop, batch_start + BLOCK_BATCH)):
                ip, _name = attacker(index)
                subject = Subject(KIND_IP, ip, "login", ip)
                keys = [
                    backend._key("blocked", subject),
                    backend._key("lockouts", subject),
                    backend._index(subject),
                ]
                args = (now_ms, duration * 1000, subject.identity, subject.label)
                backend._evalsha(commands, "block", keys, args)

        backend._run_pipeline(fill)


def _time_calls(call: Any, repeat: int = 20) -> float:
    call()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="full", choices=sorted(common.MODES))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    mode = common.MODES[args.mode]

    django.setup()
    from django.test import override_settings

    # The access log is a separate, capped stream; it stays off here so that the
    # figures describe the counters alone. The server is the benchmark's own, so the
    # keys carry drf-defender's default prefix and have the size they have in production.
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=False, DEFENDER_CACHE_PREFIX="defender"):
        result = {"throughput": throughput_and_memory(mode), "listing": listing(mode)}
    common.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
