"""Get Actions benchmark: ``SurveyOffers.actions`` end to end against ``Matcher.match`` alone.

    .venv/bin/python bench/actions_profile.py [--sizes 10000 50000] [--calls 200] [--users 50]

For each market size it builds what an API process holds after start-up: a fresh SQLite
database (migrated and seeded as ``serve`` does), one publisher app, ``--users`` users who have
answered the standard profile and some library questions (stored as the answer route stores
them), and an index feed whose matcher holds the market's open opportunities and collections
(given to it directly, with the network-qualified collection ids the feed uses). It then times,
per call, over the users round-robin: (a) ``SurveyOffers.actions`` end to end — the user's
answers and clicks read from the store, the match under the feed lock, a ranking candidate per
eligible or unknown opportunity, ranking, missing questions, remaining quota counts, signed
links and the impression count written; (b) ``Matcher.match`` alone for the same profile, as
``load_user_state`` builds it: the floor (a) stands on. It prints median and p99 of both, their
ratio, and the mean eligible, unknown and listed surveys per call; then a cProfile breakdown of
(a). It is a benchmark, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

import surveyrouter
from reporting import percentile, print_table
from surveyrouter.bootstrap import build_runtime, prepare_database, survey_offers
from surveyrouter.collector import tune_for_server
from surveyrouter.domain.client_context import ClientContext, CountrySource
from surveyrouter.domain.matcher import Matcher
from surveyrouter.domain.opportunity import (
    Device,
    OpportunityStatus,
)
from surveyrouter.domain.questions import AnswerInvalid, QuestionLibrary, validate_answer
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.sandbox.attributes import market_attributes
from surveyrouter.sandbox.market import generate_market, generate_profiles
from surveyrouter.services.actions import SurveyOffers
from surveyrouter.services.apps import create_app
from surveyrouter.services.callers import Caller
from surveyrouter.services.index_feed import IndexFeed, collection_key, network_collections
from surveyrouter.services.user_state import load_user_state
from surveyrouter.settings import Settings
from surveyrouter.store.answers import put_answer
from surveyrouter.store.db import transaction
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.users import user_on_sight

# The synthetic market's clock (sandbox.market.DEFAULT_AS_OF is midnight of this day).
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NETWORK = "sandbox"  # the network SurveyOffers knows the generated market by
BASE_URL = "http://127.0.0.1:8000"
CONTEXT = ClientContext("US", "en", Device.DESKTOP, CountrySource.IP)
PACKAGE = str(Path(surveyrouter.__file__).parent)
console = Console(width=220)

# The steps of one Get Actions call, read from the same profile as the top 10: (label, file
# under the package, function name). Indented labels run inside the step above them.
STEPS = (
    ("load_user_state (answers, clicks, profile)", "services/user_state.py", "load_user_state"),
    ("get_entry (start bonus paid?)", "store/ledger.py", "get_entry"),
    ("_match (under the feed lock)", "services/actions.py", "_match"),
    ("  Matcher.match", "domain/matcher.py", "match"),
    ("  _values (user value per distinct CPI)", "services/actions.py", "_values"),
    ("  rank_columns", "domain/ranking.py", "rank_columns"),
    ("  publisher_cpi + user_value", "domain/money.py", "publisher_cpi|user_value"),
    ("_shown (missing questions)", "services/actions.py", "_shown"),
    ("_qualification", "services/actions.py", "_qualification"),
    ("_sequence (50 listed surveys)", "services/actions.py", "_sequence"),
    ("  _remaining (quota groups)", "services/actions.py", "_remaining"),
    ("  link_query (signing)", "domain/survey_links.py", "link_query"),
    ("  category_for", "domain/categories.py", "category_for"),
    ("_count (impressions transaction)", "services/actions.py", "_count"),
)


@dataclasses.dataclass
class ProfileLine:
    function: str
    calls: float  # per Get Actions call
    cumulative_ms: float  # per Get Actions call
    own_ms: float  # per Get Actions call, excluding callees
    share: float  # of SurveyOffers.actions' cumulative time


@dataclasses.dataclass
class Row:
    size: int
    indexed: int
    actions: list[float]
    match: list[float]
    eligible: float
    unknown: float
    listed: float
    profiled_calls: int
    profiled_ms: float  # (a) per call under the profiler
    profile: list[ProfileLine]
    steps: list[ProfileLine]


def stored_answers(
    document: dict[str, Any], library: QuestionLibrary, today: date
) -> dict[str, tuple[str, ...]]:
    """A generated profile as the answers the question routes would have stored: the standard
    profile, and every synthetic answer that is a library question's valid answer (the
    sandbox's attributes are the library's ids; its own attributes and the negative REX
    values are not questions a user answers)."""
    raw: dict[str, tuple[str, ...]] = {
        "gender": ("1" if document["gender"] == "male" else "2",),
        "birth_date": (document["birth_date"],),
        "postal_code": (document["postal_code"],),
    }
    by_id = {question.id: question for question in library}
    for attribute_id, values in document["answers"].items():
        question = by_id.get(int(attribute_id))
        if question is not None:
            raw[question.key] = tuple(values)
    answers = {}
    for key, values in raw.items():
        try:
            answers[key] = validate_answer(library.by_key(key), values, today)
        except AnswerInvalid:
            continue
    return answers


def setup_users(
    offers: SurveyOffers, documents: Sequence[dict[str, Any]], library: QuestionLibrary
) -> tuple[list[Caller], float]:
    sessions = offers.sessions
    app = create_app(sessions, lambda: AT, {"name": "Bench app"})
    assert app.id is not None
    callers = []
    answered = []
    for index, document in enumerate(
        track(documents, description="users", console=console, transient=True)
    ):
        answers = stored_answers(document, library, AT.date())
        answered.append(len(answers))
        with transaction(sessions) as session:
            user, _ = user_on_sight(session, app.id, f"bench-user-{index:04d}", AT)
            for key, values in answers.items():
                put_answer(session, user.id, key, values, AT)
        callers.append(Caller(app, user, created_user=False))
    return callers, statistics.mean(answered)


def profile_breakdown(
    call: Callable[[int], object], calls: int
) -> tuple[float, list[ProfileLine], list[ProfileLine]]:
    """(a) per call under cProfile; our top 10 functions by cumulative time; the STEPS."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for index in range(calls):
        call(index)
    profiler.disable()
    per_call_ms = (time.perf_counter() - start) / calls * 1e3
    # pstats keeps (file, line, function) -> (primitive calls, calls, own s, cumulative s, …).
    entries: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    entries = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    ours = [
        (str(Path(path).relative_to(PACKAGE)), line, name, primitive, own, cumulative)
        for (path, line, name), (primitive, _, own, cumulative, _) in entries.items()
        if path.startswith(PACKAGE + "/")
    ]
    total = next(
        cumulative
        for path, _, name, _, _, cumulative in ours
        if (path, name) == ("services/actions.py", "actions")
    )

    def line_of(label: str, found: Sequence[tuple[str, int, str, int, float, float]]
                ) -> ProfileLine:  # fmt: skip
        return ProfileLine(
            function=label,
            calls=sum(entry[3] for entry in found) / calls,
            cumulative_ms=sum(entry[5] for entry in found) / calls * 1e3,
            own_ms=sum(entry[4] for entry in found) / calls * 1e3,
            share=sum(entry[5] for entry in found) / total,
        )

    ours.sort(key=lambda entry: -entry[5])
    top = [line_of(f"{entry[0]}:{entry[1]} {entry[2]}", [entry]) for entry in ours[:10]]
    steps = [
        line_of(label, [e for e in ours if e[0] == path and e[2] in names.split("|")])
        for label, path, names in STEPS
    ]
    return per_call_ms, top, steps


def run(size: int, users: int, calls: int, profiled: int, seed: int) -> Row:
    console.print(f"[bold]{size:,} opportunities[/bold]: generating the market…")
    library = load_question_library()
    market = generate_market(size, seed=seed, attributes=market_attributes(library))
    parsed = [
        parse_opportunity(raw, NETWORK)
        for raw in track(market.opportunities, description="parsing", console=console)
    ]
    # The feed indexes only open opportunities; the others leave matching at once.
    live = [network_collections(o) for o in parsed if o.status is OpportunityStatus.OPEN]
    collections = {
        collection_key(NETWORK, cid): frozenset(values)
        for cid, values in market.collections.items()
    }
    documents = generate_profiles(market, users, seed=seed + 1)
    del market, parsed

    with tempfile.TemporaryDirectory(prefix="bench-actions-") as workdir:
        runtime = build_runtime(Settings(database_url=f"sqlite:///{workdir}/bench.db"))
        try:
            prepare_database(runtime, library)
            feed = IndexFeed(Matcher(), runtime.sessions)
            console.print(f"indexing {len(live):,} open opportunities…")
            with feed.lock:
                feed.matcher.add(live)
                feed.matcher.add_collections(collections)
                feed.opportunities.update({(o.network, o.id): o for o in live})
                feed.collections.update(collections)
            offers = survey_offers(runtime, feed)
            callers, answered = setup_users(offers, documents, library)
            console.print(f"{len(callers)} users, {answered:.1f} answers each on average")
            # The profile (b) matches: what load_user_state builds for (a) on every call.
            sources = offers.sources.current()
            with runtime.sessions() as session:
                profiles = [
                    load_user_state(session, caller.user, CONTEXT, sources, AT).profile
                    for caller in callers
                ]

            def get_actions(index: int) -> int:
                caller = callers[index % len(callers)]
                return len(offers.actions(caller, CONTEXT, BASE_URL, AT).surveys)

            # One call per user first: the attribute sources and observed outcomes are read
            # once a minute in a running server, not on every request.
            for index in range(len(callers)):
                get_actions(index)
            tune_for_server()  # as `serve` does once start-up is done

            # No progress bar around timed loops: its refresh thread would be measured.
            console.print(f"(a) SurveyOffers.actions: {calls} calls…")
            actions_s: list[float] = []
            listed: list[int] = []
            for index in range(calls):
                start = time.perf_counter()
                count = get_actions(index)
                actions_s.append(time.perf_counter() - start)
                listed.append(count)

            console.print(f"(b) Matcher.match: {calls} calls…")
            match_s: list[float] = []
            eligible: list[int] = []
            unknown: list[int] = []
            for index in range(calls):
                profile = profiles[index % len(profiles)]
                start = time.perf_counter()
                result = feed.matcher.match(profile, AT)
                match_s.append(time.perf_counter() - start)
                eligible.append(int(result.eligible.sum()))
                unknown.append(int(result.unknown.sum()))
            del result

            console.print(f"cProfile of (a): {profiled} calls…")
            profiled_ms, top, steps = profile_breakdown(get_actions, profiled)
        finally:
            gc.unfreeze()
            runtime.close()
    return Row(
        size, len(live), actions_s, match_s, statistics.mean(eligible),
        statistics.mean(unknown), statistics.mean(listed), profiled, profiled_ms, top, steps,
    )  # fmt: skip


HEADERS = [
    "opportunities", "(a) actions median ms", "(a) p99 ms", "(b) match median ms",
    "(b) p99 ms", "(a)/(b) median", "eligible", "unknown", "listed",
]  # fmt: skip


def render(rows: Sequence[Row], calls: int, markdown: bool) -> None:
    lines = []
    for row in rows:
        actions_median = statistics.median(row.actions) * 1e3
        match_median = statistics.median(row.match) * 1e3
        lines.append(
            [
                f"{row.size:,}",
                f"{actions_median:.2f}",
                f"{percentile(row.actions, 99) * 1e3:.2f}",
                f"{match_median:.2f}",
                f"{percentile(row.match, 99) * 1e3:.2f}",
                f"{actions_median / match_median:.1f}×",
                f"{row.eligible:,.0f}",
                f"{row.unknown:,.0f}",
                f"{row.listed:,.1f}",
            ]
        )
    print_table(
        console,
        f"Get Actions, per call ({calls} calls over the users round-robin)",
        HEADERS,
        lines,
        markdown,
    )


def render_profile_table(title: str, first: str, rows: Sequence[ProfileLine], markdown: bool
                         ) -> None:  # fmt: skip
    headers = [first, "calls", "cumulative ms", "own ms", "of (a)"]
    lines = [
        [
            row.function,
            f"{row.calls:,.1f}",
            f"{row.cumulative_ms:.2f}",
            f"{row.own_ms:.2f}",
            f"{row.share:.0%}",
        ]
        for row in rows
    ]
    table = Table(title=title)
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for line in lines:
        table.add_row(*line)
    console.print(table)
    if markdown:
        print(f"\n{title}\n")
        print("| " + " | ".join(headers) + " |")
        print("|---|" + "---:|" * (len(headers) - 1))
        for line in lines:
            print(f"| `{line[0]}` | " + " | ".join(line[1:]) + " |")


def render_profiles(rows: Sequence[Row], markdown: bool) -> None:
    for row in rows:
        where = (
            f"(a) under cProfile at {row.size:,} opportunities, {row.profiled_ms:.2f} ms per call "
            f"over {row.profiled_calls} calls; per call"
        )
        render_profile_table(
            f"{where}: top 10 of our functions by cumulative time",
            "function (under surveyrouter/)",
            row.profile,
            markdown,
        )
        render_profile_table(f"{where}: the steps", "step", row.steps, markdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--calls", type=int, default=200, help="timed calls of (a) and of (b)")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--profile-calls", type=int, default=50, help="calls of (a) under cProfile")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="also print Markdown tables")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        rows.append(run(size, args.users, args.calls, args.profile_calls, args.seed))
        render(rows, args.calls, markdown=False)
    render(rows, args.calls, markdown=args.markdown)
    render_profiles(rows, markdown=args.markdown)


if __name__ == "__main__":
    main()
