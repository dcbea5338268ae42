"""Our sync worker against the sandbox registry over real HTTP, on SQLite and PostgreSQL:
a worker that dies between its commit and its ack loses nothing and duplicates nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.networks.rex.registry import (
    NotificationBatch,
    RegistryClient,
    RetryPolicy,
    RexApi,
)
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.app import create_registry_app
from surveyrouter.sandbox.market import Market, generate_market
from surveyrouter.sandbox.registry import RegistryState
from surveyrouter.services.sync import SyncSettings, SyncWorker
from surveyrouter.store.opportunities import changes_since, get_opportunity
from tests.clock import Clock
from tests.integration.test_server import serving

KEYS = KeyPair("router-access-key", "router-secret-key")
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
NETWORK = "sandbox"


class Killed(BaseException):
    """The process died: nothing after this point of the step ran."""


class DiesBeforeAck(RegistryClient):
    def ack_notifications(self, opportunity_ids: Iterable[int]) -> None:
        raise Killed


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(120, seed=5)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def registry(market: Market, clock: Clock) -> RegistryState:
    state = RegistryState(clock)
    state.seed(market)
    return state


@pytest.fixture
def base_url(registry: RegistryState, clock: Clock) -> Iterator[str]:
    with serving(create_registry_app(registry, {KEYS.access_key: KEYS.secret_key}, clock)) as url:
        yield url


def client(
    base_url: str, clock: Clock, kind: type[RegistryClient] = RegistryClient
) -> RegistryClient:
    http = httpx.Client(base_url=base_url, timeout=10)
    api = RexApi(http, KEYS, clock=clock, retry=RetryPolicy(max_attempts=1))
    return kind(api, network=NETWORK)


def stored_ids(runtime: Runtime) -> list[int]:
    with runtime.sessions() as session:
        return [row.external_id for row in changes_since(session, 0, limit=10_000)]


def test_a_worker_killed_between_commit_and_ack_loses_nothing(
    runtime: Runtime, base_url: str, clock: Clock, registry: RegistryState, market: Market
) -> None:
    settings = SyncSettings(batch_limit=50, visibility_timeout=300)
    doomed = SyncWorker(client(base_url, clock, DiesBeforeAck), runtime.sessions, NETWORK, clock,
                        settings)  # fmt: skip

    with pytest.raises(Killed):
        doomed.step()

    committed = stored_ids(runtime)
    assert len(committed) == 50  # the batch is in the store...
    assert registry.pending(KEYS.access_key) == 120  # ...and still queued at the exchange

    # The restarted worker gets the other 70 at once, the unacked 50 once they are visible again.
    clock.advance(301)
    survivor = SyncWorker(client(base_url, clock), runtime.sessions, NETWORK, clock, settings)
    for _ in range(10):
        if survivor.step().idle:
            break

    expected = sorted(o["id"] for o in market.opportunities)
    assert sorted(set(stored_ids(runtime))) == expected
    assert registry.pending(KEYS.access_key) == 0
    with runtime.sessions() as session:
        rows = changes_since(session, 0, limit=10_000)
    assert len({row.external_id for row in rows}) == len(rows) == 120  # one row each


def test_several_receives_in_one_step_are_stored_and_acked_together_and_survive_a_crash(
    runtime: Runtime, base_url: str, clock: Clock, registry: RegistryState, market: Market
) -> None:
    gathering = SyncSettings(batch_limit=50, receives_per_step=2, visibility_timeout=300)
    doomed = SyncWorker(client(base_url, clock, DiesBeforeAck), runtime.sessions, NETWORK, clock,
                        gathering)  # fmt: skip

    with pytest.raises(Killed):
        doomed.step()

    assert len(stored_ids(runtime)) == 100  # two receives in one transaction...
    assert registry.pending(KEYS.access_key) == 120  # ...and none of them acked

    clock.advance(301)
    settings = SyncSettings(batch_limit=50, receives_per_step=4, visibility_timeout=300)
    survivor = SyncWorker(client(base_url, clock), runtime.sessions, NETWORK, clock, settings)
    results = []
    for result in survivor.steps():
        results.append(result)
        if result.idle:
            break

    assert [r.received for r in results] == [120, 0]  # 50 + 50 + 20: the short one ends it
    assert [r.acked for r in results] == [120, 0]
    assert registry.pending(KEYS.access_key) == 0
    with runtime.sessions() as session:
        rows = changes_since(session, 0, limit=10_000)
    assert sorted({row.external_id for row in rows}) == sorted(
        o["id"] for o in market.opportunities
    )
    assert len(rows) == 120  # one row each


def test_a_change_fetched_ahead_is_not_acked_by_the_older_batch_and_survives_a_crash(
    runtime: Runtime, base_url: str, clock: Clock, registry: RegistryState, market: Market
) -> None:
    settings = SyncSettings(batch_limit=50, visibility_timeout=300)
    # Another consumer of the key took 70 already: the worker's first batch is the last 50,
    # so the batch fetched ahead holds exactly the one changed in between (requeued last).
    for limit in (50, 20):
        taken, _count, _total = registry.receive(KEYS.access_key, limit=limit)
        registry.ack(KEYS.access_key, [item["id"] for item in taken])
    changing = 0
    receives = 0
    ahead_received = threading.Event()

    class ChangesBetweenReceives(RegistryClient):
        def receive_notifications(self, *args: Any, **kwargs: Any) -> NotificationBatch:
            nonlocal receives
            batch = super().receive_notifications(*args, **kwargs)
            receives += 1
            if receives == 1:
                # Held by the batch about to be stored, and changed before the batch fetched
                # ahead is received.
                nonlocal changing
                changing = next(r.opportunity.id for r in batch.received
                                if r.opportunity.status is OpportunityStatus.OPEN)  # fmt: skip
                registry.change(changing, lambda document: document.update(status="PAUSED"))
            else:
                ahead_received.set()
            return batch

        def ack_notifications(self, opportunity_ids: Iterable[int]) -> None:
            # The worst order: the batch fetched ahead is received before the older one is
            # acked (with the fix, a receive in flight holds the ack back anyway).
            ahead_received.wait(timeout=2)
            super().ack_notifications(opportunity_ids)

    worker = SyncWorker(client(base_url, clock, ChangesBetweenReceives), runtime.sessions,
                        NETWORK, clock, settings)  # fmt: skip
    steps = worker.steps()
    first = next(steps)  # stores and acks the first batch while the second is fetched ahead
    with pytest.raises(Killed):  # the worker dies: the batch fetched ahead is never stored
        steps.throw(Killed())

    assert first.received == 50
    assert receives == 2
    assert registry.pending(KEYS.access_key) == 1  # the change is still queued

    clock.advance(301)
    survivor = SyncWorker(client(base_url, clock), runtime.sessions, NETWORK, clock, settings)
    for result in survivor.steps():
        if result.idle:
            break
    with runtime.sessions() as session:
        stored = get_opportunity(session, NETWORK, changing)
    assert stored is not None
    assert stored.status is OpportunityStatus.PAUSED
    assert registry.pending(KEYS.access_key) == 0


def test_a_worker_that_stops_stores_the_batch_it_fetched_ahead(
    runtime: Runtime, base_url: str, clock: Clock, registry: RegistryState, market: Market
) -> None:
    settings = SyncSettings(batch_limit=50, visibility_timeout=300)
    worker = SyncWorker(client(base_url, clock), runtime.sessions, NETWORK, clock, settings)

    steps = worker.steps()
    assert next(steps).received == 50
    steps.close()  # a graceful stop, while the next 50 are fetched ahead

    assert len(stored_ids(runtime)) == 100
    assert registry.pending(KEYS.access_key) == 20  # nothing left hidden for five minutes
