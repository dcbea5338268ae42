"""The sync worker against an in-memory Dynata registry and a real SQLite store."""

from __future__ import annotations

import copy
import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.opportunity import OpportunityStatus
from surveyrouter.networks.rex.registry import RegistryUnavailable, Shard
from surveyrouter.services.sync import SyncSettings, SyncWorker
from surveyrouter.store import migrate
from surveyrouter.store.collections import get_collection
from surveyrouter.store.db import engine_for_url, make_session_factory, transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.opportunities import StoredOpportunity, get_opportunity
from surveyrouter.store.schema import OpportunityRow
from surveyrouter.store.sync_state import SyncState, get_sync_state
from tests.clock import Clock

from .fakes import FakeRegistry

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NETWORK = "rex"
COLLECTION_ID = "2169971"  # what the fixture's 13174 and 13231 target by postal code
WITH_COLLECTION = 13174
PLAIN = 12872


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = engine_for_url(make_url(f"sqlite:///{tmp_path / 'sync.db'}"))
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        upsert_networks(
            session, [Network(id=NETWORK, kind="rex", name="Dynata REX", enabled=True, api_id=2)]
        )
    yield factory
    engine.dispose()


@pytest.fixture
def fixture_items(rex_fixtures: Path) -> dict[int, dict[str, Any]]:
    items = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    return {item["id"]: item for item in items}


@pytest.fixture
def postal_codes(rex_fixtures: Path) -> tuple[str, ...]:
    return tuple((rex_fixtures / "download_collection.txt").read_text().split())


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def registry(postal_codes: tuple[str, ...]) -> FakeRegistry:
    return FakeRegistry({COLLECTION_ID: postal_codes})


@pytest.fixture
def worker(registry: FakeRegistry, sessions: sessionmaker[Session], clock: Clock) -> SyncWorker:
    return SyncWorker(registry, sessions, NETWORK, clock, SyncSettings(idle_sleep=0))


@pytest.fixture
def make_raw(fixture_items: dict[int, dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    def make(
        opportunity_id: int,
        template: int = PLAIN,
        notified: datetime | None = T0,
        **fields: Any,
    ) -> dict[str, Any]:
        raw = copy.deepcopy(fixture_items[template])
        raw["id"] = opportunity_id
        raw["status"] = "OPEN"
        if notified is not None:
            raw["notified"] = notified.isoformat()
        raw.update(fields)
        return raw

    return make


def stored(sessions: sessionmaker[Session], opportunity_id: int) -> StoredOpportunity:
    with sessions() as session:
        row = get_opportunity(session, NETWORK, opportunity_id)
    assert row is not None
    return row


def row_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(OpportunityRow)) or 0


def state(sessions: sessionmaker[Session]) -> SyncState:
    with sessions() as session:
        found = get_sync_state(session, NETWORK)
    assert found is not None
    return found


def test_a_batch_is_stored_with_its_raw_json_then_acked_after_the_commit(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    first, second = make_raw(1), make_raw(2, cost_per_interview=1.5)
    registry.notify(first)
    registry.notify(second)
    seen_at_ack: list[int] = []
    # The ack must find the batch committed: a fresh session sees both rows.
    registry.on_ack = lambda ids: seen_at_ack.append(row_count(sessions))

    result = worker.step()

    assert (result.received, result.stored, result.acked, result.rejected) == (2, 2, 2, 0)
    assert registry.acks == [[1, 2]]
    assert seen_at_ack == [2]
    assert registry.queue == {}
    assert stored(sessions, 1).raw == first
    assert stored(sessions, 2).cpi == Decimal("1.5")


def test_an_empty_queue_is_an_idle_step_that_acks_nothing(
    worker: SyncWorker, registry: FakeRegistry
) -> None:
    result = worker.step()

    assert result.idle
    assert registry.acks == []


def test_nothing_is_acked_when_the_commit_fails(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    # No such network row: the foreign key refuses the write, and the transaction rolls back.
    worker = SyncWorker(registry, sessions, "unregistered", clock)
    registry.notify(make_raw(1))

    with pytest.raises(IntegrityError):
        worker.step()

    assert registry.acks == []
    assert list(registry.queue) == [1]
    assert row_count(sessions) == 0


def test_a_crash_between_commit_and_ack_redelivers_without_duplicating_rows(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.notify(make_raw(1))
    registry.notify(make_raw(2))

    def crash(ids: list[int]) -> None:
        raise ConnectionError("the process died before acking")

    registry.on_ack = crash
    with pytest.raises(ConnectionError):
        worker.step()
    assert row_count(sessions) == 2
    first_seq = stored(sessions, 1).change_seq

    registry.on_ack = None
    assert worker.step().idle  # hidden while the visibility timeout runs
    registry.let_visibility_lapse()
    result = worker.step()

    assert result.received == 2
    assert registry.acks == [[1, 2]]
    assert registry.queue == {}
    assert row_count(sessions) == 2
    assert stored(sessions, 1).change_seq > first_seq


def test_the_next_batch_is_fetched_while_one_is_stored_and_nothing_is_received_twice(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    for opportunity_id in range(1, 121):
        registry.notify(make_raw(opportunity_id))

    results = []
    for result in worker.steps():
        results.append(result)
        if result.idle:
            break

    assert [r.received for r in results] == [50, 50, 20, 0]
    assert sorted(i for ack in registry.acks for i in ack) == list(range(1, 121))
    assert row_count(sessions) == 120
    assert registry.queue == {}


def test_a_failing_store_leaves_the_batch_fetched_ahead_unacked(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    for opportunity_id in range(1, 81):
        registry.notify(make_raw(opportunity_id))

    def crash(ids: list[int]) -> None:
        raise ConnectionError("the process died before acking")

    registry.on_ack = crash
    steps = worker.steps()
    with pytest.raises(ConnectionError):
        next(steps)
    steps.close()

    assert registry.acks == []  # neither the stored batch nor the one fetched ahead
    assert len(registry.queue) == 80
    registry.on_ack = None
    registry.let_visibility_lapse()
    results = []
    for result in worker.steps():
        results.append(result)
        if result.idle:
            break
    assert sum(r.received for r in results) == 80
    assert row_count(sessions) == 80


def test_an_older_notification_never_overwrites_a_newer_one(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.notify(make_raw(1, notified=T0 + timedelta(minutes=5), cost_per_interview=2.0))
    worker.step()
    newer = stored(sessions, 1)

    registry.notify(make_raw(1, notified=T0, cost_per_interview=1.0))
    result = worker.step()

    assert (result.received, result.stored, result.acked) == (1, 0, 1)
    assert registry.queue == {}
    after = stored(sessions, 1)
    assert after.cpi == Decimal("2.0")
    assert after.change_seq == newer.change_seq
    assert after.notified == T0 + timedelta(minutes=5)


def test_referenced_collections_are_downloaded_once_and_stored(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
    postal_codes: tuple[str, ...],
) -> None:
    registry.notify(make_raw(1, template=WITH_COLLECTION))
    registry.notify(make_raw(2, template=13231))
    first = worker.step()
    registry.notify(make_raw(3, template=WITH_COLLECTION))
    second = worker.step()

    assert registry.downloads == [COLLECTION_ID]
    assert (first.collections_downloaded, second.collections_downloaded) == (1, 0)
    with sessions() as session:
        collection = get_collection(session, NETWORK, COLLECTION_ID)
    assert collection is not None
    assert collection.values == postal_codes


def test_a_collection_that_cannot_be_had_does_not_hold_up_the_queue(
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry = FakeRegistry(collections={})
    worker = SyncWorker(registry, sessions, NETWORK, clock)
    registry.notify(make_raw(1, template=WITH_COLLECTION))

    result = worker.step()

    assert (result.stored, result.acked, result.collections_downloaded) == (1, 1, 0)
    with sessions() as session:
        assert get_collection(session, NETWORK, COLLECTION_ID) is None


def test_unparseable_notifications_are_logged_acked_and_counted(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    make_raw: Callable[..., dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = make_raw(7)
    del broken["locale"]
    registry.notify(broken)
    registry.notify(make_raw(8))

    with caplog.at_level(logging.WARNING, logger="surveyrouter.services.sync"):
        result = worker.step()

    assert (result.received, result.stored, result.rejected, result.acked) == (2, 1, 1, 2)
    assert sorted(registry.acks[0]) == [7, 8]
    assert registry.queue == {}
    assert "dropping unparseable opportunity 7" in caplog.text
    assert state(sessions).rejected_total == 1
    worker.step()
    assert state(sessions).rejected_total == 1


def test_stale_live_opportunities_are_refreshed_with_get_opportunity(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.notify(make_raw(1))
    registry.notify(make_raw(2))
    registry.notify(make_raw(3, status="CLOSED"))
    registry.notify(make_raw(4))
    worker.step()
    clock.advance(minutes=10)
    registry.notify(make_raw(4, notified=clock.now))
    worker.step()
    # Changed at Dynata without a notification reaching us; 2 is gone from the registry.
    registry.current[1] = make_raw(1, cost_per_interview=3.25)
    del registry.current[2]
    clock.advance(minutes=6)

    result = worker.refresh_stale()

    assert (result.checked, result.refreshed, result.closed) == (2, 1, 1)
    refreshed = stored(sessions, 1)
    assert refreshed.cpi == Decimal("3.25")
    assert refreshed.updated_at == clock.now
    assert refreshed.notified == T0  # the get-opportunity answer had none; ours is kept
    assert stored(sessions, 2).status is OpportunityStatus.CLOSED
    assert stored(sessions, 3).updated_at == T0  # closed ones are not refreshed
    assert stored(sessions, 4).updated_at == T0 + timedelta(minutes=10)  # not stale yet
    assert worker.refresh_stale().checked == 0


def test_a_refresh_does_not_undo_a_notification_stored_while_it_was_asking(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.notify(make_raw(1, cost_per_interview=1.0))
    worker.step()
    clock.advance(minutes=20)
    other_worker = SyncWorker(registry, sessions, NETWORK, clock)

    def notification_lands(opportunity_id: int) -> None:
        # Another consumer stores a newer notification between our read and our write.
        registry.notify(make_raw(1, notified=clock.now, cost_per_interview=2.0))
        clock.advance(seconds=1)
        other_worker.step()

    registry.on_get = notification_lands
    result = worker.refresh_stale()

    assert (result.checked, result.refreshed) == (1, 0)
    assert stored(sessions, 1).cpi == Decimal("2.0")


def test_only_the_first_shard_refreshes(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    first = SyncWorker(registry, sessions, NETWORK, clock, SyncSettings(shard=Shard(2, 1)))
    second = SyncWorker(registry, sessions, NETWORK, clock, SyncSettings(shard=Shard(2, 2)))
    registry.notify(make_raw(1))
    first.step()
    clock.advance(minutes=16)

    assert second.refresh_stale().checked == 0
    assert first.refresh_stale().refreshed == 1


def test_each_step_records_success_lag_and_counts(
    worker: SyncWorker,
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.notify(make_raw(1, notified=T0 - timedelta(seconds=40)))
    registry.notify(make_raw(2, notified=T0 - timedelta(seconds=30), status="PAUSED"))
    registry.notify(make_raw(3, notified=T0 - timedelta(seconds=90), status="CLOSED"))
    registry.notify(make_raw(4, notified=T0 - timedelta(seconds=50)))

    worker.step()

    recorded = state(sessions)
    assert recorded.last_success_at == T0
    assert recorded.newest_notified == T0 - timedelta(seconds=30)
    assert recorded.lag_seconds == pytest.approx(30.0)
    assert (recorded.live_count, recorded.paused_count, recorded.closed_count) == (2, 1, 1)
    assert recorded.last_error is None

    clock.advance(seconds=5)
    worker.step()
    idle = state(sessions)
    assert idle.last_success_at == T0 + timedelta(seconds=5)
    assert idle.lag_seconds == 0.0
    assert idle.newest_notified == T0 - timedelta(seconds=30)


class RecordingStop(threading.Event):
    """Records each wait instead of sleeping, and stops the loop after ``waits`` of them."""

    def __init__(self, waits: int) -> None:
        super().__init__()
        self.waits = waits
        self.delays: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.delays.append(timeout or 0.0)
        if len(self.delays) >= self.waits:
            self.set()
        return self.is_set()


def test_run_backs_off_exponentially_on_registry_errors_and_records_them(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    registry.receive_errors = [
        RegistryUnavailable(503, "down", operation="/receive-notifications", attempts=4),
        RegistryUnavailable(503, "still down", operation="/receive-notifications", attempts=4),
        RegistryUnavailable(None, "timeout", operation="/receive-notifications", attempts=4),
    ]
    registry.notify(make_raw(1))
    settings = SyncSettings(idle_sleep=5.0, backoff_initial=1.0, backoff_max=3.0)
    worker = SyncWorker(registry, sessions, NETWORK, clock, settings)
    stop = RecordingStop(waits=4)

    worker.run(stop)

    # Three failures back off 1, 2, then the cap; the fourth step stores the batch without
    # waiting, and the fifth finds the queue empty and sleeps the §2.1 five seconds.
    assert stop.delays == [1.0, 2.0, 3.0, 5.0]
    assert registry.receives == 5
    assert registry.queue == {}
    recorded = state(sessions)
    assert recorded.last_error is not None
    assert "timeout" in recorded.last_error
    assert recorded.last_success_at == T0


def test_run_honours_a_registry_retry_after(
    registry: FakeRegistry, sessions: sessionmaker[Session], clock: Clock
) -> None:
    registry.receive_errors = [
        RegistryUnavailable(429, "slow down", operation="/receive-notifications", retry_after=120.0)
    ]
    worker = SyncWorker(registry, sessions, NETWORK, clock)
    stop = RecordingStop(waits=1)

    worker.run(stop)

    assert stop.delays == [120.0]


def test_a_step_gathers_receives_while_they_come_back_full_and_acks_them_in_one_call(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    for opportunity_id in range(1, 8):
        registry.notify(make_raw(opportunity_id))
    settings = SyncSettings(batch_limit=3, receives_per_step=4, idle_sleep=0)
    worker = SyncWorker(registry, sessions, NETWORK, clock, settings)

    result = worker.step()

    # 3 + 3 + 1: the short third receive means the queue is empty, so no fourth.
    assert registry.receives == 3
    assert (result.received, result.stored, result.acked) == (7, 7, 7)
    assert registry.acks == [[1, 2, 3, 4, 5, 6, 7]]
    assert row_count(sessions) == 7
    assert state(sessions).live_count == 7


def test_a_step_stops_at_receives_per_step(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    for opportunity_id in range(1, 11):
        registry.notify(make_raw(opportunity_id))
    settings = SyncSettings(batch_limit=3, receives_per_step=2, idle_sleep=0)
    worker = SyncWorker(registry, sessions, NETWORK, clock, settings)

    first = worker.step()
    second = worker.step()

    assert (first.received, second.received) == (6, 4)
    assert registry.acks == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 10]]
    assert registry.queue == {}


def test_without_a_visibility_timeout_a_step_receives_once(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    # A second receive would be handed the first one's items again, nothing hiding them.
    for opportunity_id in range(1, 8):
        registry.notify(make_raw(opportunity_id))
    settings = SyncSettings(
        batch_limit=3, receives_per_step=4, visibility_timeout=None, idle_sleep=0
    )
    worker = SyncWorker(registry, sessions, NETWORK, clock, settings)

    result = worker.step()

    assert registry.receives == 1
    assert (result.received, result.acked) == (3, 3)


def test_an_item_received_twice_in_one_step_is_stored_once_and_acked_once(
    registry: FakeRegistry,
    sessions: sessionmaker[Session],
    clock: Clock,
    make_raw: Callable[..., dict[str, Any]],
) -> None:
    for opportunity_id in range(1, 4):
        registry.notify(make_raw(opportunity_id))
    newer = make_raw(2, notified=T0 + timedelta(seconds=5), cost_per_interview=2.5)
    receive = registry.receive_notifications

    def changing_between_receives(*args: Any, **kwargs: Any) -> Any:
        batch = receive(*args, **kwargs)
        if registry.receives == 1:
            registry.notify(newer)  # changed, and queued again, after the first receive
        return batch

    registry.receive_notifications = changing_between_receives  # type: ignore[method-assign]
    settings = SyncSettings(batch_limit=3, receives_per_step=4, idle_sleep=0)
    worker = SyncWorker(registry, sessions, NETWORK, clock, settings)

    result = worker.step()

    assert result.received == 4  # 1, 2, 3, then the newer 2
    assert registry.acks == [[1, 2, 3]]
    assert stored(sessions, 2).cpi == Decimal("2.5")
    assert registry.queue == {}


def test_receives_per_step_must_be_positive() -> None:
    with pytest.raises(ValueError, match="receives_per_step"):
        SyncSettings(receives_per_step=0)
