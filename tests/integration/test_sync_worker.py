"""The sync worker end to end on SQLite and PostgreSQL: a fake Dynata registry in, the store
and a matcher kept current from its change feed out."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from surveyrouter import json_codec
from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.matcher import Matcher
from surveyrouter.domain.opportunity import Opportunity
from surveyrouter.domain.targeting import evaluate
from surveyrouter.networks.rex.opportunities import parse_document, parse_opportunity
from surveyrouter.profile_document import ProfileDocument
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.services.recently_parsed import RecentlyParsed
from surveyrouter.services.sync import SyncSettings, SyncWorker
from surveyrouter.store.collections import get_collection, put_collection
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.opportunities import get_opportunity, upsert_opportunities
from surveyrouter.store.sync_state import (
    get_sync_state,
    list_sync_states,
    record_sync_error,
    record_sync_success,
)
from tests.clock import Clock
from tests.unit.services.fakes import FakeRegistry

NETWORK = "sandbox"  # seeded by ``prepare_database``
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COLLECTION_ID = "2169971"


@pytest.fixture
def items(rex_fixtures: Path) -> dict[int, dict[str, Any]]:
    loaded = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    return {item["id"]: item for item in loaded}


@pytest.fixture
def registry(rex_fixtures: Path) -> FakeRegistry:
    values = tuple((rex_fixtures / "download_collection.txt").read_text().split())
    return FakeRegistry({COLLECTION_ID: values}, network=NETWORK)


def notification(raw: dict[str, Any], notified: datetime, **fields: Any) -> dict[str, Any]:
    copied = copy.deepcopy(raw)
    copied.update(notified=notified.isoformat(), **fields)
    return copied


def test_the_fixture_queue_reaches_the_store_and_the_matcher(
    runtime: Runtime, registry: FakeRegistry, items: dict[int, dict[str, Any]]
) -> None:
    clock = Clock(T0)
    worker = SyncWorker(registry, runtime.sessions, NETWORK, clock, SyncSettings(batch_limit=3))
    for raw in items.values():
        registry.notify(notification(raw, T0 - timedelta(seconds=20)))
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)

    first, second, idle = worker.step(), worker.step(), worker.step()
    feed.catch_up()

    assert (first.received, second.received, idle.received) == (3, 1, 0)
    assert registry.queue == {}
    assert registry.downloads == [COLLECTION_ID]
    with runtime.sessions() as session:
        for opportunity_id, raw in items.items():
            stored = get_opportunity(session, NETWORK, opportunity_id)
            assert stored is not None
            assert stored.raw == notification(raw, T0 - timedelta(seconds=20))
        assert get_collection(session, NETWORK, COLLECTION_ID) is not None
        state = get_sync_state(session, NETWORK)
    open_ids = {i for i, raw in items.items() if raw["status"] == "OPEN"}
    assert {i for i in items if matcher.slot_of(NETWORK, i) is not None} == open_ids
    assert state is not None
    assert (state.live_count, state.closed_count) == (len(open_ids), len(items) - len(open_ids))
    assert state.last_success_at == T0


def test_the_feed_takes_what_its_own_worker_parsed_and_parses_only_the_rest(
    runtime: Runtime, registry: FakeRegistry, items: dict[int, dict[str, Any]]
) -> None:
    clock = Clock(T0)
    parsed = RecentlyParsed()
    worker = SyncWorker(registry, runtime.sessions, NETWORK, clock, parsed=parsed)
    first, *rest = items.values()
    registry.notify(notification(first, T0 - timedelta(seconds=20)))
    worker.step()
    # Another process writes the others: this process's cache has never seen them.
    other = SyncWorker(registry, runtime.sessions, NETWORK, clock)
    for raw in rest:
        registry.notify(notification(raw, T0 - timedelta(seconds=20)))
    other.step()
    parses: list[int] = []

    def counting_parse(document: str, network: str) -> Opportunity:
        parses.append(json_codec.loads(document)["id"])
        return parse_document(document, network)

    cached, plain = Matcher(), Matcher()
    IndexFeed(cached, runtime.sessions, parse=counting_parse, parsed=parsed).catch_up()
    IndexFeed(plain, runtime.sessions).catch_up()

    open_rest = [raw["id"] for raw in rest if raw["status"] == "OPEN"]
    assert sorted(parses) == sorted(open_rest)
    assert len(parsed) == 0  # taken back, not kept
    assert {i for i in items if cached.slot_of(NETWORK, i) is not None} == {
        i for i in items if plain.slot_of(NETWORK, i) is not None
    }


def test_a_closing_notification_takes_the_opportunity_out_of_matching(
    runtime: Runtime, registry: FakeRegistry, items: dict[int, dict[str, Any]]
) -> None:
    clock = Clock(T0)
    worker = SyncWorker(registry, runtime.sessions, NETWORK, clock)
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    registry.notify(notification(items[12872], T0))
    worker.step()
    feed.catch_up()
    assert matcher.slot_of(NETWORK, 12872) is not None

    registry.notify(notification(items[12872], T0 + timedelta(minutes=1), status="CLOSED"))
    # A late re-delivery of the older, open version changes nothing.
    worker.step()
    registry.notify(notification(items[12872], T0, cost_per_interview=5.0))
    worker.step()
    feed.catch_up()

    assert matcher.slot_of(NETWORK, 12872) is None
    with runtime.sessions() as session:
        stored = get_opportunity(session, NETWORK, 12872)
    assert stored is not None
    assert stored.cpi == Decimal("0.77")
    assert registry.queue == {}


def test_a_stale_opportunity_gone_from_the_registry_is_closed_and_unindexed(
    runtime: Runtime, registry: FakeRegistry, items: dict[int, dict[str, Any]]
) -> None:
    clock = Clock(T0)
    worker = SyncWorker(registry, runtime.sessions, NETWORK, clock)
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    registry.notify(notification(items[12872], T0))
    registry.notify(notification(items[13174], T0))
    worker.step()
    feed.catch_up()
    del registry.current[12872]
    clock.advance(minutes=16)

    result = worker.refresh_stale()
    feed.catch_up()

    assert (result.checked, result.refreshed, result.closed) == (2, 1, 1)
    assert matcher.slot_of(NETWORK, 12872) is None
    assert matcher.slot_of(NETWORK, 13174) is not None


def test_sync_state_keeps_the_last_error_beside_the_last_success(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        record_sync_error(session, NETWORK, T0, "RegistryUnavailable: HTTP 503: down")
    with transaction(runtime.sessions) as session:
        record_sync_success(
            session, NETWORK, T0 + timedelta(seconds=10), T0 - timedelta(seconds=5), rejected=2
        )
    with transaction(runtime.sessions) as session:
        record_sync_success(session, NETWORK, T0 + timedelta(seconds=20), None, rejected=1)

    with runtime.sessions() as session:
        state = get_sync_state(session, NETWORK)
        assert list_sync_states(session) == [state]
    assert state is not None
    assert (state.last_error, state.last_error_at) == ("RegistryUnavailable: HTTP 503: down", T0)
    assert state.last_success_at == T0 + timedelta(seconds=20)
    assert state.newest_notified == T0 - timedelta(seconds=5)
    assert state.lag_seconds == 0.0
    assert state.rejected_total == 3
    assert (state.live_count, state.paused_count, state.closed_count) == (0, 0, 0)


def test_the_newest_notified_stamp_synced_only_moves_forward(runtime: Runtime) -> None:
    for notified in (T0 - timedelta(seconds=5), T0 - timedelta(seconds=50), T0 - timedelta(1)):
        with transaction(runtime.sessions) as session:
            record_sync_success(session, NETWORK, T0, notified)
    with runtime.sessions() as session:
        after_older = get_sync_state(session, NETWORK)
    with transaction(runtime.sessions) as session:
        record_sync_success(session, NETWORK, T0, T0 + timedelta(seconds=1))
    with runtime.sessions() as session:
        after_newer = get_sync_state(session, NETWORK)

    assert after_older is not None
    assert after_newer is not None
    assert after_older.newest_notified == T0 - timedelta(seconds=5)
    assert after_older.lag_seconds == 86400.0  # the step's own newest, however old
    assert after_newer.newest_notified == T0 + timedelta(seconds=1)


def test_two_networks_collections_of_the_same_id_are_kept_apart(
    runtime: Runtime, items: dict[int, dict[str, Any]], rex_fixtures: Path
) -> None:
    zips = tuple((rex_fixtures / "download_collection.txt").read_text().split())
    raw = next(
        r for r in items.values()
        if r["status"] == "OPEN" and any(c.get("collection") == COLLECTION_ID for c in r["cells"])
    )  # fmt: skip
    values = {"sandbox": zips, "rex": ("00000",)}  # one id, two exchanges, two lists
    with transaction(runtime.sessions) as session:
        upsert_networks(
            session, [Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)]
        )
        for network, collection in values.items():
            upsert_opportunities(session, network, [(parse_opportunity(raw, network), raw)], T0)
            put_collection(session, network, COLLECTION_ID, collection, fetched_at=T0)
    matcher = Matcher()
    IndexFeed(matcher, runtime.sessions).catch_up()

    profile = ProfileDocument.model_validate(
        {"country": raw["locale"]["country"], "language": raw["locale"]["language"],
         "device": "desktop", "postal_code": zips[0]}
    ).to_profile()  # fmt: skip
    result = matcher.match(profile, T0)
    verdicts = {
        network: evaluate(parse_opportunity(raw, network), profile, T0, {COLLECTION_ID: collection})
        for network, collection in values.items()
    }
    assert verdicts["sandbox"].result != verdicts["rex"].result  # the lists decide
    for network, verdict in verdicts.items():
        slot = matcher.slot_of(network, raw["id"])
        assert slot is not None
        assert result.result_at(slot) is verdict.result
