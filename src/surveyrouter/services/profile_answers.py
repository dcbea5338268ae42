"""Answering and skipping profile questions, and the profile a user's answers make."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from surveyrouter.domain.apps import App
from surveyrouter.domain.money import reward_start_bonus
from surveyrouter.domain.questions import Question, validate_answer
from surveyrouter.domain.tags import NO_TAGS, Tags
from surveyrouter.domain.users import User
from surveyrouter.services.rewards import (
    record_reward,
    start_bonus_paid,
    start_bonus_transaction_id,
)
from surveyrouter.store.answers import own_answer_count, put_answer, put_skip, user_answers
from surveyrouter.store.db import transaction


class QuestionNotSkippable(ValueError):
    """Standard profile questions cannot be skipped (client API §2.3: only network id ≠ 0)."""


def answer_question(
    sessions: sessionmaker[Session],
    question: Question,
    app: App,
    user: User,
    raw_values: list[str],
    at: datetime,
    *,
    ip_address: str | None = None,
    bonus_tags: Tags = NO_TAGS,
) -> tuple[str, ...]:
    """Validate the user's answer to ``question`` (a library question, or a network's own)
    and keep it under the question's key, replacing an earlier answer; returns the answer as
    stored. Raises ``AnswerInvalid`` (nothing is written then). Sending the same answer again
    stores the same thing.

    The answer that completes the app's start-bonus questions pays the bonus, in the same
    transaction (client API §3.5); it is paid once, however often the user answers. Its
    callback carries ``bonus_tags``: the custom tags of the v2 start-bonus click the answer
    was given in (client API §2.1)."""
    values = validate_answer(question, raw_values, at.date())
    with transaction(sessions) as session:
        put_answer(session, user.id, question.key, values, at)
        if app.has_start_bonus:
            _pay_start_bonus(session, app, user, at, ip_address, bonus_tags)
    return values


def _pay_start_bonus(
    session: Session, app: App, user: User, at: datetime, ip_address: str | None, tags: Tags
) -> None:
    transaction_id = start_bonus_transaction_id(user.id)
    answered = own_answer_count(user_answers(session, user.id).values())
    bonus = reward_start_bonus(
        app.start_bonus_reward,
        app.currency,
        questions_required=app.start_bonus_questions,
        questions_answered=answered,
        already_paid=start_bonus_paid(session, user.id),
    )
    if bonus is not None:
        record_reward(
            session,
            app,
            user,
            bonus,
            transaction_id,
            at,
            ip_address=ip_address,
            extra_parameters=tags,
        )


def skip_question(
    sessions: sessionmaker[Session], question: Question, user: User, at: datetime
) -> None:
    """Skip the question for good. A question already answered keeps its answer: skipping
    after answering is a client's retry or a race, not a wish to forget."""
    if question.standard:
        raise QuestionNotSkippable(f"{question.key} is a standard profile question")
    with transaction(sessions) as session:
        existing = user_answers(session, user.id).get(question.key)
        if existing is None:
            put_skip(session, user.id, question.key, at)
