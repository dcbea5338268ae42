"""The sandbox registry's state: REX §2.1 queue semantics, lookups, collections and invites.

Every test runs twice: on a registry in memory, and on one kept in a state file and reopened
from it before every single operation, as if the sandbox restarted between any two calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.clock import Clock

from surveyrouter.sandbox.journal import Journal
from surveyrouter.sandbox.market import Market, generate_market
from surveyrouter.sandbox.registry import (
    CollectionNotFound,
    InviteCollectionNotFound,
    InviteNotFound,
    OpportunityNotFound,
    RegistryState,
    Shard,
)

KEY = "partner"
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def market() -> Market:
    return generate_market(120, seed=7)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


class Restarting:
    """A registry reopened from its state file before every call: whatever a call changed
    must have reached the file, or the next call does not see it."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self._path = path
        self._clock = clock
        self._journal: Journal | None = None

    def __getattr__(self, name: str) -> Any:
        self.close()
        self._journal = Journal(self._path)
        return getattr(RegistryState(self._clock, self._journal), name)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None


@pytest.fixture(params=["in memory", "restarting from its file"])
def state(
    request: pytest.FixtureRequest, market: Market, clock: Clock, tmp_path: Path
) -> Iterator[RegistryState]:
    if request.param == "in memory":
        registry = RegistryState(clock)
        registry.seed(market)
        yield registry
        return
    restarting = Restarting(tmp_path / "sandbox.db", clock)
    restarting.seed(market)
    yield restarting  # type: ignore[misc]
    restarting.close()


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


def drain(state: RegistryState, key: str = KEY, shard: Shard | None = None) -> list[int]:
    """Receive and ack until the queue (or shard) is empty; the ids in delivery order."""
    received: list[int] = []
    for _ in range(1000):  # bounded: an ack that removes nothing must fail, not hang
        items, _count, _total = state.receive(key, limit=50, shard=shard)
        if not items:
            return received
        received += ids(items)
        state.ack(key, ids(items))
    raise AssertionError("the queue never emptied")


def visible(state: RegistryState, key: str = KEY) -> list[dict[str, Any]]:
    """Every item a receive would deliver now, in order, without acking (paging by hiding)."""
    seen: list[dict[str, Any]] = []
    for _ in range(1000):
        items = state.receive(key, limit=50, visibility_timeout=600)[0]
        if not items:
            return seen
        seen += items
    raise AssertionError("deliveries were never hidden")


def set_quota_count(count: int) -> Any:
    def mutate(document: dict[str, Any]) -> None:
        document["quotas"][0][0]["count"] = count

    return mutate


# --- the queue -------------------------------------------------------------------------------


def test_a_new_key_receives_the_whole_market_oldest_notified_first(
    state: RegistryState, market: Market
) -> None:
    received = drain(state)

    by_notified = sorted(market.opportunities, key=lambda o: (o["notified"], o["id"]))
    assert received == [o["id"] for o in by_notified]
    assert state.pending(KEY) == 0


def test_received_items_are_the_opportunities_as_seeded(
    state: RegistryState, market: Market
) -> None:
    items, _, _ = state.receive(KEY, limit=50)

    seeded = {o["id"]: o for o in market.opportunities}
    assert all(item == seeded[item["id"]] for item in items)


def test_a_received_notification_stays_queued_until_acked(state: RegistryState) -> None:
    first, _, total = state.receive(KEY, limit=5)
    again, _, _ = state.receive(KEY, limit=5)

    assert ids(again) == ids(first)
    assert total == 120

    state.ack(KEY, ids(first))
    after, _, total_after = state.receive(KEY, limit=5)
    assert not set(ids(after)) & set(ids(first))
    assert total_after == 115


def test_count_and_total_describe_the_response_and_the_queue(state: RegistryState) -> None:
    items, count, total = state.receive(KEY, limit=7)

    assert count == len(items) == 7
    assert total == 120


def test_a_delivery_is_hidden_for_the_visibility_timeout_then_reappears(
    state: RegistryState, clock: Clock
) -> None:
    first, _, _ = state.receive(KEY, limit=3, visibility_timeout=60)

    clock.advance(59)
    hidden, _, total = state.receive(KEY, limit=3)
    assert not set(ids(hidden)) & set(ids(first))
    assert total == 120  # hidden items are still unacknowledged

    clock.advance(1)
    back, _, _ = state.receive(KEY, limit=3)
    assert ids(back) == ids(first)


def test_a_zero_visibility_timeout_hides_nothing(state: RegistryState) -> None:
    first, _, _ = state.receive(KEY, limit=3, visibility_timeout=0)
    again, _, _ = state.receive(KEY, limit=3)

    assert ids(again) == ids(first)


def test_a_change_requeues_an_acked_opportunity_with_a_new_notified(
    state: RegistryState, market: Market, clock: Clock
) -> None:
    drain(state)
    target = market.opportunities[0]["id"]
    clock.advance(90)

    state.change(target, set_quota_count(3))

    items, count, total = state.receive(KEY, limit=50)
    assert ids(items) == [target]
    assert (count, total) == (1, 1)
    assert items[0]["quotas"][0][0]["count"] == 3
    assert items[0]["notified"] == "2026-11-23T09:01:30.000Z"


def test_a_change_between_delivery_and_ack_is_delivered_again(state: RegistryState) -> None:
    items, _, _ = state.receive(KEY, limit=1)
    target = items[0]["id"]

    state.change(target, set_quota_count(0))
    state.ack(KEY, [target])

    queued = visible(state)
    assert queued[-1]["id"] == target  # re-notified: now the newest
    assert queued[-1]["quotas"][0][0]["count"] == 0
    assert len(queued) == 120


def test_acking_the_new_version_removes_it(state: RegistryState) -> None:
    items, _, _ = state.receive(KEY, limit=1)
    target = items[0]["id"]
    state.change(target, set_quota_count(0))
    state.ack(KEY, [target])  # the old delivery: the new version stays

    assert drain(state).count(target) == 1
    assert state.pending(KEY) == 0


def test_a_change_shows_a_hidden_delivery_at_once(state: RegistryState) -> None:
    items, _, _ = state.receive(KEY, limit=1, visibility_timeout=600)
    target = items[0]["id"]

    state.change(target, set_quota_count(5))

    assert visible(state)[-1]["id"] == target


def test_an_ack_of_an_undelivered_or_unknown_id_changes_nothing(state: RegistryState) -> None:
    items, _, _ = state.receive("other", limit=1)  # delivered to another key only
    undelivered = items[0]["id"]

    removed = state.ack(KEY, [undelivered, 999_999_999])

    assert removed == 0
    assert state.pending(KEY) == 120


def test_acks_are_per_key(state: RegistryState) -> None:
    drain(state, "first")

    assert state.pending("first") == 0
    assert len(drain(state, "second")) == 120


def test_a_change_requeues_for_every_key(state: RegistryState, market: Market) -> None:
    drain(state, "first")
    drain(state, "second")
    target = market.opportunities[0]["id"]

    state.change(target, set_quota_count(1))

    assert drain(state, "first") == [target]
    assert drain(state, "second") == [target]


def test_requeue_all_queues_the_whole_market_again(state: RegistryState) -> None:
    drain(state)

    state.requeue_all(KEY)

    assert state.pending(KEY) == 120


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_partition_and_cover_the_queue(
    state: RegistryState, market: Market, count: int
) -> None:
    parts = [set(drain(state, shard=Shard(count, current))) for current in range(1, count + 1)]

    assert sum(len(part) for part in parts) == 120
    assert set().union(*parts) == {o["id"] for o in market.opportunities}
    for current, part in enumerate(parts, start=1):
        assert all(identifier % count == current - 1 for identifier in part)
    assert state.pending(KEY) == 0


def test_a_shard_receives_only_its_partition_and_total_counts_the_whole_queue(
    state: RegistryState,
) -> None:
    items, count, total = state.receive(KEY, limit=50, shard=Shard(2, 2))

    assert all(identifier % 2 == 1 for identifier in ids(items))
    assert count == len(items)
    assert total == 120


def test_version_counts_changes(state: RegistryState, market: Market) -> None:
    target = market.opportunities[0]["id"]
    before = state.version(target)

    state.change(target, set_quota_count(9))
    state.change(target, set_quota_count(8))

    assert state.version(target) == before + 2


@pytest.mark.parametrize(("limit", "timeout"), [(0, 0), (51, 0), (10, -1), (10, 601), (True, 0)])
def test_receive_refuses_out_of_range_arguments(
    state: RegistryState, limit: int, timeout: int
) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        state.receive(KEY, limit=limit, visibility_timeout=timeout)


def test_a_change_keeps_the_id_and_returns_the_new_document(
    state: RegistryState, market: Market
) -> None:
    target = market.opportunities[0]["id"]

    def vandalise(document: dict[str, Any]) -> None:
        document["id"] = 1
        document["status"] = "CLOSED"

    changed = state.change(target, vandalise)

    assert changed["id"] == target
    assert state.get(target)["status"] == "CLOSED"


def test_changing_an_unknown_opportunity_raises(state: RegistryState) -> None:
    with pytest.raises(OpportunityNotFound):
        state.change(1, set_quota_count(1))


# --- lookups ---------------------------------------------------------------------------------


def test_get_returns_a_copy(state: RegistryState, market: Market) -> None:
    target = market.opportunities[0]["id"]
    document = state.get(target)
    document["status"] = "MANGLED"

    assert state.get(target) == market.opportunities[0]


def test_get_of_an_unknown_opportunity_raises(state: RegistryState) -> None:
    with pytest.raises(OpportunityNotFound, match="opportunity 1 was not found"):
        state.get(1)


def test_group_finds_the_opportunity_of_a_quota_group_in_a_locale(
    state: RegistryState, market: Market
) -> None:
    wanted = market.opportunities[3]
    locale = wanted["locale"]

    found = state.group(wanted["group_id"], locale["country"].lower(), locale["language"].upper())

    assert found["id"] == wanted["id"]
    with pytest.raises(OpportunityNotFound):
        state.group(wanted["group_id"], "ZZ", "zz")


def test_project_lists_the_ids_of_a_projects_opportunities(
    state: RegistryState, market: Market
) -> None:
    project_id = market.opportunities[5]["project_id"]

    expected = sorted(o["id"] for o in market.opportunities if o["project_id"] == project_id)
    assert state.project(project_id) == expected
    assert state.project(1) == []


def test_collections_are_served_by_id(state: RegistryState, market: Market) -> None:
    collection_id, values = next(iter(market.collections.items()))

    assert state.collection(collection_id) == tuple(values)
    with pytest.raises(CollectionNotFound):
        state.collection("no-such-collection")


# --- invites ---------------------------------------------------------------------------------


def test_invite_collections_list_one_invite_per_member(
    state: RegistryState, market: Market
) -> None:
    collection_id, members = next(iter(sorted(market.invite_collections.items())))

    invites = state.invite_collection(collection_id)

    assert [i["respondent_id"] for i in invites] == members
    assert {i["collection_id"] for i in invites} == {collection_id}
    assert invites[0]["created"] == "2026-11-23T09:00:00.000Z"
    with pytest.raises(InviteCollectionNotFound):
        state.invite_collection("no-such-collection")


def test_the_invite_queue_delivers_every_invite_until_acked(
    state: RegistryState, market: Market
) -> None:
    everyone = sum(len(members) for members in market.invite_collections.values())
    received: list[int] = []
    while True:
        messages, count, total = state.receive_invites(KEY, limit=50)
        if not messages:
            break
        assert count == len(messages)
        assert set(messages[0]) == {"invite", "created"}
        batch = [m["invite"]["id"] for m in messages]
        received += batch
        state.ack_invites(KEY, batch)

    assert total == 0
    assert sorted(received) == list(range(1, everyone + 1))


def test_a_new_invite_is_queued_for_every_key(state: RegistryState, clock: Clock) -> None:
    while messages := state.receive_invites(KEY, limit=50)[0]:
        state.ack_invites(KEY, [m["invite"]["id"] for m in messages])
    clock.advance(5)

    invite_id = state.add_invite("28_new", "2790000001", expiration=START + timedelta(days=1))

    messages, _, _ = state.receive_invites(KEY, limit=50)
    assert [m["invite"]["id"] for m in messages] == [invite_id]
    assert messages[0]["invite"]["expiration"] == "2026-11-24T09:00:00.000Z"
    assert messages[0]["created"] == "2026-11-23T09:00:05.000Z"
    assert [i["id"] for i in state.invite_collection("28_new")] == [invite_id]


def test_an_invite_changed_between_delivery_and_ack_stays_queued(state: RegistryState) -> None:
    messages, _, _ = state.receive_invites(KEY, limit=1, visibility_timeout=600)
    invite_id = messages[0]["invite"]["id"]

    state.change_invite(invite_id, lambda invite: invite.update(respondent_id="x"))
    state.ack_invites(KEY, [invite_id])

    again: list[dict[str, Any]] = []
    while messages := state.receive_invites(KEY, limit=50, visibility_timeout=600)[0]:
        again += messages
    assert again[-1]["invite"]["id"] == invite_id
    assert again[-1]["invite"]["respondent_id"] == "x"
    with pytest.raises(InviteNotFound):
        state.change_invite(10**9, lambda invite: None)


def test_a_mutation_that_raises_changes_nothing(state: RegistryState, market: Market) -> None:
    target = market.opportunities[0]["id"]
    drain(state)

    def half_done(document: dict[str, Any]) -> None:
        document["status"] = "CLOSED"
        raise RuntimeError("the buyer changed their mind")

    with pytest.raises(RuntimeError):
        state.change(target, half_done)

    assert state.get(target) == market.opportunities[0]
    assert state.version(target) == 1
    assert state.pending(KEY) == 0
