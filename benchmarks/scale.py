"""drf-defender's lockout service at scale: memory per identity, throughput, listings.

Run by benchmarks/run.py with the drf-defender Redis settings and the benchmark's
private Redis server::

    python -m benchmarks.scale --mode full --out results/scale.json

Attacking clients come from 100.64.0.0/10; like every simulated address here, they
only appear as values passed to the service, never as a destination.
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import django

from benchmarks import common

ATTACK_NETWORK = ipaddress.IPv4Network("100.64.0.0/10")
#: Attempts whose keys the backend writes in one pipeline while filling up to a level.
FILL_BATCH = 1000
#: Timed rounds at each level; the median round is reported.
ROUNDS = 5


def attacker(index: int) -> tuple[str, str]:
    """Return the (IP, username) of attacking attempt ``index``: both new each time."""
    return str(ATTACK_NETWORK.network_address + index), f"stuffed{index:07d}"


def _client() -> Any:
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.BENCH_REDIS_URL)


def _fill(service: Any, start: int, stop: int) -> None:
    """Write the counters of attempts ``start``..``stop`` as ``begin()`` would.

    A failure below the limit costs the service exactly one backend call, the
    reservation; ``failed()`` then has nothing to send. The fill makes that same call
    for many attempts per pipeline, so reaching a million tracked identities takes
    seconds instead of the service's one round trip per attempt.
    """
    from drf_defender.keys import get_policy
    from drf_defender.service import Attempt, now

    policy = get_policy()
    backend = service.backend
    for batch_start in range(start, stop, FILL_BATCH):
        specs = []
        for index in range(batch_start, min(stop, batch_start + FILL_BATCH)):
            ip, name = attacker(index)
            attempt = Attempt(
                service=service,
                scope=policy.scope,
                ip=ip,
                username=name,
                username_key=name,
                integration="benchmark",
            )
            for subject in service.subjects(policy, ip, name, False):
                # The service's own spec builder, so that the keys match begin()'s.
                specs.append(service._spec(subject, policy, attempt))
        backend.reserve(specs, now())


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
    base_memory = int(client.info("memory")["used_memory"])
    levels = []
    tracked = 0
    sample = mode.scale_sample
    for level in mode.scale_levels:
        fill_started = time.perf_counter()
        _fill(service, tracked, level)
        fill_seconds = time.perf_counter() - fill_started
        tracked = level
        memory = int(client.info("memory")["used_memory"])
        keys = int(client.dbsize())
        rounds = []
        per_round = sample // ROUNDS
        for _round in range(ROUNDS):
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
    client.close()
    first, last = levels[0]["attempts_per_second"], levels[-1]["attempts_per_second"]
    return {
        "base_memory": base_memory,
        "levels": levels,
        "memory_usage_by_kind": per_kind,
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
    client.flushdb()
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
    for batch_start in range(start, stop, FILL_BATCH):

        def fill(pipe: Any, batch_start: int = batch_start) -> None:
            for index in range(batch_start, min(stop, batch_start + FILL_BATCH)):
                ip, _name = attacker(index)
                subject = Subject(KIND_IP, ip, "login", ip)
                keys = [
                    backend._key("blocked", subject),
                    backend._key("lockouts", subject),
                    backend._index(subject),
                ]
                args = (now_ms, duration * 1000, subject.identity, subject.label)
                backend._evalsha(pipe, "block", keys, args)

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
    # figures describe the counters alone.
    with override_settings(DEFENDER_STORE_ACCESS_ATTEMPTS=False):
        result = {"throughput": throughput_and_memory(mode), "listing": listing(mode)}
    common.write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
