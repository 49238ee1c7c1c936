"""Run the whole benchmark and write the page: ``make bench`` calls this.

    python -m benchmarks.run --mode full    # docs/benchmarks.md and its chart
    python -m benchmarks.run --mode short   # a tiny run that only checks the harness

Every system runs in processes of its own, on the same machine and in the same run. The
stages are the in-process figures, the CPU per guess with Django's default hasher, the
HTTP figures with gunicorn and wrk, and the scale figures of drf-defender's service. The
benchmark starts its own redis-server on a free loopback port and flushes only that
server. Raw figures go to benchmarks/results/<mode>/; the short mode writes its page
there too and leaves docs/ alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks import common, httpload, inprocess

PREFIX = "dfbench"
CLUSTER_SETUP = common.ROOT / "benchmarks" / "cluster_setup.py"
CLEANUP_RESULTS = common.ROOT / "benchmarks" / "results-cleanup.md"


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """Start a redis-server on a free port of 127.0.0.1 for this run; yield its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install -y redis-server)")
    import redis

    with tempfile.TemporaryDirectory(prefix="dfbench-redis-") as folder:
        port = common.free_port()
        command = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
            "--logfile",
            str(Path(folder) / "redis.log"),
        ]
        server = subprocess.Popen(command)
        try:
            common.wait_for_port(port, timeout=20)
            url = f"redis://127.0.0.1:{port}/0"
            client = redis.Redis.from_url(url)
            client.ping()
            client.close()
            yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def _load() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in lscpu.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    memory_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cpu_model": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "load_at_start": _load(),
        # A run started with nice -n -10 on a shared machine records -10 here.
        "niceness": os.getpriority(os.PRIO_PROCESS, 0),
    }


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(redis_url: str) -> dict[str, str]:
    import redis

    client = redis.Redis.from_url(redis_url)
    server = client.info("server")["redis_version"]
    client.close()
    found = {
        "Python": platform.python_version(),
        "Django": _version("Django"),
        "djangorestframework": _version("djangorestframework"),
        "redis-py": _version("redis"),
        "hiredis": _version("hiredis"),
        "Redis server": str(server),
        "drf-defender": _version("drf-defender") + _git_revision(),
        "django-defender": _version("django-defender"),
        "django-axes": _version("django-axes"),
        "gunicorn": _version("gunicorn"),
        "psycopg": _version("psycopg"),
    }
    import sqlite3

    found["SQLite"] = sqlite3.sqlite_version
    wrk = httpload.wrk_path()
    if wrk:
        output = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
        found["wrk"] = (output.stdout or output.stderr).split("[")[0].strip().removeprefix("wrk ")
    if httpload.postgres_available():
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres") as conn:
            row = conn.execute("SHOW server_version").fetchone()
            found["PostgreSQL"] = str(row[0]) if row else "unknown"
    return found


def _git_revision() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        revision = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "drf_defender", "benchmarks"],
            cwd=common.ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return f" (commit {revision}{', with uncommitted changes' if dirty else ''})"
    return ""


class Worker:
    """One system's serving process for the in-process stage (``inprocess --serve``)."""

    def __init__(self, system: common.System, mode: common.Mode, env: dict[str, str]) -> None:
        self.system = system
        self.mode = mode
        self.env = env
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Worker:
        command = [sys.executable, "-m", "benchmarks.inprocess", "--serve"]
        command += ["--system", self.system.name, "--mode", self.mode.name]
        self.process = subprocess.Popen(
            command,
            env=self.env,
            cwd=common.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return self

    def _line(self) -> str:
        assert self.process is not None and self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            code = self.process.wait(timeout=30)
            raise RuntimeError(f"the {self.system.name} process exited with status {code}")
        return line

    def wait_ready(self) -> None:
        line = self._line()
        if line.strip() != "READY":
            raise RuntimeError(f"the {self.system.name} process sent {line!r} instead of READY")

    def request(self, message: dict[str, Any]) -> Any:
        """Send one measurement request and return the process's reply."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        return json.loads(self._line())

    def __exit__(self, *exc: object) -> None:
        if self.process is None:
            return
        try:
            if self.process.poll() is None and self.process.stdin is not None:
                self.process.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.process.stdin.close()
            self.process.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=10)


class Run:
    """One benchmark run: its stages, their figures and their errors."""

    def __init__(self, mode: common.Mode, systems: list[common.System], skip: set[str]) -> None:
        self.mode = mode
        self.systems = systems
        self.skip = skip
        self.out = common.RESULTS_DIR / mode.name
        self.summary: dict[str, Any] = {"mode": mode.name, "errors": [], "stages": {}}

    def _python(self, module: str, args: list[str], env: dict[str, str], timeout: int) -> None:
        subprocess.run(
            [sys.executable, "-m", module, *args],
            env=env,
            check=True,
            timeout=timeout,
            cwd=common.ROOT,
        )

    def stage(self, name: str, work: Any) -> None:
        if name in self.skip:
            self.summary["stages"][name] = {"skipped": "skipped on the command line"}
            return
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        load_before = _load()
        try:
            work()
            status = "done"
        except Exception as error:  # one stage's failure must not hide the others
            traceback.print_exc()
            self.summary["errors"].append(f"{name}: {type(error).__name__}: {error}")
            status = "failed"
        self.summary["stages"][name] = {
            "status": status,
            "seconds": round(time.perf_counter() - started, 1),
            "load_before": load_before,
            "load_after": _load(),
        }

    def system_env(self, system: common.System, redis_url: str, **extra: str) -> dict[str, str]:
        return common.env_with(
            DJANGO_SETTINGS_MODULE=common.settings_module(system),
            BENCH_REDIS_URL=redis_url,
            BENCH_REDIS_PRIVATE="1",
            BENCH_PREFIX=PREFIX,
            **extra,
        )

    def inprocess(self, redis_url: str) -> None:
        """Measure every system in-process, interleaved workload by workload.

        One serving process per system stays up for the whole stage. For each workload,
        each system runs its counting pass, then the timed rounds go round the systems
        in turn (starting with another system each round), so that a change in the
        machine's load during the stage reaches every system alike.
        """
        systems = [system for system in self.systems if not system.cluster]
        with contextlib.ExitStack() as stack:
            cluster_nodes = self._start_cluster(stack)
            if cluster_nodes:
                systems += [system for system in self.systems if system.cluster]
            workers = {}
            for system in systems:
                extra = {"BENCH_CLUSTER_NODES": cluster_nodes} if system.cluster else {}
                workers[system.name] = stack.enter_context(
                    Worker(system, self.mode, self.system_env(system, redis_url, **extra))
                )
            for worker in workers.values():
                worker.wait_ready()
            results: dict[str, Any] = {name: {} for name in workers}
            self.summary["inprocess"] = results
            for workload in common.WORKLOADS:
                for name, worker in workers.items():
                    results[name][workload] = {
                        "counts": worker.request({"op": "count", "workload": workload})
                    }
                rounds: dict[str, list[Any]] = {name: [] for name in workers}
                names = list(workers)
                for index in range(self.mode.rounds):
                    shift = index % len(names)
                    for name in names[shift:] + names[:shift]:
                        request = {"op": "time", "workload": workload, "round": index}
                        rounds[name].append(workers[name].request(request))
                for name in names:
                    timing = inprocess.summarise_rounds(rounds[name])
                    results[name][workload]["timing"] = timing
                    print(
                        f"  {name:28} {workload:8} median {timing['median_us']:8.0f} us"
                        f"  p99 {timing['p99_us']:8.0f} us  statuses {timing['statuses']}",
                        flush=True,
                    )
            common.write_json(self.out / "inprocess.json", results)

    def _start_cluster(self, stack: contextlib.ExitStack) -> str:
        """Start the local Redis Cluster when this run measures one; return its nodes."""
        if not (self.mode.cluster and CLUSTER_SETUP.exists()):
            return ""
        if not any(system.cluster for system in self.systems):
            return ""
        from benchmarks.cluster_setup import local_cluster

        try:
            cluster = stack.enter_context(local_cluster(primaries=3))
        except Exception as error:  # the cluster is optional: report and go on without it
            self.summary["errors"].append(f"cluster: {type(error).__name__}: {error}")
            return ""
        return ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)

    def cpu(self, redis_url: str) -> None:
        results = {}
        for system in self._limited(self.mode.cpu_systems):
            if system.cluster:
                continue
            path = self.out / f"cpu-{system.name}.json"
            self._python(
                "benchmarks.inprocess",
                ["--system", system.name, "--mode", self.mode.name, "--cpu", "--out", str(path)],
                self.system_env(system, redis_url, BENCH_HASHER=self.mode.cpu_hasher),
                timeout=900,
            )
            results[system.name] = common.read_json(path)["cpu"]
            figures = results[system.name]
            print(
                f"  {system.name:28} checked {figures['checked_cpu_ms']:8.1f} ms CPU"
                f"  blocked {figures['blocked_cpu_ms']:6.2f} ms CPU",
                flush=True,
            )
        self.summary["cpu"] = results

    def http(self, redis_url: str) -> None:
        if httpload.wrk_path() is None:
            raise RuntimeError("wrk is not installed: apt-get install -y wrk")
        if not httpload.postgres_available():
            raise RuntimeError("PostgreSQL on 127.0.0.1:5432 is not reachable; start it first")
        systems = [s for s in self._limited(self.mode.http_systems) if s.http]
        statuses = {system.name: self._blocked_status(system) for system in systems}
        results: dict[str, Any] = {system.name: {} for system in systems}
        self.summary["http"] = results
        with httpload.prepared_servers(
            systems, self.mode, redis_url=redis_url, prefix=PREFIX, blocked_statuses=statuses
        ) as servers:
            # Workload by workload, every system in turn (starting with another one each
            # time), so that the systems compared in one workload run close together.
            for index, workload in enumerate(self.mode.http_workloads):
                shift = index % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    results[server.system.name][workload] = httpload.run_workload(
                        server, workload, self.mode, redis_url=redis_url
                    )

    def _limited(self, names: tuple[str, ...] | None) -> list[common.System]:
        return [system for system in self.systems if names is None or system.name in names]

    def _blocked_status(self, system: common.System) -> int:
        """Return the status code the system sent most often in-process on the blocked path."""
        statuses = self.summary.get("inprocess", {}).get(system.name, {})
        seen = statuses.get("blocked", {}).get("timing", {}).get("statuses", {})
        return int(max(seen, key=seen.get)) if seen else 429

    def scale(self, redis_url: str) -> None:
        path = self.out / "scale.json"
        system = common.SYSTEMS_BY_NAME["drf-defender-redis"]
        self._python(
            "benchmarks.scale",
            ["--mode", self.mode.name, "--out", str(path)],
            self.system_env(system, redis_url),
            timeout=1200,
        )
        self.summary["scale"] = common.read_json(path)

    def extras(self) -> None:
        self.summary["cleanup"] = (
            {"markdown": CLEANUP_RESULTS.read_text()} if CLEANUP_RESULTS.exists() else None
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="full", choices=sorted(common.MODES))
    parser.add_argument("--systems", default="", help="comma-separated system names (default: all)")
    parser.add_argument(
        "--skip", default="", help="comma-separated stages to skip: inprocess,cpu,http,scale"
    )
    parser.add_argument("--no-page", action="store_true", help="write results only")
    args = parser.parse_args(argv)

    mode = common.MODES[args.mode]
    names = [name for name in args.systems.split(",") if name]
    unknown = [name for name in names if name not in common.SYSTEMS_BY_NAME]
    if unknown:
        parser.error(f"unknown systems: {', '.join(unknown)}")
    systems = [common.SYSTEMS_BY_NAME[name] for name in names] or list(common.SYSTEMS)
    if names and "plain" not in names:
        systems.insert(0, common.SYSTEMS_BY_NAME["plain"])
    run = Run(mode, systems, {name for name in args.skip.split(",") if name})

    started = time.perf_counter()
    run.summary["machine"] = machine()
    run.summary["command"] = os.environ.get("BENCH_COMMAND", "python -m benchmarks.run")
    with private_redis() as redis_url:
        run.summary["versions"] = versions(redis_url)
        run.stage("inprocess", lambda: run.inprocess(redis_url))
        run.stage("cpu", lambda: run.cpu(redis_url))
        run.stage("http", lambda: run.http(redis_url))
        run.stage("scale", lambda: run.scale(redis_url))
    run.extras()
    run.summary["machine"]["load_at_end"] = _load()
    run.summary["seconds"] = round(time.perf_counter() - started, 1)
    summary_path = run.out / "summary.json"
    common.write_json(summary_path, run.summary)
    print(f"== figures written to {summary_path.relative_to(common.ROOT)}", flush=True)

    if not args.no_page:
        from benchmarks import report

        if mode.name == "full":
            page, chart = report.PAGE, report.CHART
        else:
            page, chart = run.out / "benchmarks.md", run.out / "benchmarks-latency.png"
        report.write(run.summary, page, chart)
        print(f"== page written to {page.relative_to(common.ROOT)}", flush=True)

    if run.summary["errors"]:
        print("== stages that failed:", *run.summary["errors"], sep="\n  ", file=sys.stderr)
        return 1
    print(f"== benchmark finished in {run.summary['seconds']:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
