"""Users' profile answers: one per (user, question), replaced when answered again."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from surveyrouter.store.db import table_of, upsert
from surveyrouter.store.schema import UserAnswerRow
from surveyrouter.store.users import bump_state_version


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    """``values`` as validated; empty when the question was ``skipped``. ``imported``: the
    publisher's profile import gave the answer, not the user."""

    question_key: str
    values: tuple[str, ...]
    skipped: bool
    answered_at: datetime
    imported: bool = False


def put_answer(
    session: Session,
    user_id: int,
    question_key: str,
    values: tuple[str, ...],
    at: datetime,
    *,
    imported: bool = False,
) -> None:
    """Store the (validated) answer, replacing an earlier answer or skip; ``imported`` when
    the publisher's profile import gives it rather than the user."""
    _write(session, user_id, question_key, list(values), skipped=False, imported=imported, at=at)


def put_skip(session: Session, user_id: int, question_key: str, at: datetime) -> None:
    """Record that the user skipped the question: it is not asked again."""
    _write(session, user_id, question_key, [], skipped=True, imported=False, at=at)


def own_answer_count(answers: Iterable[StoredAnswer]) -> int:
    """Questions the user answered: neither skipped nor given by the publisher's import. The
    start bonus's progress (client API §3.5)."""
    return sum(1 for answer in answers if not answer.skipped and not answer.imported)


def user_answers(session: Session, user_id: int) -> dict[str, StoredAnswer]:
    """Every answer and skip of the user, by question key."""
    rows = session.execute(_USER_ANSWERS, {"user_id": user_id})
    return {
        row.question_key: StoredAnswer(
            row.question_key, tuple(row.answer), row.skipped, row.answered_at, row.imported
        )
        for row in rows
    }


# Read on every Get Actions call: built once (building a statement costs more than running it)
# and read as plain rows, not ORM objects.
_ANSWERS = table_of(UserAnswerRow)
_USER_ANSWERS = select(
    _ANSWERS.c.question_key,
    _ANSWERS.c.answer,
    _ANSWERS.c.skipped,
    _ANSWERS.c.answered_at,
    _ANSWERS.c.imported,
).where(_ANSWERS.c.user_id == bindparam("user_id"))


def _write(
    session: Session,
    user_id: int,
    question_key: str,
    values: list[str],
    *,
    skipped: bool,
    imported: bool,
    at: datetime,
) -> None:
    row = {
        "user_id": user_id,
        "question_key": question_key,
        "answer": values,
        "skipped": skipped,
        "imported": imported,
        "answered_at": at,
    }
    upsert(session, UserAnswerRow, [row], keys=("user_id", "question_key"))
    bump_state_version(session, user_id)


def delete_answers(session: Session, user_id: int) -> None:
    """Forget every answer and skip of the user."""
    session.execute(delete(UserAnswerRow).where(UserAnswerRow.user_id == user_id))
    bump_state_version(session, user_id)
