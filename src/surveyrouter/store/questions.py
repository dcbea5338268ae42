"""The question library in the database, and each network's attribute → question mapping.

The packaged library (``store.question_library``) is the source of truth; start-up copies it
here so SQL (reports, the admin pages) can join answers to questions and so networks can map
attributes the library does not know yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from surveyrouter.domain.questions import Question
from surveyrouter.store.db import upsert
from surveyrouter.store.schema import QuestionMappingRow, QuestionRow


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


def upsert_question_mappings(
    session: Session, network_id: str, mappings: Iterable[QuestionMapping]
) -> int:
    rows = [
        {
            "network_id": network_id,
            "attribute_id": mapping.attribute_id,
            "question_id": mapping.question_id,
            "answers": dict(mapping.answers),
        }
        for mapping in mappings
    ]
    upsert(session, QuestionMappingRow, rows, keys=("network_id", "attribute_id"))
    return len(rows)


def list_question_mappings(session: Session, network_id: str) -> list[QuestionMapping]:
    rows = session.scalars(
        select(QuestionMappingRow)
        .where(QuestionMappingRow.network_id == network_id)
        .order_by(QuestionMappingRow.attribute_id)
        .execution_options(populate_existing=True)
    )
    return [
        QuestionMapping(
            attribute_id=row.attribute_id, question_id=row.question_id, answers=row.answers
        )
        for row in rows
    ]
