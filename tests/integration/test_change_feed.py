"""The change feed: no gaps under concurrent writers, stale writes skipped, and the index feed
that keeps a matcher current from it. Every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.matcher import Matcher
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.services.index_feed import IndexFeed, collection_key
from surveyrouter.store.collections import put_collection
from surveyrouter.store.db import transaction
from surveyrouter.store.opportunities import (
    changes_since,
    close_opportunities,
    get_opportunity,
    upsert_opportunities,
)

NETWORK = "sandbox"
AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COLLECTION_ID = "2169971"
WITH_COLLECTION = 13174
PLAIN = 12872

MakeRaw = Callable[..., dict[str, Any]]


@pytest.fixture
def make_raw(rex_fixtures: Path) -> MakeRaw:
    items = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    by_id = {item["id"]: item for item in items}

    def make(
        opportunity_id: int,
        template: int = PLAIN,
        status: str = "OPEN",
        notified: datetime | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        raw: dict[str, Any] = copy.deepcopy(by_id[template])
        raw.update(id=opportunity_id, status=status, **fields)
        if notified is not None:
            raw["notified"] = notified.isoformat()
        return raw

    return make


def write(runtime: Runtime, raws: Iterable[Mapping[str, Any]]) -> list[int]:
    with transaction(runtime.sessions) as session:
        return upsert_opportunities(
            session, NETWORK, [(parse_opportunity(raw, NETWORK), raw) for raw in raws], at=AT
        )


def feed_ids(runtime: Runtime, after: int) -> list[tuple[int, int]]:
    with runtime.sessions() as session:
        return [(row.change_seq, row.external_id) for row in changes_since(session, after)]


# --- no gaps ------------------------------------------------------------------------------------


def test_a_follower_misses_nothing_when_two_writers_commit_out_of_order(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    """The first writer draws its numbers and holds its transaction open; the second writes
    meanwhile. Were the second to commit first, a follower reading then would move past the
    first writer's numbers and never see them. Writes are serialised instead: the second waits.
    """
    first_ids, second_ids = [1, 2, 3], [11, 12]
    first = runtime.sessions()
    first.begin()
    upsert_opportunities(
        first, NETWORK, [(parse_opportunity(r, NETWORK), r) for r in map(make_raw, first_ids)]
    )
    errors: list[BaseException] = []

    def second_writer() -> None:
        try:
            write(runtime, map(make_raw, second_ids))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=second_writer)
    try:
        thread.start()
        # Enough time for the second writer to commit, were nothing holding it back.
        thread.join(timeout=1.0)
        seen_while_open = feed_ids(runtime, 0)
        cursor = seen_while_open[-1][0] if seen_while_open else 0
        first.commit()
    finally:
        first.close()
    thread.join(timeout=30)

    assert not thread.is_alive()
    assert errors == []
    after = feed_ids(runtime, cursor)
    seen = [external_id for _, external_id in seen_while_open + after]
    assert seen == first_ids + second_ids
    seqs = [seq for seq, _ in seen_while_open + after]
    assert seqs == sorted(seqs)


def test_many_concurrent_writers_leave_a_feed_a_follower_reads_in_full(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    writers, batches, size = 3, 6, 3
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def follower() -> None:
        cursor = 0
        while True:
            done = stop.is_set()
            for seq, external_id in feed_ids(runtime, cursor):
                seen.append(external_id)
                cursor = seq
            if done:
                return

    def writer(offset: int) -> None:
        try:
            for batch in range(batches):
                start = offset + batch * size
                write(runtime, [make_raw(i) for i in range(start, start + size)])
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=follower)
    reader.start()
    threads = [threading.Thread(target=writer, args=(n * 1000 + 1,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()

    assert errors == []
    assert len(seen) == writers * batches * size
    assert len(set(seen)) == len(seen)


# --- stale writes ---------------------------------------------------------------------------------


def test_an_older_notified_is_skipped_and_takes_no_change_seq(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    [newer_seq] = write(runtime, [make_raw(5, notified=AT, cost_per_interview=2.0)])

    skipped = write(runtime, [make_raw(5, notified=AT - timedelta(seconds=1))])

    assert skipped == []
    assert feed_ids(runtime, 0) == [(newer_seq, 5)]
    with runtime.sessions() as session:
        stored = get_opportunity(session, NETWORK, 5)
    assert stored is not None
    assert stored.cpi == Decimal("2.0")


def test_an_equal_notified_is_written_again_and_one_without_keeps_the_stored_stamp(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    [first] = write(runtime, [make_raw(5, notified=AT)])
    [again] = write(runtime, [make_raw(5, notified=AT)])
    [refreshed] = write(runtime, [make_raw(5, cost_per_interview=4.0)])

    assert first < again < refreshed
    with runtime.sessions() as session:
        stored = get_opportunity(session, NETWORK, 5)
    assert stored is not None
    assert (stored.cpi, stored.notified) == (Decimal("4.0"), AT)


def test_within_one_batch_an_older_duplicate_does_not_replace_a_newer_one(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    newer = make_raw(5, notified=AT, cost_per_interview=2.0)
    older = make_raw(5, notified=AT - timedelta(minutes=1), cost_per_interview=1.0)
    write(runtime, [newer, older])

    with runtime.sessions() as session:
        stored = get_opportunity(session, NETWORK, 5)
    assert stored is not None
    assert stored.cpi == Decimal("2.0")


# --- the index feed -------------------------------------------------------------------------------


class RecordingMatcher(Matcher):
    def __init__(self) -> None:
        super().__init__()
        self.collection_loads: list[set[str]] = []

    def add_collections(self, collections: Mapping[str, Iterable[str]]) -> None:
        self.collection_loads.append(set(collections))
        super().add_collections(collections)


def indexed(matcher: Matcher) -> set[int]:
    return {
        opportunity_id
        for opportunity_id in range(1, 100)
        if matcher.slot_of(NETWORK, opportunity_id) is not None
    }


def test_writes_through_the_store_reach_the_matcher_after_catch_up(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    write(runtime, [make_raw(1), make_raw(2), make_raw(3, status="PAUSED")])

    assert indexed(matcher) == set()
    assert feed.catch_up() == 3
    assert indexed(matcher) == {1, 2}
    assert feed.catch_up() == 0


def test_paused_and_closed_updates_leave_the_matcher_at_once(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    write(runtime, [make_raw(1), make_raw(2), make_raw(3)])
    feed.catch_up()

    write(runtime, [make_raw(1, status="CLOSED"), make_raw(2, status="PAUSED")])
    feed.catch_up()
    assert indexed(matcher) == {3}

    with transaction(runtime.sessions) as session:
        close_opportunities(session, NETWORK, [3], at=AT)
    feed.catch_up()
    assert indexed(matcher) == set()

    write(runtime, [make_raw(2)])
    feed.catch_up()
    assert indexed(matcher) == {2}


def test_changes_apply_in_order_across_small_batches(runtime: Runtime, make_raw: MakeRaw) -> None:
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions, batch_size=2)
    write(runtime, [make_raw(i) for i in (1, 2, 3, 4, 5)])
    write(runtime, [make_raw(2, status="CLOSED")])
    write(runtime, [make_raw(4, status="CLOSED")])
    write(runtime, [make_raw(4, cost_per_interview=9.0)])

    applied = feed.catch_up()

    # Rows hold their latest state: 2 closed, 4 reopened; 1, 3, 5 as first written.
    assert applied == 5
    assert indexed(matcher) == {1, 3, 4, 5}
    assert feed.last_seq == feed_ids(runtime, 0)[-1][0]


def test_a_feed_started_past_a_cursor_applies_only_later_changes(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    [cursor] = write(runtime, [make_raw(1)])
    write(runtime, [make_raw(2)])
    matcher = Matcher()

    IndexFeed(matcher, runtime.sessions, last_seq=cursor).catch_up()

    assert indexed(matcher) == {2}


def test_referenced_collections_are_loaded_into_the_matcher_once(
    runtime: Runtime, make_raw: MakeRaw, rex_fixtures: Path
) -> None:
    values = (rex_fixtures / "download_collection.txt").read_text().split()
    matcher = RecordingMatcher()
    feed = IndexFeed(matcher, runtime.sessions)
    write(runtime, [make_raw(1, template=WITH_COLLECTION)])

    feed.catch_up()
    assert indexed(matcher) == {1}
    assert matcher.collection_loads == []  # not stored yet: awaited

    with transaction(runtime.sessions) as session:
        put_collection(session, NETWORK, COLLECTION_ID, values, fetched_at=AT)
    feed.catch_up()
    # Qualified by network: another exchange may have a collection of the same id.
    loaded = {collection_key(NETWORK, COLLECTION_ID)}
    assert matcher.collection_loads == [loaded]

    write(runtime, [make_raw(2, template=WITH_COLLECTION)])
    feed.catch_up()
    assert matcher.collection_loads == [loaded]
    assert indexed(matcher) == {1, 2}


def test_an_unparseable_stored_row_is_left_out_of_the_matcher(
    runtime: Runtime, make_raw: MakeRaw
) -> None:
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    write(runtime, [make_raw(1), make_raw(2)])
    feed.catch_up()
    # A row whose raw JSON a newer parser would refuse, as after an upgrade.
    with runtime.engine.begin() as connection:
        broken = json.dumps({"id": 2})
        cast = "CAST(:raw AS JSONB)" if connection.dialect.name == "postgresql" else ":raw"
        connection.execute(
            text(
                f"UPDATE opportunities SET raw = {cast}, change_seq = change_seq + 1000 "
                "WHERE external_id = 2"
            ),
            {"raw": broken},
        )

    feed.catch_up()

    assert indexed(matcher) == {1}


class StopAfter(threading.Event):
    """Stops the loop at its ``waits``-th wait, recording each interval instead of sleeping."""

    def __init__(self, waits: int, between: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self.waits = waits
        self.between = between
        self.intervals: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.intervals.append(timeout or 0.0)
        if len(self.intervals) >= self.waits:
            self.set()
        else:
            self.between()
        return self.is_set()


def test_run_polls_about_once_a_second_until_stopped(runtime: Runtime, make_raw: MakeRaw) -> None:
    matcher = Matcher()
    feed = IndexFeed(matcher, runtime.sessions)
    write(runtime, [make_raw(1)])
    stop = StopAfter(waits=2, between=lambda: write(runtime, [make_raw(2)]))

    feed.run(stop)

    assert stop.intervals == [1.0, 1.0]
    assert indexed(matcher) == {1, 2}
