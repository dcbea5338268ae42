"""A user's state version, on SQLite and PostgreSQL: every write to their answers, clicks or
hidden surveys bumps it in its own transaction, and an API process keeps what it read of the
user until the version moves on."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from surveyrouter.bootstrap import Runtime
from surveyrouter.domain.clicks import (
    Click,
    ClickStatus,
    LeaveReason,
    OutcomeSource,
    new_click_id,
)
from surveyrouter.domain.users import User
from surveyrouter.services.apps import create_app
from surveyrouter.services.user_state import UserStates
from surveyrouter.store.answers import delete_answers, put_answer, put_skip
from surveyrouter.store.clicks import add_click, end_click, leave_click
from surveyrouter.store.db import transaction
from surveyrouter.store.schema import UserAnswerRow
from surveyrouter.store.users import find_user, user_on_sight
from surveyrouter.store.v2_clicks import hide_survey

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture
def user(runtime: Runtime) -> User:
    app = create_app(runtime.sessions, lambda: T0, {"name": "Quiz"})
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        return user_on_sight(session, app.id, "user-1", T0)[0]


def reread(runtime: Runtime, user: User) -> User:
    with runtime.sessions() as session:
        found = find_user(session, user.app_id, user.uid)
    assert found is not None
    return found


def answer_behind_the_back(runtime: Runtime, user: User, question_key: str) -> None:
    """An answer written without the store functions, so without a version bump."""
    with transaction(runtime.sessions) as session:
        session.execute(
            insert(UserAnswerRow).values(
                user_id=user.id,
                question_key=question_key,
                answer=["1"],
                skipped=False,
                answered_at=T0,
            )
        )


def a_click(user: User, opportunity_id: int = 13231) -> Click:
    return Click(
        id=new_click_id(),
        app_id=user.app_id,
        user_id=user.id,
        network_id="sandbox",
        opportunity_id=opportunity_id,
        exchange_cpi=Decimal("1.20"),
        loi_minutes=10,
        created_at=T0,
    )


def test_every_write_to_a_users_state_bumps_its_version(runtime: Runtime, user: User) -> None:
    first, second = a_click(user, 1), a_click(user, 2)
    writes: list[tuple[str, Callable[..., object]]] = [
        ("answer", lambda s: put_answer(s, user.id, "gender", ["1"], T0)),
        ("skip", lambda s: put_skip(s, user.id, "income", T0)),
        ("click", lambda s: add_click(s, first)),
        ("second click", lambda s: add_click(s, second)),
        (
            "outcome",
            lambda s: end_click(s, first.id, ClickStatus.COMPLETE, 1, 0, OutcomeSource.RETURN, T0),
        ),
        ("leave", lambda s: leave_click(s, user.id, "sandbox", 2, LeaveReason.OTHER, T0)),
        ("hide", lambda s: hide_survey(s, user.id, "sandbox", 3, T0)),
        ("erase answers", lambda s: delete_answers(s, user.id)),
    ]
    versions = [reread(runtime, user).state_version]
    for _name, write in writes:
        with transaction(runtime.sessions) as session:
            write(session)
        versions.append(reread(runtime, user).state_version)

    assert versions == list(range(versions[0], versions[0] + len(writes) + 1)), writes


def test_writes_that_change_nothing_leave_the_version(runtime: Runtime, user: User) -> None:
    click = a_click(user)
    with transaction(runtime.sessions) as session:
        add_click(session, click)
        end_click(session, click.id, ClickStatus.COMPLETE, 1, 0, OutcomeSource.RETURN, T0)
        hide_survey(session, user.id, "sandbox", 3, T0)
    before = reread(runtime, user).state_version
    with transaction(runtime.sessions) as session:
        # A late second message about the click, and hiding the same survey again.
        end_click(session, click.id, ClickStatus.SCREENOUT, 2, 2, OutcomeSource.CALLBACK, T0)
        hide_survey(session, user.id, "sandbox", 3, T0 + timedelta(minutes=1))
        assert leave_click(session, user.id, "sandbox", 13231, LeaveReason.OTHER, T0) is None

    assert reread(runtime, user).state_version == before


def test_a_kept_state_serves_until_the_version_moves_on(runtime: Runtime, user: User) -> None:
    states = UserStates()
    with transaction(runtime.sessions) as session:
        put_answer(session, user.id, "gender", ["1"], T0)
    current = reread(runtime, user)
    with runtime.sessions() as session:
        first = states.stored(session, current)
    # Written behind the store functions' back (no bump): the kept state does not see it...
    answer_behind_the_back(runtime, user, "income")
    with runtime.sessions() as session:
        kept = states.stored(session, reread(runtime, user))
    # ...until a write that bumps the version, or the process forgets the user.
    with transaction(runtime.sessions) as session:
        put_answer(session, user.id, "age", ["30"], T0)
    with runtime.sessions() as session:
        bumped = states.stored(session, reread(runtime, user))

    assert set(first.answers) == set(kept.answers) == {"gender"}
    assert set(bumped.answers) == {"gender", "income", "age"}
    states.forget(user.id)
    answer_behind_the_back(runtime, user, "zip")
    with runtime.sessions() as session:
        forgotten = states.stored(session, reread(runtime, user))
    assert "zip" in forgotten.answers


def test_the_least_recently_served_users_are_dropped_beyond_capacity(runtime: Runtime) -> None:
    app = create_app(runtime.sessions, lambda: T0, {"name": "Big"})
    assert app.id is not None
    with transaction(runtime.sessions) as session:
        users = [user_on_sight(session, app.id, f"user-{n}", T0)[0] for n in range(3)]
    states = UserStates(capacity=2)
    with runtime.sessions() as session:
        for user in (users[0], users[1], users[0], users[2]):  # user 1 is the oldest now
            states.stored(session, user)
    for user in users:  # only a fresh read sees it
        answer_behind_the_back(runtime, user, "zip")
    with runtime.sessions() as session:
        # Kept ones first: reading user 1 again makes room by dropping another.
        seen = ["zip" in states.stored(session, users[n]).answers for n in (2, 0, 1)]

    assert seen == [False, False, True]
