"""Turn the figures of one run (summary.json) into docs/benchmarks.md and its chart.

    python -m benchmarks.report benchmarks/results/full/summary.json

benchmarks/run.py calls :func:`write` at the end of a run; calling this module again
rewrites the page from the stored figures without measuring anything.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from benchmarks import common
from benchmarks.inprocess import users_needed

PAGE = common.ROOT / "docs" / "benchmarks.md"
CHART = common.ROOT / "docs" / "benchmarks-latency.png"

OURS = "drf-defender-redis"
OURS_NOLOG = "drf-defender-redis-nolog"
PLAIN = "plain"
OURS_CACHE = "drf-defender-cache"

DASH = "\u2013"

#: Page wording for each hasher that the CPU stage can run with.
CPU_HASHERS = {
    "default": "Django's default password hasher (PBKDF2)",
    "fast-pbkdf2": "PBKDF2 with few iterations (the short run's hasher, not Django's default)",
}
TIMES = "\u00d7"


# --- formatting -----------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return DASH
    return f"{value:,.{digits}f}"


def _signed(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:+,.0f}"


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:,.0f} %"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _para(text: str) -> str:
    """Return a block of fixed text as one paragraph followed by a blank line."""
    return text.strip() + "\n\n"


def _label(name: str) -> str:
    system = common.SYSTEMS_BY_NAME.get(name)
    return system.label if system else name


def _met(flag: bool | None) -> str:
    if flag is None:
        return "not measured"
    return "met" if flag else "**not met**"


def _mode_value(distribution: dict[str, Any]) -> int:
    """Return the most frequent value of a count distribution."""
    values = distribution["values"]
    return int(max(values, key=lambda value: (values[value], -int(value))))


def _counts_cell(distribution: dict[str, Any]) -> str:
    """Show a count as its typical value, with the range when requests differed."""
    typical = _mode_value(distribution)
    low, high = distribution["min"], distribution["max"]
    if low == high:
        return str(typical)
    return f"{typical} ({low}{DASH}{high})"


# --- derived figures ----------------------------------------------------------------


class Figures:
    """Accessors over one run's summary."""

    def __init__(self, summary: dict[str, Any]) -> None:
        self.s = summary
        self.inprocess: dict[str, Any] = summary.get("inprocess", {})
        self.http: dict[str, Any] = summary.get("http", {})
        self.cpu: dict[str, Any] = summary.get("cpu", {})
        self.scale: dict[str, Any] = summary.get("scale", {})

    def systems(self, source: dict[str, Any]) -> list[str]:
        return [system.name for system in common.SYSTEMS if system.name in source]

    def median(self, system: str, workload: str) -> float | None:
        try:
            return float(self.inprocess[system][workload]["timing"]["median_us"])
        except KeyError:
            return None

    def p99(self, system: str, workload: str) -> float | None:
        try:
            return float(self.inprocess[system][workload]["timing"]["p99_us"])
        except KeyError:
            return None

    def added(self, system: str, workload: str) -> float | None:
        ours, plain = self.median(system, workload), self.median(PLAIN, workload)
        if ours is None or plain is None:
            return None
        return ours - plain

    def ratio(self, system: str, workload: str) -> float | None:
        ours, plain = self.median(system, workload), self.median(PLAIN, workload)
        if ours is None or not plain:
            return None
        return ours / plain

    def counts(self, system: str, workload: str) -> dict[str, Any] | None:
        try:
            return dict(self.inprocess[system][workload]["counts"])
        except KeyError:
            return None

    def typical(self, system: str, workload: str, field: str) -> int | None:
        counts = self.counts(system, workload)
        return None if counts is None else _mode_value(counts[field])

    def rps(self, system: str, workload: str) -> float | None:
        try:
            return float(self.http[system][workload]["rps"])
        except KeyError:
            return None

    def rps_share(self, system: str, workload: str) -> float | None:
        ours, plain = self.rps(system, workload), self.rps(PLAIN, workload)
        if ours is None or not plain:
            return None
        return ours / plain


# --- targets --------------------------------------------------------------------------


def targets(f: Figures) -> list[list[str]]:
    rows: list[list[str]] = []

    # Round trips, SQL and hashing per request.
    blocked = f.counts(OURS, "blocked")
    if blocked:
        rt, sql = _mode_value(blocked["round_trips"]), _mode_value(blocked["sql_queries"])
        hashes = _mode_value(blocked["password_hashes"])
        rows.append(
            [
                "A blocked request costs one Redis round trip, no SQL query, no password hash",
                f"{rt} round trip, {sql} SQL queries, {hashes} hashes",
                _met(rt == 1 and sql == 0 and hashes == 0),
            ]
        )
    failure = f.typical(OURS, "failure", "round_trips")
    if failure is not None:
        rows.append(["A failure costs at most two round trips", f"{failure}", _met(failure <= 2)])
    success = f.typical(OURS, "success", "round_trips")
    if success is not None:
        rows.append(["A success costs at most two round trips", f"{success}", _met(success <= 2)])
        rows.append(
            [
                "A success costs one round trip when the identity has no failure on record "
                "(if the race guarantee allows it)",
                f"{success} (all-success workload: no failure on record)",
                _met(success == 1),
            ]
        )

    # Added latency against the peers.
    for workload in ("success", "failure"):
        ours = f.added(OURS, workload)
        peers = [s.name for s in common.SYSTEMS if s.peer and f.added(s.name, workload) is not None]
        if ours is None or not peers:
            continue
        factors = []
        for peer in peers:
            theirs = f.added(peer, workload)
            factor = (theirs / ours) if ours and ours > 0 and theirs is not None else None
            factors.append((peer, theirs, factor))
        met = all(factor is not None and factor >= 2.5 for _peer, _theirs, factor in factors)
        detail = "; ".join(
            f"{peer} {_signed(theirs)} µs ({_num(factor, 1)}{TIMES})"
            for peer, theirs, factor in factors
        )
        rows.append(
            [
                f"Added latency on the {workload} path at least 2.5 times smaller than each peer's",
                f"drf-defender {_signed(ours)} µs; {detail}",
                _met(met if ours > 0 else True),
            ]
        )

    # HTTP throughput.
    for workload, floor in (("success", 0.85), ("failure", 0.80), ("blocked", 1.0)):
        share = f.rps_share(OURS, workload)
        rows.append(
            [
                f"Over HTTP, at least {floor * 100:.0f} % of plain DRF's requests per second "
                f"({common.WORKLOAD_LABELS[workload]})",
                _pct(share),
                _met(None if share is None else share >= floor),
            ]
        )

    # CPU per guess.
    cpu = f.cpu.get(OURS)
    if cpu:
        ratio = cpu.get("ratio")
        rows.append(
            [
                "With the default hasher, at least 300 times less CPU on a blocked guess "
                "than on a checked one",
                f"{_num(cpu['checked_cpu_ms'], 1)} ms vs {_num(cpu['blocked_cpu_ms'], 2)} ms: "
                f"{_num(ratio)}{TIMES}",
                _met(None if ratio is None else ratio >= 300),
            ]
        )

    # Buffered access log.
    if f.counts(OURS, "success") and f.counts(OURS_NOLOG, "success"):
        extra_rt = []
        extra_sql = []
        for workload in common.WORKLOADS:
            logged = f.typical(OURS, workload, "round_trips")
            unlogged = f.typical(OURS_NOLOG, workload, "round_trips")
            if logged is not None and unlogged is not None and logged > unlogged:
                extra_rt.append(f"{workload} {unlogged}→{logged}")
            sql = f.typical(OURS, workload, "sql_queries")
            plain_sql = f.typical(PLAIN, workload, "sql_queries")
            if workload != "blocked" and sql is not None and plain_sql is not None:
                if sql > plain_sql:
                    extra_sql.append(f"{workload} {plain_sql}→{sql}")
            elif workload == "blocked" and sql:
                extra_sql.append(f"blocked {sql}")
        rows.append(
            [
                "With the access log buffered: no extra round trip on the login path",
                "extra round trip: " + (", ".join(extra_rt) if extra_rt else "none"),
                _met(not extra_rt),
            ]
        )
        rows.append(
            [
                "With the access log buffered: no SQL query on the login path",
                "SQL beyond the login's own: " + (", ".join(extra_sql) if extra_sql else "none"),
                _met(not extra_sql),
            ]
        )

    # Scale.
    throughput = f.scale.get("throughput")
    if throughput:
        per_level = [level["bytes_per_key"] for level in throughput["levels"]]
        by_kind = throughput["memory_usage_by_kind"]
        rows.append(
            [
                "Redis memory per tracked identity under 200 bytes",
                f"{_num(min(per_level))}{DASH}{_num(max(per_level))} bytes per counter from "
                f"{_num(throughput['levels'][0]['level'])} to "
                f"{_num(throughput['levels'][-1]['level'])} attempts (used_memory delta); "
                f"MEMORY USAGE per counter: IP {_num(by_kind['ip'])}, username "
                f"{_num(by_kind['username'])}, IP and username {_num(by_kind['ipusername'])}",
                _met(max(per_level) < 200),
            ]
        )
        rates = [level["attempts_per_second"] for level in throughput["levels"]]
        spread = (max(rates) - min(rates)) / max(rates)
        rows.append(
            [
                "Service throughput flat within 10 % from 1,000 to 1,000,000 tracked identities",
                ", ".join(
                    f"{_num(level['level'])}: {_num(level['attempts_per_second'])}/s"
                    for level in throughput["levels"]
                )
                + f" (spread {_pct(spread)})",
                _met(spread <= 0.10),
            ]
        )
    return rows


def target_notes(f: Figures) -> list[str]:
    """Return the reasons behind the targets this run missed, one paragraph each."""
    notes = []
    success = f.typical(OURS, "success", "round_trips")
    if success is not None and success > 1:
        notes.append(
            "**One round trip on success.** `begin()` reserves a check in Redis before the "
            "password is checked: the guarantee that at most LIMIT + 1 checks of one "
            "subject run at once, however many requests race, rests on that reservation. "
            "When the reservation shows no failure on record, the success's release waits "
            "in the process and travels with its next reservation. A success that has "
            "failures to clear, or whose companion counter holds earlier failures of the "
            "pair, clears them in a second round trip. This run's success workload met "
            "such identities."
        )
    logged = f.typical(OURS, "failure", "round_trips")
    unlogged = f.typical(OURS_NOLOG, "failure", "round_trips")
    if logged is not None and unlogged is not None and logged > unlogged:
        notes.append(
            "**No extra round trip with the buffered access log.** An attempt's entry "
            "waits in the process and travels with its next backend call, or a timer sends "
            f"it. Here the failure path went from {unlogged} to {logged} round trips, so "
            "entries were sent on their own: the timer fires when the process is idle for "
            "longer than `DEFENDER_PENDING_WRITES_FLUSH_INTERVAL`."
        )
    for workload in ("success", "failure"):
        ours = f.added(OURS, workload)
        if ours is None or ours <= 0:
            continue
        behind = [
            s.name
            for s in common.SYSTEMS
            if s.peer and (f.added(s.name, workload) or 0) < 2.5 * ours
        ]
        if behind:
            floor = min(f.added(name, workload) or 0 for name in behind) / 2.5
            cache = f.added(OURS_CACHE, workload)
            unlogged = f.added(OURS_NOLOG, workload)
            split = ""
            if cache is not None and unlogged is not None:
                split = (
                    " The row of drf-defender on the Django cache runs the same service and "
                    f"integration without Redis and adds {_signed(cache)} µs. That is the "
                    "Python that reads the client address and the username, builds the "
                    "subjects and records the outcome, plus the local-memory cache's own work. "
                    f"The Redis row without the access log adds {_num(unlogged - cache)} µs "
                    "more for its one round trip. The process sends the commands on a pooled "
                    "connection, the server runs the Lua script of each subject, and the "
                    "process waits for the reply. The buffered access log adds "
                    f"{_num(ours - unlogged)} µs to build the entry and send it with the next "
                    "reservation."
                )
            notes.append(
                f"**Added latency on the {workload} path.** drf-defender adds "
                f"{_signed(ours)} µs here, which is not 2.5 times less than what "
                f"{', '.join(behind)} add: that would leave {_num(floor)} µs.{split} A "
                "reservation in Redis before the password check is what bounds the checks "
                "of racing requests, so the round trip stays. Meeting the target would need "
                "the Python and the round trip together to fit in that budget."
            )
    http_missed = [
        workload
        for workload, floor in (("success", 0.85), ("failure", 0.80), ("blocked", 1.0))
        if (share := f.rps_share(OURS, workload)) is not None and share < floor
    ]
    if http_missed:
        without_redis = [
            f"{_pct(share)} ({workload})"
            for workload in http_missed
            if (share := f.rps_share(OURS_CACHE, workload)) is not None
        ]
        cache_note = ""
        if without_redis:
            cache_note = (
                " On the Django cache, with no Redis server at all, drf-defender reaches "
                f"{', '.join(without_redis)} of plain DRF's rate. The gap between plain "
                "DRF and that row is the CPU time of drf-defender's Python and of the "
                "local-memory cache in the workers. The gap between that row and the Redis "
                "row is what Redis adds: the round trip's work in the workers and the Redis "
                "server's own CPU time on the same cores."
            )
        notes.append(
            "**Throughput over HTTP** (" + ", ".join(http_missed) + "). gunicorn's two "
            "workers, PostgreSQL, Redis and wrk share the machine's two cores, so every "
            "microsecond drf-defender spends, and every switch to the Redis server and "
            "back, comes out of the login rate directly." + cache_note
        )
    cpu = f.cpu.get(OURS)
    if cpu and cpu.get("ratio") is not None and cpu["ratio"] < 300:
        notes.append(
            "**CPU per blocked guess.** A blocked guess still goes through Django's "
            "request handling, DRF's view and the lockout check, about "
            f"{_num(cpu['blocked_cpu_ms'], 2)} ms of CPU here, against "
            f"{_num(cpu['checked_cpu_ms'])} ms for a guess that reaches the hasher. The "
            "ratio depends on the hasher's cost on this CPU as much as on drf-defender."
        )
    throughput = f.scale.get("throughput")
    if throughput and max(level["bytes_per_key"] for level in throughput["levels"]) >= 200:
        by_kind = throughput["memory_usage_by_kind"]
        notes.append(
            "**Memory per identity.** Each counter is a Redis hash with two fields (the "
            "count and the end of its window) and an expiry. MEMORY USAGE puts one at "
            f"{_num(min(by_kind.values()))}{DASH}{_num(max(by_kind.values()))} bytes. The "
            "server's key table and expiry table add the rest of the figure measured from "
            "used_memory. Both tables grow in powers of two, so the share per key is "
            "largest just after they double, and the levels differ for that reason. An "
            "attacking IP that names a username costs three counters: the IP, the "
            "username and the pair. A plain string counter whose window is its expiry "
            "would drop the hash and its second field."
        )
    if throughput:
        rates = [level["attempts_per_second"] for level in throughput["levels"]]
        spread = (max(rates) - min(rates)) / max(rates)
        noise = max(
            (max(level["rounds"]) - min(level["rounds"])) / max(level["rounds"])
            for level in throughput["levels"]
        )
        if spread > 0.10:
            notes.append(
                f"**Flat throughput.** The median rounds differ by {_pct(spread)} between "
                f"levels, while the rounds within one level differ by up to {_pct(noise)} "
                "on this shared machine. Each attempt touches a fixed number of keys, by "
                "hash lookups whose cost does not depend on how many keys exist, so the "
                "spread is read as noise, but the target counts as missed in this run."
            )
    return notes


# --- sections -------------------------------------------------------------------------


def latency_section(f: Figures) -> str:
    systems = f.systems(f.inprocess)
    rows = []
    for name in systems:
        cells = [_label(name)]
        for workload in common.WORKLOADS:
            median = f.median(name, workload)
            added = f.added(name, workload) if name != PLAIN else None
            text = _num(median)
            if added is not None:
                text += f" ({_signed(added)})"
            cells.append(text)
        rows.append(cells)
    medians = _table(["system", *(common.WORKLOAD_LABELS[w] for w in common.WORKLOADS)], rows)
    rows = []
    for name in systems:
        rows.append(
            [_label(name)]
            + [
                f"{_num(f.p99(name, w))} / {_num(f.ratio(name, w), 2)}{TIMES}"
                for w in common.WORKLOADS
            ]
        )
    tails = _table(["system", *(common.WORKLOAD_LABELS[w] for w in common.WORKLOADS)], rows)
    return (
        "Median µs per request, and in brackets the µs added over plain DRF's median in "
        "the same workload:\n\n"
        + medians
        + "\n\np99 µs per request / ratio of the median to plain DRF's median:\n\n"
        + tails
    )


def counts_section(f: Figures) -> str:
    rows = []
    for name in f.systems(f.inprocess):
        cells = [_label(name)]
        for field in ("round_trips", "commands", "sql_queries", "password_hashes"):
            parts = []
            for workload in common.WORKLOADS:
                counts = f.counts(name, workload)
                parts.append(_counts_cell(counts[field]) if counts else DASH)
            cells.append(" / ".join(parts))
        server = []
        for workload in common.WORKLOADS:
            counts = f.counts(name, workload)
            server.append(_num(counts["server_commands_per_request"], 1) if counts else DASH)
        cells.append(" / ".join(server))
        rows.append(cells)
    return _table(
        [
            "system",
            "Redis round trips",
            "Redis commands sent",
            "SQL queries",
            "password hashes",
            "Redis commands run by the server",
        ],
        rows,
    )


def statuses_section(f: Figures) -> str:
    rows = []
    for name in f.systems(f.inprocess):
        cells = [_label(name)]
        for workload in common.WORKLOADS:
            try:
                statuses = f.inprocess[name][workload]["timing"]["statuses"]
            except KeyError:
                cells.append(DASH)
                continue
            cells.append(", ".join(f"{code}{TIMES}{count}" for code, count in statuses.items()))
        rows.append(cells)
    return _table(["system", *(common.WORKLOAD_LABELS[w] for w in common.WORKLOADS)], rows)


def http_section(f: Figures) -> str:
    rows = []
    for name in f.systems(f.http):
        cells = [_label(name)]
        for workload in common.WORKLOADS:
            figures = f.http[name].get(workload)
            if not figures:
                cells.append(DASH)
                continue
            share = f.rps_share(name, workload)
            text = f"{_num(figures['rps'])}"
            if name != PLAIN and share is not None:
                text += f" ({_pct(share)})"
            text += f"; {_num(figures['p50_us'] / 1000, 1)} / {_num(figures['p99_us'] / 1000, 1)}"
            cells.append(text)
        rows.append(cells)
    return _table(["system", *(common.WORKLOAD_LABELS[w] for w in common.WORKLOADS)], rows)


def cpu_section(f: Figures) -> str:
    rows = []
    for name in f.systems(f.cpu):
        cpu = f.cpu[name]
        rows.append(
            [
                _label(name),
                _num(cpu["checked_cpu_ms"], 1),
                _num(cpu["blocked_cpu_ms"], 2),
                _num(cpu["ratio"]) + TIMES if cpu.get("ratio") else DASH,
                ", ".join(
                    f"{code}{TIMES}{count}" for code, count in cpu["blocked_statuses"].items()
                ),
            ]
        )
    return _table(
        [
            "system",
            "CPU ms per checked guess",
            "CPU ms per blocked guess",
            "ratio",
            "answers to the blocked guesses",
        ],
        rows,
    )


def scale_section(f: Figures) -> str:
    throughput = f.scale.get("throughput")
    listing = f.scale.get("listing")
    parts = []
    if throughput:
        rows = [
            [
                _num(level["level"]),
                _num(level["keys"]),
                _num(level["bytes_per_key"]),
                _num(level["bytes_per_attempt"]),
                _num(level["attempts_per_second"]),
                ", ".join(_num(r) for r in level["rounds"]),
            ]
            for level in throughput["levels"]
        ]
        parts.append(
            _table(
                [
                    "attacking IPs tracked",
                    "Redis keys",
                    "bytes per key",
                    "bytes per attempt",
                    "attempts per second (median round)",
                    "rounds",
                ],
                rows,
            )
        )
        by_kind = throughput["memory_usage_by_kind"]
        parts.append(
            "MEMORY USAGE of one failure counter, averaged over 200 keys of each kind: "
            f"IP {_num(by_kind['ip'])} bytes, username {_num(by_kind['username'])} bytes, "
            f"IP and username {_num(by_kind['ipusername'])} bytes."
        )
    if listing:
        rows = [
            [
                _num(run["blocked"]),
                _num(run["reported_total"]),
                _num(run["first_page_ms"], 2),
                _num(run["last_page_ms"], 2),
            ]
            for run in listing["runs"]
        ]
        parts.append(
            _table(
                [
                    "blocked IPs",
                    "total reported",
                    "first page of 100 (ms)",
                    "last page of 100 (ms)",
                ],
                rows,
            )
        )
    return "\n\n".join(parts) if parts else "Not measured in this run."


# --- chart ----------------------------------------------------------------------------


def chart(f: Figures, path: Path) -> bool:
    """Draw added median latency per system and workload; return False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    systems = [name for name in f.systems(f.inprocess) if name != PLAIN]
    if not systems:
        return False
    width = 0.8 / len(systems)
    figure, axis = plt.subplots(figsize=(11, 5.5), dpi=110)
    for position, name in enumerate(systems):
        values = [f.added(name, workload) or 0.0 for workload in common.WORKLOADS]
        offsets = [i + (position - (len(systems) - 1) / 2) * width for i in range(len(values))]
        bars = axis.bar(offsets, values, width, label=_label(name))
        axis.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=6, rotation=90)
    axis.axhline(0, color="black", linewidth=0.8)
    axis.set_xticks(range(len(common.WORKLOADS)))
    axis.set_xticklabels([common.WORKLOAD_LABELS[w] for w in common.WORKLOADS])
    axis.set_ylabel("µs added to plain DRF's median (in-process)")
    axis.set_title("Latency each system adds to a DRF token login (lower is better)")
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return True


# --- page -----------------------------------------------------------------------------


def render(summary: dict[str, Any], chart_name: str | None) -> str:
    f = Figures(summary)
    machine = summary.get("machine", {})
    versions = summary.get("versions", {})
    minutes = summary.get("seconds", 0) / 60
    sections = [
        TEMPLATE_HEAD.format(
            minutes=minutes,
            command=summary.get("command") or "make bench",
            mode=summary.get("mode") or "full",
        )
    ]
    if summary.get("mode") != "full":
        sections.append(
            f"**This page comes from a {summary.get('mode')} run: its request counts are far "
            "too small for any figure on it to mean anything.**"
        )

    sections.append("## Targets\n\n" + _table(["target", "measured", "result"], targets(f)))
    sections.append(TEMPLATE_TARGET_NOTES)
    notes = target_notes(f)
    if notes:
        sections.append("### Why some targets are missed\n\n" + "\n\n".join(notes))

    rows = [
        ["CPU", f"{machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores"],
        ["memory", f"{machine.get('memory_gib', '?')} GiB"],
        ["kernel", str(machine.get("kernel", "?"))],
        [
            "load average (1, 5, 15 min) at start and end",
            f"{machine.get('load_at_start')} → {machine.get('load_at_end')}",
        ],
        ["niceness of the run", str(machine.get("niceness", "not recorded"))],
        *[[name, version] for name, version in versions.items()],
    ]
    sections.append("## Machine and versions\n\n" + _table(["", ""], rows))
    mode = common.MODES.get(summary.get("mode") or "full", common.MODES["full"])
    sections.append(
        TEMPLATE_SYSTEMS.format(
            users_inprocess=_num(users_needed(mode)), users_http=_num(mode.users)
        )
    )

    sections.append("## Latency in-process\n\n" + _para(TEMPLATE_INPROCESS) + latency_section(f))
    if chart_name:
        sections.append(f"![Latency added per system and workload]({chart_name})")
    sections.append(
        f"Answers in the timed runs (status {TIMES} count), which show what each system does on "
        "each path:\n\n"
        + statuses_section(f)
        + "\n\ndjango-axes answers a blocked client with DRF's 400, the same status as a "
        "wrong password: its lockout shows in the password hashes of the next section "
        "(none on the blocked path), not in the status code."
    )
    sections.append("## Redis and SQL per request\n\n" + _para(TEMPLATE_COUNTS) + counts_section(f))
    http_text = http_section(f) if f.http else "Not measured in this run."
    sections.append("## Over HTTP\n\n" + _para(TEMPLATE_HTTP) + http_text)
    cpu_text = cpu_section(f) if f.cpu else "Not measured in this run."
    hasher = CPU_HASHERS.get(mode.cpu_hasher, mode.cpu_hasher)
    heading = (
        "CPU per guess with Django's default hasher"
        if mode.cpu_hasher == "default"
        else "CPU per guess with a fast hasher"
    )
    sections.append(f"## {heading}\n\n" + _para(TEMPLATE_CPU.format(hasher=hasher)) + cpu_text)
    sections.append("## Scale\n\n" + _para(TEMPLATE_SCALE) + scale_section(f))

    cleanup = summary.get("cleanup")
    if cleanup:
        text = cleanup["markdown"].strip()
        if text.startswith("#"):
            text = text.split("\n", 1)[1].strip() if "\n" in text else ""
        sections.append("### The cleanup command\n\n" + text)
    else:
        sections.append(
            "### The cleanup command\n\nbenchmarks/results-cleanup.md was not there when this "
            "page was written, so the cleanup command's figures on a million log rows are "
            "missing from this run."
        )
    if "drf-defender-cluster" in f.inprocess:
        cluster_text = (
            "drf-defender on a local Redis Cluster of three primaries (started by "
            "`benchmarks/cluster_setup.py`, on the same machine) is the row "
            f'"{_label("drf-defender-cluster")}" in the in-process tables above. On a '
            "cluster, the scripts of one login go to the nodes that own its keys, one "
            "batch per node. The IP's keys, the username's keys and the version of the "
            "allow and deny lists may sit on three nodes, so a login costs up to three "
            "round trips, which the pipeline sends to the nodes together. That is over "
            "the target of two, which is met on a single server and on Sentinel."
        )
    else:
        cluster_text = "Not measured in this run."
    sections.append("### Redis Cluster\n\n" + cluster_text)
    errors = summary.get("errors") or []
    if errors:
        sections.append(
            "## Stages that failed in this run\n\n" + "\n".join(f"- {e}" for e in errors)
        )
    sections.append(TEMPLATE_METHOD)
    return "\n\n".join(section.strip() for section in sections) + "\n"


def write(summary: dict[str, Any], page: Path, chart_path: Path) -> None:
    f = Figures(summary)
    drawn = chart(f, chart_path)
    chart_name = chart_path.name if drawn else None
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(render(summary, chart_name))


# --- fixed text -------------------------------------------------------------------------

TEMPLATE_HEAD = """
# Benchmarks

drf-defender, django-defender and django-axes, each in front of the same Django REST
framework token login, measured against that login without protection: same endpoint,
same users, same machine, one run. Every figure on this page comes from one run of the
following command, except the figures of the cleanup command:

```
{command}
```

The command creates `.venv-bench`, installs the peers from `benchmarks/requirements.txt`
(they are never a dependency of drf-defender) and runs `python -m benchmarks.run --mode
{mode}`. That run took {minutes:.1f} minutes. `make bench` is the full run and writes this
page to `docs/`. `make bench-short` runs the same harness with a handful of requests, to
check that it still works, so its figures mean nothing. The cleanup command's figures come
from separate runs of `benchmarks/cleanup_bench.py`, which takes longer than the rest. The
raw figures of a run are in `benchmarks/results/` (not committed).

The run needs `redis-server` and `wrk` (from Debian's packages; `make bench` installs
`wrk` when it runs as root) and PostgreSQL on 127.0.0.1:5432 with the user `postgres`
and trust authentication, for the HTTP figures. It starts its own Redis servers and
creates and drops its own PostgreSQL databases.
"""

TEMPLATE_TARGET_NOTES = """
Measured with drf-defender on its Redis backend with the access log buffered, against
plain DRF and against each peer in the same run. Counts are the typical value per
request in the steady state; the tables below give their ranges.
"""

TEMPLATE_SYSTEMS = """
## The systems

Each system is a settings module in `benchmarks/settings/`, served by its own processes,
so that no two systems share a process. All of them serve `POST /login/` with DRF's
token view and the same 3 failures allowed before a lockout and a 300-second cool-off.

- **plain DRF**: `rest_framework.authtoken.views.ObtainAuthToken`, no protection.
- **drf-defender**: its drop-in `DefenderObtainAuthToken`, counting per IP and per
  username, in five set-ups. On Redis, it runs with the access log buffered in a Redis
  stream (the set-up that the targets are checked on), with the default inline access
  log (one INSERT per attempt), and without the access log. On a local Redis Cluster of
  three primaries it runs with the buffered log. On the Django cache backend it runs
  with a local-memory cache and no access log, so without any Redis server.
- **django-defender**: installed as its README says (app and middleware), and wired into
  DRF's token view the way its README adapts it to custom authentication:
  `is_already_locked` before the check, `add_login_attempt_to_db` and `check_request`
  after it (`benchmarks/views.py`). It stores every attempt in its table (its default).
- **django-axes**: its standard set-up (app, `AxesBackend` first, `AxesMiddleware`
  last), which its documentation says works with DRF 3.7 and later without DRF code;
  with the database handler (the default) and with the cache handler on Django's Redis
  cache. It locks by IP address, its default.

Every system reads the client address from `X-Forwarded-For` when the request comes from
the one trusted proxy on 127.0.0.1, and from `REMOTE_ADDR` otherwise.

## Workloads

- **all success**: each request logs a different user in, from a different address.
- **mixed**: 7 requests in 10 succeed, the others send a wrong password.
- **all failures below the limit**: wrong passwords spread over many users and
  addresses, so that no counter reaches the limit.
- **blocked client**: an address that has gone over the limit keeps guessing, each
  guess at another user.

Users: {users_inprocess} for the in-process figures and {users_http} for the HTTP figures,
each with a DRF token, so that a successful login reads the user and its token (two SQL
queries in plain DRF).
"""

TEMPLATE_INPROCESS = """
Django's test client, the MD5 hasher (so that the plugins' own cost is not hidden behind
the password hash), SQLite in memory, Redis on loopback. Each workload is timed in
rounds; each round starts from an empty state, warms up, then times each request with
nothing else wrapped around it.

"""

TEMPLATE_COUNTS = """
Counted in a separate pass of the same workloads (after a few warm-up requests), per
request, as success / mixed / failure / blocked. A round trip is one send to Redis and
its replies: a pipeline is one round trip, a Lua script is one command. The last column
is INFO commandstats on the server, which also counts the commands that scripts run.
SQL queries include the login's own (plain DRF: one for the user, one for the token).
A value in brackets is the range when requests of one workload differed.

"""

TEMPLATE_HTTP = """
gunicorn with two sync workers and persistent PostgreSQL connections, and wrk with one
thread and four connections, both on 127.0.0.1. Each system and workload gets a fresh
server and state, a warm-up, then a timed run. Cells: requests per second (share of plain DRF's in
the same workload); p50 / p99 latency in ms.

"""

TEMPLATE_CPU = """
{hasher}, in-process. A checked guess is a wrong
password below the limit; a blocked guess comes from an address that is over the limit.
CPU is `time.process_time()` around each request.

"""

TEMPLATE_SCALE = """
drf-defender's lockout service on its own (`get_service().begin()` then `failed()`),
against the benchmark's Redis server, with the access log off. Each attempt comes from a
new IP of 100.64.0.0/10 and names a new username, which makes three counters: the IP, the
username, and the pair. A server-side loop writes the counters up to each level, ten
thousand attempts per call. It writes the keys, fields and expiry that the service
writes, because a failure below the limit sends nothing after its reservation. The run
checks one such attempt against one made through the service. At each level, fifteen
rounds of 500 attempts go through the service and are timed, and their counters are then
deleted again. The page reports the median round.

"""

TEMPLATE_METHOD = """
## How the figures are taken

- Each system runs in processes of its own: one per system for the in-process figures,
  one gunicorn per system and workload for the HTTP figures. The benchmark starts its
  own `redis-server` on a free port of 127.0.0.1 and empties only that server.
- The systems take turns. In-process, each workload is timed in rounds that go round
  all systems, starting with another system each round, and the latencies of all rounds
  are pooled. Over HTTP, each workload runs on every system before the next workload
  starts. A change in the machine's load during the run so reaches every system alike.
- Redis round trips and commands are counted by wrapping redis-py's connection class in
  the measuring process, which every system's client uses; SQL queries with Django's
  `CaptureQueriesContext`; password hashes by wrapping the hasher's `encode`.
- Simulated clients come from 198.18.0.0/15, the range reserved for benchmarks, and
  the scale figures' attackers from 100.64.0.0/10. They only appear in `REMOTE_ADDR`,
  `X-Forwarded-For` or the service's arguments, and no traffic leaves 127.0.0.1.
- The full run also starts a Redis Cluster of three primaries on free loopback ports
  (`benchmarks/cluster_setup.py`) for the Cluster row, and stops it at the end.
- The CPU figures with the default hasher are taken one system after another, not in
  turns: each takes a few seconds, and `time.process_time()` counts only the CPU time of
  the measuring process.
- The machine is a shared virtual machine: the load average above shows other work on it
  during the run, and a negative niceness means the run was started with `nice` to
  keep its share of the CPU. Compare figures within this page rather than across runs
  or machines.
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path)
    parser.add_argument("--page", type=Path, default=PAGE)
    parser.add_argument("--chart", type=Path, default=CHART)
    args = parser.parse_args(argv)
    write(common.read_json(args.summary), args.page, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
