"""The question library in the database, each network's attribute → question mapping, and the
attributes networks describe themselves (their own question and answers).

The packaged library (``store.question_library``) is the source of truth; start-up copies it
here so SQL (reports, the admin pages) can join answers to questions and so networks can map
attributes the library does not know yet. A mapping remembers who set it: start-up seeding
rewrites its own on every start but never an operator's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from surveyrouter.domain.questions import (
    AnswerOption,
    Question,
    QuestionType,
    Validation,
)
from surveyrouter.store.db import upsert
from surveyrouter.store.schema import NetworkAttributeRow, QuestionMappingRow, QuestionRow


class MappingSource(enum.Enum):
    """Who set a question mapping."""

    LIBRARY = "library"  # start-up seeding, from the question library
    OPERATOR = "operator"  # ``surveyrouter rex attributes --map/--unmap``; seeding keeps it
    DISCOVERED = "discovered"  # live opportunities use the attribute and nothing maps it


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    id: int
    key: str
    type: str
    position: int
    standard: bool
    payload: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class QuestionMapping:
    """A network attribute and the question it asks; ``answers`` maps our answer ids to theirs.

    ``question_id`` is None for an attribute the network uses that no question of ours covers.
    """

    attribute_id: int
    question_id: int | None
    answers: Mapping[str, str]
    source: MappingSource = MappingSource.LIBRARY


@dataclass(frozen=True, slots=True)
class NetworkAttribute:
    """An attribute as its network's catalogue describes it (REX §6.1 get-attribute-info).

    ``question`` is the network question users can be asked until an operator maps the
    attribute to one of ours: the attribute's own text and answers, its answer ids the
    network's, its id the attribute id, its key ``network_question_key``. It is None when the
    attribute cannot be asked, and ``unaskable`` says why. ``raw`` is the document as sent.
    """

    network_id: str
    attribute_id: int
    name: str | None
    display_mode: str | None
    question: Question | None
    unaskable: str | None
    raw: Mapping[str, Any] = field(hash=False)
    fetched_at: datetime


def question_payload(question: Question) -> dict[str, Any]:
    """The question's texts, answers and rules as JSON, in the shape of ``data/questions.json``.

    Validation bounds are written as strings: they are Decimals, which JSON numbers would turn
    into floats on the way back.
    """
    validation = question.validation
    rules: dict[str, Any] = {
        "min": None if validation.min is None else str(validation.min),
        "max": None if validation.max is None else str(validation.max),
        "regex": validation.regex,
        "max_choices": validation.max_choices,
    }
    return {
        "text": dict(question.text),
        "answers": [
            {"id": option.id, "text": dict(option.text), "exclusive": option.exclusive}
            for option in question.answers
        ],
        "validation": {name: value for name, value in rules.items() if value is not None},
        "rex_attribute_id": question.rex_attribute_id,
        "rex_answers": dict(question.rex_answers),
        "countries": sorted(question.countries),
    }


def upsert_questions(
    session: Session, questions: Iterable[Question], at: datetime | None = None
) -> int:
    """Write every question by id, in the order given (the asking order); returns how many."""
    written_at = at or datetime.now(UTC)
    rows = [
        {
            "id": question.id,
            "key": question.key,
            "type": question.type.value,
            "position": position,
            "payload": question_payload(question),
            "standard": question.standard,
            "updated_at": written_at,
        }
        for position, question in enumerate(questions)
    ]
    upsert(session, QuestionRow, rows, keys=("id",))
    return len(rows)


def list_questions(session: Session) -> list[StoredQuestion]:
    """Every stored question in asking order."""
    rows = session.scalars(
        select(QuestionRow)
        .order_by(QuestionRow.position, QuestionRow.id)
        .execution_options(populate_existing=True)
    )
    return [
        StoredQuestion(
            id=row.id,
            key=row.key,
            type=row.type,
            position=row.position,
            standard=row.standard,
            payload=row.payload,
            updated_at=row.updated_at,
        )
        for row in rows
    ]


# Both question_mappings and network_attributes are keyed by network and attribute.
_KEYS = ("network_id", "attribute_id")


def upsert_question_mappings(
    session: Session, network_id: str, mappings: Iterable[QuestionMapping]
) -> int:
    """Write start-up (or discovered) mappings by attribute id; returns how many were given.

    An attribute an operator has mapped or unmapped keeps the operator's mapping: seeding runs
    on every start and must not undo it. The check is part of the one statement, so an
    operator's change committed while seeding runs is kept too.
    """
    rows = [_mapping_row(network_id, mapping) for mapping in mappings]
    if not rows:
        return 0
    statement = _insert(session)
    statement = statement.on_conflict_do_update(
        index_elements=list(_KEYS),
        set_={name: statement.excluded[name] for name in ("question_id", "answers", "source")},
        where=QuestionMappingRow.source != MappingSource.OPERATOR.value,
    )
    session.execute(statement, rows)
    return len(rows)


def set_question_mapping(
    session: Session,
    network_id: str,
    attribute_id: int,
    question_id: int | None,
    answers: Mapping[str, str],
) -> QuestionMapping:
    """An operator's mapping of ``attribute_id`` (None unmaps it), whoever set it before.

    ``answers`` maps our answer ids to the network's, as in ``QuestionMapping``.
    """
    mapping = QuestionMapping(attribute_id, question_id, answers, MappingSource.OPERATOR)
    upsert(session, QuestionMappingRow, [_mapping_row(network_id, mapping)], keys=_KEYS)
    return mapping


def record_unmapped_attributes(
    session: Session, network_id: str, attribute_ids: Iterable[int]
) -> None:
    """Note attributes the network uses that nothing maps; an existing mapping is left alone."""
    rows = [
        _mapping_row(network_id, QuestionMapping(i, None, {}, MappingSource.DISCOVERED))
        for i in sorted(set(attribute_ids))
    ]
    upsert(
        session,
        QuestionMappingRow,
        rows,
        keys=_KEYS,
        keep=("question_id", "answers", "source"),
    )


def _mapping_row(network_id: str, mapping: QuestionMapping) -> dict[str, Any]:
    return {
        "network_id": network_id,
        "attribute_id": mapping.attribute_id,
        "question_id": mapping.question_id,
        "answers": dict(mapping.answers),
        "source": mapping.source.value,
    }


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    # Both dialects' inserts speak ON CONFLICT … DO UPDATE … WHERE; only the class differs.
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(QuestionMappingRow)
    return sqlite.insert(QuestionMappingRow)


def list_question_mappings(session: Session, network_id: str) -> list[QuestionMapping]:
    rows = session.scalars(
        select(QuestionMappingRow)
        .where(QuestionMappingRow.network_id == network_id)
        .order_by(QuestionMappingRow.attribute_id)
        .execution_options(populate_existing=True)
    )
    return [_mapping(row) for row in rows]


def get_question_mapping(
    session: Session, network_id: str, attribute_id: int
) -> QuestionMapping | None:
    row = session.get(QuestionMappingRow, (network_id, attribute_id), populate_existing=True)
    return None if row is None else _mapping(row)


def _mapping(row: QuestionMappingRow) -> QuestionMapping:
    return QuestionMapping(
        attribute_id=row.attribute_id,
        question_id=row.question_id,
        answers=row.answers,
        source=MappingSource(row.source),
    )


def network_question_key(attribute_id: int) -> str:
    """The key of the network question asked for ``attribute_id`` (unique within a network)."""
    return f"attribute_{attribute_id}"


def put_network_attribute(session: Session, attribute: NetworkAttribute) -> None:
    """Write what the network's catalogue says about one attribute, replacing what was there."""
    question = attribute.question
    row = {
        "network_id": attribute.network_id,
        "attribute_id": attribute.attribute_id,
        "name": attribute.name,
        "display_mode": attribute.display_mode,
        "question_type": None if question is None else question.type.value,
        "question": None if question is None else question_payload(question),
        "unaskable": attribute.unaskable,
        "raw": dict(attribute.raw),
        "fetched_at": attribute.fetched_at,
    }
    upsert(session, NetworkAttributeRow, [row], keys=_KEYS)


def list_network_attributes(session: Session, network_id: str) -> list[NetworkAttribute]:
    """Every attribute of ``network_id`` its catalogue has described, by attribute id."""
    rows = session.scalars(
        select(NetworkAttributeRow)
        .where(NetworkAttributeRow.network_id == network_id)
        .order_by(NetworkAttributeRow.attribute_id)
        .execution_options(populate_existing=True)
    )
    return [_network_attribute(row) for row in rows]


def network_attribute_ids(session: Session, network_id: str) -> set[int]:
    """The attribute ids of ``network_id`` its catalogue has described, askable or not."""
    return set(
        session.scalars(
            select(NetworkAttributeRow.attribute_id).where(
                NetworkAttributeRow.network_id == network_id
            )
        )
    )


def _network_attribute(row: NetworkAttributeRow) -> NetworkAttribute:
    question = None
    if row.question_type is not None and row.question is not None:
        question = question_from_payload(
            row.attribute_id,
            network_question_key(row.attribute_id),
            QuestionType(row.question_type),
            row.question,
        )
    return NetworkAttribute(
        network_id=row.network_id,
        attribute_id=row.attribute_id,
        name=row.name,
        display_mode=row.display_mode,
        question=question,
        unaskable=row.unaskable,
        raw=row.raw,
        fetched_at=row.fetched_at,
    )


def question_from_payload(
    question_id: int, key: str, question_type: QuestionType, payload: Mapping[str, Any]
) -> Question:
    """The question ``question_payload`` wrote, read back."""
    rules = payload.get("validation", {})
    return Question(
        id=question_id,
        key=key,
        type=question_type,
        text=payload["text"],
        answers=tuple(
            AnswerOption(id=a["id"], text=a["text"], exclusive=a.get("exclusive", False))
            for a in payload.get("answers", [])
        ),
        validation=Validation(
            min=_decimal(rules.get("min")),
            max=_decimal(rules.get("max")),
            regex=rules.get("regex"),
            max_choices=rules.get("max_choices"),
        ),
        rex_attribute_id=payload.get("rex_attribute_id"),
        rex_answers=payload.get("rex_answers", {}),
        countries=frozenset(payload.get("countries", [])),
    )


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)
