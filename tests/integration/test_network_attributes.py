"""Network attributes and operator mappings in the store (migration 0003), on SQLite and
PostgreSQL: what the catalogue said reads back whole, and start-up seeding never undoes an
operator's mapping."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from surveyrouter.bootstrap import SANDBOX, Runtime, question_mappings, seed
from surveyrouter.domain.questions import QuestionLibrary
from surveyrouter.services.attributes import read_attribute_info
from surveyrouter.store import migrate
from surveyrouter.store.db import transaction
from surveyrouter.store.networks import Network, upsert_networks
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.questions import (
    MappingSource,
    QuestionMapping,
    get_question_mapping,
    list_network_attributes,
    list_question_mappings,
    network_attribute_ids,
    put_network_attribute,
    record_unmapped_attributes,
    set_question_mapping,
    upsert_question_mappings,
)
from tests.unit.services.test_attributes import SPEC_EXAMPLE

AT = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
REX = Network(id="rex", kind="rex", name="Dynata REX", enabled=True, api_id=2)
EMPLOYMENT = 2001  # a library question's id, which the sandbox uses as its attribute id


def add_rex(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        upsert_networks(session, [REX])


def mapping(runtime: Runtime, network_id: str, attribute_id: int) -> QuestionMapping | None:
    with runtime.sessions() as session:
        return get_question_mapping(session, network_id, attribute_id)


def test_a_network_question_reads_back_as_it_was_written(runtime: Runtime) -> None:
    add_rex(runtime)
    attribute = read_attribute_info(SPEC_EXAMPLE, REX.id, 402, AT)
    with transaction(runtime.sessions) as session:
        put_network_attribute(session, attribute)

    with runtime.sessions() as session:
        stored = list_network_attributes(session, REX.id)
        ids = network_attribute_ids(session, REX.id)
        other_network = list_network_attributes(session, SANDBOX.id)

    assert stored == [attribute]
    question = stored[0].question
    assert question is not None
    assert question == attribute.question
    assert dict(question.text) == {"en": "How much wood can a woodchuck?", "bg": "Other Language"}
    assert [(a.id, dict(a.text)) for a in question.answers] == [
        ("99", {"en": "A ton", "gb": "Other language"})
    ]
    assert ids == {402}
    assert other_network == []


def test_an_unaskable_attribute_reads_back_without_a_question(runtime: Runtime) -> None:
    add_rex(runtime)
    restricted = {"id": 83, "display_mode": "single_select", "answers": []}
    attribute = read_attribute_info(restricted, REX.id, 83, AT)
    with transaction(runtime.sessions) as session:
        put_network_attribute(session, attribute)

    with runtime.sessions() as session:
        (stored,) = list_network_attributes(session, REX.id)

    assert stored.question is None
    assert stored.unaskable == attribute.unaskable
    assert stored.raw == restricted


def test_writing_an_attribute_again_replaces_it(runtime: Runtime) -> None:
    add_rex(runtime)
    first = read_attribute_info(SPEC_EXAMPLE, REX.id, 402, AT)
    renamed = dict(SPEC_EXAMPLE, name="Renamed")
    second = read_attribute_info(renamed, REX.id, 402, AT.replace(hour=10))
    with transaction(runtime.sessions) as session:
        put_network_attribute(session, first)
    with transaction(runtime.sessions) as session:
        put_network_attribute(session, second)

    with runtime.sessions() as session:
        assert list_network_attributes(session, REX.id) == [second]


def test_a_network_attribute_needs_a_known_network(runtime: Runtime) -> None:
    attribute = read_attribute_info(SPEC_EXAMPLE, "nowhere", 402, AT)
    with pytest.raises(IntegrityError), transaction(runtime.sessions) as session:
        put_network_attribute(session, attribute)


def test_seeding_keeps_an_operators_mapping_and_unmapping(runtime: Runtime) -> None:
    library = load_question_library()
    education = library.by_key("education")
    with transaction(runtime.sessions) as session:
        # Attribute 2001 (employment) remapped to education, gender unmapped.
        set_question_mapping(
            session, SANDBOX.id, EMPLOYMENT, education.id, {education.answers[0].id: "200101"}
        )
        set_question_mapping(session, SANDBOX.id, 1, None, {})

    seed(runtime, library, at=AT)
    seed(runtime, library, at=AT)

    remapped = mapping(runtime, SANDBOX.id, EMPLOYMENT)
    unmapped = mapping(runtime, SANDBOX.id, 1)
    assert remapped == QuestionMapping(
        EMPLOYMENT, education.id, {education.answers[0].id: "200101"}, MappingSource.OPERATOR
    )
    assert unmapped == QuestionMapping(1, None, {}, MappingSource.OPERATOR)
    untouched = mapping(runtime, SANDBOX.id, 2002)
    assert untouched is not None
    assert (untouched.question_id, untouched.source) == (2002, MappingSource.LIBRARY)


def test_seeding_maps_an_attribute_discovery_had_recorded_as_unmapped(runtime: Runtime) -> None:
    # As if discovery met attribute 2001 before the library had a question for it.
    with transaction(runtime.sessions) as session:
        session.execute(
            text("DELETE FROM question_mappings WHERE attribute_id = :id"), {"id": EMPLOYMENT}
        )
        record_unmapped_attributes(session, SANDBOX.id, [EMPLOYMENT])
    recorded = mapping(runtime, SANDBOX.id, EMPLOYMENT)
    assert recorded == QuestionMapping(EMPLOYMENT, None, {}, MappingSource.DISCOVERED)

    seed(runtime, load_question_library(), at=AT)

    seeded = mapping(runtime, SANDBOX.id, EMPLOYMENT)
    assert seeded is not None
    assert (seeded.question_id, seeded.source) == (EMPLOYMENT, MappingSource.LIBRARY)


def test_recording_unmapped_attributes_leaves_existing_mappings_alone(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        record_unmapped_attributes(session, SANDBOX.id, [EMPLOYMENT, 910001, 910001])

    with runtime.sessions() as session:
        mappings = {m.attribute_id: m for m in list_question_mappings(session, SANDBOX.id)}
    assert mappings[910001] == QuestionMapping(910001, None, {}, MappingSource.DISCOVERED)
    assert mappings[EMPLOYMENT].question_id == EMPLOYMENT
    assert mappings[EMPLOYMENT].source is MappingSource.LIBRARY


def test_an_operator_mapping_replaces_whatever_was_there(runtime: Runtime) -> None:
    with transaction(runtime.sessions) as session:
        record_unmapped_attributes(session, SANDBOX.id, [910002])
    with transaction(runtime.sessions) as session:
        set_question_mapping(session, SANDBOX.id, 910002, 2023, {"202301": "91000201"})

    assert mapping(runtime, SANDBOX.id, 910002) == QuestionMapping(
        910002, 2023, {"202301": "91000201"}, MappingSource.OPERATOR
    )


def test_a_real_rex_network_is_seeded_with_gender_age_and_postal_code_only(
    runtime: Runtime,
) -> None:
    library = load_question_library()
    # Even a library that names a REX id for another question does not map it on its own.
    employment = dataclasses.replace(library.by_key("employment_status"), rex_attribute_id=100262)
    widened = QuestionLibrary(
        tuple(employment if q.id == employment.id else q for q in library), library.version
    )
    add_rex(runtime)
    with transaction(runtime.sessions) as session:
        upsert_question_mappings(session, REX.id, question_mappings(REX, widened))

    with runtime.sessions() as session:
        mappings = list_question_mappings(session, REX.id)

    assert {m.attribute_id: m.question_id for m in mappings} == {1: 1, 80: 80, 8: 8}
    assert {m.source for m in mappings} == {MappingSource.LIBRARY}
    gender = next(m for m in mappings if m.attribute_id == 1)
    assert dict(gender.answers) == dict(library.by_key("gender").rex_answers)


def test_migration_0003_keeps_existing_mappings_as_seeded_and_goes_back_down(
    empty_runtime: Runtime,
) -> None:
    migrate.upgrade(empty_runtime.engine, "0002")
    with empty_runtime.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO networks (id, kind, name, enabled, created_at) "
                "VALUES ('sandbox', 'sandbox', 'Sandbox', :yes, :at)"
            ),
            {"yes": True, "at": AT},
        )
        connection.execute(
            text(
                "INSERT INTO question_mappings (network_id, attribute_id, question_id, answers) "
                "VALUES ('sandbox', 910001, NULL, '{}')"
            )
        )

    migrate.upgrade(empty_runtime.engine, "0003")

    assert "network_attributes" in inspect(empty_runtime.engine).get_table_names()
    with empty_runtime.sessions() as session:
        kept = get_question_mapping(session, "sandbox", 910001)
    assert kept == QuestionMapping(910001, None, {}, MappingSource.LIBRARY)

    migrate.downgrade(empty_runtime.engine, "0002")

    inspector = inspect(empty_runtime.engine)
    assert "network_attributes" not in inspector.get_table_names()
    columns = {c["name"] for c in inspector.get_columns("question_mappings")}
    assert columns == {"network_id", "attribute_id", "question_id", "answers"}
    with empty_runtime.engine.connect() as connection:
        rows = connection.execute(text("SELECT attribute_id FROM question_mappings")).all()
    assert rows == [(910001,)]
