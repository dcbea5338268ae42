"""``serve`` with its embedded sandbox, on SQLite and PostgreSQL: the sync worker fills the store
over signed HTTP, the index feed keeps the matcher current, and a fresh database beside an old
sandbox state file still receives the whole market."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from surveyrouter.bootstrap import Runtime, build_runtime, prepare_database
from surveyrouter.cli.serve import bind
from surveyrouter.sandbox.exchange import SandboxExchange
from surveyrouter.server import build_server
from surveyrouter.services.index_feed import IndexFeed
from surveyrouter.settings import Settings
from surveyrouter.store.opportunities import live_counts
from tests.eventually import eventually
from tests.integration.test_server import serving

OPPORTUNITIES = 150


@pytest.fixture
def embedded_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        sandbox_state_path=tmp_path / "sandbox-exchange.db",
        sandbox_opportunities=OPPORTUNITIES,
        sandbox_frozen=True,
        attribute_discovery_interval_seconds=0.5,
        index_poll_interval_seconds=0.2,
    )


@contextmanager
def running(
    settings: Settings, port: int = 0
) -> Iterator[tuple[str, Runtime, SandboxExchange, IndexFeed]]:
    runtime = build_runtime(settings)
    try:
        prepare_database(runtime)
        listener = bind("127.0.0.1", port)
        app = build_server(runtime, listener.getsockname()[1])
        with serving(app, listener) as url:
            yield url, runtime, app.state.sandbox, app.state.feed
    finally:
        runtime.close()


def live_in_store(runtime: Runtime) -> int:
    with runtime.sessions() as session:
        return live_counts(session).get("sandbox", 0)


def open_at_exchange(sandbox: SandboxExchange) -> set[int]:
    return {d["id"] for d in sandbox.registry.documents() if d["status"] == "OPEN"}


def test_serve_syncs_its_sandbox_into_the_store_and_the_matcher(
    embedded_settings: Settings,
) -> None:
    with running(embedded_settings) as (url, runtime, sandbox, feed):
        live = open_at_exchange(sandbox)
        assert eventually(lambda: live_in_store(runtime) == len(live) and feed.indexed == len(live))

        metrics = httpx.get(f"{url}/metrics").text
        assert 'surveyrouter_sync_opportunities{network="sandbox",status="live"} ' in metrics
        assert f"surveyrouter_index_opportunities {float(len(live))}" in metrics

        # A change at the exchange reaches this process's matcher within seconds.
        closing = min(live)
        sandbox.registry.change(closing, lambda document: document.update(status="CLOSED"))
        assert eventually(lambda: feed.indexed == len(live) - 1, seconds=15)
        assert feed.matcher.slot_of("sandbox", closing) is None


def test_a_fresh_database_beside_an_old_sandbox_still_receives_the_whole_market(
    embedded_settings: Settings, tmp_path: Path, database_url: str
) -> None:
    with running(embedded_settings) as (url, runtime, sandbox, _feed):
        port = httpx.URL(url).port
        live = open_at_exchange(sandbox)
        assert eventually(lambda: live_in_store(runtime) == len(live))
        assert eventually(
            lambda: sandbox.registry.pending(embedded_settings.sandbox_access_key) == 0
        )

    # The sandbox's queue for our key is empty now; a new database must not wait on it forever.
    # (Same port: a new address would move every entry link, which re-notifies them all.)
    fresh = embedded_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"}
    )
    assert port is not None
    with running(fresh, port) as (_url, runtime, sandbox, feed):
        assert open_at_exchange(sandbox) == live  # the same market, resumed from its file
        assert eventually(lambda: live_in_store(runtime) == len(live) and feed.indexed == len(live))
