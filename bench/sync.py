"""Sync benchmark: REX notifications → the store → this process's matcher, on each backend.

    .venv/bin/python bench/sync.py [--opportunities 10000] [--reference 400]
                                   [--backends sqlite postgresql] [--markdown]

For each backend it serves a sandbox registry seeded with a synthetic market on a loopback port
and syncs it into a fresh database exactly as ``serve`` does: (a) batched — the sync worker
receives 50 notifications per signed HTTP call, up to four calls while they come back full,
stores them in one transaction and acks them in one call, while the index feed applies the
change feed to a matcher 1,000 changes at a time; (b) the plain reference — one notification
per receive and one change per feed batch, over the first ``--reference`` opportunities. It
prints, per backend, the sync and feed rates, the end-to-end rate (opportunities from the
exchange's queue into the matcher, per second), the median and p99 time of one sync step (up
to 200 opportunities), the (a)/(b) ratio and each process's CPU time per opportunity (on two
cores, 2,000 opportunities/s leaves 1 ms of CPU for everything); then checks the store and
the matcher hold every opportunity. A benchmark, not a test: it asserts nothing about time.

PostgreSQL: SURVEYROUTER_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test;
the run uses a schema of its own and drops it. When that server runs on this machine, its
processes' CPU time per opportunity is reported too (from /proc): on two cores it shares the
budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from postgres import bench_schema
from surveyrouter.bootstrap import RECEIVES_PER_STEP, Runtime, build_runtime, prepare_database
from surveyrouter.collector import tune_for_server
from surveyrouter.domain.matcher import Matcher
from surveyrouter.networks.rex.registry import RegistryClient, RetryPolicy, RexApi
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.services.sync import SyncSettings, SyncWorker
from surveyrouter.settings import Settings
from surveyrouter.store.opportunities import live_counts

NETWORK = "sandbox"
# How often the index feed looks for changes while the sync runs: ten times as often as a
# server does by default (SURVEYROUTER_INDEX_POLL_INTERVAL_SECONDS, 1 s), without an idle poll
# every few milliseconds costing more than a server's feed ever pays. In (a) and (b) the feed
# is woken the moment the sync is done; in (c) the end is seen within this interval.
FEED_POLL_SECONDS = 0.1
KEYS = KeyPair("bench-access-key", "bench-secret-key")
console = Console(width=200)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclasses.dataclass
class Pass:
    opportunities: int
    sync_s: float  # time inside sync steps
    feed_s: float  # time inside feed catch-ups that applied something
    wall_s: float  # from the first receive until the matcher holds everything
    steps: list[float]
    stored: int  # live opportunities in the store afterwards
    indexed: int  # opportunities in the matcher afterwards
    router_cpu_s: float  # this process's CPU time (every thread) over the pass
    exchange_cpu_s: float  # the exchange process's CPU time over the pass
    database_cpu_s: float | None = None  # a local PostgreSQL server's, over the pass

    @property
    def end_to_end(self) -> float:
        return self.opportunities / self.wall_s


@dataclasses.dataclass
class Split:
    rate: float  # end-to-end opp/s
    sync_cpu_s: float  # the sync process's CPU time while the feed caught up
    feed_cpu_s: float  # the following process's
    database_cpu_s: float | None = None  # a local PostgreSQL server's


@dataclasses.dataclass
class Row:
    backend: str
    batched: Pass
    reference: Pass
    split: Split | None = None  # (c) sync in its own process


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``). CPU time moves less
    than wall time on a machine whose speed varies from minute to minute."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float | None:
    """CPU time the local PostgreSQL server's processes have used so far: every ``postgres``
    process's own, and its children's that have exited (backends whose connections closed
    leave theirs in the postmaster's). None when no such process is visible."""
    total, found = 0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended while we looked
        name, _, rest = text.partition(" (")[2].rpartition(")")
        if name != "postgres":
            continue
        fields = rest.split()
        total += sum(int(value) for value in fields[11:15])
        found = True
    return total / os.sysconf("SC_CLK_TCK") if found else None


def cpu_since(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@dataclasses.dataclass
class Exchange:
    url: str
    pid: int


@contextmanager
def exchange(size: int, seed: int) -> Iterator[Exchange]:
    """A standalone sandbox exchange in its own process, as a remote exchange would be: its
    work (JSON, signatures) does not share this process's interpreter."""
    port = free_port()
    command = [
        sys.executable, "-m", "surveyrouter", "sandbox", "--port", str(port),
        "--access-key", KEYS.access_key, "--secret-key", KEYS.secret_key,
        "--opportunities", str(size), "--seed", str(seed), "--frozen",
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SURVEYROUTER_LOG_LEVEL": "WARNING"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                httpx.post(f"{url}/receive-notifications", timeout=1)
                break
            except httpx.TransportError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the sandbox exchange did not start") from None
                time.sleep(0.2)
        yield Exchange(url, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{secrets.token_hex(4)}.db'}"
        return
    with bench_schema() as schema:
        yield schema.url


def sync_pass(runtime: Runtime, size: int, seed: int, batch: int, receives: int,
              feed_batch: int, label: str) -> Pass:  # fmt: skip
    """Sync a fresh exchange of ``size`` opportunities as ``serve`` does: the sync worker and
    the index feed in two threads, until the matcher holds every live opportunity."""
    with exchange(size, seed) as remote:
        http = httpx.Client(base_url=remote.url, timeout=60)
        client = RegistryClient(
            RexApi(http, KEYS, retry=RetryPolicy(max_attempts=2)), network=NETWORK
        )
        # As in ``serve``: the feed takes back what this process's worker parsed.
        parsed = RecentlyParsed()
        settings = SyncSettings(batch_limit=batch, receives_per_step=receives)
        worker = SyncWorker(client, runtime.sessions, NETWORK, _now, settings, parsed)
        feed = IndexFeed(Matcher(), runtime.sessions, batch_size=feed_batch, parsed=parsed)
        steps: list[float] = []
        feed_busy = 0.0
        synced = threading.Event()

        def follow() -> None:
            nonlocal feed_busy
            while True:
                done = synced.is_set()  # read before catching up: nothing is left behind
                began = time.perf_counter()
                applied = feed.catch_up()
                feed_busy += time.perf_counter() - began if applied else 0.0
                if done:
                    return
                synced.wait(FEED_POLL_SECONDS)  # woken at once when the sync is done

        follower = threading.Thread(target=follow)
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{label}: sync", total=size)
            started = time.perf_counter()
            router_cpu, exchange_cpu = time.process_time(), cpu_seconds(remote.pid)
            database_cpu = database_cpu_seconds()
            follower.start()
            # As the worker's own loop steps: the next batch is fetched while one is stored.
            pipeline = worker.steps()
            step_started = time.perf_counter()
            for result in pipeline:
                if result.idle:
                    break
                steps.append(time.perf_counter() - step_started)
                progress.advance(task, result.received)
                step_started = time.perf_counter()
            pipeline.close()
            synced.set()
            follower.join()
            wall = time.perf_counter() - started
            router_cpu = time.process_time() - router_cpu
            exchange_cpu = cpu_seconds(remote.pid) - exchange_cpu
            database_cpu = cpu_since(database_cpu, database_cpu_seconds())
        client.close()
    with runtime.sessions() as session:
        stored = live_counts(session).get(NETWORK, 0)
    return Pass(
        size,
        sum(steps),
        feed_busy,
        wall,
        steps,
        stored,
        feed.indexed,
        router_cpu,
        exchange_cpu,
        database_cpu,
    )


def split_pass(url: str, size: int, seed: int) -> Split:
    """``surveyrouter sync`` in its own process fills the store; this process only follows the
    change feed, as an API process started with ``serve --no-sync`` does. Returns end-to-end
    opportunities per second, timed from the first change the feed sees (the sync process's
    start-up and migrations excluded) until the feed has applied every opportunity."""
    runtime = build_runtime(Settings(database_url=url))
    prepare_database(runtime)
    try:
        with exchange(size, seed) as remote:
            environment = {
                **os.environ,
                "SURVEYROUTER_DATABASE_URL": url,
                "SURVEYROUTER_SANDBOX_URL": remote.url,
                "SURVEYROUTER_SANDBOX_ACCESS_KEY": KEYS.access_key,
                "SURVEYROUTER_SANDBOX_SECRET_KEY": KEYS.secret_key,
                "SURVEYROUTER_ATTRIBUTE_DISCOVERY_INTERVAL_SECONDS": "3600",
                "SURVEYROUTER_LOG_LEVEL": "WARNING",
            }
            worker = subprocess.Popen(
                [sys.executable, "-m", "surveyrouter", "sync"],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                feed = IndexFeed(Matcher(), runtime.sessions)
                deadline = time.monotonic() + 600
                while not feed.catch_up() and time.monotonic() < deadline:
                    time.sleep(0.005)
                started = time.perf_counter()
                sync_cpu, feed_cpu = cpu_seconds(worker.pid), time.process_time()
                database_cpu = database_cpu_seconds()
                with Progress(console=console, transient=True) as progress:
                    task = progress.add_task("sync process → feed", total=size)
                    while feed.last_seq < size and time.monotonic() < deadline:
                        feed.catch_up()
                        progress.update(task, completed=feed.last_seq)
                        time.sleep(FEED_POLL_SECONDS)
                elapsed = time.perf_counter() - started
                sync_cpu = cpu_seconds(worker.pid) - sync_cpu
                feed_cpu = time.process_time() - feed_cpu
                database_cpu = cpu_since(database_cpu, database_cpu_seconds())
            finally:
                worker.terminate()
                worker.wait(timeout=30)
    finally:
        runtime.close()
    return Split(size / elapsed, sync_cpu, feed_cpu, database_cpu)


def run(backend: str, size: int, reference: int, seed: int, workdir: Path, split: bool) -> Row:
    with database(backend, workdir) as url:
        runtime = build_runtime(Settings(database_url=url))
        try:
            prepare_database(runtime)
            batched = sync_pass(
                runtime, size, seed, 50, RECEIVES_PER_STEP, 1000, f"{backend} batched"
            )
        finally:
            runtime.close()
    with database(backend, workdir) as url:
        runtime = build_runtime(Settings(database_url=url))
        try:
            prepare_database(runtime)
            plain = sync_pass(runtime, reference, seed, 1, 1, 1, f"{backend} reference")
        finally:
            runtime.close()
    separate = None
    if split:
        with database(backend, workdir) as url:
            separate = split_pass(url, size, seed)
    return Row(backend, batched, plain, separate)


def ms(samples: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(samples), q)) * 1000 if samples else float("nan")


def per_opportunity(count: int, first_s: float, second_s: float) -> str:
    """Two processes' CPU time per opportunity, in ms, and their sum."""
    first, second = first_s / count * 1000, second_s / count * 1000
    return f"{first:.2f} + {second:.2f} = {first + second:.2f}"


def database_cpu(row: Row) -> str:
    """The database server's CPU time per opportunity in (a) and (c), where it was measured
    (a PostgreSQL server on this machine; SQLite's work is the router's own)."""
    size = row.batched.opportunities
    parts = [row.batched.database_cpu_s, row.split.database_cpu_s if row.split else None]
    if row.backend == "sqlite" or all(part is None for part in parts):
        return "–"
    return " / ".join("–" if part is None else f"{part / size * 1000:.2f}" for part in parts)


def render(rows: list[Row], markdown: bool) -> None:
    header = [
        "backend",
        "opportunities",
        "sync opp/s",
        "feed opp/s",
        "(a) end-to-end opp/s",
        "step (≤ 200) median ms",
        "step p99 ms",
        "(b) reference opp/s",
        "(a)/(b)",
        "stored live = indexed",
        "(a) CPU ms/opp: router + exchange",
        "(c) sync process + feed opp/s",
        "(c) CPU ms/opp: sync + feed",
        "PostgreSQL server CPU ms/opp: (a) / (c)",
    ]
    table = Table(*header, title="sync: exchange queue → store → matcher")
    lines = []
    for row in rows:
        a, b = row.batched, row.reference
        cells = [
            row.backend,
            f"{a.opportunities:,}",
            f"{a.opportunities / a.sync_s:,.0f}",
            f"{a.opportunities / a.feed_s:,.0f}",
            f"{a.end_to_end:,.0f}",
            f"{statistics.median(a.steps) * 1000:.1f}",
            f"{ms(a.steps, 99):.1f}",
            f"{b.end_to_end:,.0f} (n={b.opportunities})",
            f"{a.end_to_end / b.end_to_end:.1f}×",
            "yes" if a.stored == a.indexed else f"no ({a.stored} / {a.indexed})",
            per_opportunity(a.opportunities, a.router_cpu_s, a.exchange_cpu_s),
            "–" if row.split is None else f"{row.split.rate:,.0f}",
            "–"
            if row.split is None
            else per_opportunity(a.opportunities, row.split.sync_cpu_s, row.split.feed_cpu_s),
            database_cpu(row),
        ]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    if markdown:
        console.print("| " + " | ".join(header) + " |", soft_wrap=True)
        console.print("|" + "---|" * len(header), soft_wrap=True)
        for line in lines:
            console.print(line, soft_wrap=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--reference", type=int, default=400)
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument(
        "--split",
        action="store_true",
        help="also (c): `surveyrouter sync` in its own process, this one following the feed",
    )
    args = parser.parse_args()
    tune_for_server()  # as `serve` and `sync` run
    with tempfile.TemporaryDirectory() as workdir:
        rows = [
            run(backend, args.opportunities, args.reference, args.seed, Path(workdir), args.split)
            for backend in args.backends
        ]
    render(rows, args.markdown)


if __name__ == "__main__":
    main()
