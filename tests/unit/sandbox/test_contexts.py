"""Gateway contexts chain to their parents, parents win, and expired ones stop entries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from surveyrouter.sandbox.contexts import (
    DEFAULT_TTL,
    ContextExists,
    ContextExpired,
    ContextLoop,
    ContextNotFound,
    ContextStore,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OPPORTUNITY_CTX = "7321f626-0de5-4d45-b138-29864ce635b4"


def test_a_created_context_is_read_back_with_its_items_and_a_default_expiration() -> None:
    store = ContextStore()

    created = store.create({"ctx": OPPORTUNITY_CTX, "gender": "male"}, NOW)

    assert store.get(created.id).document() == {
        "id": created.id,
        "expiration": "2026-11-24T12:00:00.000Z",
        "items": {"ctx": OPPORTUNITY_CTX, "gender": "male"},
    }
    assert created.expiration == NOW + DEFAULT_TTL
    assert created.id in store


def test_a_parent_context_overrides_its_child_and_the_chain_ends_outside_the_store() -> None:
    store = ContextStore()
    parent = store.create({"ctx": OPPORTUNITY_CTX, "gender": "male", "postal_code": "10110"}, NOW)
    child = store.create({"ctx": parent.id, "gender": "female", "birth_date": "2005-01-01"}, NOW)

    resolved = store.resolve(child.id, NOW)

    assert resolved.items == {"gender": "male", "postal_code": "10110", "birth_date": "2005-01-01"}
    assert resolved.chain == (child.id, parent.id)
    assert resolved.outside == OPPORTUNITY_CTX


def test_a_chain_without_an_outside_context_resolves_to_none() -> None:
    store = ContextStore()
    root = store.create({"gender": "male"}, NOW)

    assert store.resolve(root.id, NOW).outside is None


def test_an_expired_ancestor_refuses_the_whole_chain() -> None:
    store = ContextStore()
    parent = store.create({"ctx": OPPORTUNITY_CTX}, NOW, expiration=NOW + timedelta(minutes=1))
    child = store.create({"ctx": parent.id}, NOW)

    assert store.resolve(child.id, NOW).outside == OPPORTUNITY_CTX
    with pytest.raises(ContextExpired, match=parent.id):
        store.resolve(child.id, NOW + timedelta(minutes=1))


def test_expiring_a_context_keeps_it_readable_but_unusable() -> None:
    store = ContextStore()
    context = store.create({"ctx": OPPORTUNITY_CTX}, NOW)

    expired = store.expire(context.id, NOW + timedelta(seconds=5))

    assert expired.expiration == NOW + timedelta(seconds=5)
    assert store.get(context.id).expiration == NOW + timedelta(seconds=5)
    with pytest.raises(ContextExpired):
        store.resolve(context.id, NOW + timedelta(seconds=5))
    # Expiring again does not move an expiration already past.
    assert store.expire(context.id, NOW + timedelta(hours=1)).expiration == expired.expiration


def test_parents_that_loop_are_refused() -> None:
    store = ContextStore()
    store.create({"ctx": "b"}, NOW, context_id="a")
    store.create({"ctx": "a"}, NOW, context_id="b")
    store.create({"ctx": "c"}, NOW, context_id="c")

    with pytest.raises(ContextLoop, match="loop"):
        store.resolve("a", NOW)
    with pytest.raises(ContextLoop):
        store.resolve("c", NOW)


def test_a_chosen_id_must_be_new_and_unknown_ids_are_not_found() -> None:
    store = ContextStore()
    store.create({}, NOW, context_id="mine")

    with pytest.raises(ContextExists):
        store.create({"gender": "male"}, NOW, context_id="mine")
    assert store.get("mine").items == {}
    for lookup in (store.get, lambda i: store.resolve(i, NOW), lambda i: store.expire(i, NOW)):
        with pytest.raises(ContextNotFound):
            lookup("nope")
