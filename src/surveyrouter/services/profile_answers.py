"""Answering and skipping profile questions, and the profile a user's answers make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import Participation, Profile
from surveyrouter.domain.profile_answers import (
    NO_PARTICIPATION,
    AttributeSource,
    profile_from_answers,
)
from surveyrouter.domain.questions import QuestionLibrary, validate_answer
from surveyrouter.domain.users import User
from surveyrouter.store.answers import put_answer, put_skip, user_answers
from surveyrouter.store.db import transaction


class QuestionNotSkippable(ValueError):
    """Standard profile questions cannot be skipped (client API §2.3: only network id ≠ 0)."""


def answer_question(
    sessions: sessionmaker[Session],
    library: QuestionLibrary,
    user: User,
    question_key: str,
    raw_values: list[str],
    at: datetime,
) -> tuple[str, ...]:
    """Validate the user's answer to the library question ``question_key`` and keep it,
    replacing an earlier answer; returns the answer as stored. Raises ``QuestionNotFound``
    or ``AnswerInvalid`` (nothing is written then). Sending the same answer again stores the
    same thing."""
    question = library.by_key(question_key)
    values = validate_answer(question, raw_values, at.date())
    with transaction(sessions) as session:
        put_answer(session, user.id, question.key, values, at)
    return values


def skip_question(
    sessions: sessionmaker[Session],
    library: QuestionLibrary,
    user: User,
    question_key: str,
    at: datetime,
) -> None:
    """Skip the question for good. A question already answered keeps its answer: skipping
    after answering is a client's retry or a race, not a wish to forget."""
    question = library.by_key(question_key)
    if question.standard:
        raise QuestionNotSkippable(f"{question.key} is a standard profile question")
    with transaction(sessions) as session:
        existing = user_answers(session, user.id).get(question.key)
        if existing is None:
            put_skip(session, user.id, question.key, at)


def answered_keys(session: Session, user: User) -> set[str]:
    """Questions the user has answered or skipped: never asked again."""
    return set(user_answers(session, user.id))


def user_profile(
    session: Session,
    user: User,
    sources: list[AttributeSource],
    *,
    country: str,
    language: str,
    device: Device,
    participation: Participation = NO_PARTICIPATION,
) -> Profile:
    """The profile targeting reads for ``user`` on this request."""
    stored = user_answers(session, user.id)
    answers = {key: answer.values for key, answer in stored.items() if not answer.skipped}
    return profile_from_answers(
        answers,
        sources,
        respondent_id=user.respondent_id,
        country=country,
        language=language,
        device=device,
        participation=participation,
    )
