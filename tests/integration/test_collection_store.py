from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from surveyrouter.bootstrap import Runtime
from surveyrouter.store.collections import get_collection, put_collection
from surveyrouter.store.db import transaction

FETCHED = datetime(2026, 11, 23, 9, 15, 30, tzinfo=UTC)


def test_a_collection_round_trips_with_its_order(runtime: Runtime, rex_fixtures: Path) -> None:
    values = (rex_fixtures / "download_collection.txt").read_text().split()
    with transaction(runtime.sessions) as session:
        put_collection(session, "sandbox", "2169971", values, fetched_at=FETCHED)

    with runtime.sessions() as session:
        stored = get_collection(session, "sandbox", "2169971")
    assert stored is not None
    assert stored.values == tuple(values)
    assert stored.fetched_at == FETCHED


def test_putting_a_collection_again_replaces_it(runtime: Runtime) -> None:
    later = FETCHED.replace(hour=10)
    with transaction(runtime.sessions) as session:
        put_collection(session, "sandbox", "7", ["10110", "10120"], fetched_at=FETCHED)
    with transaction(runtime.sessions) as session:
        put_collection(session, "sandbox", "7", ["99999"], fetched_at=later)
        stored = get_collection(session, "sandbox", "7")

    assert stored is not None
    assert (stored.values, stored.fetched_at) == (("99999",), later)


def test_an_unknown_collection_is_none(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        assert get_collection(session, "sandbox", "nope") is None
