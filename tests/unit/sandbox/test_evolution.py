"""The sandbox market over time: quotas fill and close, fields end, new work opens, frozen holds."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from surveyrouter.networks.rex.signing import format_expiration
from surveyrouter.sandbox.evolution import EvolutionRates, MarketSimulation, TickReport
from surveyrouter.sandbox.market import TOTAL_QUOTA_ID, Market, generate_market
from surveyrouter.sandbox.registry import RegistryState

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MARKET_SEED = 3


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def build(
    seed: int = 1, count: int = 200, market: Market | None = None, **options: Any
) -> tuple[RegistryState, MarketSimulation, FakeClock]:
    clock = FakeClock(START)
    registry = RegistryState(clock)
    registry.seed(market or generate_market(count, seed=MARKET_SEED, as_of=START))
    simulation = MarketSimulation(
        registry, random.Random(seed), clock, market_seed=MARKET_SEED, **options
    )
    return registry, simulation, clock


def run_hours(
    simulation: MarketSimulation, clock: FakeClock, hours: int, step: int = 1
) -> list[TickReport]:
    """Tick every `step` hours for `hours` hours."""
    return [simulation.tick(clock.advance(hours=step)) for _ in range(hours // step)]


def quota_counts(registry: RegistryState) -> dict[tuple[int, str], tuple[int, str]]:
    return {
        (document["id"], quota["id"]): (quota["count"], quota["status"])
        for document in registry.documents()
        for group in document["quotas"]
        for quota in group
    }


def one_opportunity(**fields: Any) -> Market:
    """A market of one OPEN opportunity with a total quota, changed by `fields`."""
    base = generate_market(1, seed=MARKET_SEED, as_of=START)
    document = base.opportunities[0]
    document.update({"status": "OPEN", "evaluation": "COMPLETES", **fields})
    return Market(
        opportunities=[document],
        collections=base.collections,
        attributes=base.attributes,
        invite_collections=base.invite_collections,
    )


# -- determinism ----------------------------------------------------------------------------------


def test_the_same_seed_and_moments_give_the_same_market() -> None:
    first, first_simulation, first_clock = build(seed=5)
    second, second_simulation, second_clock = build(seed=5)
    assert run_hours(first_simulation, first_clock, 30, step=3) == run_hours(
        second_simulation, second_clock, 30, step=3
    )
    assert first.documents() == second.documents()


def test_another_seed_gives_another_history() -> None:
    first, first_simulation, first_clock = build(seed=5)
    second, second_simulation, second_clock = build(seed=6)
    run_hours(first_simulation, first_clock, 12, step=3)
    run_hours(second_simulation, second_clock, 12, step=3)
    assert first.documents() != second.documents()


# -- quotas fill ----------------------------------------------------------------------------------


def test_other_suppliers_completes_decrement_quotas_and_close_objects_at_zero() -> None:
    registry, simulation, clock = build()
    before = quota_counts(registry)
    reports = run_hours(simulation, clock, 48, step=4)
    after = quota_counts(registry)
    assert sum(report.units for report in reports) > 500
    fallen = [key for key in before if after[key][0] < before[key][0]]
    assert len(fallen) > 0.3 * len(before)
    assert all(after[key][0] <= before[key][0] for key in before), "counts never grow"
    assert all(count >= 0 for count, _ in after.values() if isinstance(count, int))
    closed = [key for key in fallen if after[key][0] == 0]
    assert closed
    assert all(after[key][1] == "CLOSED" for key in closed)
    assert sum(report.closed_quotas for report in reports) >= len(closed)


def test_an_opportunity_whose_quota_group_runs_out_closes() -> None:
    market = one_opportunity(
        completes=20_000,
        days_in_field=30,
        quotas=[[{"id": TOTAL_QUOTA_ID, "cells": [], "count": 3, "status": "OPEN"}]],
        cells=[],
        filters=[],
    )
    registry, simulation, clock = build(market=market, target_live=0)
    opportunity_id = market.opportunities[0]["id"]
    report = simulation.tick(clock.advance(hours=1))
    assert report.filled == (opportunity_id,)
    assert report.units == 3, "never more than the group still wants"
    document = registry.get(opportunity_id)
    assert document["status"] == "CLOSED"
    assert document["quotas"][0][0] == {
        "id": TOTAL_QUOTA_ID,
        "cells": [],
        "count": 0,
        "status": "CLOSED",
    }


def test_starts_opportunities_fill_faster_than_completes_ones() -> None:
    def units(evaluation: str) -> int:
        market = one_opportunity(
            evaluation=evaluation,
            incidence_rate=10,
            completes=2400,
            days_in_field=30,
            quotas=[[{"id": TOTAL_QUOTA_ID, "cells": [], "count": 2400, "status": "OPEN"}]],
        )
        _, simulation, clock = build(market=market, target_live=0)
        # The same rng draws the pace of both: only the evaluation differs.
        simulation.rates = EvolutionRates(pause_per_hour=0.0)
        return sum(report.units for report in run_hours(simulation, clock, 24))

    assert units("STARTS") > 5 * units("COMPLETES") > 0


# -- time ------------------------------------------------------------------------------------------


def test_a_tick_a_second_later_changes_little_and_one_an_hour_later_a_lot() -> None:
    _, simulation, clock = build()
    simulation.tick(clock.advance(hours=1))  # the opportunities already past their field end
    second = simulation.tick(clock.advance(seconds=1))
    assert second.units <= 3
    assert not second.opened
    assert not second.expired
    assert not second.paused
    hour = simulation.tick(clock.advance(hours=1))
    assert hour.units > 100
    assert hour.hours == pytest.approx(1.0)


def test_opportunities_close_at_the_end_of_their_days_in_field() -> None:
    registry, simulation, clock = build(target_live=0)
    original = {document["id"]: document for document in registry.documents()}
    reports = run_hours(simulation, clock, 24, step=4)
    expired = {i for report in reports for i in report.expired}
    assert expired
    for opportunity_id in expired:
        document = original[opportunity_id]
        ends = datetime.fromisoformat(document["created"]) + timedelta(
            days=document["days_in_field"]
        )
        assert ends <= clock.now
        assert registry.get(opportunity_id)["status"] == "CLOSED"
    simulation.tick(clock.advance(days=100))
    assert {document["status"] for document in registry.documents()} == {"CLOSED"}


def test_some_opportunities_pause_and_resume() -> None:
    _, simulation, clock = build()
    reports = run_hours(simulation, clock, 72, step=4)
    paused = {i for report in reports for i in report.paused}
    resumed = {i for report in reports for i in report.resumed}
    assert paused
    assert resumed
    assert paused & resumed, "a paused opportunity comes back"


# -- new opportunities ----------------------------------------------------------------------------


def test_new_opportunities_open_with_fresh_ids_and_the_markets_collections() -> None:
    registry, simulation, clock = build()
    original = registry.documents()
    reports = run_hours(simulation, clock, 72, step=4)
    opened = [i for report in reports for i in report.opened]
    assert opened
    assert len(set(opened)) == len(opened), "ids are never reused"
    assert min(opened) > max(document["id"] for document in original)
    old_projects = {document["project_id"] for document in original}
    old_groups = {document["group_id"] for document in original}
    for opportunity_id in opened:
        document = registry.get(opportunity_id)
        assert document["project_id"] not in old_projects
        assert document["group_id"] not in old_groups
        for cell in document["cells"]:
            if cell["kind"] == "COLLECTION":
                assert registry.collection(cell["collection"])
            for collection_id in cell.get("invite_collections", ()):
                assert registry.invite_collection(collection_id)
    first = registry.get(opened[0])
    opened_at = next(
        START + timedelta(hours=4 * (tick + 1))
        for tick, report in enumerate(reports)
        if opened[0] in report.opened
    )
    assert first["created"] == format_expiration(opened_at)


def test_new_opportunities_do_not_duplicate_invites() -> None:
    registry, simulation, clock = build()
    before = {
        collection_id: len(registry.invite_collection(collection_id))
        for document in registry.documents()
        for cell in document["cells"]
        for collection_id in cell.get("invite_collections", ())
    }
    run_hours(simulation, clock, 96, step=8)
    for collection_id, size in before.items():
        assert len(registry.invite_collection(collection_id)) == size


def test_the_live_count_stays_near_its_target() -> None:
    _, simulation, clock = build()
    target = simulation.target_live
    assert target > 150
    reports = run_hours(simulation, clock, 24 * 10, step=3)
    for report in reports[2:]:
        assert abs(report.live - target) <= 0.06 * target


def test_a_higher_target_fills_up() -> None:
    _, simulation, clock = build(target_live=300)
    reports = run_hours(simulation, clock, 24, step=3)
    assert reports[-1].live == pytest.approx(300, abs=15)


def test_every_change_is_notified_again() -> None:
    registry, simulation, clock = build()
    while items := registry.receive("partner", limit=50)[0]:
        registry.ack("partner", [item["id"] for item in items])
    assert registry.pending("partner") == 0
    report = simulation.tick(clock.advance(hours=1))
    changed = {
        document["id"]
        for document in registry.documents()
        if document["notified"] == format_expiration(clock.now)
    }
    assert changed
    assert set(report.opened) <= changed
    assert registry.pending("partner") == len(changed)


# -- the test switch and the loop ------------------------------------------------------------------


def test_a_frozen_market_changes_nothing() -> None:
    registry, simulation, clock = build(frozen=True)
    before = registry.documents()
    versions = {i: registry.version(i) for i in registry.opportunity_ids()}
    for _ in range(5):
        report = simulation.tick(clock.advance(days=3))
        assert report == TickReport(hours=72.0, live=simulation.target_live)
    assert registry.documents() == before
    assert {i: registry.version(i) for i in registry.opportunity_ids()} == versions
    # Frozen time is not made up afterwards: the next tick covers one second.
    simulation.frozen = False
    report = simulation.tick(clock.advance(seconds=1))
    assert report.hours == pytest.approx(1 / 3600)


def test_the_frozen_switch_is_off_by_default() -> None:
    _, simulation, _ = build()
    assert simulation.frozen is False


def test_run_ticks_until_stopped() -> None:
    _, simulation, clock = build()
    stop = threading.Event()
    ticked = threading.Event()
    original_tick = simulation.tick
    ticks: list[TickReport] = []

    def tick(now: datetime | None = None) -> TickReport:
        clock.advance(hours=1)
        report = original_tick(now)
        ticks.append(report)
        if len(ticks) >= 3:
            ticked.set()
        return report

    simulation.tick = tick  # type: ignore[method-assign]
    worker = threading.Thread(target=simulation.run, args=(stop, 0.01), daemon=True)
    worker.start()
    assert ticked.wait(timeout=30)
    stop.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert sum(report.units for report in ticks) > 0
    with pytest.raises(ValueError, match="interval_seconds"):
        simulation.run(stop, 0)
