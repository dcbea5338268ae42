"""Impressions counted in memory reach the store whole, on SQLite and PostgreSQL: one flush
writes every count so far (adding to what is stored), a failed flush keeps its counts for the
next, and stopping writes what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.services.apps import create_app
from surveyrouter.services.impression_counter import ImpressionCounter
from surveyrouter.store.db import transaction
from surveyrouter.store.impressions import Impression, count_impressions, impressions

T0 = datetime(2026, 12, 1, 12, 5, tzinfo=UTC)
HOUR = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def publisher(runtime: Runtime) -> App:
    return create_app(runtime.sessions, lambda: T0, {"name": "Quiz"})


def stored(runtime: Runtime, app: App) -> list[Impression]:
    assert app.id is not None
    with runtime.sessions() as session:
        return impressions(session, app.id)


def test_one_flush_adds_every_count_so_far_to_the_store(runtime: Runtime, publisher: App) -> None:
    assert publisher.id is not None
    with transaction(runtime.sessions) as session:
        count_impressions(session, publisher.id, {"sandbox": 5}, T0)  # another process's
    counter = ImpressionCounter(runtime.sessions)
    counter.add(publisher.id, {"sandbox": 3, "rex": 2}, T0)
    counter.add(publisher.id, {"sandbox": 4, "rex": 0}, T0 + timedelta(minutes=60))
    counter.add(publisher.id, {"sandbox": 1}, T0 + timedelta(minutes=1))

    assert counter.flush() == 10
    assert counter.flush() == 0
    assert stored(runtime, publisher) == [
        Impression("rex", HOUR, 2),
        Impression("sandbox", HOUR, 9),
        Impression("sandbox", HOUR + timedelta(hours=1), 4),
    ]


def test_a_negative_count_is_refused_and_nothing_of_it_counted(
    runtime: Runtime, publisher: App
) -> None:
    assert publisher.id is not None
    counter = ImpressionCounter(runtime.sessions)
    with pytest.raises(ValueError, match="negative: rex"):
        counter.add(publisher.id, {"sandbox": 3, "rex": -1}, T0)
    assert counter.flush() == 0


def test_a_failed_flush_keeps_its_counts_for_the_next(runtime: Runtime, publisher: App) -> None:
    assert publisher.id is not None
    calls = 0

    def failing_once() -> Session:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OperationalError("BEGIN", {}, Exception("the database went away"))
        return runtime.sessions()

    counter = ImpressionCounter(cast(sessionmaker[Session], failing_once))
    counter.add(publisher.id, {"sandbox": 3}, T0)
    with pytest.raises(OperationalError):
        counter.flush()
    counter.add(publisher.id, {"sandbox": 2}, T0)

    assert counter.flush() == 5
    assert stored(runtime, publisher) == [Impression("sandbox", HOUR, 5)]


def test_stopping_writes_what_is_left(runtime: Runtime, publisher: App) -> None:
    assert publisher.id is not None
    counter = ImpressionCounter(runtime.sessions, flush_seconds=3600)
    counter.start()
    counter.add(publisher.id, {"sandbox": 7}, T0)
    counter.stop()

    assert stored(runtime, publisher) == [Impression("sandbox", HOUR, 7)]


def test_stopping_while_the_database_is_down_logs_what_is_lost(
    runtime: Runtime, publisher: App, caplog: pytest.LogCaptureFixture
) -> None:
    assert publisher.id is not None

    def down() -> Session:
        raise OperationalError("BEGIN", {}, Exception("the database went away"))

    counter = ImpressionCounter(cast(sessionmaker[Session], down), flush_seconds=3600)
    counter.start()
    counter.add(publisher.id, {"sandbox": 4}, T0)
    counter.stop()  # does not raise

    assert "4 counted impressions not written at stop" in caplog.text
