"""Our sync worker against the sandbox registry over real HTTP, on SQLite and PostgreSQL:
a worker that dies between its commit and its ack loses nothing and duplicates nothing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import httpx
import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.networks.rex.registry import RegistryClient, RetryPolicy, RexApi
from surveyrouter.networks.rex.signing import KeyPair
from surveyrouter.sandbox.app import create_registry_app
from surveyrouter.sandbox.market import Market, generate_market
from surveyrouter.sandbox.registry import RegistryState
from surveyrouter.services.sync import SyncSettings, SyncWorker
from surveyrouter.store.opportunities import changes_since
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
