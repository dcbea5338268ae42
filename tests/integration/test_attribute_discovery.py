"""Attribute discovery on SQLite and PostgreSQL: live opportunities stored as the sandbox market
and the REX fixtures send them, a fake attribute catalogue, network questions out."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from surveyrouter.bootstrap import SANDBOX, Runtime, question_mappings
from surveyrouter.domain.questions import QuestionType
from surveyrouter.networks.rex.opportunities import parse_opportunity
from surveyrouter.networks.rex.registry import RegistryNotFound, RegistryUnavailable
from surveyrouter.sandbox.attributes import OWN_ATTRIBUTES, AttributeCatalogue, market_attributes
from surveyrouter.sandbox.market import generate_market
from surveyrouter.services.attributes import (
    AttributeDiscovery,
    DiscoveryResult,
    live_attribute_usage,
)
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.opportunities import close_opportunities, upsert_opportunities
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    MappingSource,
    NetworkAttribute,
    get_question_mapping,
    list_network_attributes,
    set_question_mapping,
    upsert_question_mappings,
)
from tests.unit.services.test_attributes import SPEC_EXAMPLE

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OWN_IDS = {own.id for own in OWN_ATTRIBUTES}
LIBRARY = load_question_library()


class FakeCatalogue:
    """get-attribute-info over fixed documents; unknown ids are 404s, ``failing`` ones 503s."""

    def __init__(
        self, documents: Mapping[int, dict[str, Any]], failing: Iterable[int] = ()
    ) -> None:
        self.documents = dict(documents)
        self.failing = set(failing)
        self.asked: list[int] = []

    def get_attribute_info(self, attribute_id: int) -> dict[str, Any]:
        self.asked.append(attribute_id)
        if attribute_id in self.failing:
            raise RegistryUnavailable(503, "unavailable", operation="/get-attribute-info")
        if attribute_id not in self.documents:
            raise RegistryNotFound(404, "not found", operation="/get-attribute-info")
        return copy.deepcopy(self.documents[attribute_id])


def sandbox_catalogue(failing: Iterable[int] = ()) -> FakeCatalogue:
    catalogue = AttributeCatalogue(LIBRARY)
    documents = {}
    for attribute_id in [q.id for q in LIBRARY] + sorted(OWN_IDS):
        document = catalogue.attribute_info(attribute_id)
        if document is not None:
            documents[attribute_id] = document
    return FakeCatalogue(documents, failing)


def store(runtime: Runtime, network_id: str, documents: Iterable[dict[str, Any]]) -> None:
    with transaction(runtime.sessions) as session:
        upsert_opportunities(
            session,
            network_id,
            [(parse_opportunity(raw, network_id), raw) for raw in documents],
            at=T0,
        )


@pytest.fixture
def market_documents() -> list[dict[str, Any]]:
    # Seed 7 has live opportunities on each of the sandbox's own attributes (910001-910003).
    return generate_market(100, seed=7, attributes=market_attributes(LIBRARY)).opportunities


def live_users_of(documents: Iterable[dict[str, Any]], attribute_id: int) -> int:
    return sum(
        1
        for raw in documents
        if raw["status"] == "OPEN" and any(c["attribute_id"] == attribute_id for c in raw["cells"])
    )


def test_the_sandboxs_own_attributes_become_network_questions(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    catalogue = sandbox_catalogue()
    discovery = AttributeDiscovery(catalogue, runtime.sessions)

    result = discovery.discover(SANDBOX.id, T0)

    live = sum(1 for raw in market_documents if raw["status"] == "OPEN")
    assert result == DiscoveryResult(
        scanned=live, looked_up=3, questions=3, unaskable=0, failed=0, waiting=0
    )
    # The library's questions are mapped on the sandbox; only its own attributes are asked for.
    assert sorted(catalogue.asked) == sorted(OWN_IDS)
    with runtime.sessions() as session:
        stored = {a.attribute_id: a for a in list_network_attributes(session, SANDBOX.id)}
        mappings = {i: get_question_mapping(session, SANDBOX.id, i) for i in OWN_IDS}
        usage = live_attribute_usage(session, SANDBOX.id)
    for own in OWN_ATTRIBUTES:
        question = stored[own.id].question
        assert question is not None
        assert dict(question.text) == own.text
        assert [a.id for a in question.answers] == [answer_id for answer_id, _ in own.answers]
        expected = QuestionType.MULTI if own.display_mode == "multi_select" else QuestionType.SINGLE
        assert question.type is expected
        assert stored[own.id].fetched_at == T0
        own_mapping = mappings[own.id]
        assert own_mapping is not None
        assert (own_mapping.question_id, own_mapping.source) == (None, MappingSource.DISCOVERED)
        assert usage[own.id] == live_users_of(market_documents, own.id)


def test_discovering_again_looks_nothing_up(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    catalogue = sandbox_catalogue()
    AttributeDiscovery(catalogue, runtime.sessions).discover(SANDBOX.id, T0)
    catalogue.asked.clear()

    # A restarted process (a new discovery) reads everything again but asks for nothing.
    again = AttributeDiscovery(catalogue, runtime.sessions).discover(SANDBOX.id, T0)

    assert (again.looked_up, again.waiting) == (0, 0)
    assert catalogue.asked == []


def test_one_failing_lookup_does_not_stop_the_others_and_is_retried(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    catalogue = sandbox_catalogue(failing={910002})
    discovery = AttributeDiscovery(catalogue, runtime.sessions)

    first = discovery.discover(SANDBOX.id, T0)
    with runtime.sessions() as session:
        after_first = {a.attribute_id for a in list_network_attributes(session, SANDBOX.id)}
    catalogue.failing.clear()
    catalogue.asked.clear()
    second = discovery.discover(SANDBOX.id, T0 + timedelta(minutes=5))

    assert (first.questions, first.failed, first.waiting) == (2, 1, 1)
    assert after_first == {910001, 910003}
    # Nothing changed in the store, yet the failed one is asked for again.
    assert (second.scanned, second.questions, second.failed, second.waiting) == (0, 1, 0, 0)
    assert catalogue.asked == [910002]


def test_a_mapped_attribute_is_never_looked_up(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    with transaction(runtime.sessions) as session:
        set_question_mapping(session, SANDBOX.id, 910002, 2023, {})
    catalogue = sandbox_catalogue()

    result = AttributeDiscovery(catalogue, runtime.sessions).discover(SANDBOX.id, T0)

    assert sorted(catalogue.asked) == [910001, 910003]
    assert result.questions == 2


def test_later_calls_read_only_what_changed_and_find_new_attributes(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    catalogue = sandbox_catalogue()
    discovery = AttributeDiscovery(catalogue, runtime.sessions)
    discovery.discover(SANDBOX.id, T0)
    catalogue.asked.clear()
    live = next(raw for raw in market_documents if raw["status"] == "OPEN")
    changed = copy.deepcopy(live)
    changed["cells"].append(
        {"tag": "new-cell", "attribute_id": 777001, "negate": False, "kind": "VALUE", "value": "9"}
    )
    changed["filters"].append([{"id": "new-filter", "cells": ["new-cell"]}])
    closed = next(raw for raw in market_documents if raw["status"] == "OPEN" and raw is not live)
    with transaction(runtime.sessions) as session:
        close_opportunities(session, SANDBOX.id, [closed["id"]], T0)
    store(runtime, SANDBOX.id, [changed])

    result = discovery.discover(SANDBOX.id, T0 + timedelta(minutes=5))

    # Only the one changed live opportunity was parsed (the closed one is not live).
    assert (result.scanned, result.looked_up, result.unaskable) == (1, 1, 1)
    assert catalogue.asked == [777001]
    with runtime.sessions() as session:
        (unknown,) = [
            a for a in list_network_attributes(session, SANDBOX.id) if a.attribute_id == 777001
        ]
    assert unknown.question is None
    assert unknown.unaskable == "not in the network's attribute catalogue"


def test_lookups_per_call_are_capped_and_the_rest_wait(
    runtime: Runtime, market_documents: list[dict[str, Any]]
) -> None:
    store(runtime, SANDBOX.id, market_documents)
    catalogue = sandbox_catalogue()
    discovery = AttributeDiscovery(catalogue, runtime.sessions, max_lookups=2)

    first = discovery.discover(SANDBOX.id, T0)
    second = discovery.discover(SANDBOX.id, T0)

    assert (first.looked_up, first.waiting) == (2, 1)
    assert (second.looked_up, second.waiting) == (1, 0)
    assert sorted(catalogue.asked) == sorted(OWN_IDS)


@pytest.fixture
def rex_network(runtime: Runtime) -> Network:
    rex = Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)
    with transaction(runtime.sessions) as session:
        upsert_networks(session, [rex], at=T0)
        upsert_question_mappings(session, rex.id, question_mappings(rex, LIBRARY))
    return rex


def test_a_rex_fixture_attribute_is_fetched_and_the_standard_ones_are_not(
    runtime: Runtime, rex_network: Network, rex_fixtures: Path
) -> None:
    items = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    store(runtime, rex_network.id, items)
    catalogue = FakeCatalogue({100262: dict(SPEC_EXAMPLE, id=100262)})

    result = AttributeDiscovery(catalogue, runtime.sessions).discover(rex_network.id, T0)

    # 12872 (OPEN) filters on 100262; gender, age and postal code are never asked for.
    assert catalogue.asked == [100262]
    assert (result.scanned, result.questions) == (3, 1)
    with runtime.sessions() as session:
        stored: list[NetworkAttribute] = list_network_attributes(session, rex_network.id)
        sandbox_side = list_network_attributes(session, SANDBOX.id)
    assert [a.attribute_id for a in stored] == [100262]
    assert stored[0].question is not None
    assert stored[0].question.text_in("en") == "How much wood can a woodchuck?"
    assert sandbox_side == []


def test_gender_age_and_postal_code_are_never_looked_up_even_when_unmapped(
    runtime: Runtime, rex_network: Network, rex_fixtures: Path
) -> None:
    items = json.loads((rex_fixtures / "receive_notifications.json").read_text())
    store(runtime, rex_network.id, items)
    with transaction(runtime.sessions) as session:
        for attribute_id in (1, 80, 8):
            set_question_mapping(session, rex_network.id, attribute_id, None, {})
    catalogue = FakeCatalogue({100262: dict(SPEC_EXAMPLE, id=100262)})

    AttributeDiscovery(catalogue, runtime.sessions).discover(rex_network.id, T0)

    # The profile's gender, birth_date and postal_code answer them (REX §7), not a question.
    assert catalogue.asked == [100262]
