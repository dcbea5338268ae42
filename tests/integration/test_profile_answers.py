"""Answering and skipping profile questions, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.apps import App
from surveyrouter.domain.client_context import ClientContext, CountrySource
from surveyrouter.domain.opportunity import Device
from surveyrouter.domain.profile import Gender
from surveyrouter.domain.profile_answers import library_sources
from surveyrouter.domain.questions import AnswerInvalid, Question, QuestionNotFound
from surveyrouter.domain.users import User
from surveyrouter.services.apps import create_app
from surveyrouter.services.profile_answers import (
    QuestionNotSkippable,
    answer_question,
    skip_question,
)
from surveyrouter.services.user_state import load_user_state
from surveyrouter.store.answers import user_answers
from surveyrouter.store.db import transaction
from surveyrouter.store.question_library import load_question_library
from surveyrouter.store.users import user_on_sight

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)
LIBRARY = load_question_library()
CONTEXT = ClientContext("US", "en", Device.DESKTOP, CountrySource.APP_DEFAULT)


@pytest.fixture
def app(runtime: Runtime) -> App:
    return create_app(runtime.sessions, lambda: T0, {"name": "Quiz"})


@pytest.fixture
def user(runtime: Runtime, app: App) -> User:
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        return user_on_sight(session, app.id, "u1", T0)[0]


def question(key: str) -> Question:
    return LIBRARY.by_key(key)


def answered_keys(runtime: Runtime, user: User) -> set[str]:
    with runtime.sessions() as session:
        return set(user_answers(session, user.id))


def test_answers_are_validated_kept_and_make_the_profile(
    runtime: Runtime, app: App, user: User
) -> None:
    answer_question(runtime.sessions, question("gender"), app, user, ["1"], T0)
    answer_question(runtime.sessions, question("birth_date"), app, user, [" 1990-05-01 "], T0)
    answer_question(runtime.sessions, question("postal_code"), app, user, ["10110"], T0)
    with runtime.sessions() as session:
        made = load_user_state(session, user, CONTEXT, library_sources(LIBRARY), T0).profile
    assert made.gender is Gender.MALE
    assert made.birth_date == date(1990, 5, 1)
    assert made.postal_code == "10110"
    assert made.respondent_id == user.respondent_id
    assert answered_keys(runtime, user) == {"gender", "birth_date", "postal_code"}


def test_answering_again_replaces_the_answer(runtime: Runtime, app: App, user: User) -> None:
    answer_question(runtime.sessions, question("gender"), app, user, ["1"], T0)
    answer_question(runtime.sessions, question("gender"), app, user, ["1"], T0)  # a retry
    answer_question(runtime.sessions, question("gender"), app, user, ["2"], T0)
    with runtime.sessions() as session:
        made = load_user_state(session, user, CONTEXT, library_sources(LIBRARY), T0).profile
    assert made.gender is Gender.FEMALE


@pytest.mark.parametrize(
    ("key", "values", "error"),
    [
        ("gender", ["3"], AnswerInvalid),
        ("gender", ["1", "2"], AnswerInvalid),
        ("gender", [], AnswerInvalid),
        ("birth_date", ["2020-01-01"], AnswerInvalid),  # younger than 13
        ("postal_code", ["ABC"], AnswerInvalid),
        ("no_such_question", ["1"], QuestionNotFound),
    ],
)
def test_a_broken_answer_is_refused_and_nothing_is_kept(
    runtime: Runtime,
    app: App,
    user: User,
    key: str,
    values: list[str],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        answer_question(runtime.sessions, question(key), app, user, values, T0)
    assert answered_keys(runtime, user) == set()


def test_only_non_standard_questions_can_be_skipped_and_a_skip_keeps_an_answer(
    runtime: Runtime, app: App, user: User
) -> None:
    with pytest.raises(QuestionNotSkippable):
        skip_question(runtime.sessions, question("gender"), user, T0)
    skip_question(runtime.sessions, question("pets"), user, T0)
    skip_question(runtime.sessions, question("pets"), user, T0)
    answer_question(runtime.sessions, question("smoking"), app, user, ["201701"], T0)
    skip_question(runtime.sessions, question("smoking"), user, T0)  # after answering: kept
    assert answered_keys(runtime, user) == {"pets", "smoking"}
    with runtime.sessions() as session:
        stored = user_answers(session, user.id)
    assert stored["pets"].skipped
    assert stored["smoking"].values == ("201701",)
    assert not stored["smoking"].skipped
