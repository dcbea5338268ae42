"""Matching benchmark: the fast matcher against the reference evaluator on a synthetic market.

    .venv/bin/python bench/matching.py [--sizes 10000 50000 200000] [--profiles 200]

For each market size it builds the index from parsed opportunities, matches every profile with
(a) the fast matcher, per-attribute unlock values included, and (b) the plain reference evaluator
over every opportunity, checks that both agree, and prints median and p99 per profile, their
ratio, the build time, one-opportunity update times, the index's own memory (tracemalloc over a
second build) and the process RSS. It is a benchmark, not a test: it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import random
import statistics
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.progress import track

from reporting import percentile, print_table
from surveyrouter.domain.matcher import Matcher, MatchResult
from surveyrouter.domain.opportunity import Opportunity, OpportunityStatus
from surveyrouter.domain.profile import Profile
from surveyrouter.domain.targeting import Result, Verdict, evaluate
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.profile_document import ProfileDocument
from surveyrouter.sandbox.market import generate_market, generate_profiles

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
console = Console(width=220)


@dataclasses.dataclass
class Row:
    size: int
    fast: list[float]
    reference: list[float]
    reference_profiles: int
    build_s: float
    update: list[float]
    index_mb: float
    rss_mb: float
    agree: bool
    eligible: float
    unknown: float


def timed(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def reference_match(
    opportunities: Sequence[Opportunity], profile: Profile, collections: dict[str, frozenset[str]]
) -> tuple[list[Verdict], dict[int, Decimal]]:
    """(b): every verdict from the reference, and the unlock values computed from them."""
    verdicts = [evaluate(o, profile, AT, collections) for o in opportunities]
    unlock: dict[int, Decimal] = defaultdict(Decimal)
    for opportunity, verdict in zip(opportunities, verdicts, strict=True):
        if verdict.result is Result.UNKNOWN and len(verdict.missing_attributes) == 1:
            (attribute,) = verdict.missing_attributes
            unlock[attribute] += opportunity.cpi
    return verdicts, dict(unlock)


def agrees(
    matcher: Matcher,
    opportunities: Sequence[Opportunity],
    result: MatchResult,
    verdicts: Sequence[Verdict],
    unlock: dict[int, Decimal],
) -> bool:
    for opportunity, verdict in zip(opportunities, verdicts, strict=True):
        slot = matcher.slot_of(opportunity.network, opportunity.id)
        assert slot is not None
        if (
            result.result_at(slot) is not verdict.result
            or bool(result.exact[slot]) is not verdict.exact_match
        ):
            return False
    return dict(result.unlock) == unlock


def changed(opportunity: Opportunity, rng: random.Random) -> Opportunity:
    """The kind of change a registry notification brings: a quota fills, the price moves."""
    quotas = tuple(
        tuple(
            dataclasses.replace(q, count=max(0, q.count - 1), status=OpportunityStatus.CLOSED)
            if rng.random() < 0.3
            else q
            for q in group
        )
        for group in opportunity.quotas
    )
    return dataclasses.replace(opportunity, quotas=quotas, cpi=opportunity.cpi + Decimal("0.01"))


def build(opportunities: Sequence[Opportunity], collections: dict[str, frozenset[str]]) -> Matcher:
    matcher = Matcher()
    matcher.add(opportunities)
    matcher.add_collections(collections)
    return matcher


def run(size: int, profiles: int, reference_profiles: int, seed: int) -> Row:
    console.print(f"[bold]{size:,} opportunities[/bold]: generating the market…")
    market = generate_market(size, seed=seed)
    opportunities = [
        parse_opportunity(raw, "sandbox")
        for raw in track(market.opportunities, description="parsing", console=console)
    ]
    collections = {cid: frozenset(values) for cid, values in market.collections.items()}
    documents = generate_profiles(market, profiles, seed=seed + 1)
    people = [ProfileDocument.model_validate(d).to_profile() for d in documents]
    del market
    gc.collect()
    gc.freeze()  # the market is long-lived: keep the collector from rescanning it

    matcher: Matcher | None = None

    def do_build() -> None:
        nonlocal matcher
        matcher = build(opportunities, collections)

    build_s = timed(do_build)
    assert matcher is not None
    fast: list[float] = []
    eligible_counts: list[int] = []
    unknown_counts: list[int] = []
    # No progress bar around timed loops: its refresh thread would be in the measurement.
    console.print(f"fast matcher: {len(people)} profiles…")
    # Results are dropped as a server drops them; keeping 200 of them (4 MB each at 200k)
    # would make every match fault in fresh memory and measure the kernel instead.
    for person in people:
        start = time.perf_counter()
        result = matcher.match(person, AT)
        fast.append(time.perf_counter() - start)
        eligible_counts.append(int(result.eligible.sum()))
        unknown_counts.append(int(result.unknown.sum()))

    reference: list[float] = []
    agree = True
    for index in track(range(reference_profiles), description="reference", console=console):
        start = time.perf_counter()
        verdicts, unlock = reference_match(opportunities, people[index], collections)
        reference.append(time.perf_counter() - start)
        result = matcher.match(people[index], AT)
        agree = agree and agrees(matcher, opportunities, result, verdicts, unlock)

    rng = random.Random(seed)
    update: list[float] = []
    for opportunity in rng.sample(opportunities, 200):
        replacement = changed(opportunity, rng)
        start = time.perf_counter()
        matcher.add([replacement])
        update.append(time.perf_counter() - start)
        matcher.add([opportunity])

    rss = rss_mb()
    eligible = statistics.mean(eligible_counts)
    unknown = statistics.mean(unknown_counts)
    del matcher, result
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    again = build(opportunities, collections)
    index_mb = (tracemalloc.get_traced_memory()[0] - before) / 2**20
    tracemalloc.stop()
    del again
    gc.unfreeze()
    return Row(
        size, fast, reference, reference_profiles, build_s, update, index_mb, rss, agree,
        eligible, unknown,
    )  # fmt: skip


def render(rows: Sequence[Row], markdown: bool) -> None:
    headers = [
        "opportunities", "(a) fast median ms", "(a) fast p99 ms", "(b) reference median ms",
        "(b) reference p99 ms", "(b)/(a) median", "agree", "build s", "update median ms",
        "update p99 ms", "index MB", "RSS MB", "eligible", "unknown",
    ]  # fmt: skip
    lines = []
    for row in rows:
        fast_median = statistics.median(row.fast) * 1e3
        reference_median = statistics.median(row.reference) * 1e3
        lines.append(
            [
                f"{row.size:,}",
                f"{fast_median:.2f}",
                f"{percentile(row.fast, 99) * 1e3:.2f}",
                f"{reference_median:,.0f} (n={row.reference_profiles})",
                f"{percentile(row.reference, 99) * 1e3:,.0f}",
                f"{reference_median / fast_median:,.0f}×",
                "yes" if row.agree else "NO",
                f"{row.build_s:.2f}",
                f"{statistics.median(row.update) * 1e3:.3f}",
                f"{percentile(row.update, 99) * 1e3:.3f}",
                f"{row.index_mb:.0f}",
                f"{row.rss_mb:.0f}",
                f"{row.eligible:,.0f}",
                f"{row.unknown:,.0f}",
            ]
        )
    print_table(
        console,
        "matching, per profile (200 profiles; fast matcher with unlock values)",
        headers,
        lines,
        markdown,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--profiles", type=int, default=200)
    parser.add_argument(
        "--reference-profiles",
        type=int,
        default=None,
        help="profiles for (b); default all of them, and 20 from 100k opportunities up",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        count = args.reference_profiles or (20 if size >= 100_000 else args.profiles)
        rows.append(run(size, args.profiles, min(count, args.profiles), args.seed))
        render(rows, markdown=False)
    render(rows, markdown=args.markdown)


if __name__ == "__main__":
    main()
