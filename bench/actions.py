"""Get Actions over HTTP: ``GET /v1/client/actions`` under wrk, against a trivial endpoint.

    .venv/bin/python bench/actions.py [--opportunities 50000] [--users 50] [--workers 2]
                                      [--connections 32] [--threads 2] [--duration 30]
                                      [--surveys 20] [--seed 1] [--markdown]

A standalone sandbox exchange (``surveyrouter sandbox --frozen``, its own process) holds a
synthetic market of ``--opportunities`` (seed ``--seed``, the question library's attributes).
``surveyrouter serve --workers W`` runs on a PostgreSQL schema of its own with
SURVEYROUTER_SANDBOX_URL pointing at that exchange: the supervisor syncs the market into the
store and every worker follows the store's change feed into its own matcher. The run waits until
the ``surveyrouter_index_opportunities`` gauge of ``/metrics`` (one worker's matcher per read:
each read is a new connection) is at least the store's OPEN opportunities and the store has
stopped growing, for 20 reads in a row.

It then creates a publisher app (``services.apps.create_app``) and imports ``--users`` users
through ``POST /v1/publishers/users`` (``X-S2S-Token``): country US, language en, the standard
profile (gender, birth date, ZIP) of ``sandbox.market.generate_profiles`` (seed ``--seed`` + 1)
and 12 of the library questions that profile answered, 15 answers in all, read back through
``GET /v1/publishers/users/{uid}/profile``. The users' stored country (US) is what the server
uses: the requests come from 127.0.0.1, which no IP database places. One untimed Get Actions
call per user follows (a new connection each, so both workers cache their attribute sources),
checking status 200 and the number of surveys listed (``SURVEYROUTER_ACTIONS_MAX_SURVEYS`` is
``--surveys``).

What is measured: ``wrk -t THREADS -c CONNECTIONS -d DURATION --latency`` over loopback with
``X-Api-Token`` and ``X-User-Id`` headers, the user changing on every request (round-robin over
the users, each wrk thread starting elsewhere), first against ``/v1/client/actions`` and then
against ``/healthz`` (a small JSON body and the database ping each process shares among the
checks that arrive while it is out: the floor any request of this server stands on). Requests/s,
median and p99 come from wrk's own ``done`` hook (its latency histogram; requests/s is completed
requests over the run's duration, as wrk prints it), as do the non-2xx/3xx responses and the
socket errors (connect, read, write, timeout). wrk, the server's processes and PostgreSQL share
the machine's cores. Then 200 sequential Get Actions calls over one keep-alive connection (one
worker), users round-robin, read the ``Server-Timing`` header each response carries: the median
of each stage, its share of the summed medians, and the median latency the client saw; ``app``,
which the server appends for the whole time in the application, encloses the stages and is shown
apart, with the median per call of what no stage covers. Targets (the issue, at 50k on this
2-core machine): ≥ 1,000 requests/s and p99 ≤ 50 ms for Get Actions; the run says whether each
is met. A benchmark, not a test: it asserts nothing.

PostgreSQL: SURVEYROUTER_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test;
the run uses a schema of its own and drops it. Needs ``wrk`` on PATH.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
from rich.console import Console
from rich.progress import Progress

from postgres import Schema, bench_schema
from reporting import print_table
from surveyrouter.bootstrap import build_runtime
from surveyrouter.clock import utc_now
from surveyrouter.domain.questions import AnswerInvalid, QuestionLibrary, validate_answer
from surveyrouter.sandbox.attributes import market_attributes
from surveyrouter.sandbox.market import generate_market, generate_profiles
from surveyrouter.services.apps import create_app
from surveyrouter.settings import Settings
from surveyrouter.store.question_library import load_question_library

ACCESS_KEY = "bench-access-key"
SECRET_KEY = "bench-secret-key"
ACTIONS = "/v1/client/actions"
TRIVIAL = "/healthz"
# The standard profile (gender, birth date, ZIP) plus this many library questions per user.
LIBRARY_ANSWERS = 12
STABLE_READS = 20  # /metrics reads in a row that must see the market indexed
SYNC_TIMEOUT_S = 600
START_TIMEOUT_S = 180
TIMING_CALLS = 200
WHOLE_STAGE = "app"  # the Server-Timing entry that encloses the others
TARGET_RATE = 1_000.0  # requests/s of Get Actions
TARGET_P99_MS = 50.0
console = Console(width=200)


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message says why."""


@dataclasses.dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    stderr: Path


@dataclasses.dataclass(frozen=True)
class WrkResult:
    path: str
    requests: int
    duration_s: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int  # connect, read, write and timeout errors
    output: str

    @property
    def rate(self) -> float:
        return self.requests / self.duration_s


@dataclasses.dataclass(frozen=True)
class Timings:
    calls: int
    latency_ms: list[float]  # client-observed, per call
    stages: list[dict[str, float]]  # per call: Server-Timing name -> ms, in the header's order

    @property
    def with_header(self) -> int:
        return sum(bool(call) for call in self.stages)


def require_wrk() -> None:
    """Exit with how to install wrk when it is not on PATH."""
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        sys.exit(2)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def process(
    command: Sequence[str], environment: Mapping[str, str], workdir: Path, name: str
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """``command`` in a session of its own (a Ctrl-C reaches only this script, which then stops
    it), stderr kept in a file; SIGTERM on the way out, SIGKILL to what is left of its process
    group (a supervisor's workers) if it does not stop in time."""
    stderr = workdir / f"{name}.stderr"
    with stderr.open("wb") as sink:
        child = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env={**os.environ, **environment},
            start_new_session=True,
        )
    try:
        yield child, stderr
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                console.print(f"[yellow]{name} did not stop in 30 s: killing it[/yellow]")
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)  # its group: the leftovers, if any
        child.wait()


def wait_http(
    url: str, child: subprocess.Popen[bytes], stderr: Path, name: str, timeout: float
) -> None:
    """Until ``url`` answers at all; ``BenchError`` with the stderr tail if ``child`` dies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            pass
        if child.poll() is not None:
            raise BenchError(f"{name} exited with code {child.returncode}:\n{tail(stderr)}")
        if time.monotonic() > deadline:
            raise BenchError(f"{name} did not answer within {timeout:.0f} s:\n{tail(stderr)}")
        time.sleep(0.2)


@contextmanager
def exchange(size: int, seed: int, workdir: Path) -> Iterator[str]:
    """A standalone sandbox exchange in its own process, as a remote exchange would be."""
    port = free_port()
    command = [
        sys.executable, "-m", "surveyrouter", "sandbox", "--port", str(port),
        "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
        "--opportunities", str(size), "--seed", str(seed), "--frozen",
    ]  # fmt: skip
    with process(command, {"SURVEYROUTER_LOG_LEVEL": "WARNING"}, workdir, "sandbox") as (
        child,
        stderr,
    ):
        url = f"http://127.0.0.1:{port}"
        with console.status(f"sandbox exchange: drawing {size:,} opportunities…"):
            wait_http(f"{url}/receive-notifications", child, stderr, "the sandbox", 300)
        yield url


@contextmanager
def server(db: Schema, exchange_url: str, workers: int, surveys: int, workdir: Path
           ) -> Iterator[Server]:  # fmt: skip
    port = free_port()
    environment = {
        "SURVEYROUTER_DATABASE_URL": db.url,
        "SURVEYROUTER_SANDBOX_URL": exchange_url,
        "SURVEYROUTER_SANDBOX_ACCESS_KEY": ACCESS_KEY,
        "SURVEYROUTER_SANDBOX_SECRET_KEY": SECRET_KEY,
        "SURVEYROUTER_ACTIONS_MAX_SURVEYS": str(surveys),
        "SURVEYROUTER_LOG_LEVEL": "WARNING",
        "SURVEYROUTER_ATTRIBUTE_DISCOVERY_INTERVAL_SECONDS": "3600",
        "SURVEYROUTER_HOST": "127.0.0.1",
    }
    command = [
        sys.executable, "-m", "surveyrouter", "serve", "--workers", str(workers),
        "--port", str(port),
    ]  # fmt: skip
    with process(command, environment, workdir, "server") as (child, stderr):
        base_url = f"http://127.0.0.1:{port}"
        with console.status(f"server: migrating and starting {workers} worker(s)…"):
            wait_http(f"{base_url}{TRIVIAL}", child, stderr, "the server", START_TIMEOUT_S)
        yield Server(child, base_url, stderr)


def check_alive(running: Server) -> None:
    if running.process.poll() is not None:
        raise BenchError(
            f"the server exited with code {running.process.returncode}:\n{tail(running.stderr)}"
        )


_INDEXED = re.compile(r"^surveyrouter_index_opportunities(?:\{[^}]*\})?\s+(\S+)\s*$", re.MULTILINE)


def indexed_gauge(base_url: str) -> int | None:
    """One worker's ``surveyrouter_index_opportunities``: a new connection per read, so that
    the reads land on the workers at random."""
    try:
        response = httpx.get(f"{base_url}/metrics", headers={"Connection": "close"}, timeout=10)
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    found = _INDEXED.search(response.text)
    return None if found is None else int(float(found.group(1)))


def open_in_store(connection: psycopg.Connection[Any], schema: str) -> int:
    try:
        row = connection.execute(
            f"select count(*) from \"{schema}\".opportunities where status = 'OPEN'"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0  # not migrated yet
    return 0 if row is None else int(row[0])


def wait_indexed(running: Server, db: Schema, size: int) -> int:
    """Until every worker's matcher holds the store's open opportunities; their number."""
    stable = 0
    previous = -1
    deadline = time.monotonic() + SYNC_TIMEOUT_S
    with (
        psycopg.connect(db.conninfo, autocommit=True) as connection,
        Progress(console=console, transient=True) as progress,
    ):
        task = progress.add_task("sync → store → every worker's matcher", total=size)
        while stable < STABLE_READS:
            check_alive(running)
            if time.monotonic() > deadline:
                raise BenchError(
                    f"the market was not indexed within {SYNC_TIMEOUT_S} s (store: {previous:,} "
                    f"open):\n{tail(running.stderr)}"
                )
            live = open_in_store(connection, db.name)
            indexed = indexed_gauge(running.base_url)
            settled = live > 0 and live == previous and indexed is not None and indexed >= live
            stable = stable + 1 if settled else 0
            previous = live
            progress.update(
                task,
                completed=indexed or 0,
                description=(
                    f"sync → store ({live:,} open) → every worker's matcher "
                    f"({indexed if indexed is not None else '?'}; {stable}/{STABLE_READS} reads)"
                ),
            )
            time.sleep(0.5)
    return previous


# ---------------------------------------------------------------- users


def library_answers(
    document: Mapping[str, Any], library: QuestionLibrary, today: date
) -> list[tuple[str, list[str]]]:
    """The library questions a generated profile answered validly, as (key, values): the
    sandbox's attributes are the library's ids; negative REX values are no answer a user
    gives; the standard questions go in the import's own fields."""
    by_id = {question.id: question for question in library}
    answers = []
    for attribute_id, values in document["answers"].items():
        question = by_id.get(int(attribute_id))
        if question is None or question.standard:
            continue
        try:
            validate_answer(question, values, today)
        except AnswerInvalid:
            continue
        answers.append((question.key, list(values)))
    return answers


def user_documents(size: int, seed: int, count: int) -> list[dict[str, Any]]:
    """``count`` import bodies from the market's own profile generator: the first profiles
    that answered at least LIBRARY_ANSWERS library questions, cut to that many."""
    library = load_question_library()
    today = utc_now().date()
    # The exchange's market, drawn again here: the profiles are drawn against it.
    market = generate_market(size, seed=seed, attributes=market_attributes(library))
    profiles = generate_profiles(market, count * 4 + 20, seed=seed + 1, reference_date=today)
    del market
    users: list[dict[str, Any]] = []
    for profile in profiles:
        answers = library_answers(profile, library, today)
        if len(answers) < LIBRARY_ANSWERS:
            continue
        users.append(
            {
                "uid": f"bench-user-{len(users):04d}",
                "country": "US",
                "languages": ["en"],
                "birthdate": profile["birth_date"],
                "gender": profile["gender"].upper(),
                "zipcode": profile["postal_code"],
                "questions": [
                    {"id": key, "network_id": 0, "direct_values": values}
                    for key, values in answers[:LIBRARY_ANSWERS]
                ],
            }
        )
        if len(users) == count:
            return users
    raise BenchError(f"only {len(users)} of {len(profiles)} generated profiles were usable")


def new_app(db: Schema) -> tuple[str, str]:
    """A fresh publisher app in the server's database: its (API token, S2S token)."""
    runtime = build_runtime(Settings(database_url=db.url))
    try:
        app = create_app(runtime.sessions, utc_now, {"name": "Bench app"})
    finally:
        runtime.close()
    return app.api_token, app.s2s_token


def import_users(base_url: str, s2s_token: str, users: Sequence[dict[str, Any]]) -> float:
    """The users through the publisher API; the mean number of answers each has stored."""
    headers = {"X-S2S-Token": s2s_token}
    with httpx.Client(base_url=base_url, headers=headers, timeout=60) as http:
        for start in range(0, len(users), 1000):
            batch = users[start : start + 1000]
            response = http.post("/v1/publishers/users", json={"users": batch})
            if response.status_code != 200:
                raise BenchError(f"import: {response.status_code} {response.text[:2000]}")
            result = response.json()["data"]
            if result["errors"] or result["success_count"] != len(batch):
                raise BenchError(f"import refused users: {json.dumps(result['errors'])[:2000]}")
        answered = []
        for user in users:
            response = http.get(f"/v1/publishers/users/{user['uid']}/profile")
            if response.status_code != 200:
                raise BenchError(f"profile of {user['uid']}: {response.status_code}")
            answered.append(len(response.json()["data"]["std_questions"]))
    return statistics.mean(answered)


def client_headers(api_token: str, uid: str) -> dict[str, str]:
    return {"X-Api-Token": api_token, "X-User-Id": uid}


def warm_up(base_url: str, api_token: str, uids: Sequence[str], surveys: int) -> float:
    """One Get Actions call per user, each on a new connection; the mean surveys listed."""
    listed = []
    for uid in uids:
        response = httpx.get(
            f"{base_url}{ACTIONS}",
            headers={**client_headers(api_token, uid), "Connection": "close"},
            timeout=60,
        )
        if response.status_code != 200:
            raise BenchError(f"warm-up as {uid}: {response.status_code} {response.text[:2000]}")
        data = response.json()["data"]
        if data.get("restriction_reason") is not None:
            raise BenchError(f"warm-up as {uid}: restricted: {data['restriction_reason']}")
        listed.append(len(data["surveys"]))
    mean = statistics.mean(listed)
    full = sum(count == surveys for count in listed)
    console.print(
        f"warm-up: {len(uids)} calls, {mean:.1f} surveys listed per call on average, "
        f"{full} of {len(uids)} users with all {surveys}"
    )
    if mean == 0:
        raise BenchError("Get Actions listed no survey for any user: nothing to measure")
    if full < len(uids) / 2:
        console.print(f"[yellow]fewer than half of the users get {surveys} surveys[/yellow]")
    return mean


# ---------------------------------------------------------------- wrk

# Each wrk thread runs the script in a Lua state of its own: ``setup`` numbers the threads
# so that each starts at a different user; ``done`` runs once, with the merged statistics.
# wrk's script: the users in turn (each thread starting elsewhere), a result line at the end.
LUA_USERS = """
local token = %(token)s
local uids = {%(uids)s}
local n = #uids
local counter = 0
local i = nil

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
end

function next_uid()
  if i == nil then
    i = ((thread_number or 1) * 7) %% n
  end
  i = i %% n + 1
  return uids[i]
end
"""
LUA_ACTIONS_REQUEST = """
function request()
  return wrk.format("GET", nil, {["X-Api-Token"] = token, ["X-User-Id"] = next_uid()})
end
"""
LUA_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "\\nBENCH_RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%.0f, " ..
    "\\"p99_us\\": %%.0f, \\"status\\": %%d, \\"connect\\": %%d, \\"read\\": %%d, " ..
    "\\"write\\": %%d, \\"timeout\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII is a Lua string literal


def wrk_script(
    token: str,
    uids: Sequence[str],
    workdir: Path,
    request: str = LUA_ACTIONS_REQUEST,
    name: str = "actions",
) -> Path:
    """A wrk script sending ``request`` (Lua: ``token`` and ``next_uid()`` are there) for the
    users in turn and printing the result line ``run_wrk`` reads."""
    path = workdir / f"{name}.lua"
    text = LUA_USERS + request + LUA_DONE
    path.write_text(text % {"token": lua_string(token), "uids": ", ".join(map(lua_string, uids))})
    return path


def run_wrk(
    base_url: str, path: str, script: Path, threads: int, connections: int, duration: int
) -> WrkResult:
    command = [
        "wrk", "-t", str(threads), "-c", str(connections), "-d", f"{duration}s", "--latency",
        "-s", str(script), f"{base_url}{path}",
    ]  # fmt: skip
    console.print(f"[bold]$ {' '.join(command)}[/bold]")
    # A slow refresh: this process shares the cores with wrk and the server.
    with Progress(console=console, transient=True, refresh_per_second=1) as progress:
        task = progress.add_task(f"wrk {path}", total=duration)
        wrk = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started = time.monotonic()
        while wrk.poll() is None:
            progress.update(task, completed=min(duration, time.monotonic() - started))
            time.sleep(0.5)
    assert wrk.stdout is not None
    output = read_all(wrk.stdout)
    found = re.search(r"^BENCH_RESULT (\{.*\})$", output, re.MULTILINE)
    if wrk.returncode != 0 or found is None:
        raise BenchError(f"wrk failed (exit {wrk.returncode}):\n{output}")
    console.print(output[: found.start()].rstrip(), style="dim", highlight=False)
    numbers = json.loads(found.group(1))
    return WrkResult(
        path=path,
        requests=numbers["requests"],
        duration_s=numbers["duration_us"] / 1e6,
        p50_ms=numbers["p50_us"] / 1e3,  # wrk's latencies are microseconds
        p99_ms=numbers["p99_us"] / 1e3,
        non_2xx=numbers["status"],
        errors=sum(numbers[kind] for kind in ("connect", "read", "write", "timeout")),
        output=output,
    )


def read_all(stream: IO[bytes]) -> str:
    return stream.read().decode(errors="replace")


# ---------------------------------------------------------------- Server-Timing


def parse_server_timing(values: Sequence[str]) -> list[tuple[str, float]]:
    """``name;dur=1.23;desc="…", name2;dur=4.5`` (one or more header lines) as (name, ms), in
    order; an entry without ``dur`` is left out, a name given twice is summed."""
    found: dict[str, float] = {}
    for value in values:
        for entry in value.split(","):
            name, *parameters = (part.strip() for part in entry.split(";"))
            if not name:
                continue
            for parameter in parameters:
                key, _, number = parameter.partition("=")
                if key.strip().lower() != "dur":
                    continue
                with suppress(ValueError):
                    found[name] = found.get(name, 0.0) + float(number.strip().strip('"'))
                break
    return list(found.items())


def stage_timings(base_url: str, api_token: str, uids: Sequence[str], calls: int) -> Timings:
    latency: list[float] = []
    stages: list[dict[str, float]] = []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for index in range(calls):
            headers = client_headers(api_token, uids[index % len(uids)])
            started = time.perf_counter()
            response = http.get(ACTIONS, headers=headers)
            latency.append((time.perf_counter() - started) * 1e3)
            if response.status_code != 200:
                raise BenchError(f"timing call: {response.status_code} {response.text[:2000]}")
            stages.append(dict(parse_server_timing(response.headers.get_list("server-timing"))))
    return Timings(calls, latency, stages)


def stage_lines(timings: Timings) -> list[list[str]]:
    """Per stage its median and share of the summed stage medians. ``app``, the whole time in
    the application the server appends, encloses the others: it is shown apart, with the
    median per call of what no stage covers."""
    names: dict[str, None] = {}  # first appearance order
    for call in timings.stages:
        names.update(dict.fromkeys(call))
    per_stage = {
        name: [call[name] for call in timings.stages if name in call]
        for name in names
        if name != WHOLE_STAGE
    }
    medians = {name: statistics.median(values) for name, values in per_stage.items()}
    total = sum(medians.values())
    lines = [
        [
            name if len(per_stage[name]) == timings.calls
            else f"{name} ({len(per_stage[name])} of {timings.calls} calls)",
            f"{median:.2f}",
            f"{median / total:.0%}" if total > 0 else "–",
        ]
        for name, median in medians.items()
    ]  # fmt: skip
    lines.append(["sum of the stage medians", f"{total:.2f}", "100%" if total > 0 else "–"])
    whole = [call for call in timings.stages if WHOLE_STAGE in call]
    if whole:
        uncovered = [
            call[WHOLE_STAGE] - sum(ms for name, ms in call.items() if name != WHOLE_STAGE)
            for call in whole
        ]
        inside = statistics.median(call[WHOLE_STAGE] for call in whole)
        lines.append([f"{WHOLE_STAGE} (whole time in the application)", f"{inside:.2f}", ""])
        lines.append(
            [f"{WHOLE_STAGE} − stages (per call)", f"{statistics.median(uncovered):.2f}", ""]
        )
    lines.append(["client-observed", f"{statistics.median(timings.latency_ms):.2f}", ""])
    return lines


# ---------------------------------------------------------------- output


def render(
    actions: WrkResult, trivial: WrkResult, timings: Timings, context: str, markdown: bool
) -> None:
    console.print(context)
    headers = ["endpoint", "requests/s", "median ms", "p99 ms", "non-2xx", "errors",
               f"{TRIVIAL} ÷ actions req/s"]  # fmt: skip
    lines = [
        [
            result.path,
            f"{result.rate:,.0f}",
            f"{result.p50_ms:.2f}",
            f"{result.p99_ms:.2f}",
            f"{result.non_2xx:,}",
            f"{result.errors:,}",
            f"{trivial.rate / actions.rate:.1f}×" if result is actions else "–",
        ]
        for result in (actions, trivial)
    ]
    print_table(console, "wrk over loopback", headers, lines, markdown)

    if timings.with_header == 0:
        console.print(
            f"[yellow]no Server-Timing header on the {timings.calls} sequential calls: no stage "
            f"breakdown[/yellow] (client median {statistics.median(timings.latency_ms):.2f} ms)"
        )
    else:
        print_table(
            console,
            f"Server-Timing, {timings.calls} sequential Get Actions calls on one connection "
            f"({timings.with_header} with the header), medians",
            ["stage", "median ms", "share"],
            stage_lines(timings),
            markdown,
        )

    rate_met = actions.rate >= TARGET_RATE
    p99_met = actions.p99_ms <= TARGET_P99_MS
    console.print(
        f"targets for {ACTIONS}: ≥ {TARGET_RATE:,.0f} requests/s — "
        f"{'met' if rate_met else 'NOT met'} ({actions.rate:,.0f}); p99 ≤ {TARGET_P99_MS:.0f} ms — "
        f"{'met' if p99_met else 'NOT met'} ({actions.p99_ms:.2f} ms)"
    )
    for result in (actions, trivial):
        if result.non_2xx or result.errors:
            console.print(
                f"[yellow]{result.path}: {result.non_2xx:,} non-2xx responses and "
                f"{result.errors:,} socket errors: its numbers are not all successes[/yellow]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="serve --workers")
    parser.add_argument("--connections", type=int, default=32, help="wrk -c")
    parser.add_argument("--threads", type=int, default=2, help="wrk -t")
    parser.add_argument("--duration", type=int, default=30, help="seconds of each wrk run")
    parser.add_argument("--surveys", type=int, default=20, help="SURVEYROUTER_ACTIONS_MAX_SURVEYS")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()
    require_wrk()
    started = datetime.now(UTC)
    try:
        with ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
            console.print(f"generating {args.users} user profiles against the market…")
            users = user_documents(args.opportunities, args.seed, args.users)
            uids = [user["uid"] for user in users]
            db = stack.enter_context(bench_schema())
            exchange_url = stack.enter_context(exchange(args.opportunities, args.seed, workdir))
            running = stack.enter_context(
                server(db, exchange_url, args.workers, args.surveys, workdir)
            )
            live = wait_indexed(running, db, args.opportunities)
            console.print(f"{live:,} live opportunities in the store and in every matcher read")
            api_token, s2s_token = new_app(db)
            answered = import_users(running.base_url, s2s_token, users)
            console.print(f"{len(users)} users imported, {answered:.1f} answers each on average")
            warm_up(running.base_url, api_token, uids, args.surveys)
            script = wrk_script(api_token, uids, workdir)
            actions = run_wrk(running.base_url, ACTIONS, script, args.threads,
                              args.connections, args.duration)  # fmt: skip
            check_alive(running)
            trivial = run_wrk(running.base_url, TRIVIAL, script, args.threads,
                              args.connections, args.duration)  # fmt: skip
            check_alive(running)
            timings = stage_timings(running.base_url, api_token, uids, TIMING_CALLS)
    except BenchError as error:
        console.print(f"[red]bench/actions.py: {error}[/red]", highlight=False)
        sys.exit(1)
    cores = len(os.sched_getaffinity(0))
    context = (
        f"{started:%Y-%m-%d %H:%M} UTC; nproc {cores}; {live:,} live opportunities (of "
        f"{args.opportunities:,}); {args.users} users; serve --workers {args.workers}; PostgreSQL; "
        f"wrk -t {args.threads} -c {args.connections} -d {args.duration}s; "
        f"{args.surveys} surveys per response"
    )
    render(actions, trivial, timings, context, args.markdown)


if __name__ == "__main__":
    main()
