"""Database pool sizes under load: a plain read route under wrk, servers kept side by side.

Setup: for each pool variant (``--variant SIZE:OVERFLOW``, the first is the reference), a
PostgreSQL schema of its own and ``surveyrouter serve --workers WORKERS`` on it with
``SURVEYROUTER_DATABASE_POOL_SIZE`` / ``SURVEYROUTER_DATABASE_POOL_OVERFLOW`` set, no exchange
(the sandbox off), one app and ``--users`` users imported through ``POST /v1/publishers/users``.

What is measured: ``GET /v1/publishers/users/{uid}/profile`` (``X-S2S-Token``; a sync route: a
thread from the pool of 40 and a pooled database session per call), ``wrk -t THREADS -c
CONNECTIONS -d DURATION --latency``, the uid changing on every request. The variants take turns,
``--rounds`` times, all servers running throughout, so that the machine's drift falls on every
variant alike. Per variant: requests/s and p99 of each round, their medians, the median rate
against the reference's, the non-2xx responses and socket errors, and the most PostgreSQL
backends open at the end of a round (``pg_stat_activity`` of the database: every variant's).
A benchmark, not a test: it asserts nothing.

PostgreSQL: SURVEYROUTER_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test.
Keep the variants' connections (workers × (size + overflow) each, plus the supervisors') under
its ``max_connections``. Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psycopg

from actions import (
    BenchError,
    WrkResult,
    console,
    free_port,
    new_app,
    process,
    require_wrk,
    run_wrk,
    wait_http,
    wrk_script,
)
from postgres import Schema, bench_schema
from reporting import print_table

ROUTE = "/v1/publishers/users/{uid}/profile"
WRK_URL_PATH = "/v1/publishers/users"  # what wrk is pointed at; the script asks for each profile
START_TIMEOUT_S = 180

PROFILE_REQUEST = """
function request()
  local path = "/v1/publishers/users/" .. next_uid() .. "/profile"
  return wrk.format("GET", path, {["X-S2S-Token"] = token})
end
"""


@dataclasses.dataclass(frozen=True)
class Variant:
    size: int
    overflow: int

    @property
    def label(self) -> str:
        return f"{self.size} + {self.overflow}"


@dataclasses.dataclass
class Running:
    variant: Variant
    base_url: str
    script: Path
    conninfo: str  # the PostgreSQL server, for pg_stat_activity
    rounds: list[WrkResult] = dataclasses.field(default_factory=list)
    backends: list[int] = dataclasses.field(default_factory=list)


def variant(text: str) -> Variant:
    size, _, overflow = text.partition(":")
    try:
        return Variant(int(size), int(overflow or 0))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give SIZE:OVERFLOW, such as 5:10") from None


def users(count: int) -> list[dict[str, object]]:
    return [
        {"uid": f"pool-user-{number:04d}", "country": "US", "languages": ["en"],
         "birthdate": "1990-01-01", "gender": "FEMALE", "zipcode": "10001", "questions": []}
        for number in range(count)
    ]  # fmt: skip


def start(stack: ExitStack, chosen: Variant, workers: int, count: int, workdir: Path) -> Running:
    db = stack.enter_context(bench_schema())
    port = free_port()
    environment = {
        "SURVEYROUTER_DATABASE_URL": db.url,
        "SURVEYROUTER_SANDBOX_ENABLED": "false",
        "SURVEYROUTER_LOG_LEVEL": "WARNING",
        "SURVEYROUTER_HOST": "127.0.0.1",
        "SURVEYROUTER_DATABASE_POOL_SIZE": str(chosen.size),
        "SURVEYROUTER_DATABASE_POOL_OVERFLOW": str(chosen.overflow),
    }
    command = [sys.executable, "-m", "surveyrouter", "serve", "--workers", str(workers),
               "--port", str(port)]  # fmt: skip
    name = f"server-{chosen.size}-{chosen.overflow}"
    child, stderr = stack.enter_context(process(command, environment, workdir, name))
    base_url = f"http://127.0.0.1:{port}"
    with console.status(f"server {chosen.label}: migrating and starting…"):
        wait_http(f"{base_url}/healthz", child, stderr, name, START_TIMEOUT_S)
    script = import_users(db, base_url, users(count), workdir, name)
    return Running(chosen, base_url, script, db.conninfo)


def import_users(
    db: Schema, base_url: str, documents: Sequence[dict[str, object]], workdir: Path, name: str
) -> Path:
    """The users through the publisher API; the wrk script that reads their profiles."""
    _api_token, s2s_token = new_app(db)
    with httpx.Client(base_url=base_url, headers={"X-S2S-Token": s2s_token}, timeout=60) as http:
        response = http.post("/v1/publishers/users", json={"users": list(documents)})
        if response.status_code != 200 or response.json()["data"]["errors"]:
            raise BenchError(f"import: {response.status_code} {response.text[:2000]}")
    uids = [str(document["uid"]) for document in documents]
    return wrk_script(s2s_token, uids, workdir, request=PROFILE_REQUEST, name=name)


def open_backends(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def render(servers: Sequence[Running], context: str, markdown: bool) -> None:
    console.print(context)
    reference = statistics.median(result.rate for result in servers[0].rounds)
    lines = []
    for running in servers:
        rates = [result.rate for result in running.rounds]
        p99s = [result.p99_ms for result in running.rounds]
        lines.append(
            [
                running.variant.label,
                ", ".join(f"{rate:,.0f}" for rate in rates),
                f"{statistics.median(rates):,.0f}",
                f"{statistics.median(rates) / reference:.2f}×",
                ", ".join(f"{p99:,.0f}" for p99 in p99s),
                f"{statistics.median(p99s):,.1f}",
                f"{sum(result.non_2xx for result in running.rounds):,}",
                f"{sum(result.errors for result in running.rounds):,}",
                f"{max(running.backends):,}",
            ]
        )
    headers = ["pool (size + overflow)", "requests/s per round", "median requests/s",
               "÷ reference", "p99 ms per round", "median p99 ms", "non-2xx", "errors",
               "backends (most)"]  # fmt: skip
    print_table(console, f"GET {ROUTE} under wrk", headers, lines, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant", type=variant, action="append", dest="variants", metavar="SIZE:OVERFLOW",
        help="a pool to measure, the first being the reference (default 5:10 and 15:5)",
    )  # fmt: skip
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--duration", type=int, default=12, help="seconds of each wrk run")
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()
    variants: list[Variant] = args.variants or [Variant(5, 10), Variant(15, 5)]
    require_wrk()
    started = datetime.now(UTC)
    try:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            servers = [start(stack, chosen, args.workers, args.users, workdir)
                       for chosen in variants]  # fmt: skip
            for _ in range(args.rounds):
                for running in servers:
                    result = run_wrk(running.base_url, WRK_URL_PATH, running.script,
                                     args.threads, args.connections, args.duration)  # fmt: skip
                    running.rounds.append(result)
                    running.backends.append(open_backends(running.conninfo))
    except BenchError as error:
        console.print(f"[red]bench/database_pool.py: {error}[/red]", highlight=False)
        sys.exit(1)
    context = (
        f"{started:%Y-%m-%d %H:%M} UTC; serve --workers {args.workers} per variant; PostgreSQL; "
        f"{args.users} users; wrk -t {args.threads} -c {args.connections} -d {args.duration}s; "
        f"{args.rounds} rounds, variants in turn"
    )
    render(servers, context, args.markdown)


if __name__ == "__main__":
    main()
