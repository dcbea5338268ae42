from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

from surveyrouter.bootstrap import SANDBOX, Runtime, question_mappings, seed
from surveyrouter.settings import Settings
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network, list_networks, upsert_networks
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    list_question_mappings,
    list_questions,
    question_payload,
    upsert_question_mappings,
)


def test_seeding_stores_every_question_in_asking_order(runtime: Runtime) -> None:
    library = load_question_library()

    with runtime.sessions() as session:
        stored = list_questions(session)

    assert [q.id for q in stored] == [q.id for q in library]
    for row, question in zip(stored, library, strict=True):
        assert row.key == question.key
        assert row.type == question.type.value
        assert row.standard == question.standard
        assert row.payload == question_payload(question)
        assert row.payload["text"] == dict(question.text)
        assert [a["id"] for a in row.payload["answers"]] == [o.id for o in question.answers]
        assert row.payload["rex_answers"] == dict(question.rex_answers)
        for bound in ("min", "max"):
            expected = getattr(question.validation, bound)
            stored_bound = row.payload["validation"].get(bound)
            assert (None if stored_bound is None else Decimal(stored_bound)) == expected


def test_seeding_again_changes_nothing_but_the_time(runtime: Runtime) -> None:
    library = load_question_library()
    with runtime.sessions() as session:
        before = list_questions(session)
        mappings_before = list_question_mappings(session, SANDBOX.id)

    later = datetime(2030, 1, 1, tzinfo=UTC)
    seed(runtime, library, at=later)
    seed(runtime, library, at=later)

    with runtime.sessions() as session:
        after = list_questions(session)
        mappings_after = list_question_mappings(session, SANDBOX.id)
    assert len(after) == len(library)
    assert [(q.id, q.key, q.payload) for q in after] == [(q.id, q.key, q.payload) for q in before]
    assert {q.updated_at for q in after} == {later}
    assert mappings_after == mappings_before


def test_the_sandbox_maps_its_attributes_to_our_question_ids(runtime: Runtime) -> None:
    library = load_question_library()

    with runtime.sessions() as session:
        mappings = list_question_mappings(session, SANDBOX.id)

    assert {m.attribute_id for m in mappings} == {q.id for q in library}
    for mapping in mappings:
        question = library.get(mapping.attribute_id)
        assert mapping.question_id == question.id
        assert dict(mapping.answers) == {o.id: o.id for o in question.answers}


def test_a_disabled_sandbox_keeps_its_row_marked_disabled(runtime: Runtime) -> None:
    disabled = Settings(database_url=runtime.settings.database_url, sandbox_enabled=False)
    seed(dataclasses.replace(runtime, settings=disabled), load_question_library())

    with runtime.sessions() as session:
        networks = list_networks(session)
    # The REX row is there too, disabled: its key pair is not set.
    assert sorted((n.id, n.enabled) for n in networks) == [("rex", False), (SANDBOX.id, False)]


def test_a_rex_network_maps_the_librarys_rex_attributes(runtime: Runtime) -> None:
    library = load_question_library()
    rex = Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)
    with transaction(runtime.sessions) as session:
        upsert_networks(session, [rex])
        upsert_question_mappings(session, rex.id, question_mappings(rex, library))

    with runtime.sessions() as session:
        mappings = list_question_mappings(session, rex.id)

    mapped = [q for q in library if q.rex_attribute_id is not None]
    assert mapped
    assert {m.attribute_id: m.question_id for m in mappings} == {
        q.rex_attribute_id: q.id for q in mapped
    }
    for mapping in mappings:
        assert mapping.question_id is not None
        assert dict(mapping.answers) == dict(library.get(mapping.question_id).rex_answers)
